"""Benchmark: a backfill of N store orders through the whole pair, extract -> posted.

    python -m bench.backfill --orders 10000

The BigCommerce simulator is seeded with N orders (60 days of history, ~10% refunded) and
runs with an unlimited quota; both simulators answer without added latency (``--bc-latency-ms``
and ``--ps-latency-ms`` change that), so the figure is the connector's own throughput on this
machine, not the platforms'. The DAG ``bigcommerce_to_peoplesoft`` runs once with
``dag.test()`` in this process (as ``airflow dags test`` does) with ``since`` before the
seeded history, on SQLite for both Airflow and the state store.

``backfill_orders_per_min`` = store orders in the window / minutes from the start of
``extract`` to the end of ``load`` (the tasks on the path to "posted"); the whole run,
including customers, reconcile and webhook health, is reported as ``backfill_run_s``.
Afterwards every journal the state store marked posted must be in PeopleSoft exactly once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.common import ROOT, bench_main, free_port, processes, start_simulator
from bench.stack import PAIR, STORE_HASH, airflow_env, init_airflow, load_combinations

SINCE = "2000-01-01T00:00:00+00:00"


def store_orders(bc_url: str) -> int:
    state = requests.get(f"{bc_url}/_sandbox/state", timeout=300).json()
    return len(state["orders"])


def task_durations(dag_run: Any) -> tuple[dict[str, float], float | None]:
    """Seconds per task, and seconds from extract's start to load's end (None if either is missing)."""
    instances = {ti.task_id: ti for ti in dag_run.get_task_instances()}
    durations = {
        task_id: round((ti.end_date - ti.start_date).total_seconds(), 2)
        for task_id, ti in sorted(instances.items()) if ti.start_date and ti.end_date
    }
    extract, load = instances.get("extract"), instances.get("load")
    if not (extract and load and extract.start_date and load.end_date):
        return durations, None
    return durations, (load.end_date - extract.start_date).total_seconds()


def run_dag_once() -> tuple[Any, float]:
    """``dag.test()`` of the pair with ``since`` before all seeded data; the run and its wall time."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    started = time.monotonic()
    dag_run = bag.dags[PAIR].test(logical_date=None, run_conf={"since": SINCE})
    return dag_run, time.monotonic() - started


def run(orders: int = 10_000, bc_latency_ms: int = 0, ps_latency_ms: int = 0, keep: bool = False) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mlc-bench-backfill-"))
    with processes(work / "logs") as procs:
        bc_url = start_simulator(procs, "bigcommerce", ["--seed", "7", "--orders", str(orders), "--quota", "1000000000",
                                                       "--latency-ms", str(bc_latency_ms)]).url
        ps_url = start_simulator(procs, "peoplesoft", ["--latency-ms", str(ps_latency_ms)]).url
        load_combinations(ps_url)
        env = airflow_env(work / "airflow", api_port=free_port(), state_db=work / "state.db", bc_url=bc_url, ps_url=ps_url)
        init_airflow(env)
        os.environ.update(env)  # before anything imports airflow in this process
        dag_run, run_s = run_dag_once()
        durations, to_posted_s = task_durations(dag_run)
        seeded = store_orders(bc_url)
        journals = requests.get(f"{ps_url}/_sandbox/journals", timeout=300).json()["journals"]
    from ml_connector.state.db import get_engine
    from ml_connector.state.store import StateStore

    summary = StateStore(get_engine(env["ML_CONNECTOR_STATE_URL"])).pair_summary(PAIR, "bigcommerce", store=STORE_HASH)
    journal_ids = [(j["BUSINESS_UNIT"], j["JOURNAL_ID"]) for j in journals]
    result = {
        "backfill_orders_per_min": round(seeded / to_posted_s * 60, 1) if to_posted_s else None,
        "backfill_orders": seeded,
        "backfill_extract_to_posted_s": round(to_posted_s, 1) if to_posted_s else None,
        "backfill_run_s": round(run_s, 1),
        "backfill_state": str(dag_run.state),
        "backfill_task_s": durations,
        "backfill_journals_in_peoplesoft": len(journal_ids),
        "backfill_journals_posted_in_state": summary.get("journals_posted", 0),
        "backfill_duplicate_journal_ids": len(journal_ids) - len(set(journal_ids)),
        "backfill_state_summary": summary,
        "params": {"orders": orders, "bc_quota": "unlimited (1e9 per 30 s)", "bc_latency_ms": bc_latency_ms,
                   "ps_latency_ms": ps_latency_ms, "runner": "dag.test() in process",
                   "airflow_db": "SQLite", "state_db": "SQLite", "since": SINCE},
    }
    if keep:
        result["work_dir"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.backfill", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--bc-latency-ms", type=int, default=0)
    parser.add_argument("--ps-latency-ms", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the AIRFLOW_HOME, state DB and logs for inspection")
    return bench_main(parser, lambda a: run(a.orders, a.bc_latency_ms, a.ps_latency_ms, a.keep), argv)


if __name__ == "__main__":
    raise SystemExit(main())
