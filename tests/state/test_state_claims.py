"""Claiming and posting: leases, attempts, outcomes, and no double claims under concurrency."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from ml_connector.core.model import Journal
from ml_connector.state import LeaseLost, StateStore
from sqlalchemy import Engine

PAIR = "bigcommerce_to_peoplesoft"
MakeJournal = Callable[..., Journal]


def _seed(store: StateStore, make: MakeJournal, count: int) -> list[str]:
    keys = [f"K{i:05d}" for i in range(count)]
    store.save_journals(PAIR, [make(k) for k in keys])
    return keys


def test_claim_returns_full_journals_and_counts_attempts(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    _seed(store, journal_factory, 5)
    first = store.claim_journals(PAIR, limit=2, worker="w1")
    assert [c.key for c in first] == ["K00000", "K00001"]
    assert all(c.attempts == 1 and c.journal.is_balanced and c.claim_token for c in first)
    second = store.claim_journals(PAIR, limit=10, worker="w2")
    assert [c.key for c in second] == ["K00002", "K00003", "K00004"]
    assert store.claim_journals(PAIR, limit=10, worker="w3") == []
    assert store.journal_status(PAIR, "K00000") == "claimed"


def test_claim_by_keys_only_takes_those(store: StateStore, journal_factory: MakeJournal) -> None:
    _seed(store, journal_factory, 5)
    claimed = store.claim_journals(PAIR, limit=10, worker="w", keys=["K00003", "K00001", "nope"])
    assert sorted(c.key for c in claimed) == ["K00001", "K00003"]


def test_expired_lease_is_claimable_again(
    store: StateStore, journal_factory: MakeJournal, clock: Any
) -> None:
    _seed(store, journal_factory, 1)
    (dead,) = store.claim_journals(PAIR, limit=1, worker="killed-task", lease_seconds=300)
    clock.advance(299)
    assert store.claim_journals(PAIR, limit=1, worker="w2") == []
    clock.advance(2)
    (again,) = store.claim_journals(PAIR, limit=1, worker="w2")
    assert (again.id, again.attempts) == (dead.id, 2)
    with pytest.raises(LeaseLost, match="another worker claimed it"):
        store.finish_posting(dead.id, status="posted", claim_token=dead.claim_token)
    store.finish_posting(again.id, status="posted", erp_document_id="D", claim_token=again.claim_token)
    assert store.journal_status(PAIR, again.key) == "posted"


def test_failed_journals_are_reclaimed_and_every_attempt_is_recorded(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    _seed(store, journal_factory, 1)
    (c1,) = store.claim_journals(PAIR, limit=1, worker="w")
    p1 = store.finish_posting(
        c1.id, status="failed", error="HTTP 503", erp="peoplesoft", run_id="r1", try_number=1
    )
    assert store.stored_journal(c1.id).last_error == "HTTP 503"
    assert store.claim_journals(PAIR, limit=1, worker="w", statuses=("ready",)) == []
    (c2,) = store.claim_journals(PAIR, limit=1, worker="w")
    p2 = store.finish_posting(
        c2.id, status="already_present", erp_document_id="JE-77", erp="peoplesoft", run_id="r1", try_number=2
    )
    stored = store.stored_journal(c2.id)
    assert (stored.status, stored.erp_document_id, stored.last_error, stored.attempts) == (
        "posted",
        "JE-77",
        None,
        2,
    )
    assert stored.posted_at is not None
    history = store.postings_for(c1.key, pair=PAIR)
    assert [(p.id, p.status, p.attempt, p.error, p.try_number) for p in history] == [
        (p1, "failed", 1, "HTTP 503", 1),
        (p2, "already_present", 2, None, 2),
    ]
    assert all(p.erp == "peoplesoft" and p.document_type == "journal" for p in history)
    assert store.claim_journals(PAIR, limit=1, worker="w") == []


def test_conflict_parks_the_journal_for_review(store: StateStore, journal_factory: MakeJournal) -> None:
    _seed(store, journal_factory, 1)
    (c,) = store.claim_journals(PAIR, limit=1, worker="w")
    store.finish_posting(c.id, status="conflict", error="ERP holds JRNL with other amounts")
    assert store.journal_status(PAIR, c.key) == "needs_review"
    assert store.claim_journals(PAIR, limit=1, worker="w") == []  # not retried blindly
    replay = store.record_posting(
        document_type="journal", document_key=c.key, pair=PAIR, erp="peoplesoft", status="dry_run",
        replay_of=store.postings_for(c.key)[0].id,
    )  # fmt: skip
    assert store.postings_for(c.key)[-1].replay_of is not None and replay


def test_release_claims_hands_back_only_that_workers_journals(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    _seed(store, journal_factory, 4)
    store.claim_journals(PAIR, limit=2, worker="w1")
    store.claim_journals(PAIR, limit=2, worker="w2")
    assert store.release_claims(PAIR, "w1") == 2
    assert sorted(c.key for c in store.claim_journals(PAIR, limit=10, worker="w3")) == ["K00000", "K00001"]


def test_unknown_outcome_is_refused(store: StateStore, journal_factory: MakeJournal) -> None:
    _seed(store, journal_factory, 1)
    (c,) = store.claim_journals(PAIR, limit=1, worker="w")
    with pytest.raises(ValueError, match="unknown status 'ok'"):
        store.finish_posting(c.id, status="ok")


def test_concurrent_claimers_never_share_a_journal(
    store: StateStore, second_engine: Engine, journal_factory: MakeJournal, clock: Any
) -> None:
    """Two workers with their own engines and connections claim small batches in a loop."""
    keys = _seed(store, journal_factory, 120)
    stores = [store, StateStore(second_engine, clock=clock)]
    claimed: dict[int, list[str]] = {0: [], 1: []}
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            while batch := stores[n].claim_journals(PAIR, limit=3, worker=f"w{n}"):
                claimed[n].extend(c.key for c in batch)
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    every_claim = claimed[0] + claimed[1]
    duplicates = [k for k, n in Counter(every_claim).items() if n > 1]
    assert duplicates == []
    assert sorted(every_claim) == keys


def test_outcome_refines_the_posting_row_and_last_posting_id_tracks_replays(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    _seed(store, journal_factory, 1)
    assert store.last_posting_id("K00000") is None
    (c,) = store.claim_journals(PAIR, limit=1, worker="w")
    first = store.finish_posting(c.id, status="posted", erp_document_id="JE1", outcome="already_present")
    assert store.journal_status(PAIR, "K00000") == "posted"
    assert store.postings_for("K00000")[0].status == "already_present"
    assert store.last_posting_id("K00000", pair=PAIR) == first
    (again,) = store.claim_journals(PAIR, limit=1, worker="w", keys=["K00000"], statuses=("ready", "posted"))
    second = store.finish_posting(again.id, status="posted", erp_document_id="JE1", replay_of=first)
    assert store.postings_for("K00000")[-1].replay_of == first
    assert store.last_posting_id("K00000") == second
    with pytest.raises(ValueError, match="unknown status"):
        store.finish_posting(again.id, status="posted", outcome="great")


def test_release_all_claims_of_a_pair(store: StateStore, journal_factory: MakeJournal) -> None:
    _seed(store, journal_factory, 3)
    store.claim_journals(PAIR, limit=1, worker="w1")
    store.claim_journals(PAIR, limit=1, worker="w2")
    assert store.release_claims(PAIR, worker=None) == 2
    assert len(store.claim_journals(PAIR, limit=10, worker="w3")) == 3
