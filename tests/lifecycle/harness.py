"""A store, a state database and a ledger, to play an order's life through transform and load.

The storefront side is canonical records written by hand (no HTTP), so each scenario reads as
the sequence of events it is; everything after that is the shipped code: the state store on
SQLite, ``run_transform`` (lifecycle planning, daily summaries) and ``run_load`` (claims,
postings). The ledger is a small ERP that keeps what it was given by document key, refuses
unbalanced journals and duplicate keys with other content, and sums lines per account.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from ml_connector.config import pipeline
from ml_connector.core.model import Journal, JournalKind, Order, Refund
from ml_connector.erps.base import PostOutcome
from ml_connector.mappings import load_mapping
from ml_connector.settings import include_dir
from ml_connector.state.db import get_engine, migrate
from ml_connector.state.store import StateStore
from ml_connector.tasks.load import run_load
from ml_connector.tasks.runtime import Params, Runtime
from ml_connector.tasks.transform import run_transform

PAIR = "bigcommerce_to_peoplesoft"
STORE = "store1"


class HandStore:
    """The storefront adapter over hand-written canonical records (payload = a pointer to a version)."""

    system = "bigcommerce"

    def __init__(self) -> None:
        self.orders: dict[str, list[Order]] = defaultdict(list)
        self.refunds: dict[str, Refund] = {}

    def store_id(self, conn_id: str) -> str:
        return STORE

    def store_timezone(self, conn_id: str) -> str | None:
        return None

    def order(self, payload: dict[str, Any], store_id: str) -> Order:
        return self.orders[payload["id"]][payload["v"]]

    def refund(self, payload: dict[str, Any], store_id: str, parent: dict[str, Any] | None = None) -> Refund:
        return self.refunds[payload["id"]]

    def refund_parent(self, payload: dict[str, Any]) -> str:
        return str(payload["order_id"])


class Ledger:
    """What the ERP holds: documents by key; lines summed per account on demand."""

    system = "ledger"

    def __init__(self) -> None:
        self.documents: dict[str, Journal] = {}

    def hook(self, conn_id: str, audit: Any = None) -> Ledger:
        return self

    def document_id(self, hook: Any, journal: Journal) -> str:
        return journal.key

    def validate(self, hook: Any, journal: Journal) -> None:
        assert journal.is_balanced, f"{journal.key} does not balance"

    def post_journal(self, hook: Any, journal: Journal, *, lookup_first: bool, document_id: str | None = None,
                     **_: Any) -> PostOutcome:
        self.validate(hook, journal)
        key = document_id or journal.key
        held = self.documents.get(key)
        if held is not None:
            same = sorted((ln.role, ln.dims, ln.amount) for ln in held.lines) == sorted(
                (ln.role, ln.dims, ln.amount) for ln in journal.lines
            )
            return PostOutcome("already_present" if same else "conflict", key)
        self.documents[key] = journal
        return PostOutcome("posted", key)

    def by_account(self, *, base: bool = False) -> dict[str, Decimal]:
        """Net debit (+) / credit (-) per ACCOUNT (and PRODUCT where the line has one)."""
        sums: dict[str, Decimal] = defaultdict(Decimal)
        for journal in self.documents.values():
            for ln in journal.lines:
                dims = dict(ln.dims)
                name = dims["ACCOUNT"] + (f"/{dims['PRODUCT']}" if "PRODUCT" in dims else "")
                sums[name] += ln.base_amount if base else ln.amount
        return {k: v for k, v in sorted(sums.items()) if v}

    def kinds(self) -> list[str]:
        return sorted(j.kind.value for j in self.documents.values())

    def of_kind(self, kind: JournalKind) -> list[Journal]:
        return [j for j in self.documents.values() if j.kind is kind]


class Scenario:
    """One order's life: put records, run the pipeline, read the ledger."""

    def __init__(self, tmp_path: Path, *, granularity: str = "order", **config: Any) -> None:
        engine = get_engine(f"sqlite:///{tmp_path / 'state.db'}")
        migrate(engine)
        self.store = StateStore(engine)
        self.shop = HandStore()
        self.ledger = Ledger()
        base = pipeline(PAIR)
        self.config = base.model_copy(update={"granularity": granularity, "load_batch": 50, **config})
        self.mapping = load_mapping(include_dir() / "mappings" / f"{PAIR}.yaml")
        self.runs = 0

    def runtime(self) -> Runtime:
        rt = Runtime(config=self.config, store=self.store, run_id=f"run{self.runs}")
        rt.__dict__.update(storefront=self.shop, erp=self.ledger)  # the mapping comes from the runtime, as shipped
        return rt

    # -- the store's events ----------------------------------------------------------------
    def put_order(self, order: Order) -> Order:
        versions = self.shop.orders[order.order_id]
        versions.append(order)
        payload = {"id": order.order_id, "v": len(versions) - 1}
        self.store.upsert_records("bigcommerce", "order", [(order.order_id, payload, order.updated_at)], store=STORE)
        return order

    def change(self, order_id: str, at: dt.datetime, **changes: Any) -> Order:
        latest = self.shop.orders[order_id][-1]
        return self.put_order(dataclasses.replace(latest, updated_at=at, **changes))

    def put_refund(self, refund: Refund) -> Refund:
        self.shop.refunds[refund.refund_id] = refund
        payload = {"id": refund.refund_id, "order_id": refund.order_id}
        self.store.upsert_records("bigcommerce", "refund", [(refund.refund_id, payload, refund.created_at)], store=STORE)
        return refund

    # -- the pipeline ----------------------------------------------------------------------
    def run(self, **params: Any) -> dict[str, Any]:
        self.runs += 1
        summary = run_transform(self.runtime(), Params(**params))
        run_load(self.runtime(), Params(**params), worker=f"test/{self.runs}")
        return summary

    def transform_only(self, **params: Any) -> dict[str, Any]:
        """Plan without posting: the drafts stay uncommitted (never attempted)."""
        self.runs += 1
        return run_transform(self.runtime(), Params(**params))

    def status(self, obj: str, source_id: str) -> tuple[str, str | None]:
        row = next(iter(self.store.records("bigcommerce", obj, source_ids={source_id}, store=STORE, pair=PAIR)))
        return row.status, row.reason

    def journal_statuses(self) -> dict[str, str]:
        from ml_connector.state.schema import journals
        from sqlalchemy import select

        with self.store.engine.connect() as conn:
            return {r.key: r.status for r in conn.execute(select(journals.c.key, journals.c.status))}
