"""The webhook receiver, mounted by the plugin on the Airflow api-server at ``/ml-connector``.

``POST /ml-connector/webhooks/<storefront>/<connection id>``. Airflow puts no auth on plugin
apps, so the storefront's signature check is the only gate: an unverified request gets 401
and leaves nothing behind but a log line; a verified but malformed one 400; an oversize one
413. A verified event goes to the inbox (deduplicated by delivery id) and is answered 200 at
once; the pair's DAG is then woken through an asset event, coalesced so that a burst of
deliveries starts one run, not hundreds.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ml_connector.storefronts.base import WebhookEvent, WebhookRejected, storefront_adapter

log = logging.getLogger("ml_connector.webhooks")

MAX_BODY_BYTES = 256 * 1024  # BigCommerce payloads are thin; Shopify orders can be large but not this large


class _Oversize(Exception):
    pass


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise _Oversize()
        except ValueError:
            raise _Oversize() from None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _Oversize()
        chunks.append(chunk)
    return b"".join(chunks)


class Inbox:
    """Writes verified events to the state store of the pipelines reading that connection."""

    def __init__(self) -> None:
        self._stores: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _store(self, storefront: str, conn_id: str) -> Any:
        from ml_connector.config import all_pipelines
        from ml_connector.state.db import get_engine, migrate, state_url
        from ml_connector.state.store import StateStore

        state_conn = next(
            (p.state_conn_id for p in all_pipelines() if (p.storefront.type, p.storefront.conn_id) == (storefront, conn_id)),
            "ml_connector_state",
        )
        with self._lock:
            if state_conn not in self._stores:
                engine = get_engine(state_url(state_conn))
                migrate(engine)
                self._stores[state_conn] = StateStore(engine)
            return self._stores[state_conn]

    def add(self, storefront: str, conn_id: str, event: WebhookEvent) -> bool:
        return self._store(storefront, conn_id).add_webhook_event(
            storefront, conn_id, event.delivery_id, event.topic, event.object_type, event.object_id, event.payload
        )


class Waker:
    """Emits at most one asset event per storefront connection every ``interval`` seconds.

    One asset-triggered run consumes every event queued before it starts, so coalescing
    loses nothing: the run drains the whole inbox.
    """

    def __init__(self, emit: Callable[[str, dict[str, Any]], None], interval: float = 1.0) -> None:
        self._emit, self._interval = emit, interval
        self._pending: dict[str, int] = {}
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def wake(self, asset_uri: str) -> None:
        with self._cond:
            self._pending[asset_uri] = self._pending.get(asset_uri, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ml-connector-waker", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending:
                    if not self._cond.wait(timeout=60):
                        self._thread = None
                        return
                batch, self._pending = self._pending, {}
            for uri, count in batch.items():
                try:
                    self._emit(uri, {"deliveries": count})
                except Exception:  # the schedule still polls; never let the waker die
                    log.exception("could not emit asset event for %s (the hourly poll will catch up)", uri)
            time.sleep(self._interval)


def emit_asset_event(uri: str, extra: dict[str, Any]) -> None:
    """Record an asset event inside the api-server (internal Airflow API, wrapped here only)."""
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        model = session.scalar(select(AssetModel).where(AssetModel.uri == uri).limit(1))
        if model is None:
            log.warning("asset %s is unknown to Airflow (is the DAG parsed and unpaused?)", uri)
            return
        asset_manager.register_asset_change(asset=model, extra=extra, source_is_api=True, session=session)


def create_app(*, inbox: Inbox | None = None, waker: Waker | None = None, max_body: int = MAX_BODY_BYTES) -> FastAPI:
    app = FastAPI(title="ml-connector webhooks", docs_url=None, redoc_url=None, openapi_url=None)
    inbox = inbox or Inbox()
    waker = waker or Waker(emit_asset_event)

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/webhooks/{storefront}/{conn_id}")
    async def receive(storefront: str, conn_id: str, request: Request) -> JSONResponse:
        try:
            adapter = storefront_adapter(storefront)
        except ValueError:
            return JSONResponse({"error": f"unknown storefront {storefront!r}"}, status_code=404)
        try:
            body = await _read_body(request, max_body)
        except _Oversize:
            log.warning("webhook %s/%s rejected: body larger than %d bytes", storefront, conn_id, max_body)
            return JSONResponse({"error": "payload too large"}, status_code=413)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            event = await asyncio.to_thread(adapter.verify_webhook, conn_id, headers, body)
        except WebhookRejected as exc:
            log.warning("webhook %s/%s rejected: %s", storefront, conn_id, exc.reason)
            status = 400 if exc.malformed else 401
            return JSONResponse({"error": "malformed payload" if exc.malformed else "unauthorized"}, status_code=status)
        new = await asyncio.to_thread(inbox.add, storefront, conn_id, event)
        if new:
            waker.wake(f"ml-connector://{storefront}/{conn_id}/events")
        return JSONResponse({"accepted": True, "duplicate": not new, "delivery_id": event.delivery_id})

    return app
