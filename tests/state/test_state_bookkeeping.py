"""Watermarks, the webhook inbox and customer sync state."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from ml_connector.state import StateStore
from sqlalchemy import Engine

PAIR = "shopify_to_peoplesoft"
T0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)


class TestWatermarks:
    def test_unset_watermark_is_none(self, store: StateStore) -> None:
        assert store.get_watermark(PAIR, "orders") is None

    def test_watermark_moves_forward_but_never_backwards(self, store: StateStore) -> None:
        assert store.set_watermark(PAIR, "orders", T0) == T0
        later = T0 + dt.timedelta(hours=1)
        assert store.set_watermark(PAIR, "orders", later) == later
        assert store.set_watermark(PAIR, "orders", T0) == later
        assert store.get_watermark(PAIR, "orders") == later
        assert store.get_watermark(PAIR, "refunds") is None  # streams are independent

    def test_force_moves_it_back_for_a_deliberate_backfill(self, store: StateStore) -> None:
        store.set_watermark(PAIR, "orders", T0 + dt.timedelta(days=3))
        assert store.set_watermark(PAIR, "orders", T0, force=True) == T0
        assert store.get_watermark(PAIR, "orders") == T0

    def test_comparison_is_by_instant_not_by_text(self, store: StateStore) -> None:
        new_york = dt.timezone(dt.timedelta(hours=-5))
        store.set_watermark(PAIR, "orders", dt.datetime(2025, 3, 1, 20, 0, tzinfo=dt.UTC))
        # 16:00 in New York is 21:00 UTC: later, although "16" < "20" as text.
        later = dt.datetime(2025, 3, 1, 16, 0, tzinfo=new_york)
        assert store.set_watermark(PAIR, "orders", later) == later
        assert store.get_watermark(PAIR, "orders") == later

    def test_naive_watermark_is_rejected(self, store: StateStore) -> None:
        with pytest.raises(ValueError, match="watermark shopify_to_peoplesoft/orders: naive"):
            store.set_watermark(PAIR, "orders", dt.datetime(2025, 3, 1))  # noqa: DTZ001

    def test_concurrent_setters_keep_the_latest(self, store: StateStore, second_engine: Engine) -> None:
        stores = [store, StateStore(second_engine)]
        values = [T0 + dt.timedelta(minutes=m) for m in range(40)]
        errors: list[BaseException] = []

        def run(n: int) -> None:
            try:
                for value in values[n::2]:
                    stores[n].set_watermark(PAIR, "orders", value)
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert store.get_watermark(PAIR, "orders") == values[-1]


def _event(
    store: StateStore, delivery: str, object_id: str = "1001", conn_id: str = "shopify_default"
) -> bool:
    return store.add_webhook_event(
        "shopify", conn_id, delivery, "orders/updated", "order", object_id, {"id": int(object_id)}
    )


class TestInbox:
    def test_duplicate_delivery_is_ignored(self, store: StateStore) -> None:
        assert _event(store, "d-1") is True
        assert _event(store, "d-1") is False
        assert _event(store, "d-1", conn_id="shopify_eu") is True  # another store: its own namespace
        pending = store.pending_webhook_events(PAIR, "shopify", "shopify_default")
        assert [(e.delivery_id, e.object_id, e.payload) for e in pending] == [("d-1", "1001", {"id": 1001})]

    def test_pending_events_are_oldest_first_and_marking_removes_them(self, store: StateStore) -> None:
        for n in range(5):
            _event(store, f"d-{n}", object_id=str(100 + n))
        first_two = store.pending_webhook_events(PAIR, "shopify", "shopify_default", limit=2)
        assert [e.delivery_id for e in first_two] == ["d-0", "d-1"]
        assert store.mark_webhook_events(PAIR, [e.id for e in first_two], "processed") == 2
        left = store.pending_webhook_events(PAIR, "shopify", "shopify_default")
        assert [e.delivery_id for e in left] == ["d-2", "d-3", "d-4"]
        with pytest.raises(ValueError, match="unknown status"):
            store.mark_webhook_events(PAIR, [left[0].id], "done")

    def test_each_pair_drains_every_event_once(self, store: StateStore) -> None:
        """Two pairs on one storefront connection: the receiver writes each event once, both read it."""
        for n in range(4):
            _event(store, f"d-{n}", object_id=str(100 + n))
        other = "shopify_to_fusion"
        mine = store.pending_webhook_events(PAIR, "shopify", "shopify_default")
        assert store.mark_webhook_events(PAIR, [e.id for e in mine[:3]], "processed") == 3
        assert store.mark_webhook_events(PAIR, [mine[3].id], "ignored") == 1
        assert store.pending_webhook_events(PAIR, "shopify", "shopify_default") == []
        theirs = store.pending_webhook_events(other, "shopify", "shopify_default")
        assert [e.delivery_id for e in theirs] == ["d-0", "d-1", "d-2", "d-3"], "the other pair still gets every event"
        store.mark_webhook_events(other, [e.id for e in theirs], "processed")
        assert store.pending_webhook_events(other, "shopify", "shopify_default") == []
        _event(store, "d-4")
        for pair in (PAIR, other):
            assert [e.delivery_id for e in store.pending_webhook_events(pair, "shopify", "shopify_default")] == ["d-4"]

    def test_pending_hands_events_back_to_one_pair_only(self, store: StateStore) -> None:
        _event(store, "d-0")
        (event,) = store.pending_webhook_events(PAIR, "shopify", "shopify_default")
        for pair in (PAIR, "shopify_to_fusion"):
            store.mark_webhook_events(pair, [event.id], "processed")
        assert store.mark_webhook_events(PAIR, [event.id], "pending") == 1
        assert [e.id for e in store.pending_webhook_events(PAIR, "shopify", "shopify_default")] == [event.id]
        assert store.pending_webhook_events("shopify_to_fusion", "shopify", "shopify_default") == []
        assert store.mark_webhook_events(PAIR, [event.id + 1000], "processed") == 0, "an unknown event is not recorded"

    def test_concurrent_duplicate_deliveries_get_in_once(
        self, store: StateStore, second_engine: Engine
    ) -> None:
        stores = [store, StateStore(second_engine)]
        outcomes: list[bool] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(4)

        def deliver(n: int) -> None:
            try:
                barrier.wait()
                for d in range(15):
                    outcomes.append(_event(stores[n % 2], f"retry-{d}"))
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        threads = [threading.Thread(target=deliver, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert errors == []
        assert outcomes.count(True) == 15 and outcomes.count(False) == 45
        assert len(store.pending_webhook_events(PAIR, "shopify", "shopify_default")) == 15


class TestCustomerSync:
    def test_insert_update_and_keep_known_erp_id(self, store: StateStore, clock: object) -> None:
        assert store.get_customer_sync(PAIR, "c-1") is None
        store.set_customer_sync(PAIR, "c-1", "CUST0001", "h1", "synced")
        store.set_customer_sync(PAIR, "c-1", None, "h2", "failed", last_error="SOAP fault")
        row = store.get_customer_sync(PAIR, "c-1")
        assert row is not None
        assert (row.erp_customer_id, row.content_hash, row.status, row.last_error) == (
            "CUST0001", "h2", "failed", "SOAP fault"
        )  # fmt: skip
        assert row.updated_at.tzinfo is not None
