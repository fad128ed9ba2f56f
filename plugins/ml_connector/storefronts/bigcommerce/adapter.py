"""BigCommerce as the pipeline sees it: raw records in, canonical records out.

Glue only: transport is the hook's, field semantics are ``normalise``'s, signatures are
``webhooks``'. An order's raw record is ``{"order": v2 order, "transactions": [v3 ...]}`` so that
transform can normalise it again later (after a mapping fix) without calling the store.
"""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from ml_connector.audit import AuditSink
from ml_connector.core.model import Customer, Order, Refund
from ml_connector.errors import NotFound
from ml_connector.storefronts.base import RawRecord, WebhookEvent, WebhookRejected
from ml_connector.storefronts.bigcommerce import normalise, webhooks
from ml_connector.storefronts.bigcommerce.hook import BigCommerceHook, BigCommerceSettings, parse_api_date


def _when(raw: Any) -> dt.datetime | None:
    return parse_api_date(str(raw)) if raw else None


class _SettingsCache:
    """Webhook verification runs in the api-server for every delivery: read the connection once a minute."""

    def __init__(self, ttl: float = 60.0) -> None:
        self.ttl = ttl
        self._items: dict[str, tuple[float, BigCommerceSettings]] = {}
        self._lock = threading.Lock()

    def get(self, conn_id: str) -> BigCommerceSettings:
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(conn_id)
            if hit and now - hit[0] < self.ttl:
                return hit[1]
        settings = BigCommerceHook(conn_id).settings
        with self._lock:
            self._items[conn_id] = (now, settings)
        return settings


class BigCommerceAdapter:
    system = "bigcommerce"

    def __init__(self) -> None:
        self._settings = _SettingsCache()

    # -- transport -----------------------------------------------------------------------------
    def hook(self, conn_id: str, audit: AuditSink | None = None) -> BigCommerceHook:
        return BigCommerceHook(conn_id, audit=audit)

    @functools.lru_cache(maxsize=16)  # noqa: B019 - adapters are module singletons
    def store_id(self, conn_id: str) -> str:
        return self._settings.get(conn_id).store_hash

    def store_timezone(self, conn_id: str) -> str | None:
        """The connection's "Store timezone"; None leaves the mapping's zone in force."""
        return self._settings.get(conn_id).timezone

    # -- extraction ----------------------------------------------------------------------------
    def _with_transactions(self, hook: BigCommerceHook, orders: list[dict[str, Any]]) -> list[RawRecord]:
        wanted = [o["id"] for o in orders if normalise.needs_transactions(o)]
        transactions = hook.fetch_transactions(wanted) if wanted else {}
        return [
            (str(o["id"]), {"order": o, "transactions": transactions.get(int(o["id"]), [])}, _when(o.get("date_modified")))
            for o in orders
        ]

    def extract_orders(self, hook: BigCommerceHook, start: dt.datetime, end: dt.datetime) -> Iterator[list[RawRecord]]:
        # Tax rows name the jurisdiction (State Tax, VAT...) that tax payable is mapped by
        # (``tax_payable.by_name``); without them all tax lands on the default account.
        for page in hook.iter_orders(start, end, with_taxes=hook.settings.tax_detail):
            yield self._with_transactions(hook, page)

    def extract_refunds(self, hook: BigCommerceHook, start: dt.datetime, end: dt.datetime) -> Iterator[list[RawRecord]]:
        for page in hook.iter_refunds(start, end):
            yield [(str(r["id"]), r, _when(r.get("created"))) for r in page]

    def extract_customers(self, hook: BigCommerceHook, start: dt.datetime, end: dt.datetime) -> Iterator[list[RawRecord]]:
        for page in hook.iter_customers(start, end):
            yield [(str(c["id"]), c, _when(c.get("date_modified"))) for c in page]

    def fetch_objects(self, hook: BigCommerceHook, object_type: str, ids: list[str]) -> list[RawRecord]:
        """The full records a webhook or a replay points at; ids that no longer exist are skipped."""
        if not ids:
            return []
        if object_type == "order":
            orders = []
            for order_id in ids:
                try:
                    orders.append(hook.get_order(order_id, with_taxes=hook.settings.tax_detail))
                except NotFound:
                    continue
            return self._with_transactions(hook, orders)
        if object_type == "refund":
            found = hook.get_refunds_by_id(ids)
            return [(str(r["id"]), r, _when(r.get("created"))) for r in found]
        if object_type == "customer":
            found = hook.get_customers_by_id(ids)
            return [(str(c["id"]), c, _when(c.get("date_modified"))) for c in found]
        return []

    # -- canonical records -----------------------------------------------------------------------
    def order(self, payload: dict[str, Any], store_id: str) -> Order:
        return normalise.order_from_bigcommerce(payload["order"], payload.get("transactions") or [], store_id=store_id)

    def refund_parent(self, payload: dict[str, Any]) -> str:
        return str(payload.get("order_id"))

    def refund(self, payload: dict[str, Any], store_id: str, parent: dict[str, Any] | None) -> Refund:
        return normalise.refund_from_bigcommerce(payload, parent["order"] if parent else None, store_id=store_id)

    def customer(self, payload: dict[str, Any], store_id: str) -> Customer:
        return normalise.customer_from_bigcommerce(payload, store_id=store_id)

    # -- webhooks --------------------------------------------------------------------------------
    def verify_webhook(self, conn_id: str, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        try:
            settings = self._settings.get(conn_id)
        except Exception:
            raise WebhookRejected(f"no usable BigCommerce connection {conn_id!r}") from None
        if not settings.client_secret and not settings.webhook_header_secret:
            raise WebhookRejected(f"connection {conn_id!r} has neither a client secret nor a webhook header secret")
        try:
            event = webhooks.verify_webhook(
                headers,
                body,
                client_secret=settings.client_secret or "",
                header_secret=settings.webhook_header_secret,
                accept_bc_signature=settings.accept_bc_signature,
            )
        except webhooks.WebhookRejected as exc:
            reason = str(exc)
            raise WebhookRejected(reason, malformed=reason.startswith("malformed")) from None
        if event.store_hash and event.store_hash != settings.store_hash:
            raise WebhookRejected(f"event from store {event.store_hash!r}, connection is for {settings.store_hash!r}")
        obj = event.object_type
        object_id = event.object_id or ""
        data = event.payload.get("data") or {}
        if event.scope == "store/order/refund/created":
            obj, object_id = "refund", str((data.get("refund") or {}).get("refund_id") or "")
        elif obj == "transaction":
            obj, object_id = "order", str(data.get("order_id") or "")
        elif event.scope.startswith("store/customer/address/"):  # data.id is the address, not the customer
            obj, object_id = "customer", str((data.get("address") or {}).get("customer_id") or "")
        if not object_id:
            raise WebhookRejected(f"malformed body: {event.scope} names no object id", malformed=True)
        return WebhookEvent(event.delivery_id, event.scope, obj, object_id, event.payload)

    def ensure_webhooks(self, hook: BigCommerceHook, destination: str, scopes: tuple[str, ...], header_name: str) -> list[str]:
        secret = hook.settings.webhook_header_secret
        headers = {header_name: secret} if secret else {}
        return webhooks.ensure_webhooks(hook, destination, scopes, headers)


ADAPTER = BigCommerceAdapter()
