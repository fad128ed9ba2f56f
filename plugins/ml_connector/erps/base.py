"""What the pipeline needs from any ERP: one small adapter per ERP (see storefronts/base.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol, cast

from ml_connector.audit import AuditSink
from ml_connector.core.mapping import Mapping
from ml_connector.core.model import Customer, Journal
from ml_connector.core.reconcile import ErpLine
from ml_connector.systems import system


@dataclass(frozen=True)
class PostOutcome:
    status: str  # posted | already_present | conflict
    document_id: str
    detail: str = ""


@dataclass(frozen=True)
class CustomerOutcome:
    status: str  # created | updated | unchanged | guest
    customer_id: str
    changed: tuple[str, ...] = ()


class ErpAdapter(Protocol):
    system: str

    def hook(self, conn_id: str, audit: AuditSink | None = None) -> Any: ...

    def document_id(self, hook: Any, journal: Journal) -> str:
        """The ERP key the journal would get now; the load step stores it at the first attempt."""
        ...

    def validate(self, hook: Any, journal: Journal) -> None: ...

    def post_journal(
        self, hook: Any, journal: Journal, *, lookup_first: bool, document_id: str | None = None
    ) -> PostOutcome:
        """Post once under ``document_id`` (the key stored at the first attempt, DESIGN §5);
        ``None`` computes it as ``document_id()`` does."""
        ...

    def upsert_customer(self, hook: Any, customer: Customer | None) -> CustomerOutcome: ...

    def read_back(self, hook: Any, mapping: Mapping, date_from: dt.date, date_to: dt.date) -> list[ErpLine]: ...


def erp_adapter(name: str) -> ErpAdapter:
    """The adapter of ERP ``name``; ``UnknownSystem`` lists the known ones, ``SystemUnavailable``
    says when the ERP is described but has no adapter yet."""
    return cast(ErpAdapter, system(name, "erp").adapter())
