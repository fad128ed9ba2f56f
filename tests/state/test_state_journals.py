"""Journals: idempotent save by key, conflicts, faithful reload, period queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from ml_connector.core.model import Journal
from ml_connector.state import JournalNotFound, StateStore, journal_content_hash

PAIR = "bigcommerce_to_peoplesoft"
MakeJournal = Callable[..., Journal]


def test_saved_journal_reloads_equal_to_the_original(store: StateStore, journal_factory: MakeJournal) -> None:
    journal = journal_factory("BC0000001", "1234.5", order_ids=("100", "101", "100"))
    result = store.save_journals(PAIR, [journal])
    assert result.inserted == ("BC0000001",)
    loaded = store.load_journal("BC0000001", pair=PAIR)
    expected_sources = journal.sources[:2]  # a source is recorded once, in first-seen order
    assert loaded == Journal(
        **{**{f: getattr(journal, f) for f in journal.__slots__}, "sources": expected_sources}
    )
    assert loaded.lines[0].amount == Decimal("1234.5") and isinstance(loaded.lines[0].amount, Decimal)
    assert loaded.fx_rate == Decimal("1.0834")
    assert loaded.is_balanced
    assert journal_content_hash(loaded) == journal_content_hash(journal)
    assert store.load_journal(result.ids["BC0000001"]) == loaded
    assert store.journal_status(PAIR, "BC0000001") == "ready"


def test_saving_the_same_journal_again_is_a_no_op(store: StateStore, journal_factory: MakeJournal) -> None:
    first = store.save_journals(PAIR, [journal_factory("K1"), journal_factory("K2")])
    again = store.save_journals(PAIR, [journal_factory("K1"), journal_factory("K2")])
    assert again.inserted == () and sorted(again.unchanged) == ["K1", "K2"]
    assert again.ids == first.ids


def test_changed_draft_is_replaced_and_made_ready(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    saved = store.save_journals(PAIR, [journal_factory("K1", "10.00")])
    result = store.save_journals(PAIR, [journal_factory("K1", "15.00", order_ids=("100", "200"))])
    assert result.replaced == ("K1",) and result.ids["K1"] == saved.ids["K1"]
    stored = store.stored_journal("K1", PAIR)
    assert (stored.status, stored.last_error) == ("ready", None)
    assert [ln.amount for ln in stored.journal.lines] == [Decimal("15.00"), Decimal("-15.00")]
    assert [s.id for s in stored.journal.sources] == ["100", "200"]


def test_changed_journal_that_was_attempted_is_a_conflict_never_rewritten(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    """A failed attempt may have reached the ERP (lost answer): its content, key and date are fixed."""
    store.save_journals(PAIR, [journal_factory("K1", "10.00")])
    (claimed,) = store.claim_journals(PAIR, limit=1, worker="w1")
    store.finish_posting(claimed.id, status="failed", error="ERP timeout")
    result = store.save_journals(PAIR, [journal_factory("K1", "15.00")])
    assert [c.key for c in result.conflicts] == ["K1"] and not result.replaced
    stored = store.stored_journal("K1", PAIR)
    assert stored.status == "failed" and stored.journal.lines[0].amount == Decimal("10.00")


def test_changed_posted_journal_is_reported_as_conflict_and_left_alone(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    store.save_journals(PAIR, [journal_factory("K1", "10.00")])
    (claimed,) = store.claim_journals(PAIR, limit=1, worker="w1")
    store.finish_posting(claimed.id, status="posted", erp_document_id="JRNL-1")
    changed = journal_factory("K1", "12.00")
    result = store.save_journals(PAIR, [changed])
    (conflict,) = result.conflicts
    assert (conflict.key, conflict.status, conflict.new_hash) == (
        "K1",
        "posted",
        journal_content_hash(changed),
    )
    stored = store.stored_journal("K1", PAIR)
    assert stored.status == "posted" and stored.erp_document_id == "JRNL-1"
    assert stored.journal.lines[0].amount == Decimal("10.00")


def test_journal_being_posted_is_not_rewritten(store: StateStore, journal_factory: MakeJournal) -> None:
    store.save_journals(PAIR, [journal_factory("K1", "10.00")])
    store.claim_journals(PAIR, limit=1, worker="w1")
    result = store.save_journals(PAIR, [journal_factory("K1", "99.00")])
    assert result.in_flight == ("K1",) and result.conflicts == ()
    assert store.load_journal("K1", PAIR).lines[0].amount == Decimal("10.00")


def test_dry_run_journal_becomes_ready_when_saved_for_real(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    store.save_journals(PAIR, [journal_factory("K1")], status="dry_run")
    assert store.journal_status(PAIR, "K1") == "dry_run"
    assert store.claim_journals(PAIR, limit=5, worker="w") == []
    store.save_journals(PAIR, [journal_factory("K1")])
    assert store.journal_status(PAIR, "K1") == "ready"


def test_cosmetic_differences_do_not_count_as_changes(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    store.save_journals(PAIR, [journal_factory("K1", "10.00", description="Order")])
    result = store.save_journals(PAIR, [journal_factory("K1", "10.0000", description="Sale")])
    assert result.unchanged == ("K1",)


def test_same_key_in_two_pairs_are_two_journals(store: StateStore, journal_factory: MakeJournal) -> None:
    store.save_journals(PAIR, [journal_factory("K1", "1.00")])
    store.save_journals("bigcommerce_to_jde", [journal_factory("K1", "2.00", pair="bigcommerce_to_jde")])
    assert store.load_journal("K1", "bigcommerce_to_jde").lines[0].amount == Decimal("2.00")
    with pytest.raises(JournalNotFound, match="several pairs"):
        store.load_journal("K1")


def test_invalid_saves_say_what_is_wrong(store: StateStore, journal_factory: MakeJournal) -> None:
    with pytest.raises(ValueError, match="saved under pair"):
        store.save_journals("other_pair", [journal_factory("K1")])
    with pytest.raises(ValueError, match="appears twice"):
        store.save_journals(PAIR, [journal_factory("K1", "1.00"), journal_factory("K1", "2.00")])
    with pytest.raises(ValueError, match="unknown status"):
        store.save_journals(PAIR, [journal_factory("K1")], status="posted")
    with pytest.raises(JournalNotFound):
        store.load_journal("missing", PAIR)


def test_journals_between_is_inclusive_and_filters_status(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    days = [
        dt.date(2025, 2, 28),
        dt.date(2025, 3, 1),
        dt.date(2025, 3, 15),
        dt.date(2025, 3, 31),
        dt.date(2025, 4, 1),
    ]
    store.save_journals(PAIR, [journal_factory(f"K{d.isoformat()}", posting_date=d) for d in days])
    (claimed, *_) = store.claim_journals(PAIR, limit=1, worker="w", keys=["K2025-03-15"])
    store.finish_posting(claimed.id, status="posted", erp_document_id="D1")
    march = list(store.journals_between(PAIR, dt.date(2025, 3, 1), dt.date(2025, 3, 31), batch_size=2))
    assert [s.key for s in march] == ["K2025-03-01", "K2025-03-15", "K2025-03-31"]
    posted = list(
        store.journals_between(PAIR, dt.date(2025, 3, 1), dt.date(2025, 3, 31), statuses=["posted"])
    )
    assert [(s.key, s.status, s.erp_document_id) for s in posted] == [("K2025-03-15", "posted", "D1")]
    assert posted[0].journal.lines[1].amount == Decimal("-10.00")


def test_which_journal_holds_an_order(store: StateStore, journal_factory: MakeJournal) -> None:
    store.save_journals(PAIR, [journal_factory("DAILY-1", order_ids=("1", "2", "3")), journal_factory("K9")])
    assert store.journals_for_source("bigcommerce", "order", "2") == [(PAIR, "DAILY-1", "ready")]


def test_daily_detail_journals_are_summarised_and_never_claimed(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    store.save_journals(
        PAIR, [journal_factory("D1", order_ids=("1",)), journal_factory("D2", order_ids=("2",))], "detail"
    )
    assert store.claim_journals(PAIR, limit=10, worker="w") == []
    details = list(store.journals_with_status(PAIR, "detail", batch_size=1))
    assert [j.key for j in details] == ["D1", "D2"] and all(isinstance(j, Journal) for j in details)
    store.save_journals(PAIR, [journal_factory("DAY-2025-03-01", "20.00", order_ids=("1", "2"))])
    assert store.set_journal_status(PAIR, ["D1", "D2"], "summarised") == 2
    assert store.journal_keys_with_status(PAIR, ["summarised"]) == ["D1", "D2"]
    assert sorted(store.journal_keys_for_source(PAIR, "bigcommerce", "order", "1")) == [
        "D1",
        "DAY-2025-03-01",
    ]
    assert store.journal_keys_for_source("other_pair", "bigcommerce", "order", "1") == []


def test_set_status_and_supersede_never_touch_posted_journals(
    store: StateStore, journal_factory: MakeJournal
) -> None:
    store.save_journals(PAIR, [journal_factory("K1"), journal_factory("K2")])
    (claimed, *_) = store.claim_journals(PAIR, limit=1, worker="w", keys=["K1"])
    store.finish_posting(claimed.id, status="posted")
    assert store.supersede_journal(PAIR, "K1", "order cancelled") is False
    assert store.supersede_journal(PAIR, "K2", "order cancelled") is True
    assert store.stored_journal("K2", PAIR).last_error == "order cancelled"
    assert store.journal_status(PAIR, "K2") == "superseded"
    assert store.set_journal_status(PAIR, ["K1", "K2"], "ready") == 1
    assert store.journal_status(PAIR, "K1") == "posted"
    with pytest.raises(ValueError, match="unknown status"):
        store.set_journal_status(PAIR, ["K2"], "posted")
