"""Fixtures for running the pair DAGs end to end against the simulators (``dag.test()``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from ml_connector.mappings import load_mapping

from sandbox.bigcommerce.server import BigCommerceSim
from sandbox.peoplesoft.server import PeopleSoftSim

ROOT = Path(__file__).resolve().parents[2]
PAIR = "bigcommerce_to_peoplesoft"
STORE_HASH = "sandbox1"  # the simulator's store: state keeps records per store
BC_SECRET = "bc-sandbox-secret"
HEADER_SECRET = "test-header-secret"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """A migrated Airflow metadata DB in this session's AIRFLOW_HOME (dag.test() needs one)."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, cwd=ROOT)


@dataclass
class Sandbox:
    bc: BigCommerceSim
    ps: PeopleSoftSim
    bc_url: str
    ps_url: str

    def ps_journals(self) -> list[dict]:
        return self.ps.journals

    def bc_control_post(self, path: str, body: dict | None = None) -> dict:
        r = requests.post(f"{self.bc_url}/_sandbox/{path}", json=body or {}, timeout=30)
        r.raise_for_status()
        return r.json()

    def ps_fault(self, rule: dict) -> None:
        requests.post(f"{self.ps_url}/_sandbox/faults", json=rule, timeout=10).raise_for_status()

    def ps_clear_faults(self) -> None:
        requests.delete(f"{self.ps_url}/_sandbox/faults", timeout=10).raise_for_status()


def load_combinations(ps: PeopleSoftSim, mapping_path: Path) -> None:
    mapping = load_mapping(mapping_path)
    ps.load_combinations(mapping.header["BUSINESS_UNIT"], [dict(d) for d in mapping.all_line_dims()])


def connection_env(bc_url: str, ps_url: str) -> dict[str, str]:
    return {
        "AIRFLOW_CONN_BIGCOMMERCE_DEFAULT": json.dumps(
            {
                "conn_type": "bigcommerce",
                "login": "bc-sandbox-client",
                "password": "bc-sandbox-token",
                "extra": {
                    "store_hash": STORE_HASH,
                    "client_secret": BC_SECRET,
                    "api_base_url": bc_url,
                    "webhook_header_secret": HEADER_SECRET,
                    "concurrency": 4,
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


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Sandbox]:
    bc = BigCommerceSim(port=0, seed=11, orders=60, allow_http_destinations=True, quota=100_000, window_ms=30_000)
    ps = PeopleSoftSim(port=0)
    bc_url, ps_url = bc.start(), ps.start()
    load_combinations(ps, ROOT / "include" / "mappings" / f"{PAIR}.yaml")
    for key, value in connection_env(bc_url, ps_url).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ML_CONNECTOR_REPORTS_URL", (tmp_path / "reports").as_uri())
    try:
        yield Sandbox(bc, ps, bc_url, ps_url)
    finally:
        bc.stop()
        ps.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("pg_database")
        from ml_connector.state.db import get_engine
        from sqlalchemy import text

        with get_engine(url).begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    monkeypatch.setenv("ML_CONNECTOR_STATE_URL", url)
    return url


def bc_control(sandbox: Sandbox, method: str, path: str, **kwargs: object) -> dict:
    r = requests.request(method, f"{sandbox.bc_url}/_sandbox/{path}", timeout=30, **kwargs)
    r.raise_for_status()
    return r.json() if r.content else {}


os.environ.setdefault("ML_CONNECTOR_PAIR_UNDER_TEST", PAIR)


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The shipped include/ with the pipeline's retry delays cut to seconds (tests wait for retries)."""
    import shutil

    import yaml

    include = tmp_path / "include"
    shutil.copytree(ROOT / "include", include)
    path = include / "pipelines" / f"{PAIR}.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg.update({"retries": 2, "retry_delay": "1s", "max_retry_delay": "2s"})
    path.write_text(yaml.safe_dump(cfg))
    monkeypatch.setenv("ML_CONNECTOR_INCLUDE", str(include))
    return include
