"""The Airflow side of the end-to-end benchmarks: home, environment, connections, pools, webhooks.

The webhook, webhook-to-posted and backfill benchmarks all run the real pair
``bigcommerce_to_peoplesoft`` against the simulators; this module sets that up the way a user
would (connections from the environment, the pair's pools, the store's webhooks registered by
the connector's own code), so that only the thing being measured differs between them.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import requests

from bench.common import PY, ROOT

PAIR = "bigcommerce_to_peoplesoft"
BC_CONN = "bigcommerce_default"
BC_CLIENT_SECRET = "bc-sandbox-secret"  # the simulator's default client secret (sandbox only)
WEBHOOK_HEADER_NAME = "X-ML-Connector-Secret"
WEBHOOK_HEADER_SECRET = "bench-webhook-header-secret"  # sandbox only
POOLS = {"bigcommerce_api": 4, "peoplesoft_api": 4}
STORE_HASH = "sandbox1"  # the simulator's default store; state keeps records per store


def connection_env(bc_url: str, ps_url: str) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` for both simulators (credentials are the simulators' sandbox defaults)."""
    bigcommerce = {
        "conn_type": "bigcommerce", "login": "bc-sandbox-client", "password": "bc-sandbox-token",
        "extra": {"store_hash": STORE_HASH, "client_secret": BC_CLIENT_SECRET, "api_base_url": bc_url,
                  "webhook_header_secret": WEBHOOK_HEADER_SECRET, "concurrency": 4},
    }
    peoplesoft = {
        "conn_type": "peoplesoft", "schema": "http", "host": "127.0.0.1", "port": int(ps_url.rsplit(":", 1)[1]),
        "login": "ML_INTEGRATOR", "password": "ps-sandbox-pass",
        "extra": {"node": "PSFT_EP", "auth_mode": "wsse", "concurrency": 4},
    }
    return {"AIRFLOW_CONN_BIGCOMMERCE_DEFAULT": json.dumps(bigcommerce),
            "AIRFLOW_CONN_PEOPLESOFT_DEFAULT": json.dumps(peoplesoft)}


def airflow_env(home: Path, *, api_port: int, state_db: Path, bc_url: str = "", ps_url: str = "") -> dict[str, str]:
    """A private AIRFLOW_HOME on SQLite with the project's DAGs, no examples, DAGs born unpaused.

    The api-server's port is set in both ``[api] base_url`` and the execution API URL: workers
    otherwise call ``localhost:8080`` and every task fails (reference airflow3.md, pitfall 10).
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
        # ``airflow standalone`` starts its components as ``airflow ...`` found on PATH: this venv's.
        "PATH": os.pathsep.join((str(Path(PY).parent), os.environ.get("PATH", ""))),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "ML_CONNECTOR_STATE_URL": f"sqlite:///{state_db}",
        "ML_CONNECTOR_INCLUDE": str(ROOT / "include"),
        "ML_CONNECTOR_REPORTS_URL": (home / "reports").as_uri(),
    }
    if bc_url and ps_url:
        env.update(connection_env(bc_url, ps_url))
    return env


def airflow(env: dict[str, str], *args: str) -> str:
    """Run one ``airflow`` CLI command; its output, or an error that carries it."""
    done = subprocess.run([PY, "-m", "airflow", *args], cwd=ROOT, env=env, text=True, capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


def init_airflow(env: dict[str, str]) -> None:
    """Migrated metadata DB, the pair's pools, and the DAGs serialised (so their assets exist)."""
    airflow(env, "db", "migrate")
    for name, slots in POOLS.items():
        airflow(env, "pools", "set", name, str(slots), f"ml-connector bench: {name}")
    airflow(env, "dags", "reserialize")


def load_combinations(ps_url: str) -> None:
    """Valid ChartField combinations in the PeopleSoft simulator: exactly those of the pair's mapping."""
    from ml_connector.mappings import load_mapping

    mapping = load_mapping(ROOT / "include" / "mappings" / f"{PAIR}.yaml")
    rules = [dict(dims) for dims in mapping.all_line_dims()]
    body = {"business_unit": mapping.header["BUSINESS_UNIT"], "rules": rules, "replace": True}
    requests.post(f"{ps_url}/_sandbox/combinations", json=body, timeout=30).raise_for_status()


def register_webhooks(env: dict[str, str], destination: str) -> list[str]:
    """Register the store's order webhooks with the connector's own code (as ``ensure_webhooks`` does)."""
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AIRFLOW_CONN_", "ML_CONNECTOR_"))})
    from ml_connector.storefronts.base import storefront_adapter

    adapter = storefront_adapter("bigcommerce")
    return adapter.ensure_webhooks(adapter.hook(BC_CONN), destination, ("store/order/*",), WEBHOOK_HEADER_NAME)


def posted_refs(ps_url: str) -> Counter[str]:
    """How many PeopleSoft journals carry each source reference (order or refund id)."""
    journals: list[dict[str, Any]] = requests.get(f"{ps_url}/_sandbox/journals", timeout=120).json()["journals"]
    refs: Counter[str] = Counter()
    for journal in journals:
        refs.update({str(line.get("JRNL_LN_REF")) for line in journal.get("JRNL_LN", [])})
    return refs
