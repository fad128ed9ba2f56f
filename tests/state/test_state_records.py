"""Source records: new / unchanged / changed, versions, statuses, streaming."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from ml_connector.state import StateStore
from ml_connector.state.schema import source_record_versions, source_records
from sqlalchemy import Engine, func, select

T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)


def _order(order_id: int, total: str = "10.00", **extra: Any) -> tuple[str, dict[str, Any], dt.datetime]:
    return (str(order_id), {"id": order_id, "total": Decimal(total), "placed": T0, **extra}, T0)


def _by_source(store: StateStore) -> dict[str, Any]:
    return {row.source_id: row for row in store.records("bigcommerce", "order")}


def test_new_records_are_inserted_with_version_one(store: StateStore) -> None:
    result = store.upsert_records("bigcommerce", "order", [_order(1), _order(2)])
    assert (result.new, result.changed, result.unchanged) == (2, 0, 0)
    assert sorted(result.source_ids) == ["1", "2"]
    rows = _by_source(store)
    assert {r.status for r in rows.values()} == {"new"}
    assert rows["1"].version == 1
    assert rows["1"].payload == {"id": 1, "total": "10.00", "placed": "2025-03-01T09:00:00+00:00"}
    assert rows["1"].source_updated_at == T0
    assert set(result.ids) == {r.id for r in rows.values()}


def test_unchanged_record_is_not_touched_and_keeps_its_status(store: StateStore, clock: Any) -> None:
    store.upsert_records("bigcommerce", "order", [_order(1)])
    store.mark_records("bigcommerce", "order", [("1", "processed", None)])
    clock.advance(60)
    result = store.upsert_records("bigcommerce", "order", [_order(1)])
    assert (result.new, result.changed, result.unchanged, result.ids) == (0, 0, 1, ())
    row = _by_source(store)["1"]
    assert (row.status, row.version) == ("processed", 1)
    assert list(store.records("bigcommerce", "order", statuses=["new", "changed"])) == []


def test_changed_record_gets_next_version_and_old_one_stays_auditable(
    store: StateStore, engine: Engine
) -> None:
    store.upsert_records("bigcommerce", "order", [_order(1)])
    store.mark_records("bigcommerce", "order", [("1", "needs_mapping", "unknown SKU X")])
    result = store.upsert_records("bigcommerce", "order", [_order(1, total="12.50")])
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
    store.upsert_records("bigcommerce", "order", [("1", {"a": 1, "b": {"x": 1, "y": 2}}, None)])
    result = store.upsert_records("bigcommerce", "order", [("1", {"b": {"y": 2, "x": 1}, "a": 1}, None)])
    assert result.unchanged == 1


def test_systems_and_objects_are_separate_namespaces(store: StateStore) -> None:
    store.upsert_records("bigcommerce", "order", [_order(1)])
    result = store.upsert_records("bigcommerce", "refund", [_order(1)])
    assert result.new == 1
    assert [r.source_id for r in store.records("bigcommerce", "refund")] == ["1"]


def test_float_payload_numbers_come_back_as_decimal(store: StateStore) -> None:
    store.upsert_records("woocommerce", "order", [("7", {"total": 19.99}, None)])
    (row,) = store.records("woocommerce", "order")
    assert row.payload["total"] == Decimal("19.99")


def test_naive_source_timestamp_is_rejected_with_the_record_named(store: StateStore) -> None:
    with pytest.raises(ValueError, match="bigcommerce order 5 updated_at: naive"):
        store.upsert_records("bigcommerce", "order", [("5", {}, dt.datetime(2025, 1, 1))])  # noqa: DTZ001


def test_ten_thousand_records_in_one_call(store: StateStore, engine: Engine) -> None:
    batch = [_order(i) for i in range(10_000)]
    assert store.upsert_records("shopify", "order", batch).new == 10_000
    changed = [_order(i, total="11.00") if i % 10 == 0 else _order(i) for i in range(10_000)]
    result = store.upsert_records("shopify", "order", changed)
    assert (result.new, result.changed, result.unchanged) == (0, 1000, 9000)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(source_record_versions)).scalar() == 11_000
    changed_rows = list(store.records("shopify", "order", statuses=["changed"], batch_size=128))
    assert sorted(int(r.source_id) for r in changed_rows) == list(range(0, 10_000, 10))


def test_records_stream_in_batches_and_filter_by_source_id(store: StateStore) -> None:
    store.upsert_records("bigcommerce", "order", [_order(i) for i in range(25)])
    streamed = list(store.records("bigcommerce", "order", batch_size=4))
    assert len(streamed) == 25
    assert [r.id for r in streamed] == sorted(r.id for r in streamed)
    picked = store.records("bigcommerce", "order", source_ids=["3", "17", "999"], batch_size=1)
    assert sorted(r.source_id for r in picked) == ["17", "3"]


def test_marking_while_iterating_visits_every_record_once(store: StateStore) -> None:
    store.upsert_records("bigcommerce", "order", [_order(i) for i in range(30)])
    seen = []
    for row in store.records("bigcommerce", "order", statuses=["new"], batch_size=7):
        seen.append(row.source_id)
        store.mark_records("bigcommerce", "order", [(row.source_id, "processed", None)])
    assert sorted(seen, key=int) == [str(i) for i in range(30)]


def test_parked_records_carry_their_reason(store: StateStore) -> None:
    store.upsert_records("bigcommerce", "order", [_order(1), _order(2), _order(3)])
    store.mark_records(
        "bigcommerce",
        "order",
        [("1", "needs_mapping", "SKU ABC has no revenue account"), ("2", "needs_review", "refund > captured"),
         ("3", "processed", None)],
    )  # fmt: skip
    parked = {r.source_id: (r.status, r.reason) for r in store.parked_records("bigcommerce", "order")}
    assert parked == {
        "1": ("needs_mapping", "SKU ABC has no revenue account"),
        "2": ("needs_review", "refund > captured"),
    }


def test_unknown_status_is_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="unknown status"):
        store.mark_records("bigcommerce", "order", [("1", "done", None)])
    with pytest.raises(ValueError, match="unknown status"):
        list(store.records("bigcommerce", "order", statuses=["pending"]))


def test_source_records_table_has_one_row_per_key(store: StateStore, engine: Engine) -> None:
    for total in ("1.00", "2.00", "2.00", "3.00"):
        store.upsert_records("bigcommerce", "order", [_order(1, total=total)])
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(source_records)).scalar() == 1
    assert _by_source(store)["1"].version == 3
