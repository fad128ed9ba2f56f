"""Step 1: fetch what changed in the store and keep it, raw, in state.

The window is ``[watermark - overlap, now - settle_lag)`` (or the backfill params), plus the
webhook inbox events this pair has not drained yet (a webhook is only a pointer: the full
record is fetched). Raw payloads are upserted by (system, store, object, id) with a content
hash, so an unchanged record is not processed again; the watermark moves only after the
upsert committed. Normalisation happens in ``transform``, so a mapping fix can re-run it without
calling the store again.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Iterator
from typing import Any

from ml_connector.storefronts.base import RawRecord
from ml_connector.tasks.preview import PreviewRecords
from ml_connector.tasks.runtime import Params, Runtime, utcnow

log = logging.getLogger("ml_connector.extract")

STREAMS = ("orders", "refunds", "customers")
_OBJECT = {"orders": "order", "refunds": "refund", "customers": "customer"}


def window(rt: Runtime, params: Params, stream: str, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """The half-open window this run reads for ``stream``."""
    end = params.until or (now - rt.config.settle_lag)
    if params.since:
        return params.since, end
    mark = rt.store.get_watermark(rt.pair, stream)
    start = (mark - rt.config.overlap) if mark else (now - rt.config.initial_lookback)
    return min(start, end), end


def _upsert(rt: Runtime, obj: str, pages: Iterable[list[RawRecord]]) -> dict[str, int]:
    totals = {"new": 0, "changed": 0, "unchanged": 0}
    system = rt.storefront.system
    for page in pages:
        if not page:
            continue
        result = rt.store.upsert_records(system, obj, page, store=rt.store_id)
        totals["new"] += result.new
        totals["changed"] += result.changed
        totals["unchanged"] += result.unchanged
    return totals


def _ids_present(rt: Runtime, obj: str, ids: Iterable[str]) -> set[str]:
    wanted = set(ids)
    if not wanted:
        return set()
    return {row.source_id for row in rt.store.records(rt.storefront.system, obj, source_ids=wanted, store=rt.store_id)}


def _missing_parent_orders(rt: Runtime, refunds: list[RawRecord]) -> list[str]:
    order_ids = {str(payload.get("order_id")) for _, payload, _ in refunds if payload.get("order_id") is not None}
    return sorted(order_ids - _ids_present(rt, "order", order_ids))


def _collect(pages: Iterator[list[RawRecord]], sink: list[RawRecord]) -> Iterator[list[RawRecord]]:
    for page in pages:
        sink.extend(page)
        yield page


def fetch_preview(rt: Runtime, params: Params) -> PreviewRecords:
    """A dry run's extract: the same window, parents and inbox pointers, kept in memory only.

    Nothing is written: no upsert, no watermark, no inbox status, no audit row.
    """
    hook = rt.storefront.hook(rt.config.storefront.conn_id, audit=None)
    sf, system = rt.storefront, rt.storefront.system
    preview = PreviewRecords(rt.store)
    if params.is_replay and not (params.since or params.until):
        preview.add(system, "order", sf.fetch_objects(hook, "order", list(params.order_ids)) if params.order_ids else [])
        preview.add(system, "refund", sf.fetch_objects(hook, "refund", list(params.refund_ids)) if params.refund_ids else [])
        return preview
    now = utcnow()
    windows = {s: window(rt, params, s, now) for s in STREAMS}
    for stream, obj in _OBJECT.items():
        start, end = windows[stream]
        fetch = {"orders": sf.extract_orders, "refunds": sf.extract_refunds, "customers": sf.extract_customers}[stream]
        for page in fetch(hook, start, end):
            preview.add(system, obj, page)
    events = list(rt.store.pending_webhook_events(rt.pair, system, rt.config.storefront.conn_id))
    for obj in ("order", "refund"):
        ids = sorted({str(ev.object_id) for ev in events if ev.object_type == obj})
        if ids:
            preview.add(system, obj, sf.fetch_objects(hook, obj, ids))
    refunds = list(preview.records(system, "refund", statuses=("new", "changed"), store=rt.store_id, pair=rt.pair))
    parents = {sf.refund_parent(r.payload) for r in refunds}
    present = preview.records(system, "order", source_ids=parents, store=rt.store_id, pair=rt.pair)
    missing = sorted(parents - {r.source_id for r in present})
    if missing:
        preview.add(system, "order", sf.fetch_objects(hook, "order", missing))
    return preview


def run_extract(rt: Runtime, params: Params) -> dict[str, Any]:
    """Fetch the window and the inbox; returns a small summary for XCom."""
    if params.dry_run:  # the transform task reads the store itself and writes nothing (tasks/preview.py)
        return {"pair": rt.pair, "dry_run": True}
    hook = rt.storefront_hook()
    sf = rt.storefront
    now = utcnow()
    summary: dict[str, Any] = {"pair": rt.pair}
    windows = {s: window(rt, params, s, now) for s in STREAMS}
    summary["window"] = {s: [w[0].isoformat(), w[1].isoformat()] for s, w in windows.items()}

    if params.is_replay and not (params.since or params.until):
        # A replay re-reads exactly what was asked for; the regular window is left to the schedule.
        summary["orders"] = _upsert(rt, "order", [sf.fetch_objects(hook, "order", list(params.order_ids))])
        summary["refunds"] = _upsert(rt, "refund", [sf.fetch_objects(hook, "refund", list(params.refund_ids))])
        rt.close()
        return summary

    start, end = windows["orders"]
    summary["orders"] = _upsert(rt, "order", sf.extract_orders(hook, start, end))
    refunds: list[RawRecord] = []
    start, end = windows["refunds"]
    summary["refunds"] = _upsert(rt, "refund", _collect(sf.extract_refunds(hook, start, end), refunds))
    start, end = windows["customers"]
    summary["customers"] = _upsert(rt, "customer", sf.extract_customers(hook, start, end))

    # A refund can arrive for an order modified before the window: fetch the parent so the
    # refund can be checked against what was captured.
    missing = _missing_parent_orders(rt, refunds)
    if missing:
        _upsert(rt, "order", [sf.fetch_objects(hook, "order", missing)])
    summary["parent_orders_fetched"] = len(missing)

    summary["webhook_events"] = drain_inbox(rt, hook)

    if not params.until:  # a scheduled run, or an initial load "since X": the next run continues from here
        for stream, (_, end) in windows.items():
            rt.store.set_watermark(rt.pair, stream, end)
    rt.close()
    log.info("extract %s: %s", rt.pair, summary)
    return summary


def drain_inbox(rt: Runtime, hook: Any) -> int:
    """Fetch the full records the events this pair has not drained point at, then mark them drained
    for this pair (other pairs on the same connection drain them on their own)."""
    events = list(rt.store.pending_webhook_events(rt.pair, rt.storefront.system, rt.config.storefront.conn_id))
    if not events:
        return 0
    by_type: dict[str, set[str]] = {}
    for ev in events:
        by_type.setdefault(ev.object_type, set()).add(str(ev.object_id))
    ignored: list[int] = []
    for obj in ("order", "refund", "customer"):
        ids = sorted(by_type.pop(obj, set()))
        if ids:
            _upsert(rt, obj, [rt.storefront.fetch_objects(hook, obj, ids)])
    if by_type:
        ignored = [ev.id for ev in events if ev.object_type in by_type]
        log.info("ignored webhook events for %s (not posted by this pair)", sorted(by_type))
    rt.store.mark_webhook_events(rt.pair, [ev.id for ev in events if ev.id not in set(ignored)], "processed")
    if ignored:
        rt.store.mark_webhook_events(rt.pair, ignored, "ignored")
    return len(events)
