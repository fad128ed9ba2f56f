"""Source records: new / unchanged / changed, versions, per-pair statuses, stores, streaming."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from ml_connector.state import StateStore
from ml_connector.state.schema import record_status, source_record_versions, source_records
from sqlalchemy import Engine, func, select

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
STORE = "store-1"
PAIR = "bigcommerce_to_peoplesoft"
OTHER_PAIR = "bigcommerce_to_fusion"


def _order(order_id: int, total: str = "10.00", **extra: Any) -> tuple[str, dict[str, Any], dt.datetime]:
    return (str(order_id), {"id": order_id, "total": Decimal(total), "placed": T0, **extra}, T0)


def _upsert(store: StateStore, *items: tuple[str, dict[str, Any], dt.datetime | None], obj: str = "order",
            shop: str = STORE) -> Any:
    return store.upsert_records("bigcommerce", obj, list(items), store=shop)


def _by_source(store: StateStore, pair: str = PAIR, shop: str = STORE) -> dict[str, Any]:
    return {row.source_id: row for row in store.records("bigcommerce", "order", store=shop, pair=pair)}


def _mark(store: StateStore, *marks: tuple[str, str, str | None], pair: str = PAIR, shop: str = STORE) -> int:
    """Mark records at the version currently stored (what a transform that just read them does)."""
    rows = _by_source(store, pair, shop)
    return store.mark_records(
        pair, "bigcommerce", "order", [(sid, rows[sid].version, status, reason) for sid, status, reason in marks],
        store=shop,
    )  # fmt: skip


def test_new_records_are_inserted_with_version_one(store: StateStore) -> None:
    result = _upsert(store, _order(1), _order(2))
    assert (result.new, result.changed, result.unchanged) == (2, 0, 0)
    assert sorted(result.source_ids) == ["1", "2"]
    rows = _by_source(store)
    assert {r.status for r in rows.values()} == {"new"}
    assert rows["1"].version == 1
    assert rows["1"].payload == {"id": 1, "total": "10.00", "placed": "2025-03-01T09:00:00+00:00"}
    assert rows["1"].source_updated_at == T0
    assert set(result.ids) == {r.id for r in rows.values()}


def test_unchanged_record_is_not_touched_and_keeps_its_status(store: StateStore, clock: Any) -> None:
    _upsert(store, _order(1))
    _mark(store, ("1", "processed", None))
    clock.advance(60)
    result = _upsert(store, _order(1))
    assert (result.new, result.changed, result.unchanged, result.ids) == (0, 0, 1, ())
    row = _by_source(store)["1"]
    assert (row.status, row.version) == ("processed", 1)
    assert list(store.records("bigcommerce", "order", statuses=["new", "changed"], store=STORE, pair=PAIR)) == []


def test_changed_record_gets_next_version_and_old_one_stays_auditable(
    store: StateStore, engine: Engine
) -> None:
    _upsert(store, _order(1))
    _mark(store, ("1", "needs_mapping", "unknown SKU X"))
    result = _upsert(store, _order(1, total="12.50"))
    assert (result.new, result.changed, result.unchanged) == (0, 1, 0)
    row = _by_source(store)["1"]
    assert (row.status, row.version, row.reason) == ("changed", 2, None)
    assert row.payload["total"] == "12.50"
    with engine.connect() as conn:
        versions = conn.execute(
            select(source_record_versions.c.version, source_record_versions.c.payload)
            .where(source_record_versions.c.record_id == row.id)
            .order_by(source_record_versions.c.version)
        ).all()
    assert [(v, p["total"]) for v, p in versions] == [(1, "10.00"), (2, "12.50")]


def test_same_content_in_another_key_order_is_unchanged(store: StateStore) -> None:
    _upsert(store, ("1", {"a": 1, "b": {"x": 1, "y": 2}}, None))
    assert _upsert(store, ("1", {"b": {"y": 2, "x": 1}, "a": 1}, None)).unchanged == 1


def test_systems_and_objects_are_separate_namespaces(store: StateStore) -> None:
    _upsert(store, _order(1))
    assert _upsert(store, _order(1), obj="refund").new == 1
    assert [r.source_id for r in store.records("bigcommerce", "refund", store=STORE)] == ["1"]


def test_float_payload_numbers_come_back_as_decimal(store: StateStore) -> None:
    store.upsert_records("woocommerce", "order", [("7", {"total": 19.99}, None)], store=STORE)
    (row,) = store.records("woocommerce", "order", store=STORE)
    assert row.payload["total"] == Decimal("19.99")


def test_naive_source_timestamp_is_rejected_with_the_record_named(store: StateStore) -> None:
    with pytest.raises(ValueError, match="bigcommerce store-1 order 5 updated_at: naive"):
        _upsert(store, ("5", {}, dt.datetime(2025, 1, 1)))  # noqa: DTZ001


def test_ten_thousand_records_in_one_call(store: StateStore, engine: Engine) -> None:
    batch = [_order(i) for i in range(10_000)]
    assert store.upsert_records("shopify", "order", batch, store=STORE).new == 10_000
    rows = store.records("shopify", "order", store=STORE, pair=PAIR)
    store.mark_records(PAIR, "shopify", "order", [(r.source_id, r.version, "processed", None) for r in rows],
                       store=STORE)  # fmt: skip
    changed = [_order(i, total="11.00") if i % 10 == 0 else _order(i) for i in range(10_000)]
    result = store.upsert_records("shopify", "order", changed, store=STORE)
    assert (result.new, result.changed, result.unchanged) == (0, 1000, 9000)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(source_record_versions)).scalar() == 11_000
    changed_rows = list(store.records("shopify", "order", statuses=["changed"], store=STORE, pair=PAIR,
                                      batch_size=128))  # fmt: skip
    assert sorted(int(r.source_id) for r in changed_rows) == list(range(0, 10_000, 10))


def test_records_stream_in_batches_and_filter_by_source_id(store: StateStore) -> None:
    _upsert(store, *[_order(i) for i in range(25)])
    streamed = list(store.records("bigcommerce", "order", store=STORE, batch_size=4))
    assert len(streamed) == 25
    assert [r.id for r in streamed] == sorted(r.id for r in streamed)
    assert {(r.status, r.reason) for r in streamed} == {(None, None)}, "no pair named: no status"
    picked = store.records("bigcommerce", "order", source_ids=["3", "17", "999"], store=STORE, batch_size=1)
    assert sorted(r.source_id for r in picked) == ["17", "3"]


def test_marking_while_iterating_visits_every_record_once(store: StateStore) -> None:
    _upsert(store, *[_order(i) for i in range(30)])
    seen = []
    for row in store.records("bigcommerce", "order", statuses=["new"], store=STORE, pair=PAIR, batch_size=7):
        seen.append(row.source_id)
        store.mark_records(PAIR, "bigcommerce", "order", [(row.source_id, row.version, "processed", None)],
                           store=STORE)  # fmt: skip
    assert sorted(seen, key=int) == [str(i) for i in range(30)]


def test_parked_records_carry_their_reason(store: StateStore) -> None:
    _upsert(store, _order(1), _order(2), _order(3))
    _mark(store, ("1", "needs_mapping", "SKU ABC has no revenue account"), ("2", "needs_review", "refund > captured"),
          ("3", "processed", None))  # fmt: skip
    parked = {r.source_id: (r.status, r.reason) for r in store.parked_records(PAIR, "bigcommerce", "order", store=STORE)}
    assert parked == {
        "1": ("needs_mapping", "SKU ABC has no revenue account"),
        "2": ("needs_review", "refund > captured"),
    }
    assert list(store.parked_records(OTHER_PAIR, "bigcommerce", "order", store=STORE)) == []


def test_unknown_status_is_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="unknown status"):
        store.mark_records(PAIR, "bigcommerce", "order", [("1", 1, "done", None)], store=STORE)
    with pytest.raises(ValueError, match="unknown status"):
        list(store.records("bigcommerce", "order", statuses=["pending"], store=STORE, pair=PAIR))


def test_a_status_filter_needs_a_pair(store: StateStore) -> None:
    with pytest.raises(ValueError, match="pass pair="):
        list(store.records("bigcommerce", "order", statuses=["new"], store=STORE))


def test_source_records_table_has_one_row_per_key(store: StateStore, engine: Engine) -> None:
    for total in ("1.00", "2.00", "2.00", "3.00"):
        _upsert(store, _order(1, total=total))
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(source_records)).scalar() == 1
    assert _by_source(store)["1"].version == 3


class TestPerPair:
    """The issue this fixes: one pair's progress hid records from the other (issue 10)."""

    def test_a_record_processed_by_one_pair_is_still_new_for_another(self, store: StateStore) -> None:
        _upsert(store, _order(1), _order(2))
        _mark(store, ("1", "processed", None), ("2", "needs_mapping", "SKU X"))
        assert {s: r.status for s, r in _by_source(store).items()} == {"1": "processed", "2": "needs_mapping"}
        assert {s: (r.status, r.reason) for s, r in _by_source(store, OTHER_PAIR).items()} == {
            "1": ("new", None), "2": ("new", None)
        }  # fmt: skip
        _mark(store, ("1", "skipped", "cancelled"), pair=OTHER_PAIR)
        assert _by_source(store)["1"].status == "processed", "the other pair's mark leaves this pair's alone"

    def test_a_changed_record_is_changed_for_every_pair_that_had_processed_it(self, store: StateStore) -> None:
        _upsert(store, _order(1))
        _mark(store, ("1", "processed", None))
        _mark(store, ("1", "needs_review", "refund > captured"), pair=OTHER_PAIR)
        _upsert(store, _order(1, total="99.00"))
        for pair in (PAIR, OTHER_PAIR):
            row = _by_source(store, pair)["1"]
            assert (row.status, row.reason, row.version) == ("changed", None, 2), pair
        assert _by_source(store, "a_third_pair")["1"].status == "new"

    def test_a_version_changed_after_it_was_read_is_not_marked_processed(self, store: StateStore,
                                                                          engine: Engine) -> None:
        """Transform reads v1, a concurrent extract stores v2, transform marks v1: v2 must stay changed."""
        _upsert(store, _order(1))
        (read,) = store.records("bigcommerce", "order", statuses=["new"], store=STORE, pair=PAIR)
        _upsert(store, _order(1, total="12.50"))  # the concurrent extract
        stored = store.mark_records(PAIR, "bigcommerce", "order", [("1", read.version, "processed", None)],
                                    store=STORE)  # fmt: skip
        assert stored == 0
        row = _by_source(store)["1"]
        assert (row.status, row.version) == ("new", 2), "never processed at its current version"
        (again,) = store.records("bigcommerce", "order", statuses=["new", "changed"], store=STORE, pair=PAIR)
        assert again.payload["total"] == "12.50"
        assert _mark(store, ("1", "processed", None)) == 1
        _upsert(store, _order(1, total="13.00"))
        # Processed at v2, changed to v3 before a slow mark of v2 lands: the row stays at v2, so v3 is changed.
        assert store.mark_records(PAIR, "bigcommerce", "order", [("1", 2, "processed", None)], store=STORE) == 0
        assert _by_source(store)["1"].status == "changed"
        with engine.connect() as conn:
            assert conn.execute(select(record_status.c.processed_version)).scalar_one() == 2

    def test_statuses_filter_per_pair(self, store: StateStore) -> None:
        _upsert(store, *[_order(i) for i in range(6)])
        _mark(store, *[(str(i), "processed", None) for i in range(3)])
        _upsert(store, _order(0, total="5.00"))
        todo = store.records("bigcommerce", "order", statuses=["new", "changed"], store=STORE, pair=PAIR)
        assert {r.source_id: r.status for r in todo} == {"0": "changed", "3": "new", "4": "new", "5": "new"}
        other = store.records("bigcommerce", "order", statuses=["new", "changed"], store=STORE, pair=OTHER_PAIR)
        assert sorted(r.source_id for r in other) == [str(i) for i in range(6)]


class TestPerStore:
    def test_two_stores_with_the_same_order_ids_do_not_collide(self, store: StateStore) -> None:
        assert _upsert(store, _order(1, total="10.00"), _order(2), shop="store-a").new == 2
        assert _upsert(store, _order(1, total="77.00"), shop="store-b").new == 1, "another store's order 1 is new"
        assert _by_source(store, shop="store-a")["1"].payload["total"] == "10.00"
        assert _by_source(store, shop="store-b")["1"].payload["total"] == "77.00"
        assert set(_by_source(store, shop="store-b")) == {"1"}

        _mark(store, ("1", "processed", None), shop="store-a")
        assert _by_source(store, shop="store-a")["1"].status == "processed"
        assert _by_source(store, shop="store-b")["1"].status == "new", "store-a's order 1 is not store-b's"
        assert _upsert(store, _order(1, total="78.00"), shop="store-b").changed == 1
        assert _by_source(store, shop="store-a")["1"].status == "processed"
