"""The webhook receiver, mounted by the plugin on the Airflow api-server at ``/ml-connector``.

``POST /ml-connector/webhooks/<storefront>/<connection id>``. Airflow puts no auth on plugin
apps, so the storefront's signature check is the only gate: an unverified request gets 401
and leaves nothing behind but a log line; a verified but malformed one 400; an oversize one
413; an unknown storefront 404. A verified event goes to the inbox (deduplicated by delivery
id) and is answered 200 at once; the pair's DAG is then woken through an asset event,
coalesced so that a burst of deliveries starts one run, not hundreds. When the inbox cannot
be written the answer is 503, so the platform delivers again later.

Log lines name the storefront, connection, client address and the rejection reason; never a
header value, a signature or a secret (reasons are written to be safe, and unexpected errors
are logged by type and place only, since their messages may quote what they choked on).
"""

from __future__ import annotations

import asyncio
import logging
import re
import traceback

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from ml_connector.config import webhook_asset_uri
from ml_connector.storefronts.base import WebhookRejected, storefront_adapter
from ml_connector.webhooks.inbox import Inbox
from ml_connector.webhooks.waker import Waker, emit_asset_event

__all__ = ["MAX_BODY_BYTES", "Inbox", "Waker", "create_app", "emit_asset_event"]

log = logging.getLogger("ml_connector.webhooks")

MAX_BODY_BYTES = 256 * 1024  # BigCommerce payloads are thin; Shopify orders can be large but not this large
# Airflow connection ids are letters, digits, '_', '.', '-' (<= 250): anything else cannot be one.
_CONN_ID = re.compile(r"[A-Za-z0-9_.\-]{1,250}")


class _BodyRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused once it passes ``limit`` bytes whether or not Content-Length says so."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise _BodyRefused(400, "Content-Length is not a number")
        if int(declared) > limit:
            raise _BodyRefused(413, f"Content-Length {int(declared)} is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _BodyRefused(413, f"body is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _where(exc: BaseException) -> str:
    """``TypeError at adapter.py:123``: enough to find a bug, without the message's contents."""
    frames = traceback.extract_tb(exc.__traceback__)
    place = f" at {frames[-1].filename.rsplit('/', 1)[-1]}:{frames[-1].lineno}" if frames else ""
    return type(exc).__name__ + place


def _first_line(exc: BaseException) -> str:
    """A database error's own message (its first line; SQL and parameters follow on later lines)."""
    return (str(exc).strip().splitlines() or [""])[0][:200]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(*, inbox: Inbox | None = None, waker: Waker | None = None, max_body: int = MAX_BODY_BYTES) -> FastAPI:
    """The receiver app; ``inbox`` and ``waker`` default to the state store and Airflow asset events."""
    app = FastAPI(title="ml-connector webhooks", docs_url=None, redoc_url=None, openapi_url=None)
    inbox = inbox or Inbox()
    waker = waker or Waker(emit_asset_event)

    @app.get("/health")
    async def health() -> dict[str, bool]:
        return {"ok": True}

    @app.post("/webhooks/{storefront}/{conn_id}")
    async def receive(storefront: str, conn_id: str, request: Request) -> JSONResponse:
        client = request.client.host if request.client else "?"
        try:
            adapter = storefront_adapter(storefront)
        except ValueError:
            log.warning("webhook for unknown storefront %r from %s", storefront[:40], client)
            return _error(404, "unknown storefront")
        where = f"{storefront}/{conn_id[:250]!r} from {client}"
        if not _CONN_ID.fullmatch(conn_id):
            log.warning("webhook %s rejected: not a connection id", where)
            return _error(401, "unauthorized")
        try:
            body = await _read_body(request, max_body)
        except _BodyRefused as refused:
            log.warning("webhook %s refused: %s", where, refused.reason)
            return _error(refused.status, "payload too large" if refused.status == 413 else "bad request")
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            event = await asyncio.to_thread(adapter.verify_webhook, conn_id, headers, body)
        except WebhookRejected as exc:
            log.warning("webhook %s rejected: %s", where, exc.reason)
            return _error(400, "malformed payload") if exc.malformed else _error(401, "unauthorized")
        except Exception as exc:  # a bug in verification must not answer 2xx, nor leak what it read
            log.error("webhook %s could not be verified: %s", where, _where(exc))
            return _error(500, "internal error")
        try:
            new = await asyncio.to_thread(inbox.add, storefront, conn_id, event)
        except Exception as exc:  # the platform retries a 503; the delivery is not lost
            log.error("webhook %s delivery %r could not be stored: %s (%s)", where, event.delivery_id, _where(exc),
                      _first_line(exc))
            return _error(503, "inbox unavailable, retry later")
        if new:
            waker.wake(webhook_asset_uri(storefront, conn_id))
        return JSONResponse({"accepted": True, "duplicate": not new, "delivery_id": event.delivery_id})

    return app
