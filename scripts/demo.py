"""``make demo``: BigCommerce -> PeopleSoft end to end against the sandbox, in a few minutes.

Starts both simulators with seeded data, initialises Airflow on SQLite under ``.demo/``,
registers the connections (pointing at the simulators) and pools, runs the DAG, starts the
Airflow api-server (which mounts the webhook receiver plugin), registers the store's
webhooks, creates a few new paid orders and a refund in the store so that signed webhooks
arrive, runs the DAG again, shows those documents posted in PeopleSoft, and prints::

    demo: <orders> orders -> <journals> journals posted, <customers> customers, <variances> variances

plus the path of the reconciliation report. Everything it started is stopped at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from sandbox.processes import free_port, processes, wait_http

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
PAIR = "bigcommerce_to_peoplesoft"
STORE_HASH = "sandbox1"  # the simulator's default store; state keeps records per store
PY = sys.executable
BC_SECRET = "bc-sandbox-secret"  # the simulator's default client secret (sandbox only)
WEBHOOK_HEADER_SECRET = "demo-webhook-header-secret"  # sandbox only


def say(msg: str) -> None:
    print(f"[demo] {msg}", flush=True)


def airflow_env(bc_url: str, ps_url: str, api_port: int) -> dict[str, str]:
    home = DEMO / "airflow"
    env = dict(os.environ)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
            "ML_CONNECTOR_STATE_URL": f"sqlite:///{DEMO / 'state.db'}",
            "ML_CONNECTOR_INCLUDE": str(ROOT / "include"),
            "ML_CONNECTOR_REPORTS_URL": (DEMO / "reports").as_uri(),
            "AIRFLOW_CONN_BIGCOMMERCE_DEFAULT": json.dumps(
                {
                    "conn_type": "bigcommerce",
                    "login": "bc-sandbox-client",
                    "password": "bc-sandbox-token",
                    "extra": {
                        "store_hash": STORE_HASH,
                        "client_secret": BC_SECRET,
                        "api_base_url": bc_url,
                        "webhook_header_secret": WEBHOOK_HEADER_SECRET,
                        "concurrency": 4,
                        "timezone": "America/Chicago",
                    },
                }
            ),
            "AIRFLOW_CONN_PEOPLESOFT_DEFAULT": json.dumps(
                {
                    "conn_type": "peoplesoft",
                    "schema": "http",
                    "host": "127.0.0.1",
                    "port": int(ps_url.rsplit(":", 1)[1]),
                    "login": "ML_INTEGRATOR",
                    "password": "ps-sandbox-pass",
                    "extra": {"node": "PSFT_EP", "auth_mode": "wsse", "concurrency": 4},
                }
            ),
        }
    )
    return env


def airflow(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "airflow", *args], cwd=ROOT, env=env, text=True, capture_output=True, check=check)


def run_dag(env: dict[str, str], label: str, conf: dict[str, Any] | None = None) -> None:
    started = time.monotonic()
    args = ["dags", "test", PAIR] + (["-c", json.dumps(conf)] if conf else [])
    result = airflow(env, *args, check=False)
    (DEMO / f"dag_{label}.log").write_text(result.stdout + result.stderr)
    ok = result.returncode == 0 and "state=success" in (result.stdout + result.stderr).replace(" ", "")
    say(f"DAG run '{label}' finished in {time.monotonic() - started:.0f} s ({'success' if ok else 'see .demo/dag_' + label + '.log'})")
    if result.returncode != 0:
        raise SystemExit(f"demo: the DAG run failed; log in {DEMO / f'dag_{label}.log'}")


def run_reconcile(env: dict[str, str]) -> None:
    """The daily reconciliation DAG over the whole seeded history (about 120 days)."""
    started = time.monotonic()
    result = airflow(env, "dags", "test", f"{PAIR}_reconcile", "-c", json.dumps({"days": 120}), check=False)
    (DEMO / "dag_reconcile.log").write_text(result.stdout + result.stderr)
    say(f"reconciliation DAG over 120 days finished in {time.monotonic() - started:.0f} s")
    if result.returncode != 0:
        raise SystemExit(f"demo: reconciliation failed; log in {DEMO / 'dag_reconcile.log'}")


def load_combinations(ps_url: str) -> None:
    """Tell the PeopleSoft simulator which ChartField combinations are valid: those of the mapping."""
    from ml_connector.mappings import load_mapping

    mapping = load_mapping(ROOT / "include" / "mappings" / f"{PAIR}.yaml")
    rules = [dict(dims) for dims in mapping.all_line_dims()]
    bu = mapping.header["BUSINESS_UNIT"]
    r = requests.post(f"{ps_url}/_sandbox/combinations", json={"business_unit": bu, "rules": rules, "replace": True}, timeout=10)
    r.raise_for_status()


def main() -> int:
    t0 = time.monotonic()
    shutil.rmtree(DEMO, ignore_errors=True)
    (DEMO / "reports").mkdir(parents=True)
    bc_port, ps_port, api_port = free_port(), free_port(), free_port()
    bc_url, ps_url = f"http://127.0.0.1:{bc_port}", f"http://127.0.0.1:{ps_port}"
    env = airflow_env(bc_url, ps_url, api_port)
    with processes(DEMO) as procs:
        procs.start(
            [PY, "-m", "sandbox", "bigcommerce", "--port", str(bc_port), "--seed", "7", "--orders", "60",
             "--allow-http-destinations"], "bigcommerce", env,
        )
        procs.start([PY, "-m", "sandbox", "peoplesoft", "--port", str(ps_port)], "peoplesoft", env)
        wait_http(f"{bc_url}/_sandbox/health", 60)
        wait_http(f"{ps_url}/_sandbox/health", 60)
        load_combinations(ps_url)
        say(f"simulators up: BigCommerce {bc_url}, PeopleSoft {ps_url}")

        airflow(env, "db", "migrate")
        airflow(env, "pools", "set", "bigcommerce_api", "4", "BigCommerce API calls")
        airflow(env, "pools", "set", "peoplesoft_api", "4", "PeopleSoft Integration Broker calls")
        say("Airflow initialised on SQLite (.demo/airflow), connections and pools registered")

        run_dag(env, "backfill", {"since": "2026-07-01T00:00:00+00:00"})

        procs.start([PY, "-m", "airflow", "api-server", "--port", str(api_port)], "api-server", env)
        wait_http(f"http://127.0.0.1:{api_port}/ml-connector/health", timeout=120)
        receiver = f"http://127.0.0.1:{api_port}/ml-connector/webhooks/bigcommerce/bigcommerce_default"
        ensure_hooks(env, receiver)
        new_ids = make_store_activity(bc_url)
        wait_inbox(len(new_ids["orders"]) + 1)
        time.sleep(2)  # late deliveries of the same burst
        run_dag(env, "webhooks")
        show_posted(ps_url, new_ids)
        run_reconcile(env)
        line, report = summary(env, ps_url)
    say("stopped the simulators and the api-server")
    say(f"finished in {time.monotonic() - t0:.0f} s")
    print(line)
    print(f"report: {report}")
    return 0


def ensure_hooks(env: dict[str, str], destination: str) -> None:
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AIRFLOW_CONN_", "ML_CONNECTOR_"))})
    from ml_connector.storefronts.base import storefront_adapter

    adapter = storefront_adapter("bigcommerce")
    hook = adapter.hook("bigcommerce_default")
    changes = adapter.ensure_webhooks(hook, destination, ("store/order/*",), "X-ML-Connector-Secret")
    say(f"webhooks registered: {changes}")


def make_store_activity(bc_url: str) -> dict[str, list[Any]]:
    orders = []
    for _ in range(3):
        r = requests.post(f"{bc_url}/_sandbox/orders", json={"status_id": 11}, timeout=10)
        r.raise_for_status()
        orders.append(r.json()["id"])
    r = requests.post(f"{bc_url}/_sandbox/orders/{orders[0]}/refunds", json={}, timeout=10)
    r.raise_for_status()
    refund = r.json()["data"]
    say(f"store activity: new paid orders {orders}, refund {refund.get('id')} on order {orders[0]} (signed webhooks sent)")
    return {"orders": orders, "refunds": [refund.get("id")]}


def wait_inbox(expected: int, timeout: float = 60.0) -> None:
    from ml_connector.state.db import get_engine, state_url
    from ml_connector.state.store import StateStore

    store = StateStore(get_engine(state_url("ml_connector_state")))
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = len(list(store.pending_webhook_events(PAIR, "bigcommerce", "bigcommerce_default")))
        if count >= expected:
            break
        time.sleep(0.5)
    say(f"webhook receiver verified and queued {count} event(s)")


def show_posted(ps_url: str, ids: dict[str, list[Any]]) -> None:
    journals = requests.get(f"{ps_url}/_sandbox/journals", timeout=30).json()["journals"]
    refs = {str(ln.get("JRNL_LN_REF")) for j in journals for ln in j["JRNL_LN"]}
    for order_id in ids["orders"]:
        say(f"order {order_id}: {'posted in PeopleSoft' if str(order_id) in refs else 'NOT posted'}")
    for refund_id in ids["refunds"]:
        say(f"refund {refund_id}: {'posted in PeopleSoft' if str(refund_id) in refs else 'NOT posted'}")


def summary(env: dict[str, str], ps_url: str) -> tuple[str, str]:
    from ml_connector.state.db import get_engine, state_url
    from ml_connector.state.store import StateStore

    store = StateStore(get_engine(state_url("ml_connector_state")))
    stats = store.pair_summary(PAIR, "bigcommerce", store=STORE_HASH)
    latest = json.loads((DEMO / "reports" / f"latest_{PAIR}.json").read_text())
    in_erp = requests.get(f"{ps_url}/_sandbox/journals", timeout=30).json()["count"]
    say(f"state: {stats}; PeopleSoft holds {in_erp} journals")
    line = (
        f"demo: {stats.get('orders', 0)} orders -> {stats.get('journals_posted', 0)} journals posted, "
        f"{stats.get('customers_synced', 0)} customers, {latest['variances']} variances"
    )
    return line, latest["report"].removeprefix("file://")


if __name__ == "__main__":
    raise SystemExit(main())
