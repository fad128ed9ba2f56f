"""Step 5: store totals vs journals in state vs what the ERP reports posted, per posting day.

An order is reconciled over its whole life (an order sold before the period may be cancelled
in it), so besides the documents dated around the period this loads every order-level journal
(details of daily summaries included) of the orders whose life touches the period.

Writes the controller's report (CSV + HTML) through ``ObjectStoragePath`` and names it in the
task log; fails the task when a variance is unexplained (an explained one — a record parked
for mapping, a journal still queued — is listed but does not fail it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Iterable
from typing import Any

from ml_connector.core.journal import posting_day as day_in_store
from ml_connector.core.model import Order, Refund
from ml_connector.core.reconcile import ParkedRecord, StateJournal, reconcile
from ml_connector.errors import ConnectorError, NormalisationError
from ml_connector.state.rows import StoredJournal
from ml_connector.tasks.runtime import Runtime

log = logging.getLogger("ml_connector.reconcile")

PARKED = ("needs_mapping", "needs_review", "not_settled", "new", "changed")
# ERP read-back and documents around the period: a document may carry lines on neighbouring days.
MARGIN = dt.timedelta(days=3)


class UnexplainedVariance(ConnectorError):
    """Store, state and ERP disagree in a way no parked record or queued journal explains."""


def _posting_day_fn(rt: Runtime) -> Any:
    mapping = rt.mapping
    by_capture = mapping.posting_date == "capture"

    def posting_day(record: Order | Refund) -> dt.date | None:
        if isinstance(record, Refund):
            return day_in_store(record.created_at, mapping)
        # As the journal builder dates a sale: the capture, else (a certificate or store credit
        # the store reports only on the order) the order day.
        when = record.captured_at if by_capture else None
        return day_in_store(when or record.created_at, mapping)

    return posting_day


def _change_day_fn(rt: Runtime) -> Callable[[Order], dt.date]:
    """The day an order last changed in the store: where its adjustments (and their absence) show."""
    mapping = rt.mapping

    def change_day(order: Order) -> dt.date:
        return day_in_store(order.updated_at, mapping)

    return change_day


def _journals(
    rt: Runtime, period: tuple[dt.date, dt.date], orders: list[Order], refunds: list[Refund]
) -> list[StateJournal]:
    """The documents dated around the period, and every order-level journal of the orders it touches.

    Superseded journals are left to the reconciliation to ignore; details stay (they are the
    orders' ledger figures behind a daily summary).
    """
    start, end = period
    posting_day, change_day = _posting_day_fn(rt), _change_day_fn(rt)
    order_of_refund = {refund.refund_id: refund.order_id for refund in refunds}

    def in_period(day: dt.date | None) -> bool:
        return day is not None and start <= day <= end

    found: dict[str, StoredJournal] = {}
    wanted: set[str] = set()
    for stored in rt.store.journals_between(rt.pair, start - MARGIN, end + MARGIN):
        found[stored.key] = stored
        for source in stored.journal.sources:
            wanted.add(order_of_refund.get(source.id, source.id) if source.object == "refund" else source.id)
    wanted |= {o.order_id for o in orders if in_period(posting_day(o)) or in_period(change_day(o))}
    wanted |= {r.order_id for r in refunds if in_period(posting_day(r))}
    for documents in rt.store.order_documents(rt.pair, rt.storefront.system, wanted).values():
        for stored in documents:
            found.setdefault(stored.key, stored)
    return [(s.journal, s.status, s.erp_document_id) for s in found.values()]


def _canonical(rt: Runtime) -> tuple[list[Order], list[Refund], list[ParkedRecord]]:
    """Every order and refund in state as canonical records, plus the parked ones with reasons."""
    sf, system = rt.storefront, rt.storefront.system
    store_id = sf.store_id(rt.config.storefront.conn_id)
    posting_day = _posting_day_fn(rt)
    orders: list[Order] = []
    raw_orders: dict[str, dict[str, Any]] = {}
    parked: list[ParkedRecord] = []
    for row in rt.store.records(system, "order"):
        raw_orders[row.source_id] = row.payload
        try:
            order = sf.order(row.payload, store_id)
        except NormalisationError as exc:
            parked.append(ParkedRecord("order", row.source_id, "needs_review", str(exc)))
            continue
        orders.append(order)
        if row.status in PARKED:
            parked.append(
                ParkedRecord("order", row.source_id, row.status, row.reason or row.status, posting_day(order), order.total, order.currency)
            )
    refunds: list[Refund] = []
    for row in rt.store.records(system, "refund"):
        try:
            refund = sf.refund(row.payload, store_id, raw_orders.get(sf.refund_parent(row.payload)))
        except NormalisationError as exc:
            parked.append(ParkedRecord("refund", row.source_id, "needs_review", str(exc)))
            continue
        refunds.append(refund)
        if row.status in PARKED:
            parked.append(
                ParkedRecord("refund", row.source_id, row.status, row.reason or row.status, posting_day(refund), refund.total, refund.currency)
            )
    return orders, refunds, parked


def _gateways(rt: Runtime, orders: Iterable[Order]) -> dict[str, tuple[tuple[str, str], ...]]:
    accounts = {}
    for gateway in {p.gateway for o in orders for p in o.payments}:
        try:
            accounts[gateway] = rt.mapping.resolve("clearing", gateway=gateway, context="reconciliation")
        except ConnectorError:
            continue
    return accounts


def run_reconcile(rt: Runtime, *, days: list[str]) -> dict[str, Any]:
    if not days:
        log.info("reconcile %s: no posting day touched in this run", rt.pair)
        return {"variances": 0, "unexplained": 0, "report": None}
    from ml_connector.report import default_base_path, write_report

    dates = sorted(dt.date.fromisoformat(d) for d in days)
    period = (dates[0], dates[-1])
    orders, refunds, parked = _canonical(rt)
    journals = _journals(rt, period, orders, refunds)
    hook = rt.erp_hook()
    erp_lines = rt.erp.read_back(hook, rt.mapping, period[0] - MARGIN, period[1] + MARGIN)
    recon = reconcile(
        orders=orders,
        refunds=refunds,
        journals=journals,
        erp_lines=erp_lines,
        parked=parked,
        posting_day=_posting_day_fn(rt),
        period=period,
        gateway_accounts=_gateways(rt, orders),
        change_day=_change_day_fn(rt),
    )
    base = rt.config.report_path or default_base_path()
    paths = write_report(recon, base_path=base, pair=rt.pair, period=period, run_id=rt.run_id)
    summary = {
        "period": [period[0].isoformat(), period[1].isoformat()],
        "variances": len(recon.variances),
        "unexplained": len(recon.unexplained),
        "parked": len(recon.parked),
        "report": paths.html,
        "csv": paths.csv,
    }
    _write_latest(base, rt.pair, summary)
    rt.close()
    log.info("reconcile %s: %s", rt.pair, recon.summary())
    log.info("reconciliation report: %s (csv %s)", paths.html, paths.csv)
    if not recon.ok:
        raise UnexplainedVariance(f"{rt.pair} {period[0]}..{period[1]}: {recon.summary()}; see {paths.html}")
    return summary


def _write_latest(base: str, pair: str, summary: dict[str, Any]) -> None:
    """A small machine-readable pointer to the last report (the demo and monitoring read it)."""
    from airflow.sdk import ObjectStoragePath

    target = ObjectStoragePath(base) / f"latest_{pair}.json"
    target.write_text(json.dumps(summary, indent=2))
