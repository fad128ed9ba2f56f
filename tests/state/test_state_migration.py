"""0002_per_pair_state on a database written by 0001: nothing lost, nothing processed again.

The 0001 database is built the way a deployment has it: the schema through Alembic at revision
0001, journals, watermarks and customer sync through the store (those tables did not change),
and source records and inbox events in their 0001 shape (status on the row).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from ml_connector.core.model import Journal
from ml_connector.state import StateStore
from ml_connector.state import types as st
from ml_connector.state.db import current_revision, get_engine, migrate
from ml_connector.state.hashing import record_hash
from ml_connector.state.schema import VERSION_TABLE, metadata, source_record_versions
from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, Text, func, insert, select

PAIR = "bigcommerce_to_peoplesoft"
OTHER = "bigcommerce_to_fusion"  # known only from its watermark
STORE = "store-1"  # what make_journal writes as journals.store_id
T0 = dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC)
MakeJournal = Callable[..., Journal]

_v1 = MetaData()
OLD_RECORDS = Table(
    "source_records", _v1,
    Column("id", st.Id, primary_key=True), Column("system", String(40)), Column("object", String(40)),
    Column("source_id", String(255)), Column("content_hash", String(64)), Column("version", Integer),
    Column("payload", st.Document), Column("status", String(20)), Column("reason", Text),
    Column("source_updated_at", st.UTCDateTime()), Column("first_seen_at", st.UTCDateTime()),
    Column("updated_at", st.UTCDateTime()),
)  # fmt: skip
OLD_VERSIONS = Table(
    "source_record_versions", _v1,
    Column("record_id", st.Id, primary_key=True), Column("version", Integer, primary_key=True),
    Column("content_hash", String(64)), Column("payload", st.Document), Column("seen_at", st.UTCDateTime()),
)  # fmt: skip
OLD_INBOX = Table(
    "webhook_inbox", _v1,
    Column("id", st.Id, primary_key=True), Column("storefront", String(40)), Column("conn_id", String(250)),
    Column("delivery_id", String(255)), Column("topic", String(100)), Column("object_type", String(40)),
    Column("object_id", String(255)), Column("payload", st.Document), Column("received_at", st.UTCDateTime()),
    Column("processed_at", st.UTCDateTime()), Column("status", String(20)),
)  # fmt: skip

# (object, source id, version, 0001 status, reason)
RECORDS = [
    ("order", "1", 1, "processed", None),
    ("order", "2", 1, "needs_mapping", "no revenue mapping for SKU 'KT-1'"),
    ("order", "3", 2, "changed", None),
    ("order", "4", 1, "new", None),
    ("order", "5", 3, "not_settled", "awaiting capture"),
    ("refund", "10", 1, "processed", None),
    ("customer", "20", 1, "failed", "ERP refused: name too long"),
]
# (delivery id, object id, 0001 status)
EVENTS = [("d-1", "1", "processed"), ("d-2", "77", "ignored"), ("d-3", "4", "pending")]


def _payload(source_id: str, version: int) -> dict[str, Any]:
    return {"id": int(source_id), "v": version}


def _write_0001_records(engine: Engine) -> None:
    with engine.begin() as conn:
        for n, (obj, sid, version, status, reason) in enumerate(RECORDS, start=1):
            conn.execute(insert(OLD_RECORDS).values(
                id=n, system="bigcommerce", object=obj, source_id=sid, content_hash=record_hash(_payload(sid, version)),
                version=version, payload=_payload(sid, version), status=status, reason=reason,
                source_updated_at=T0, first_seen_at=T0, updated_at=T0,
            ))  # fmt: skip
            for v in range(1, version + 1):
                conn.execute(insert(OLD_VERSIONS).values(
                    record_id=n, version=v, content_hash=record_hash(_payload(sid, v)), payload=_payload(sid, v), seen_at=T0,
                ))  # fmt: skip


def _write_0001_inbox(engine: Engine) -> None:
    with engine.begin() as conn:
        for delivery, object_id, status in EVENTS:
            conn.execute(insert(OLD_INBOX).values(
                storefront="bigcommerce", conn_id="bigcommerce_default", delivery_id=delivery,
                topic="store/order/updated", object_type="order", object_id=object_id, payload={"id": object_id},
                received_at=T0, processed_at=None if status == "pending" else T0, status=status,
            ))  # fmt: skip


@pytest.fixture
def v1(db_url: str) -> Engine:
    """An empty database at revision 0001."""
    engine = get_engine(db_url)
    migrate(engine, "0001")
    assert current_revision(engine) == "0001"
    return engine


def _deployment_at_0001(engine: Engine, journal_factory: MakeJournal) -> StateStore:
    store = StateStore(engine)
    _write_0001_records(engine)
    _write_0001_inbox(engine)
    store.save_journals(PAIR, [journal_factory("BC0000001", order_ids=("1",))])
    store.set_watermark(PAIR, "orders", T0)
    store.set_watermark(OTHER, "orders", T0)
    store.set_customer_sync(PAIR, "20", None, "h20-1", "failed", "ERP refused")
    return store


def _statuses(store: StateStore, pair: str) -> dict[tuple[str, str], tuple[str | None, str | None, int]]:
    return {
        (obj, row.source_id): (row.status, row.reason, row.version)
        for obj in ("order", "refund", "customer")
        for row in store.records("bigcommerce", obj, store=STORE, pair=pair)
    }


def test_upgrade_keeps_every_record_status_and_event_for_every_pair(
    v1: Engine, journal_factory: MakeJournal
) -> None:
    store = _deployment_at_0001(v1, journal_factory)
    migrate(v1)
    assert current_revision(v1) == "0002"

    expected = {(obj, sid): (status, reason, version) for obj, sid, version, status, reason in RECORDS}
    for pair in (PAIR, OTHER):  # OTHER had only a watermark: it was sharing the same statuses
        assert _statuses(store, pair) == expected, pair
        todo = store.records("bigcommerce", "order", statuses=("new", "changed"), store=STORE, pair=pair)
        assert sorted(r.source_id for r in todo) == ["3", "4"], "nothing processed is processed again"
        pending = store.pending_webhook_events(pair, "bigcommerce", "bigcommerce_default")
        assert [e.delivery_id for e in pending] == ["d-3"], "drained events stay drained, pending ones pending"
    assert _statuses(store, "a_new_pair") == {
        key: ("new", None, version) for key, (_, _, version) in expected.items()
    }, "a pair that never ran starts from scratch"

    # Nothing lost: payloads, every version, journals; and the store the runtime passes finds them.
    rows = {r.source_id: r for r in store.records("bigcommerce", "order", store=STORE)}
    assert rows["3"].payload == _payload("3", 2)
    with v1.connect() as conn:
        assert conn.execute(select(func.count()).select_from(source_record_versions)).scalar() == sum(
            version for _, _, version, _, _ in RECORDS
        )
    assert store.load_journal("BC0000001", pair=PAIR).sources[0].id == "1"
    again = store.upsert_records("bigcommerce", "order", [("1", _payload("1", 1), T0)], store=STORE)
    assert (again.new, again.changed, again.unchanged) == (0, 0, 1), "the backfilled store is the extract's key"

    with v1.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": VERSION_TABLE})
        assert compare_metadata(context, metadata) == []
    migrate(v1)  # idempotent
    assert current_revision(v1) == "0002"


def test_an_empty_0001_database_upgrades_without_any_setting(v1: Engine) -> None:
    migrate(v1)
    assert current_revision(v1) == "0002"


def _refused(engine: Engine, match: str) -> None:
    with pytest.raises(RuntimeError, match=match):
        migrate(engine)
    assert current_revision(engine) == "0001", "a refused migration leaves the database as it was"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(OLD_RECORDS)).scalar() == len(RECORDS)


def test_records_without_journals_need_the_store_named(
    v1: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_0001_records(v1)
    StateStore(v1).set_watermark(PAIR, "orders", T0)
    monkeypatch.delenv("ML_CONNECTOR_MIGRATION_STORE", raising=False)
    _refused(v1, "no journal names their store: set ML_CONNECTOR_MIGRATION_STORE")
    monkeypatch.setenv("ML_CONNECTOR_MIGRATION_STORE", "abc123")
    migrate(v1)
    store = StateStore(v1)
    assert {r.source_id for r in store.records("bigcommerce", "order", store="abc123")} == {"1", "2", "3", "4", "5"}
    (one,) = store.records("bigcommerce", "order", store="abc123", source_ids=["1"], pair=PAIR)
    assert one.status == "processed"


def test_journals_of_several_stores_are_ambiguous_unless_one_is_named(
    v1: Engine, journal_factory: MakeJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _deployment_at_0001(v1, journal_factory)
    store.save_journals(OTHER, [dataclasses.replace(journal_factory("F1"), store_id="store-2", pair=OTHER)])
    monkeypatch.delenv("ML_CONNECTOR_MIGRATION_STORE", raising=False)
    _refused(v1, r"several stores \['store-1', 'store-2'\]")
    monkeypatch.setenv("ML_CONNECTOR_MIGRATION_STORE", "store-9")
    _refused(v1, "ML_CONNECTOR_MIGRATION_STORE='store-9', but the journals .* are for store")
    monkeypatch.setenv("ML_CONNECTOR_MIGRATION_STORE", "store-2")
    migrate(v1)
    assert len(list(store.records("bigcommerce", "order", store="store-2"))) == 5


def test_processed_records_without_any_pair_need_the_pairs_named(
    v1: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_0001_records(v1)
    monkeypatch.setenv("ML_CONNECTOR_MIGRATION_STORE", STORE)
    monkeypatch.delenv("ML_CONNECTOR_MIGRATION_PAIRS", raising=False)
    _refused(v1, "set ML_CONNECTOR_MIGRATION_PAIRS")
    monkeypatch.setenv("ML_CONNECTOR_MIGRATION_PAIRS", f"{PAIR}, {OTHER}")
    migrate(v1)
    store = StateStore(v1)
    for pair in (PAIR, OTHER):
        assert _statuses(store, pair)[("order", "1")] == ("processed", None, 1)
