"""Claims for runs that must take each journal once: the id cursor, releasing a replayed journal,
and the ERP document id fixed by the first attempt (DESIGN §5). SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from ml_connector.core.model import Journal
from ml_connector.state import StateStore
from sqlalchemy import Engine

PAIR = "bigcommerce_to_peoplesoft"
MakeJournal = Callable[..., Journal]


def _seed(store: StateStore, make: MakeJournal, count: int) -> list[str]:
    keys = [f"K{i:05d}" for i in range(count)]
    store.save_journals(PAIR, [make(k) for k in keys])
    return keys


def _sweep(store: StateStore, worker: str, limit: int, finish: Callable[[Any], None]) -> list[str]:
    """What the load step does: claim after the last id taken until nothing is left."""
    taken: list[str] = []
    after = 0
    while batch := store.claim_journals(PAIR, limit=limit, worker=worker, after_id=after):
        taken += [c.key for c in batch]
        for claimed in batch:
            finish(claimed)
        after = max(c.id for c in batch)
    return taken


def test_a_sweep_takes_each_journal_once_even_when_it_fails_again(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    keys = _seed(store, journal_factory, 5)
    taken = _sweep(store, "w", 2, lambda c: store.finish_posting(c.id, status="failed", error="HTTP 503"))
    assert taken == keys
    assert [store.journal_status(PAIR, k) for k in keys] == ["failed"] * 5
    assert _sweep(store, "w", 2, lambda c: store.finish_posting(c.id, status="posted", erp_document_id="D")) == keys


def test_concurrent_sweeps_never_share_a_journal(
    store: StateStore, second_engine: Engine, journal_factory: MakeJournal, clock: Any
) -> None:
    keys = _seed(store, journal_factory, 60)
    stores = [store, StateStore(second_engine, clock=clock)]
    taken: dict[int, list[str]] = {}
    barrier = threading.Barrier(2)

    def worker(n: int) -> None:
        barrier.wait()
        taken[n] = _sweep(stores[n], f"w{n}", 3, lambda c: stores[n].finish_posting(c.id, status="posted"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    every = taken[0] + taken[1]
    assert [k for k, n in Counter(every).items() if n > 1] == []
    assert sorted(every) == keys


def test_a_released_replay_of_a_posted_journal_stays_posted(store: StateStore, journal_factory: MakeJournal) -> None:
    posted, fresh = _seed(store, journal_factory, 2)
    (first,) = store.claim_journals(PAIR, limit=1, worker="w", keys=[posted])
    store.finish_posting(first.id, status="posted", erp_document_id="ECS1")
    taken = store.claim_journals(PAIR, limit=2, worker="replay", keys=[posted, fresh], statuses=("ready", "posted"))
    assert len(taken) == 2
    assert store.release_claims(PAIR, worker="replay") == 2
    assert [store.journal_status(PAIR, k) for k in (posted, fresh)] == ["posted", "ready"]


def test_the_first_document_id_stored_wins(store: StateStore, journal_factory: MakeJournal) -> None:
    _seed(store, journal_factory, 2)
    first, second = store.claim_journals(PAIR, limit=2, worker="w")
    assert store.fix_document_ids({first.id: "ECS1", second.id: "ECS2"}) == {first.id: "ECS1", second.id: "ECS2"}
    assert store.fix_document_ids({first.id: "XYS1"}) == {first.id: "ECS1"}
    store.finish_posting(first.id, status="failed", error="answer lost")
    assert store.stored_journal(first.id).erp_document_id == "ECS1"
    assert store.fix_document_ids({}) == {}
