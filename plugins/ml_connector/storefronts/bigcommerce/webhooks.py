"""BigCommerce webhooks: verify a delivery, and keep the store's registrations in the state we want.

Authenticity (reference §7): Airflow puts no auth on plugin endpoints, so this is the only gate.

* Standard Webhooks signature, checked whenever ``webhook-signature`` is present: HMAC-SHA256 keyed
  by the app / API-account **client secret as UTF-8 bytes** over ``"{webhook-id}.{webhook-timestamp}.{body}"``,
  base64, in a space-separated list of ``v1,<sig>``; the timestamp must be within ``tolerance_s``.
* A secret custom header registered with the hook (``X-ML-Connector-Secret``), compared in constant
  time: BigCommerce's only documented mechanism; required whenever a header secret is configured.
* ``X-BC-Signature`` (hex or base64 HMAC-SHA256 of the raw body, keyed by the client secret) only
  when ``accept_bc_signature``: BigCommerce does not document such a header, it exists for proxies
  and the sandbox that add one.

At least one of the signature checks (or the custom header alone) must succeed; a delivery that
carries no credential at all is rejected. Replays of a verified delivery are the inbox's job
(deduplicated by ``delivery_id``); ``is_replay`` is a helper for callers that keep a set.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import time
from collections.abc import Collection, Iterable, Mapping, MutableSet
from dataclasses import dataclass
from typing import Any, Protocol

DEFAULT_SECRET_HEADER = "X-ML-Connector-Secret"  # noqa: S105 - a header name, not a secret
# Orders (with their refunds and transactions) and shoppers: what the journal flow consumes.
DEFAULT_SCOPES = ("store/order/*", "store/customer/*")
SIGNATURE_HEADER = "webhook-signature"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
BC_SIGNATURE_HEADER = "X-BC-Signature"


class WebhookRejected(Exception):
    """A delivery that must not be processed; ``reason`` is safe to log and to answer with."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class VerifiedEvent:
    delivery_id: str
    scope: str
    object_type: str
    object_id: str | None
    store_hash: str | None
    created_at: dt.datetime | None
    payload: dict[str, Any]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _hmac(key: str, message: bytes) -> bytes:
    return hmac.new(key.encode("utf-8"), message, hashlib.sha256).digest()


def standard_signature(client_secret: str, delivery_id: str, timestamp: str, body: bytes) -> str:
    """The ``v1,<base64>`` value a Standard Webhooks sender computes (also used by tests)."""
    digest = _hmac(client_secret, f"{delivery_id}.{timestamp}.".encode() + body)
    return "v1," + base64.b64encode(digest).decode("ascii")


def _check_standard(headers: Mapping[str, str], body: bytes, client_secret: str, tolerance_s: int, now: float) -> str:
    signatures = _header(headers, SIGNATURE_HEADER) or ""
    delivery_id = _header(headers, ID_HEADER)
    timestamp = _header(headers, TIMESTAMP_HEADER)
    if not delivery_id or not timestamp:
        raise WebhookRejected("missing signature: webhook-signature without webhook-id / webhook-timestamp")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRejected("stale timestamp: webhook-timestamp is not an integer") from None
    if abs(now - sent_at) > tolerance_s:
        raise WebhookRejected(f"stale timestamp: {int(now - sent_at)} s away from now (tolerance {tolerance_s} s)")
    expected = _hmac(client_secret, f"{delivery_id}.{timestamp}.".encode() + body)
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(given, expected):
            return delivery_id
    raise WebhookRejected("bad signature: no v1 signature matches the client secret")


def _check_bc_signature(value: str, body: bytes, client_secret: str) -> None:
    expected = _hmac(client_secret, body)
    candidates = [expected.hex().encode(), base64.b64encode(expected)]
    if not any(hmac.compare_digest(value.strip().encode(), c) for c in candidates):
        raise WebhookRejected("bad signature: X-BC-Signature does not match the client secret")


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes,
    *,
    client_secret: str,
    header_secret: str | None,
    accept_bc_signature: bool = False,
    tolerance_s: int = 300,
    now: float | None = None,
    secret_header_name: str = DEFAULT_SECRET_HEADER,
) -> VerifiedEvent:
    """Authenticate and parse one delivery; raise ``WebhookRejected`` with the reason otherwise."""
    now = time.time() if now is None else now
    authenticated = False
    delivery_id: str | None = None
    if header_secret:
        given = _header(headers, secret_header_name)
        if given is None:
            raise WebhookRejected(f"bad custom header: {secret_header_name} is missing")
        if not hmac.compare_digest(given.encode("utf-8"), header_secret.encode("utf-8")):
            raise WebhookRejected(f"bad custom header: {secret_header_name} does not match")
        authenticated = True
    if _header(headers, SIGNATURE_HEADER) is not None:
        delivery_id = _check_standard(headers, body, client_secret, tolerance_s, now)
        authenticated = True
    elif accept_bc_signature and (bc_value := _header(headers, BC_SIGNATURE_HEADER)) is not None:
        _check_bc_signature(bc_value, body, client_secret)
        authenticated = True
    if not authenticated:
        raise WebhookRejected("missing signature: no webhook-signature and no secret header")
    return _parse(body, delivery_id)


def _parse(body: bytes, delivery_id: str | None) -> VerifiedEvent:
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WebhookRejected("malformed body: not UTF-8 JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("scope"), str):
        raise WebhookRejected("malformed body: no scope")
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    delivery = delivery_id or payload.get("hash")
    if not delivery:
        raise WebhookRejected("malformed body: no webhook-id and no hash to identify the delivery")
    created = payload.get("created_at")
    producer = str(payload.get("producer") or "")
    object_id = data.get("id", data.get("order_id"))
    scope_parts = payload["scope"].split("/")
    return VerifiedEvent(
        delivery_id=str(delivery),
        scope=payload["scope"],
        object_type=str(data.get("type") or (scope_parts[1] if len(scope_parts) > 1 else "")),
        object_id=str(object_id) if object_id is not None else None,
        store_hash=producer.split("/", 1)[1] if producer.startswith("stores/") else None,
        created_at=dt.datetime.fromtimestamp(created, dt.UTC) if isinstance(created, int | float) else None,
        payload=payload,
    )


def is_replay(event: VerifiedEvent, seen: MutableSet[str]) -> bool:
    """True when ``seen`` already holds this delivery; records it otherwise."""
    if event.delivery_id in seen:
        return True
    seen.add(event.delivery_id)
    return False


class HookAdmin(Protocol):
    """What ``ensure_webhooks`` needs from the hook (``BigCommerceHook`` provides it)."""

    def list_hooks(self) -> list[dict[str, Any]]: ...

    def create_hook(self, scope: str, destination: str, headers: dict[str, str] | None = None,
                    is_active: bool = True) -> dict[str, Any]: ...

    def update_hook(self, hook_id: int, **fields: Any) -> dict[str, Any]: ...


def ensure_webhooks(hook: HookAdmin, destination: str, scopes: Iterable[str],
                    headers: Mapping[str, str] | None = None) -> list[str]:
    """Make every scope have one active hook to ``destination`` with ``headers``; say what changed.

    A hook for a scope is ours if it points at ``destination`` (preferred) or is the only hook of
    that scope; BigCommerce deactivates hooks after ~48 h of failures or 90 days idle, so an
    inactive one is reactivated, a drifted destination or header set is corrected, a missing one
    is created. Header values never appear in the returned messages.
    """
    wanted_headers = dict(headers or {})
    existing = hook.list_hooks()
    changes: list[str] = []
    for scope in dict.fromkeys(scopes):
        candidates = [h for h in existing if h.get("scope") == scope]
        current = next((h for h in candidates if h.get("destination") == destination), None)
        if current is None and len(candidates) == 1:
            current = candidates[0]
        if current is None:
            hook.create_hook(scope, destination, wanted_headers, is_active=True)
            changes.append(f"created hook for {scope}")
            continue
        fields: dict[str, Any] = {}
        notes: list[str] = []
        if not current.get("is_active"):
            fields["is_active"] = True
            notes.append(f"reactivated hook {current['id']} ({scope})")
        if current.get("destination") != destination:
            fields["destination"] = destination
            notes.append(f"corrected destination of hook {current['id']}")
        if (current.get("headers") or {}) != wanted_headers:
            fields["headers"] = wanted_headers
            notes.append(f"corrected headers of hook {current['id']}")
        if fields:
            hook.update_hook(int(current["id"]), **fields)
            changes.extend(notes)
    return changes


def required_scopes(kinds: Collection[str]) -> list[str]:
    """Wildcard scopes for the object kinds a pair consumes (``order``, ``customer``, ``product``, ``sku``)."""
    return [f"store/{kind}/*" for kind in kinds]
