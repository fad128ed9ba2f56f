"""What the pipeline needs from any storefront: one small adapter per platform.

The pipeline never imports a platform module directly; it asks the system registry
(``ml_connector.systems``) for the adapter of the configured ``storefront.type``. Adding a
storefront is one folder that describes itself, not a new pipeline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from ml_connector.audit import AuditSink
from ml_connector.core.model import Customer, Order, Refund
from ml_connector.systems import system

# (source id, raw payload as JSON-able dict, when the source last modified it)
RawRecord = tuple[str, dict[str, Any], dt.datetime | None]


@dataclass(frozen=True)
class WebhookEvent:
    """A verified delivery, reduced to what the inbox needs."""

    delivery_id: str
    topic: str
    object_type: str  # order | refund | customer | product | ...
    object_id: str
    payload: dict[str, Any]


class WebhookRejected(Exception):
    """Verification failed; ``reason`` is safe to log (it never contains a secret)."""

    def __init__(self, reason: str, *, malformed: bool = False) -> None:
        self.reason, self.malformed = reason, malformed
        super().__init__(reason)


class StorefrontAdapter(Protocol):
    system: str

    def hook(self, conn_id: str, audit: AuditSink | None = None) -> Any: ...

    def store_id(self, conn_id: str) -> str: ...

    def store_timezone(self, conn_id: str) -> str | None: ...

    def extract_orders(self, hook: Any, start: dt.datetime, end: dt.datetime) -> Iterator[list[RawRecord]]: ...

    def extract_refunds(self, hook: Any, start: dt.datetime, end: dt.datetime) -> Iterator[list[RawRecord]]: ...

    def extract_customers(self, hook: Any, start: dt.datetime, end: dt.datetime) -> Iterator[list[RawRecord]]: ...

    def fetch_objects(self, hook: Any, object_type: str, ids: list[str]) -> list[RawRecord]: ...

    def order(self, payload: dict[str, Any], store_id: str) -> Order: ...

    def refund(self, payload: dict[str, Any], store_id: str) -> Refund: ...

    def customer(self, payload: dict[str, Any], store_id: str) -> Customer: ...

    def verify_webhook(self, conn_id: str, headers: Mapping[str, str], body: bytes) -> WebhookEvent: ...

    def ensure_webhooks(self, hook: Any, destination: str, scopes: tuple[str, ...], header_name: str) -> list[str]: ...


def storefront_adapter(name: str) -> StorefrontAdapter:
    """The adapter of storefront ``name``; ``UnknownSystem`` (a ``ValueError``) lists the known ones."""
    return cast(StorefrontAdapter, system(name, "storefront").adapter())
