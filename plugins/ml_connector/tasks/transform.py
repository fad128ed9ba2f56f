"""Step 2: raw store records become balanced journals through the pair's mapping.

Work is per order: an order that is new or changed, or that has a new or changed refund, is
planned as a whole by ``core.lifecycle`` (the sale that stands and the money that moved, less
what its committed journals already hold), so edits, cancellations, restores and late refunds
become adjustments linked to the order, never rewrites of a posted document.

A record that cannot be mapped is parked ``needs_mapping`` with the reason, one that breaks a
business rule ``needs_review``, an unsettled order ``not_settled``: never dropped, never
posted. Parked records are tried again on every run, so fixing the mapping is enough.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ml_connector.core.lifecycle import Outcome, StoredDocument, plan_order
from ml_connector.core.model import Journal, Order, Refund
from ml_connector.errors import NormalisationError
from ml_connector.state.journals import is_committed
from ml_connector.state.records import RecordMark
from ml_connector.state.rows import RecordRow, StoredJournal
from ml_connector.tasks.runtime import Params, Runtime, utcnow

log = logging.getLogger("ml_connector.transform")

RETRY_STATUSES = ("new", "changed", "needs_mapping", "not_settled")


@dataclass
class _Batch:
    """Journals to save, drafts to withdraw and record outcomes; written once at the end."""

    journals: list[Journal] = field(default_factory=list)
    withdraw: list[str] = field(default_factory=list)
    outcomes: dict[str, list[RecordMark]] = field(default_factory=lambda: defaultdict(list))
    counts: Counter[str] = field(default_factory=Counter)
    days: set[str] = field(default_factory=set)

    def outcome(self, obj: str, row: RecordRow, outcome: Outcome) -> None:
        """What happened to ``row`` at the version planned (a newer one stays ``changed``)."""
        self.outcomes[obj].append((row.source_id, row.version, outcome.status, outcome.reason))
        self.counts[f"{obj}:{outcome.status}"] += 1

    def add(self, journal: Journal) -> None:
        self.journals.append(journal)
        self.days.add(journal.posting_date.isoformat())
        self.counts[f"journal:{journal.kind.value}"] += 1


@dataclass
class _Work:
    """What one run looks at: the orders to plan, and every refund of those orders."""

    orders: dict[str, RecordRow]
    refunds: dict[str, list[RecordRow]]
    orphans: list[tuple[RecordRow, str]]  # refunds whose order is not in state yet


def _selected(rt: Runtime, params: Params, obj: str, ids: tuple[str, ...]) -> Iterable[RecordRow]:
    """What this pair has to (re)plan: its new, changed and waiting records, or the replayed ones."""
    system, where = rt.storefront.system, {"store": rt.store_id, "pair": rt.pair}
    if params.is_replay and not (params.since or params.until):
        return rt.store.records(system, obj, source_ids=set(ids), **where) if ids else []
    return rt.store.records(system, obj, statuses=RETRY_STATUSES, **where)


def _work(rt: Runtime, params: Params) -> _Work:
    sf, system = rt.storefront, rt.storefront.system
    orders = {row.source_id: row for row in _selected(rt, params, "order", params.order_ids)}
    refund_rows = list(_selected(rt, params, "refund", params.refund_ids))
    wanted = set(orders) | {sf.refund_parent(row.payload) for row in refund_rows}
    missing = wanted - set(orders)
    if missing:
        more = rt.store.records(system, "order", source_ids=missing, store=rt.store_id, pair=rt.pair)
        orders.update((row.source_id, row) for row in more)
    # Every refund of those orders: a refund is checked against the ones before it.
    refunds: dict[str, list[RecordRow]] = defaultdict(list)
    for row in rt.store.records(system, "refund", store=rt.store_id, pair=rt.pair):
        parent = sf.refund_parent(row.payload)
        if parent in orders:
            refunds[parent].append(row)
    orphans = [(row, parent) for row in refund_rows if (parent := sf.refund_parent(row.payload)) not in orders]
    return _Work(orders, dict(refunds), orphans)


def _documents(stored: list[StoredJournal]) -> tuple[list[StoredDocument], set[str]]:
    live = [
        StoredDocument(s.journal, is_committed(s.status, s.attempts)) for s in stored if s.status != "superseded"
    ]
    return live, {s.key for s in stored}


def _plan_one(rt: Runtime, batch: _Batch, row: RecordRow, refund_rows: list[RecordRow], store_id: str,
              stored: list[StoredJournal]) -> None:
    sf = rt.storefront
    try:
        order: Order = sf.order(row.payload, store_id)
    except NormalisationError as exc:
        batch.outcome("order", row, Outcome("needs_review", str(exc)))
        for refund_row in refund_rows:
            batch.outcome("refund", refund_row, Outcome("not_settled", f"waits for order {row.source_id}: {exc}"))
        return
    refunds: list[Refund] = []
    for refund_row in refund_rows:
        try:
            refunds.append(sf.refund(refund_row.payload, store_id, row.payload))
        except NormalisationError as exc:
            batch.outcome("refund", refund_row, Outcome("needs_review", str(exc)))
    existing, used = _documents(stored)
    plan = plan_order(
        order, refunds, existing, rt.mapping, rt.pair, used_keys=used, adjustment_date=rt.config.adjustment_date
    )
    for journal in plan.save:
        batch.add(journal)
    batch.withdraw.extend(plan.withdraw)
    batch.outcome("order", row, plan.order)
    by_id = {refund_row.source_id: refund_row for refund_row in refund_rows}
    for refund_id, outcome in plan.refunds.items():
        batch.outcome("refund", by_id[refund_id], outcome)


def _plan(rt: Runtime, params: Params, store_id: str) -> _Batch:
    batch = _Batch()
    work = _work(rt, params)
    for refund_row, parent in work.orphans:
        # Without its order a refund cannot be valued: it waits (retried every run), not parked for a person.
        reason = f"refund {refund_row.source_id}: order {parent} is not in state yet"
        batch.outcome("refund", refund_row, Outcome("not_settled", reason))
    order_ids = sorted(work.orders)
    stored = rt.store.order_documents(rt.pair, rt.storefront.system, order_ids)
    for order_id in order_ids:
        _plan_one(rt, batch, work.orders[order_id], work.refunds.get(order_id, []), store_id, stored.get(order_id, []))
    return batch


def run_transform(rt: Runtime, params: Params) -> dict[str, Any]:
    """Plan this pair's new, changed and parked orders; returns counts and the posting days touched."""
    store_id = rt.store_id
    if params.dry_run:
        return _dry_run(rt, params, store_id)
    batch = _plan(rt, params, store_id)
    granularity = params.granularity or rt.config.granularity

    status = "detail" if granularity == "daily" else "ready"
    saved = rt.store.save_journals(rt.pair, batch.journals, status=status)
    withdrawn = rt.store.withdraw_drafts(rt.pair, batch.withdraw, "the order changed before posting")
    for obj, updates in batch.outcomes.items():
        rt.store.mark_records(rt.pair, rt.storefront.system, obj, updates, store=rt.store_id)
    summary: dict[str, Any] = {
        "journals": len(batch.journals),
        "withdrawn": withdrawn,
        "counts": dict(batch.counts),
        "days": sorted(batch.days),
        "conflicts": len(saved.conflicts),
        "granularity": granularity,
    }
    if saved.conflicts:  # the planner never rewrites a committed journal: this is a bug, not a user error
        log.error("journals already committed with different content, left unchanged: %s", saved.conflicts[:20])
    if granularity == "daily":
        daily = summarise_days(rt)
        summary["daily_journals"] = len(daily)
        summary["days"] = sorted(set(summary["days"]) | {key.rsplit(":", 2)[-2] for key in daily})
    log.info("transform %s: %s", rt.pair, summary)
    return summary


def _dry_run(rt: Runtime, params: Params, store_id: str) -> dict[str, Any]:
    """Read the store as a real run would and log what it would post; write nothing anywhere."""
    from ml_connector.tasks.extract import fetch_preview

    preview = fetch_preview(rt, params)
    batch = _plan(dataclasses.replace(rt, store=preview), params, store_id)
    for journal in batch.journals:
        log.info("dry run: would post %s", describe(journal))
        rt.erp.validate(None, journal)
    for key in batch.withdraw:
        log.info("dry run: would withdraw the unposted draft %s", key)
    for obj, outcomes in batch.outcomes.items():
        for source_id, _version, status, reason in outcomes:
            if status not in ("processed", "skipped"):
                log.info("dry run: %s %s would be %s: %s", obj, source_id, status, reason)
    fetched = {obj: preview.count(obj) for obj in ("order", "refund", "customer")}
    return {"dry_run": True, "fetched": fetched, "journals": len(batch.journals), "withdraw": len(batch.withdraw),
            "counts": dict(batch.counts), "days": sorted(batch.days)}


def summarise_days(rt: Runtime, *, today: dt.date | None = None) -> list[str]:
    """Roll the detail journals of closed days into one journal per store, currency and day.

    A day is closed once it has ended in the store's time zone (``daily_open_day: wait``, the
    default), so each day's summary is posted once; details that reach a day later post as a
    numbered delta summary of that day. ``daily_open_day: include`` summarises today too.
    """
    from ml_connector.core.daily import summarise_daily

    before = None
    if rt.config.daily_open_day == "wait":
        before = today or utcnow().astimezone(rt.mapping.zone).date()
    return rt.store.summarise_details(
        rt.pair, lambda details, number: summarise_daily(details, rt.pair, number), before=before
    )


def describe(journal: Journal) -> str:
    lines = "; ".join(
        f"{ln.role} {dict(ln.dims).get('ACCOUNT', dict(ln.dims))} {ln.amount} {ln.currency}" for ln in journal.lines
    )
    return f"{journal.key} {journal.posting_date} {journal.description!r}: {lines}"
