"""The persistent audit sink: buffered, thread-safe, bounded, readable by correlation."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from ml_connector.audit import Exchange
from ml_connector.state import StateAudit, StateStore
from ml_connector.state.schema import audit_exchanges
from sqlalchemy import Engine, func, select

T0 = dt.datetime(2025, 3, 1, 10, 0, tzinfo=dt.UTC)


def _exchange(n: int, correlation: str | None = "journal:K1", **extra: Any) -> Exchange:
    return Exchange(
        system="peoplesoft",
        method="POST",
        url="https://erp.example/PSIGW/JOURNAL_ENTRY_CI",
        started_at=T0 + dt.timedelta(seconds=n),
        duration_ms=12.5,
        status=200,
        request_headers={"Content-Type": "text/xml", "Authorization": "***"},
        request_body=f"<req n='{n}'/>",
        response_headers={"Content-Type": "text/xml"},
        response_body="<ok/>",
        attempt=1,
        correlation=correlation,
        **extra,
    )


def _stored(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(audit_exchanges)).scalar_one()


def test_exchanges_are_buffered_and_written_in_batches(store: StateStore, engine: Engine) -> None:
    sink = store.audit(flush_every=5)
    for n in range(4):
        sink.record(_exchange(n))
    assert (_stored(engine), sink.pending) == (0, 4)
    sink.record(_exchange(4))
    assert (_stored(engine), sink.pending) == (5, 0)
    sink.record(_exchange(5))
    assert sink.flush() == 1
    assert sink.flush() == 0
    assert _stored(engine) == 6


def test_leaving_the_context_flushes_the_tail(store: StateStore, engine: Engine) -> None:
    with StateAudit(store, flush_every=200) as sink:
        for n in range(3):
            sink.record(_exchange(n))
        assert _stored(engine) == 0
    assert _stored(engine) == 3


def test_audit_for_returns_the_exchanges_of_one_document_in_order(store: StateStore) -> None:
    with store.audit() as sink:
        for n in (2, 0, 1):
            sink.record(_exchange(n))
        sink.record(_exchange(9, correlation="journal:OTHER"))
        sink.record(_exchange(10, correlation=None))
    found = store.audit_for("journal:K1")
    assert [e.request_body for e in found] == ["<req n='0'/>", "<req n='1'/>", "<req n='2'/>"]
    assert found[0] == _exchange(0)


def test_huge_bodies_are_truncated(store: StateStore) -> None:
    with store.audit() as sink:
        sink.record(_exchange(0))
        big = _exchange(1)
        big.response_body = "y" * 100_000
        sink.record(big)
    stored = store.audit_for("journal:K1")[1]
    assert stored.response_body is not None
    assert len(stored.response_body) < 70_000 and stored.response_body.endswith("chars]")


def test_concurrent_recorders_lose_nothing(store: StateStore, engine: Engine) -> None:
    sink = store.audit(flush_every=7)

    def record_many(worker: int) -> None:
        for n in range(50):
            sink.record(_exchange(n, correlation=f"w{worker}"))

    threads = [threading.Thread(target=record_many, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    sink.flush()
    assert _stored(engine) == 200
    assert all(len(store.audit_for(f"w{w}")) == 50 for w in range(4))


def test_failed_flush_keeps_the_rows_for_the_next_try() -> None:
    class FlakyStore:
        def __init__(self) -> None:
            self.calls = 0
            self.rows: list[dict[str, Any]] = []

        def insert_exchanges(self, rows: list[dict[str, Any]]) -> None:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("database went away")
            self.rows.extend(rows)

    flaky = FlakyStore()
    sink = StateAudit(flaky, flush_every=100)
    sink.record(_exchange(0))
    sink.record(_exchange(1))
    with pytest.raises(ConnectionError):
        sink.flush()
    assert sink.pending == 2
    assert sink.flush() == 2
    assert [r["request_body"] for r in flaky.rows] == ["<req n='0'/>", "<req n='1'/>"]


def test_naive_exchange_time_fails_at_record_time(store: StateStore) -> None:
    bad = _exchange(0)
    bad.started_at = dt.datetime(2025, 3, 1)  # noqa: DTZ001
    with pytest.raises(ValueError, match="audit exchange peoplesoft POST .*naive"):
        store.audit().record(bad)
