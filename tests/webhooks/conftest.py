"""Receiver fixtures: a BigCommerce connection in the environment, a tmp SQLite state store,
a real ``Waker`` whose emit callable records, and helpers to build signed deliveries."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from ml_connector.state.db import ENV_URL, dispose_engine
from ml_connector.state.store import open_store
from ml_connector.storefronts.bigcommerce.adapter import ADAPTER
from ml_connector.webhooks.app import Inbox, Waker, create_app

from sandbox.bigcommerce.webhooks import sign

CONN_ID = "bigcommerce_default"
PAIR = "bigcommerce_to_peoplesoft"  # the pipeline reading CONN_ID: what it has yet to drain is what was queued
STORE_HASH = "wh5store"
CLIENT_SECRET = "client-secret-for-webhook-tests"  # noqa: S105 - test fixture
HEADER_SECRET = "header-secret-for-webhook-tests"  # noqa: S105 - test fixture
SECRET_HEADER = "X-ML-Connector-Secret"
URL = f"/webhooks/bigcommerce/{CONN_ID}"
ASSET_URI = f"ml-connector://bigcommerce/{CONN_ID}/events"


def connection_json(store_hash: str = STORE_HASH) -> str:
    return json.dumps({
        "conn_type": "bigcommerce",
        "password": "access-token-for-webhook-tests",
        "extra": {
            "store_hash": store_hash,
            "client_secret": CLIENT_SECRET,
            "webhook_header_secret": HEADER_SECRET,
            "api_base_url": "http://127.0.0.1:9",  # never called: verification needs no API
        },
    })


def payload(scope: str = "store/order/created", data: dict[str, Any] | None = None, *,
            store_hash: str = STORE_HASH, event_hash: str = "a" * 40) -> dict[str, Any]:
    """A thin BigCommerce callback body (reference bigcommerce.md, 'Callback payload')."""
    return {"scope": scope, "store_id": "1025646", "data": data or {"type": "order", "id": 250},
            "hash": event_hash, "created_at": int(time.time()), "producer": f"stores/{store_hash}"}


def encode(body: dict[str, Any] | list[Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def signed_headers(body: bytes, *, delivery_id: str = "msg_1", secret: str = CLIENT_SECRET,
                   timestamp: int | None = None, header_secret: str | None = HEADER_SECRET) -> dict[str, str]:
    """What the BigCommerce sender puts on a delivery: Standard Webhooks plus the custom header."""
    sent_at = int(time.time()) if timestamp is None else timestamp
    headers = {"Content-Type": "application/json", "webhook-id": delivery_id, "webhook-timestamp": str(sent_at),
               "webhook-signature": sign(secret, delivery_id, sent_at, body)}
    if header_secret is not None:
        headers[SECRET_HEADER] = header_secret
    return headers


@dataclass
class EmitRecorder:
    """The ``emit`` callable of a real ``Waker``: records calls; ``gate`` can hold the first one."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    gate: threading.Event = field(default_factory=threading.Event)
    fail_first: bool = False

    def __post_init__(self) -> None:
        self.gate.set()

    def __call__(self, uri: str, extra: dict[str, Any]) -> None:
        self.started.set()
        self.gate.wait(timeout=30)
        self.calls.append((uri, dict(extra)))
        self.threads.append(threading.current_thread())
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError("Airflow database unavailable")


@dataclass
class Receiver:
    client: TestClient
    waker: Waker
    emitted: EmitRecorder
    state_url: str

    def post(self, body: bytes, headers: dict[str, str], url: str = URL) -> Any:
        return self.client.post(url, content=body, headers=headers)

    def inbox(self) -> list[Any]:
        return open_store(self.state_url).pending_webhook_events(PAIR, "bigcommerce", CONN_ID)

    def wakes(self) -> list[tuple[str, dict[str, Any]]]:
        """Asset events emitted so far, after the waker has handed over everything it was asked for."""
        assert self.waker.flush(timeout=10), "waker did not drain"
        return list(self.emitted.calls)


@pytest.fixture
def bigcommerce_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """The connection in the environment, and a fresh settings cache so no other test's copy is used."""
    monkeypatch.setenv("AIRFLOW_CONN_BIGCOMMERCE_DEFAULT", connection_json())
    monkeypatch.setattr(ADAPTER, "_settings", type(ADAPTER._settings)())


@pytest.fixture
def state_url(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv(ENV_URL, url)
    yield url
    dispose_engine(url)


@pytest.fixture
def receiver(bigcommerce_connection: None, state_url: str) -> Iterator[Receiver]:
    emitted = EmitRecorder()
    waker = Waker(emitted, interval=0.0, idle_timeout=5.0)
    with TestClient(create_app(inbox=Inbox(), waker=waker)) as client:
        yield Receiver(client, waker, emitted, state_url)
