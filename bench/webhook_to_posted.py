"""Benchmark: from a paid order in the store to its journal in PeopleSoft, under ``airflow standalone``.

    python -m bench.webhook_to_posted --samples 15

Both simulators run as processes; Airflow runs as a user would start it locally
(``airflow standalone``: scheduler, dag-processor, triggerer and api-server, LocalExecutor on
SQLite) with the connections in the environment, the pair's pools created and its DAG
unpaused. The store's order webhooks are registered by the connector's own code, pointing at
the receiver on the api-server. Each sample creates one new paid order in the BigCommerce
simulator (which then sends its signed webhooks) and waits for a PeopleSoft journal that
references it; the time between the two is one sample. Samples are taken one after the
other, each as soon as the previous order is posted, so a sample may also wait for the tail
of the previous run (customers, reconcile, webhook health): that is what an order arriving
during a run sees too. A first, unmeasured order warms the pipeline up (initial extract).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench.common import PY, bench_main, free_port, percentile, processes, start_simulator, wait_http
from bench.stack import (
    BC_CONN,
    PAIR,
    airflow,
    airflow_env,
    init_airflow,
    load_combinations,
    posted_refs,
    register_webhooks,
)

SAMPLE_TIMEOUT_S = 240.0


def create_paid_order(bc_url: str) -> str:
    """A new order in status 11 (Awaiting Fulfillment, i.e. paid); the simulator sends its webhooks."""
    response = requests.post(f"{bc_url}/_sandbox/orders", json={"status_id": 11}, timeout=30)
    response.raise_for_status()
    return str(response.json()["id"])


def wait_posted(ps_url: str, order_id: str, timeout: float) -> float | None:
    """Seconds until a PeopleSoft journal references ``order_id`` (None on timeout), polled every 0.25 s."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if posted_refs(ps_url)[order_id]:
            return time.monotonic() - started
        time.sleep(0.25)
    return None


def dag_runs(api: str) -> list[dict[str, Any]]:
    """The pair's runs through the public REST API (``simple_auth_manager_all_admins``: no login)."""
    token = requests.get(f"{api}/auth/token", timeout=30).json()["access_token"]
    response = requests.get(f"{api}/api/v2/dags/{PAIR}/dagRuns", params={"limit": 100},
                            headers={"Authorization": f"Bearer {token}"}, timeout=30)
    response.raise_for_status()
    return list(response.json()["dag_runs"])


def run(samples: int = 15, keep: bool = False) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mlc-bench-w2p-"))
    api_port = free_port()
    api = f"http://127.0.0.1:{api_port}"
    with processes(work / "logs") as procs:
        bc_url = start_simulator(procs, "bigcommerce", ["--seed", "7", "--orders", "20", "--quota", "100000",
                                                       "--allow-http-destinations"]).url
        ps_url = start_simulator(procs, "peoplesoft", []).url
        load_combinations(ps_url)
        env = airflow_env(work / "airflow", api_port=api_port, state_db=work / "state.db", bc_url=bc_url, ps_url=ps_url)
        env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] = "True"  # the bench reads dag runs without a login
        init_airflow(env)
        airflow(env, "dags", "unpause", PAIR)
        started = time.monotonic()
        standalone = procs.start([PY, "-m", "airflow", "standalone"], "standalone", env)
        wait_http(f"{api}/ml-connector/health", 300, standalone, work / "logs" / "standalone.log")
        startup_s = time.monotonic() - started
        register_webhooks(env, f"{api}/ml-connector/webhooks/bigcommerce/{BC_CONN}")

        warmup_s = wait_posted(ps_url, create_paid_order(bc_url), SAMPLE_TIMEOUT_S * 2)
        if warmup_s is None:
            raise RuntimeError(f"the warm-up order was not posted within {SAMPLE_TIMEOUT_S * 2:.0f} s; logs in {work}")
        latencies: list[float] = []
        timeouts = 0
        for _ in range(samples):
            latency = wait_posted(ps_url, create_paid_order(bc_url), SAMPLE_TIMEOUT_S)
            if latency is None:
                timeouts += 1
            else:
                latencies.append(latency)
        runs = dag_runs(api)
    by_type: dict[str, int] = {}
    for dag_run in runs:
        by_type[dag_run["run_type"]] = by_type.get(dag_run["run_type"], 0) + 1
    result = {
        "webhook_to_posted_p50_s": _round(percentile(latencies, 50)),
        "webhook_to_posted_p95_s": _round(percentile(latencies, 95)),
        "webhook_to_posted_max_s": _round(max(latencies, default=None)),
        "webhook_to_posted_samples": [round(x, 1) for x in latencies],
        "webhook_to_posted_timeouts": timeouts,
        "warmup_order_s": _round(warmup_s),
        "standalone_startup_s": round(startup_s, 1),
        "dag_runs_by_type": by_type,
        "dag_run_mean_s": _round(_mean_duration(runs)),
        "params": {"samples": samples, "executor": "LocalExecutor (airflow standalone)", "airflow_db": "SQLite",
                   "state_db": "SQLite", "bc_latency_ms": 0, "ps_latency_ms": 0,
                   "sample_timeout_s": SAMPLE_TIMEOUT_S},
    }
    if keep:
        result["work_dir"] = str(work)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _mean_duration(runs: list[dict[str, Any]]) -> float | None:
    from datetime import datetime

    durations = [
        (datetime.fromisoformat(r["end_date"]) - datetime.fromisoformat(r["start_date"])).total_seconds()
        for r in runs if r.get("start_date") and r.get("end_date")
    ]
    return sum(durations) / len(durations) if durations else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhook_to_posted", description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the AIRFLOW_HOME and logs for inspection")
    return bench_main(parser, lambda a: run(a.samples, a.keep), argv)


if __name__ == "__main__":
    raise SystemExit(main())
