"""What the state store hands back: small immutable values, never ORM objects or open cursors."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ml_connector.core.model import Journal


class StateError(Exception):
    """Base class for state-store errors a caller may want to handle."""


class JournalNotFound(StateError, LookupError):
    """No journal with that id or key."""


class LeaseLost(StateError):
    """A worker finished a journal it no longer holds (its lease expired and another worker claimed it)."""


@dataclass(frozen=True, slots=True)
class UpsertResult:
    new: int
    changed: int
    unchanged: int
    ids: tuple[int, ...] = ()  # record ids of the new and changed records: what needs processing
    source_ids: tuple[str, ...] = ()  # the same records by source id


@dataclass(frozen=True, slots=True)
class RecordRow:
    id: int
    source_id: str
    payload: dict[str, Any]  # numbers come back as Decimal, timestamps as ISO strings
    status: str | None  # for the pair the records were read for (None when read without a pair)
    reason: str | None
    version: int
    content_hash: str
    source_updated_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class JournalConflict:
    """A posted journal whose content changed since: the caller books a reversal or an adjustment."""

    key: str
    journal_id: int
    status: str
    stored_hash: str
    new_hash: str


@dataclass(frozen=True, slots=True)
class SaveResult:
    inserted: tuple[str, ...] = ()  # keys
    replaced: tuple[str, ...] = ()  # content changed before posting: lines replaced, status reset
    unchanged: tuple[str, ...] = ()
    conflicts: tuple[JournalConflict, ...] = ()  # already posted with other content: not touched
    in_flight: tuple[str, ...] = ()  # claimed by a worker right now: not touched, save again later
    ids: dict[str, int] = field(default_factory=dict)  # key -> journal id for every key in the call


@dataclass(frozen=True, slots=True)
class StoredJournal:
    """A journal with its lifecycle in the store."""

    id: int
    key: str
    status: str
    attempts: int
    erp_document_id: str | None
    last_error: str | None
    posted_at: dt.datetime | None
    journal: Journal


@dataclass(frozen=True, slots=True)
class ClaimedJournal:
    id: int
    key: str
    attempts: int  # including this claim
    journal: Journal
    claim_token: str = ""  # pass to finish_posting to detect a lost lease


@dataclass(frozen=True, slots=True)
class PostingRow:
    id: int
    document_type: str
    document_key: str
    pair: str
    erp: str
    attempt: int
    status: str
    erp_document_id: str | None
    error: str | None
    started_at: dt.datetime
    finished_at: dt.datetime
    replay_of: int | None
    run_id: str | None
    try_number: int | None


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    id: int
    storefront: str
    conn_id: str
    delivery_id: str
    topic: str
    object_type: str
    object_id: str
    payload: dict[str, Any]
    received_at: dt.datetime


@dataclass(frozen=True, slots=True)
class CustomerSync:
    pair: str
    customer_source_id: str
    erp_customer_id: str | None
    content_hash: str
    status: str
    last_error: str | None
    updated_at: dt.datetime
