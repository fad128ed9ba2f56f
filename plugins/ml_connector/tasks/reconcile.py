"""Step 5: store totals vs journals in state vs what the ERP reports posted, per posting day.

Writes the controller's report (CSV + HTML) through ``ObjectStoragePath`` and names it in the
task log; fails the task when a variance is unexplained (an explained one — a record parked
for mapping, a journal still queued — is listed but does not fail it).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from typing import Any

from ml_connector.core.journal import posting_day as day_in_store
from ml_connector.core.model import Order, Refund
from ml_connector.core.reconcile import ParkedRecord, reconcile
from ml_connector.errors import ConnectorError, NormalisationError
from ml_connector.tasks.runtime import Runtime

log = logging.getLogger("ml_connector.reconcile")

PARKED = ("needs_mapping", "needs_review", "not_settled", "new", "changed")
DETAIL_ONLY = ("detail", "summarised")
# Journals a day's figures may borrow from neighbouring days (refunds of orders settled earlier).
MARGIN = dt.timedelta(days=3)


class UnexplainedVariance(ConnectorError):
    """Store, state and ERP disagree in a way no parked record or queued journal explains."""


def _posting_day_fn(rt: Runtime) -> Any:
    mapping = rt.mapping
    by_capture = mapping.posting_date == "capture"

    def posting_day(record: Order | Refund) -> dt.date | None:
        if isinstance(record, Refund):
            return day_in_store(record.created_at, mapping)
        when = record.captured_at if by_capture else record.created_at
        return day_in_store(when, mapping) if when else None

    return posting_day


def _canonical(rt: Runtime) -> tuple[list[Order], list[Refund], list[ParkedRecord]]:
    """Every order and refund in state as canonical records, plus the parked ones with reasons."""
    sf, system = rt.storefront, rt.storefront.system
    store_id = rt.store_id
    posting_day = _posting_day_fn(rt)
    orders: list[Order] = []
    raw_orders: dict[str, dict[str, Any]] = {}
    parked: list[ParkedRecord] = []
    for row in rt.store.records(system, "order", store=store_id, pair=rt.pair):
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
    for row in rt.store.records(system, "refund", store=store_id, pair=rt.pair):
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
    # Order-level detail behind a daily summary is not a ledger document of its own: the daily
    # journal (which lists the orders as its sources) is what state and the ERP are compared on.
    journals = [
        (sj.journal, sj.status, sj.erp_document_id)
        for sj in rt.store.journals_between(rt.pair, period[0] - MARGIN, period[1] + MARGIN)
        if sj.status not in DETAIL_ONLY
    ]
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
