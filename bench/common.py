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
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.processes import Processes, child_env, free_port, processes, wait_http  # noqa: F401 - re-exported

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
