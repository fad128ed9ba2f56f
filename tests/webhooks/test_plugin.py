"""The plugin mounts the receiver, and (slow) the real Airflow api-server serves it end to end:
a signed delivery lands in the inbox and becomes an asset event, a forged one is refused."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from ml_connector.state.db import dispose_engine
from ml_connector.state.store import open_store
from sqlalchemy import create_engine, text

from tests.conftest import ROOT
from tests.webhooks.conftest import ASSET_URI, CONN_ID, PAIR, connection_json, encode, payload, signed_headers

STARTUP_TIMEOUT_S = 60
AIRFLOW = [sys.executable, "-m", "airflow"]


def test_plugin_mounts_the_receiver_at_ml_connector() -> None:
    from ml_connector.plugin import MlConnectorPlugin

    [entry] = MlConnectorPlugin.fastapi_apps
    assert entry["url_prefix"] == "/ml-connector"
    assert isinstance(entry["app"], FastAPI)
    paths = {route.path for route in entry["app"].routes}
    assert {"/health", "/webhooks/{storefront}/{conn_id}"} <= paths


# -- the real api-server ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - 127.0.0.1 only
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _wait_for_health(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"api-server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - 127.0.0.1 only
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"api-server not healthy within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    """Terminate the server's own process group (uvicorn workers included), then make sure."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)


def _asset_events(airflow_db: str, uri: str) -> list[str]:
    engine = create_engine(airflow_db)
    try:
        with engine.connect() as conn:
            query = text("SELECT e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id WHERE a.uri = :uri")
            return [str(extra) for extra in conn.execute(query, {"uri": uri}).scalars()]
    finally:
        engine.dispose()


def _wait_for_asset_event(airflow_db: str, uri: str, timeout_s: float = 30) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while not (events := _asset_events(airflow_db, uri)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return events


@pytest.fixture
def airflow_env(tmp_path: Path) -> dict[str, str]:
    """A migrated Airflow home with the repo's DAGs serialized, and the env the server runs with."""
    home = tmp_path / "airflow"
    home.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW_CONN_BIGCOMMERCE_DEFAULT": connection_json(),
        "ML_CONNECTOR_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}",
        "API_PORT": str(port),
    }
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        done = subprocess.run([*AIRFLOW, *command], env=env, capture_output=True, timeout=180, check=False)  # noqa: S603
        assert done.returncode == 0, f"airflow {' '.join(command)} failed:\n{done.stderr.decode()[-3000:]}"
    return env


@pytest.fixture
def api_server(airflow_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    log = tmp_path / "api-server.log"
    port = airflow_env["API_PORT"]
    with log.open("wb") as out:
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            [*AIRFLOW, "api-server", "--host", "127.0.0.1", "--port", port, "--workers", "1"],
            env=airflow_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}/ml-connector"
        _wait_for_health(f"{base}/health", server, log)
        yield base
    finally:
        _stop(server)


@pytest.mark.slow
def test_api_server_serves_the_receiver_end_to_end(api_server: str, airflow_env: dict[str, str]) -> None:
    signed_body = encode(payload(data={"type": "order", "id": 4242}))
    forged_body = encode(payload(data={"type": "order", "id": 4343}))
    url = f"{api_server}/webhooks/bigcommerce/{CONN_ID}"

    assert _post(url, signed_body, signed_headers(signed_body, delivery_id="msg_e2e")) == 200
    assert _post(url, forged_body, signed_headers(forged_body, delivery_id="msg_forged", secret="forged")) == 401

    state_url = airflow_env["ML_CONNECTOR_STATE_URL"]
    try:
        inbox = open_store(state_url).pending_webhook_events(PAIR, "bigcommerce", CONN_ID)
    finally:
        dispose_engine(state_url)
    assert [(e.delivery_id, e.object_id) for e in inbox] == [("msg_e2e", "4242")]

    events = _wait_for_asset_event(airflow_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], ASSET_URI)
    assert [json.loads(extra) for extra in events] == [{"deliveries": 1, "source": "ml-connector webhook"}]
