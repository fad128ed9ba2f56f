"""Idempotent posting to PeopleSoft: journals, customers, and the read-back for reconciliation.

The rule everywhere: a document is created only after PeopleSoft has said its key is absent,
either by a Get or by refusing the Create with a duplicate-key fault. A Create that failed in
transit (timeout, reset) may have committed, so it is followed by a Get, never by a blind Create.
An existing document with different content is never overwritten: it is reported as a
``conflict`` for a person to review.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from ml_connector.core.model import Customer, Journal
from ml_connector.errors import DuplicateKey, ExternalError, NotFound, TransientError
from ml_connector.http import RetryPolicy

from .faults import SYSTEM
from .hook import DEFAULT_MAXROWS
from .keys import cust_id_for, journal_id_for
from .payload import (
    ReadBackLine,
    customer_changes,
    customer_to_ci,
    journal_differences,
    journal_to_ci,
    readback_line_from_row,
)

CREATE_RETRY = RetryPolicy(max_attempts=4, base_delay=0.5, max_delay=8.0, jitter=0.5, total_budget=120.0)
_rng = random.Random()


class CIHook(Protocol):
    """What the poster needs from ``PeopleSoftHook`` (a fake in unit tests)."""

    journal_service: str
    customer_service: str

    def create(self, service: str, **buffer: Any) -> dict[str, Any]: ...
    def get(self, service: str, **keys: Any) -> dict[str, Any]: ...
    def update_data(self, service: str, **buffer: Any) -> dict[str, Any]: ...
    def execute_query(self, query: str, prompts: dict[str, str], maxrows: int = ...) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class PostResult:
    status: Literal["posted", "already_present", "conflict"]
    journal_id: str
    detail: str = ""


@dataclass(frozen=True)
class UpsertResult:
    status: Literal["created", "updated", "unchanged", "guest"]
    cust_id: str
    changed_fields: tuple[str, ...] = ()


# -- the create protocol shared by journals and customers --------------------------------------


def _lookup(hook: CIHook, service: str, keys: dict[str, Any]) -> dict[str, Any] | None:
    try:
        return hook.get(service, **keys)
    except NotFound:
        return None


def create_if_absent(hook: CIHook, service: str, buffer: dict[str, Any], keys: dict[str, Any], *,
                     policy: RetryPolicy = CREATE_RETRY, sleep: Callable[[float], None] = time.sleep,
                     ) -> tuple[Literal["created", "exists", "created_unconfirmed"], dict[str, Any] | None]:
    """Create ``buffer``; returns ("created", None) or ("exists", stored buffer).

    After a transient failure of the Create (its answer lost, maybe committed) the loop is
    Get -> Create-if-absent, bounded by ``policy``; finding the document then means our own
    Create committed ("created_unconfirmed", stored), unless the caller's comparison says otherwise.
    """
    lost_answer = False
    for attempt in range(1, policy.max_attempts + 1):
        try:
            hook.create(service, **buffer)
            return "created", None
        except DuplicateKey:
            stored = _lookup(hook, service, keys)
            if stored is None:
                raise ExternalError(SYSTEM, f"{service}: Create said the key {keys} exists, but Get finds no row") from None
            return ("created_unconfirmed" if lost_answer else "exists"), stored
        except TransientError:
            if attempt >= policy.max_attempts:
                raise
            lost_answer = True
            sleep(policy.backoff(attempt, _rng))
            stored = _lookup(hook, service, keys)
            if stored is not None:
                return "created_unconfirmed", stored
    raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


# -- journals ------------------------------------------------------------------------------------


def _journal_keys(buffer: dict[str, Any]) -> dict[str, Any]:
    return {k: buffer[k] for k in ("BUSINESS_UNIT", "JOURNAL_ID", "JOURNAL_DATE")}


def _compare(buffer: dict[str, Any], stored: dict[str, Any], journal_id: str, *, ours: bool) -> PostResult:
    diffs = journal_differences(buffer, stored)
    if diffs:
        return PostResult("conflict", journal_id, f"{journal_id} exists in PeopleSoft with different content: " + "; ".join(diffs[:6]))
    if ours:
        return PostResult("posted", journal_id, "created; the answer was lost in transit and a Get confirmed it")
    return PostResult("already_present", journal_id, f"{journal_id} already in PeopleSoft with the same lines")


def post_journal(hook: CIHook, journal: Journal, *, prefix: str = "EC", lookup_first: bool = True,
                 journal_id: str | None = None, policy: RetryPolicy = CREATE_RETRY,
                 sleep: Callable[[float], None] = time.sleep) -> PostResult:
    """Post ``journal`` exactly once under its deterministic JOURNAL_ID.

    ``journal_id`` is the id stored at the first attempt: retries and replays pass it, so the key
    does not move when ``prefix`` (a connection setting) changes between attempts. Without it the
    id is derived from the journal and ``prefix``.
    ``lookup_first=False`` skips the initial Get for a journal never attempted before (the load step
    passes ``attempts > 1``): the duplicate-key fault still protects, and one round trip is saved.
    """
    journal_id = journal_id or journal_id_for(journal, prefix)
    buffer = journal_to_ci(journal, journal_id=journal_id)
    keys = _journal_keys(buffer)
    service = hook.journal_service
    if lookup_first:
        stored = _lookup(hook, service, keys)
        if stored is not None:
            return _compare(buffer, stored, journal_id, ours=False)
    outcome, stored = create_if_absent(hook, service, buffer, keys, policy=policy, sleep=sleep)
    if outcome == "created":
        return PostResult("posted", journal_id, f"created {journal_id} ({len(buffer['JRNL_LN'])} lines)")
    assert stored is not None
    return _compare(buffer, stored, journal_id, ours=outcome == "created_unconfirmed")


# -- customers -----------------------------------------------------------------------------------


def upsert_customer(hook: CIHook, customer: Customer | None, *, setid: str, prefix: str | None = None,
                    generic_customer_id: str = "GUEST", policy: RetryPolicy = CREATE_RETRY,
                    sleep: Callable[[float], None] = time.sleep) -> UpsertResult:
    """Create the customer if absent, else update only what changed; guests map to the generic customer."""
    if customer is None:
        return UpsertResult("guest", generic_customer_id)
    cust_id = cust_id_for(customer, prefix)
    buffer = customer_to_ci(customer, setid=setid, cust_id=cust_id)
    keys = {"SETID": buffer["SETID"], "CUST_ID": cust_id}
    service = hook.customer_service
    created_fields = tuple(k for k in buffer if k not in keys)
    outcome = "exists"
    stored = _lookup(hook, service, keys)
    if stored is None:
        outcome, stored = create_if_absent(hook, service, buffer, keys, policy=policy, sleep=sleep)
        if outcome == "created":
            return UpsertResult("created", cust_id, created_fields)
        assert stored is not None
    changes = customer_changes(buffer, stored)
    if not changes:
        return UpsertResult("created", cust_id, created_fields) if outcome == "created_unconfirmed" else UpsertResult("unchanged", cust_id)
    hook.update_data(service, **keys, **changes)
    return UpsertResult("updated", cust_id, tuple(sorted(changes)))


# -- read-back -------------------------------------------------------------------------------------


def read_back(hook: CIHook, *, business_unit: str, source: str, date_from: dt.date, date_to: dt.date,
              query: str = "ML_JRNL_LINES", maxrows: int = DEFAULT_MAXROWS) -> list[ReadBackLine]:
    """Posted journal lines for a BU, source and inclusive date range, via Query Access Services.

    A result that fills ``maxrows`` may be truncated, so the range is split in halves until each
    part fits; one day that still does not fit is an error (raise ``maxrows``).
    """
    if date_to < date_from:
        raise ValueError(f"read_back: date_to {date_to} is before date_from {date_from}")
    prompts = {"BUSINESS_UNIT": business_unit, "SOURCE": source,
               "FROM_DATE": date_from.isoformat(), "TO_DATE": date_to.isoformat()}
    rows = hook.execute_query(query, prompts, maxrows)
    if len(rows) < maxrows:
        return [readback_line_from_row(r) for r in rows]
    if date_from == date_to:
        raise ExternalError(SYSTEM, f"query {query}: {date_from} has at least {maxrows} lines for {business_unit}/{source}; raise maxrows")
    middle = date_from + (date_to - date_from) // 2
    return (read_back(hook, business_unit=business_unit, source=source, date_from=date_from, date_to=middle, query=query, maxrows=maxrows)
            + read_back(hook, business_unit=business_unit, source=source, date_from=middle + dt.timedelta(days=1),
                        date_to=date_to, query=query, maxrows=maxrows))
