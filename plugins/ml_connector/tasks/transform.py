"""Step 2: raw store records become balanced journals through the pair's mapping.

A record that cannot be mapped is parked ``needs_mapping`` with the reason, one that breaks a
business rule ``needs_review``, an unsettled order ``not_settled``: never dropped, never
posted. Parked records are tried again on every run, so fixing the mapping is enough to
get them posted. A cancelled or deleted order whose sale was already posted gets a
reversing journal.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from ml_connector.core.journal import build_refund, build_reversal, build_sale, posting_day
from ml_connector.core.keys import journal_key
from ml_connector.core.model import POSTABLE_STATUSES, Journal, JournalKind, Order, OrderStatus, Refund
from ml_connector.core.rules import NotSettled
from ml_connector.errors import NormalisationError, ParkedError
from ml_connector.tasks.runtime import Params, Runtime

log = logging.getLogger("ml_connector.transform")

RETRY_STATUSES = ("new", "changed", "needs_mapping", "not_settled")
_REVERSIBLE = frozenset({OrderStatus.CANCELLED, OrderStatus.DELETED})


class _Batch:
    """Collects journals and record outcomes; written once at the end (or shown in a dry run)."""

    def __init__(self) -> None:
        self.journals: list[Journal] = []
        self.outcomes: dict[str, list[tuple[str, str, str | None]]] = defaultdict(list)
        self.counts: Counter[str] = Counter()
        self.days: set[str] = set()
        self.keys: set[str] = set()

    def park(self, obj: str, source_id: str, error: ParkedError | NormalisationError) -> None:
        status = getattr(error, "status", "needs_review")
        reason = getattr(error, "reason", None) or str(error)
        self.outcomes[obj].append((source_id, status, reason))
        self.counts[f"{obj}:{status}"] += 1

    def done(self, obj: str, source_id: str, status: str = "processed", reason: str | None = None) -> None:
        self.outcomes[obj].append((source_id, status, reason))
        self.counts[f"{obj}:{status}"] += 1

    def add(self, journal: Journal) -> None:
        self.journals.append(journal)
        self.keys.add(journal.key)
        self.days.add(journal.posting_date.isoformat())
        self.counts[f"journal:{journal.kind.value}"] += 1


def _selection(rt: Runtime, params: Params, obj: str, ids: tuple[str, ...]) -> Iterable[Any]:
    system = rt.storefront.system
    if params.is_replay and not (params.since or params.until):
        return rt.store.records(system, obj, source_ids=set(ids)) if ids else []
    return rt.store.records(system, obj, statuses=RETRY_STATUSES)


def _orders(rt: Runtime, params: Params, batch: _Batch, store_id: str) -> dict[str, Order]:
    seen: dict[str, Order] = {}
    for row in _selection(rt, params, "order", params.order_ids):
        try:
            order = rt.storefront.order(row.payload, store_id)
        except NormalisationError as exc:
            batch.park("order", row.source_id, exc)
            continue
        seen[order.order_id] = order
        if order.status in POSTABLE_STATUSES:
            try:
                batch.add(build_sale(order, rt.mapping, rt.pair))
                batch.done("order", row.source_id)
            except ParkedError as exc:
                batch.park("order", row.source_id, exc)
        elif order.status in _REVERSIBLE:
            _reverse_if_posted(rt, batch, order)
        else:
            batch.done("order", row.source_id, "skipped", f"order status {order.status.value}: nothing to post")
    return seen


def _reverse_if_posted(rt: Runtime, batch: _Batch, order: Order) -> None:
    sale_key = journal_key(rt.pair, "order", order.order_id, JournalKind.SALE.value)
    status = rt.store.journal_status(rt.pair, sale_key)
    if status == "posted":
        original = rt.store.load_journal(sale_key)
        when = posting_day(order.updated_at, rt.mapping)
        batch.add(build_reversal(original, when, f"order {order.order_id} {order.status.value}"))
        batch.done("order", order.order_id, "processed", f"{order.status.value} after posting: reversed")
    elif status in ("ready", "failed"):
        rt.store.supersede_journal(rt.pair, sale_key, f"order {order.order_id} {order.status.value} before posting")
        batch.done("order", order.order_id, "skipped", f"{order.status.value} before posting: sale withdrawn")
    else:
        batch.done("order", order.order_id, "skipped", f"order {order.status.value}: nothing was posted")


def _raw_orders(rt: Runtime, order_ids: set[str]) -> dict[str, dict[str, Any]]:
    if not order_ids:
        return {}
    return {row.source_id: row.payload for row in rt.store.records(rt.storefront.system, "order", source_ids=order_ids)}


_SALE_BUILT = frozenset({"ready", "claimed", "posted", "failed", "detail", "summarised"})


def _require_sale(rt: Runtime, batch: _Batch, order: Order) -> None:
    """A refund offsets a sale: it waits until its order's sale journal exists (posted or queued)."""
    key = journal_key(rt.pair, "order", order.order_id, JournalKind.SALE.value)
    if key in batch.keys:
        return
    status = rt.store.journal_status(rt.pair, key)
    if status not in _SALE_BUILT:
        raise NotSettled(f"order {order.order_id} has no sale journal yet ({status or 'not built'}): the refund waits for it")


def _refunds(rt: Runtime, params: Params, batch: _Batch, orders: dict[str, Order], store_id: str) -> None:
    """Refund journals, each checked against what its order captured minus earlier refunds."""
    sf = rt.storefront
    rows = list(_selection(rt, params, "refund", params.refund_ids))
    if not rows:
        return
    wanted_orders = {sf.refund_parent(row.payload) for row in rows}
    # Siblings: every refund of those orders, to know what was refunded before.
    siblings_raw: dict[str, list[Any]] = defaultdict(list)
    for row in rt.store.records(sf.system, "refund"):
        parent = sf.refund_parent(row.payload)
        if parent in wanted_orders:
            siblings_raw[parent].append(row)
    parents = _raw_orders(rt, wanted_orders)
    siblings: dict[str, list[Refund]] = defaultdict(list)
    for parent_id, sibling_rows in siblings_raw.items():
        for sibling in sibling_rows:
            try:
                siblings[parent_id].append(sf.refund(sibling.payload, store_id, parents.get(parent_id)))
            except NormalisationError:
                continue
    for row in rows:
        parent_id = sf.refund_parent(row.payload)
        parent = parents.get(parent_id)
        if parent is None:
            # Checked before normalising: without its order a refund cannot be valued, and that
            # must wait for the order (retried every run), not be parked for a person.
            batch.park("refund", row.source_id, NotSettled(f"refund {row.source_id}: order {parent_id} is not in state yet"))
            continue
        try:
            refund = sf.refund(row.payload, store_id, parent)
        except NormalisationError as exc:
            batch.park("refund", row.source_id, exc)
            continue
        try:
            order = orders.get(parent_id) or sf.order(parent, store_id)
            _require_sale(rt, batch, order)
            mine = (refund.created_at, refund.refund_id)
            earlier = [r for r in siblings[parent_id] if (r.created_at, r.refund_id) < mine]
            journal = build_refund(refund, order, earlier, rt.mapping, rt.pair)
        except (ParkedError, NormalisationError) as exc:
            batch.park("refund", row.source_id, exc)
            continue
        batch.add(journal)
        batch.done("refund", row.source_id)


def run_transform(rt: Runtime, params: Params) -> dict[str, Any]:
    """Build journals for new, changed and parked records; returns counts and touched days."""
    store_id = rt.storefront.store_id(rt.config.storefront.conn_id)
    batch = _Batch()
    orders = _orders(rt, params, batch, store_id)
    _refunds(rt, params, batch, orders, store_id)
    granularity = params.granularity or rt.config.granularity

    if params.dry_run:
        for journal in batch.journals:
            log.info("dry run: would post %s", describe(journal))
            rt.erp.validate(None, journal)
        return {"dry_run": True, "journals": len(batch.journals), "counts": dict(batch.counts), "days": sorted(batch.days)}

    status = "detail" if granularity == "daily" else "ready"
    saved = rt.store.save_journals(rt.pair, batch.journals, status=status)
    for obj, updates in batch.outcomes.items():
        rt.store.mark_records(rt.storefront.system, obj, updates)
    summary: dict[str, Any] = {
        "journals": len(batch.journals),
        "counts": dict(batch.counts),
        "days": sorted(batch.days),
        "conflicts": len(saved.conflicts),
        "granularity": granularity,
    }
    if saved.conflicts:
        log.warning("journals already posted with different content (need an adjustment): %s", saved.conflicts[:20])
    if granularity == "daily":
        summary["daily_journals"] = summarise_days(rt)
    log.info("transform %s: %s", rt.pair, summary)
    return summary


def summarise_days(rt: Runtime) -> int:
    """Roll per-order detail journals into one journal per store, currency and posting day."""
    from ml_connector.core.daily import summarise_daily

    details = list(rt.store.journals_with_status(rt.pair, "detail"))
    if not details:
        return 0
    daily = summarise_daily(details, rt.pair)
    rt.store.save_journals(rt.pair, daily, status="ready")
    rt.store.set_journal_status(rt.pair, [j.key for j in details], "summarised")
    return len(daily)


def describe(journal: Journal) -> str:
    lines = "; ".join(
        f"{ln.role} {dict(ln.dims).get('ACCOUNT', dict(ln.dims))} {ln.amount} {ln.currency}" for ln in journal.lines
    )
    return f"{journal.key} {journal.posting_date} {journal.description!r}: {lines}"
