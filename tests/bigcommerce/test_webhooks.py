"""Webhook verification: Standard Webhooks (cross-checked with the ``standardwebhooks`` package),
custom header secret, optional X-BC-Signature, replays; and ``ensure_webhooks`` repairs."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from ml_connector.storefronts.bigcommerce.webhooks import (
    WebhookRejected,
    ensure_webhooks,
    is_replay,
    standard_signature,
    verify_webhook,
)
from standardwebhooks.webhooks import Webhook

SECRET = "bc-sandbox-secret"
HEADER_SECRET = "hdr-secret-value"
BODY = json.dumps({
    "scope": "store/order/created", "store_id": "1025646", "data": {"type": "order", "id": 250},
    "hash": "dd70c0976e06b67aaf671e73f49dcb79230ebf9d", "created_at": 1561479335, "producer": "stores/sandbox1",
}).encode()


def _signed(body: bytes = BODY, *, secret: str = SECRET, ts: int | None = None, msg_id: str = "msg_1") -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": standard_signature(secret, msg_id, str(ts), body),
            "X-ML-Connector-Secret": HEADER_SECRET}


def test_valid_delivery_verifies_and_parses() -> None:
    event = verify_webhook(_signed(), BODY, client_secret=SECRET, header_secret=HEADER_SECRET)
    assert (event.delivery_id, event.scope, event.object_type, event.object_id, event.store_hash) == (
        "msg_1", "store/order/created", "order", "250", "sandbox1")
    assert event.created_at is not None and event.created_at.tzinfo is not None


def test_our_signature_matches_the_standardwebhooks_library() -> None:
    headers = _signed()
    lib = Webhook(base64.b64encode(SECRET.encode()).decode())
    assert lib.verify(BODY, {k: v for k, v in headers.items() if k.startswith("webhook-")}) is not None
    sent_at = dt.datetime.fromtimestamp(int(headers["webhook-timestamp"]), dt.UTC)
    assert lib.sign("msg_1", sent_at, BODY.decode()) == headers["webhook-signature"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, b: (h, b.replace(b"250", b"251")), "bad signature"),
        (lambda h, b: (_signed(secret="wrong-secret"), b), "bad signature"),
        (lambda h, b: (_signed(ts=int(time.time()) - 301), b), "stale timestamp"),
        (lambda h, b: ({**h, "X-ML-Connector-Secret": "nope"}, b), "bad custom header"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "X-ML-Connector-Secret"}, b), "bad custom header"),
        (lambda h, b: ({**h, "webhook-signature": "v1,not-base64!!"}, b), "bad signature"),
    ],
)
def test_rejections(mutate: Any, reason: str) -> None:
    headers, body = mutate(_signed(), BODY)
    with pytest.raises(WebhookRejected, match=reason):
        verify_webhook(headers, body, client_secret=SECRET, header_secret=HEADER_SECRET)


def test_missing_everything_and_malformed_body() -> None:
    with pytest.raises(WebhookRejected, match="missing signature"):
        verify_webhook({}, BODY, client_secret=SECRET, header_secret=None)
    body = b"not json"
    with pytest.raises(WebhookRejected, match="malformed body"):
        verify_webhook(_signed(body), body, client_secret=SECRET, header_secret=HEADER_SECRET)


def test_second_signature_in_list_is_accepted_and_header_case_ignored() -> None:
    headers = _signed()
    headers = {k.upper(): v for k, v in headers.items()}
    headers["WEBHOOK-SIGNATURE"] = "v1,AAAA " + headers["WEBHOOK-SIGNATURE"]
    assert verify_webhook(headers, BODY, client_secret=SECRET, header_secret=HEADER_SECRET).delivery_id == "msg_1"


def test_bc_signature_only_when_accepted() -> None:
    digest = hmac.new(SECRET.encode(), BODY, hashlib.sha256)
    headers = {"X-BC-Signature": digest.hexdigest()}
    with pytest.raises(WebhookRejected, match="missing signature"):
        verify_webhook(headers, BODY, client_secret=SECRET, header_secret=None)
    event = verify_webhook(headers, BODY, client_secret=SECRET, header_secret=None, accept_bc_signature=True)
    assert event.delivery_id == "dd70c0976e06b67aaf671e73f49dcb79230ebf9d"  # no webhook-id: the payload hash
    b64 = {"X-BC-Signature": base64.b64encode(digest.digest()).decode()}
    assert verify_webhook(b64, BODY, client_secret=SECRET, header_secret=None, accept_bc_signature=True)
    with pytest.raises(WebhookRejected, match="bad signature"):
        verify_webhook({"X-BC-Signature": "00"}, BODY, client_secret=SECRET, header_secret=None, accept_bc_signature=True)


def test_replayed_delivery_is_detected() -> None:
    seen: set[str] = set()
    event = verify_webhook(_signed(), BODY, client_secret=SECRET, header_secret=HEADER_SECRET)
    assert not is_replay(event, seen)
    again = verify_webhook(_signed(), BODY, client_secret=SECRET, header_secret=HEADER_SECRET)
    assert is_replay(again, seen)


class FakeHooks:
    def __init__(self, hooks: list[dict[str, Any]]) -> None:
        self.hooks = hooks
        self.calls: list[tuple[str, Any]] = []

    def list_hooks(self) -> list[dict[str, Any]]:
        return [dict(h) for h in self.hooks]

    def create_hook(self, scope: str, destination: str, headers: dict[str, str] | None = None,
                    is_active: bool = True) -> dict[str, Any]:
        self.calls.append(("create", scope))
        hook = {"id": 100 + len(self.hooks), "scope": scope, "destination": destination, "headers": headers,
                "is_active": is_active}
        self.hooks.append(hook)
        return hook

    def update_hook(self, hook_id: int, **fields: Any) -> dict[str, Any]:
        self.calls.append(("update", (hook_id, sorted(fields))))
        hook = next(h for h in self.hooks if h["id"] == hook_id)
        hook.update(fields)
        return hook


def test_ensure_webhooks_repairs_and_is_idempotent() -> None:
    dest, hdrs = "https://af.example/ml-connector/webhooks/bigcommerce/bc", {"X-ML-Connector-Secret": HEADER_SECRET}
    fake = FakeHooks([
        {"id": 12, "scope": "store/order/*", "destination": dest, "headers": hdrs, "is_active": False},
        {"id": 7, "scope": "store/product/*", "destination": "https://old.example/x", "headers": hdrs, "is_active": True},
    ])
    changes = ensure_webhooks(fake, dest, ["store/order/*", "store/customer/*", "store/product/*"], hdrs)
    assert changes == ["reactivated hook 12 (store/order/*)", "created hook for store/customer/*",
                       "corrected destination of hook 7"]
    assert ensure_webhooks(fake, dest, ["store/order/*", "store/customer/*", "store/product/*"], hdrs) == []
    fake.hooks[0]["headers"] = {"X-ML-Connector-Secret": "old"}
    assert ensure_webhooks(fake, dest, ["store/order/*"], hdrs) == ["corrected headers of hook 12"]
    assert HEADER_SECRET not in " ".join(changes)
