"""``python -m bench``: run the benchmark suite, write ``bench/results/latest.json``, print a table.

    python -m bench                       # everything, full size (~20 minutes; the extract alone ~11)
    python -m bench --quick               # scaled down (~6 minutes); figures marked "quick"
    python -m bench --only transform_orders_per_s,webhooks

Each benchmark runs as its own process (``python -m bench.<module> ...``), so memory, threads
and environment never leak from one into another, and the command recorded with each figure
is exactly the one that reproduces it. With ``--only``, the figures not re-measured keep
their previous values (and their own machine, command and date) in ``latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import PY, RESULTS_DIR, ROOT, child_env, format_table, machine_info, write_results
from bench.suite import Benchmark, select

SHARED_MACHINE_NOTE = (
    "Measured on a shared machine: other jobs may run at the same time. Each figure carries the "
    "load average seen just before its benchmark started."
)


@dataclass
class Outcome:
    result: dict[str, Any] | None
    error: str | None
    seconds: float


def command(bench: Benchmark, quick: bool) -> list[str]:
    return [PY, "-m", f"bench.{bench.module}", *bench.args(quick)]


def shown(cmd: list[str]) -> str:
    """The command as a user would type it in the project directory."""
    python = os.path.relpath(cmd[0], ROOT) if cmd[0].startswith(str(ROOT)) else cmd[0]
    return " ".join([python, *cmd[1:]])


def run_one(bench: Benchmark, quick: bool, log_path: Path) -> Outcome:
    """Run one benchmark process; its JSON result, or why there is none."""
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mlc-bench-") as tmp:
        out = Path(tmp) / "result.json"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([*command(bench, quick), "--json-out", str(out)], cwd=ROOT, env=child_env(),
                                    stdout=log, stderr=subprocess.STDOUT)
            try:
                code = proc.wait(timeout=bench.timeout_s)
            except subprocess.TimeoutExpired:
                proc.terminate()  # the benchmark stops its own simulators / Airflow on SIGTERM
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                return Outcome(None, f"timed out after {bench.timeout_s:.0f} s (log: {log_path})",
                               time.monotonic() - started)
        result = json.loads(out.read_text()) if out.exists() else None
    seconds = time.monotonic() - started
    if code != 0:
        why = "a correctness check failed" if result is not None else "no result"
        return Outcome(result, f"exit code {code}, {why} (log: {log_path})", seconds)
    return Outcome(result, None, seconds)


def figure_records(bench: Benchmark, outcome: Outcome, quick: bool, machine: dict[str, Any]) -> dict[str, Any]:
    measured_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    records: dict[str, Any] = {}
    for figure in bench.figures:
        value = (outcome.result or {}).get(figure.key)
        record: dict[str, Any] = {
            "value": value,
            "unit": figure.unit,
            "target": str(figure.target) if figure.target else None,
            "met": figure.target.met(value) if figure.target else None,
            "mode": "quick" if quick else "full",
            "command": shown(command(bench, quick)),
            "machine": machine,
            "measured_at": measured_at,
        }
        if outcome.error:
            record["error"] = outcome.error
        records[figure.key] = record
    return records


def previous(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def table(figures: dict[str, Any]) -> str:
    def verdict(record: dict[str, Any]) -> str:
        if record.get("error"):
            return "ERROR"
        return {True: "met", False: "MISSED", None: "-"}[record["met"]]

    rows = [(key, r["value"], r["unit"], r["target"] or "-", verdict(r), r["mode"], r["machine"]["load_average"][0])
            for key, r in figures.items()]
    return format_table(("figure", "value", "unit", "target", "result", "mode", "load 1m"), rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated figure keys or benchmark modules")
    parser.add_argument("--quick", action="store_true", help="scaled-down runs (figures are marked 'quick')")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "latest.json")
    args = parser.parse_args(argv)
    try:
        benchmarks = select([k.strip() for k in args.only.split(",") if k.strip()])
    except ValueError as exc:
        parser.error(str(exc))
    document = previous(args.out) if args.only else {}
    figures: dict[str, Any] = dict(document.get("figures", {}))
    details: dict[str, Any] = dict(document.get("details", {}))
    started = time.monotonic()
    failures = 0
    for bench in benchmarks:
        machine = machine_info()
        print(f"[bench] {bench.module}: {shown(command(bench, args.quick))}  (load {machine['load_average']})",
              file=sys.stderr, flush=True)
        outcome = run_one(bench, args.quick, RESULTS_DIR / "logs" / f"{bench.module}.log")
        print(f"[bench] {bench.module}: {outcome.seconds:.0f} s{' - ' + outcome.error if outcome.error else ''}",
              file=sys.stderr, flush=True)
        failures += outcome.error is not None
        figures.update(figure_records(bench, outcome, args.quick, machine))
        details[bench.module] = outcome.result
        write_results(args.out, {  # after every benchmark: an interrupted run still leaves what it measured
            "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "suite_command": shown([PY, "-m", "bench", *(argv if argv is not None else sys.argv[1:])]),
            "machine": machine_info(),
            "note": SHARED_MACHINE_NOTE,
            "figures": figures,
            "details": details,
        })
    print(table(figures))
    print(f"\n{len(benchmarks)} benchmark(s) in {time.monotonic() - started:.0f} s; results: {args.out}; "
          f"load average now {machine_info()['load_average']}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
