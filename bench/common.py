"""What every benchmark shares: machine facts, peak RSS, child processes, percentiles, results.

Each benchmark module is a small CLI (``python -m bench.NAME [options] [--json-out PATH]``)
whose ``run(...)`` returns a flat dict of figures plus its parameters. ``python -m bench``
runs them as separate processes (so one benchmark's memory or threads never colour
another's), then records every figure with the machine, the exact command and the target.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import resource
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
PY = sys.executable


# -- the machine -------------------------------------------------------------------------
def _meminfo_kib(field: str) -> int | None:
    """A ``/proc/meminfo`` field in KiB (None off Linux)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == field:
                return int(rest.split()[0])
    return None


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, Any]:
    """Cores, memory and load now: a figure means little without the machine that made it."""
    total = _meminfo_kib("MemTotal")
    available = _meminfo_kib("MemAvailable")
    return {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_total_gib": round(total / 1024**2, 1) if total else None,
        "memory_available_gib": round(available / 1024**2, 1) if available else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024, 1)


# -- statistics --------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


# -- child processes ---------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None,
              log: Path | None = None) -> None:
    """Poll ``url`` until it answers below 500; fail early, with the log tail, if ``proc`` dies."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{' '.join(map(str, proc.args))} exited with {proc.returncode}{_tail(log)}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s{_tail(log)}")


def _tail(log: Path | None, chars: int = 2000) -> str:
    if log is None or not log.exists():
        return ""
    return "; log tail:\n" + log.read_text(errors="replace")[-chars:]


class Processes:
    """Child processes started by one benchmark, each in its own session, stopped by their ids."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: Sequence[str], log_name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{log_name}.log", "wb") as log:
            proc = subprocess.Popen(list(args), cwd=ROOT, env=env or child_env(), stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        """SIGTERM each child's own process group (airflow standalone has children), then SIGKILL."""
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


@contextlib.contextmanager
def processes(log_dir: Path) -> Iterator[Processes]:
    procs = Processes(log_dir)
    try:
        yield procs
    finally:
        procs.stop_all()


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment with the project root importable (``sandbox``, ``bench``)."""
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, **(extra or {})}


@dataclass(frozen=True)
class Simulator:
    proc: subprocess.Popen[bytes]
    url: str


def start_simulator(procs: Processes, kind: str, options: Sequence[str], timeout: float = 120) -> Simulator:
    """``python -m sandbox KIND`` on a free port, returned once it answers."""
    port = free_port()
    proc = procs.start([PY, "-m", "sandbox", kind, "--port", str(port), *options], kind)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/_sandbox/health", timeout, proc, procs.log_dir / f"{kind}.log")
    return Simulator(proc, url)


# -- one benchmark's command line --------------------------------------------------------
def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def bench_main(parser: argparse.ArgumentParser, measure: Callable[[argparse.Namespace], dict[str, Any]],
               argv: list[str] | None = None, ok: Callable[[dict[str, Any]], bool] = lambda _: True) -> int:
    """Parse, measure, print the result as JSON and (``--json-out``) write it for ``python -m bench``.

    Exits 1 when ``ok`` says the run was wrong (not slow: wrong), after writing the result.
    SIGTERM (the suite's timeout) becomes SystemExit, so simulators and Airflow are stopped.
    """
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    parser.add_argument("--json-out", type=Path, default=None, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    result = measure(args)
    text = json.dumps(result, indent=2, sort_keys=True, default=str)
    print(text, flush=True)
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(text + "\n", encoding="utf-8")
    return 0 if ok(result) else 1


# -- results -----------------------------------------------------------------------------
def write_results(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")


def format_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width text table (no dependency, readable in CI logs)."""
    cells = [[str(c) for c in header], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
