"""``StateStore``: the one way the rest of ml-connector reads and writes its own database.

Each area lives in its own module (records, journals, claims, bookkeeping, audit); this class
only puts them together. Everything is plain SQLAlchemy Core and works on SQLite and PostgreSQL.
"""

from __future__ import annotations

from ml_connector.state._base import Clock, utc_now
from ml_connector.state.audit_sink import AuditStore, StateAudit
from ml_connector.state.bookkeeping import CustomerSyncStore, InboxStore, WatermarkStore
from ml_connector.state.claims import ClaimStore
from ml_connector.state.db import get_engine, migrate
from ml_connector.state.journals import JournalStore
from ml_connector.state.records import RecordStore
from ml_connector.state.summary import SummaryStore


class StateStore(
    RecordStore, JournalStore, ClaimStore, WatermarkStore, InboxStore, CustomerSyncStore, AuditStore, SummaryStore
):
    """See the mixins for each method; construct with an engine from ``state.db.get_engine``."""

    def audit(self, flush_every: int = 200) -> StateAudit:
        """A buffered ``AuditSink`` writing into this store."""
        return StateAudit(self, flush_every=flush_every)


def open_store(url: str | None = None, *, clock: Clock = utc_now) -> StateStore:
    """Engine for ``url`` (default: ``state_url()``), schema migrated to head, store ready.

    Cheap to call at every task start: the engine is cached and the migration is a no-op when current.
    """
    engine = get_engine(url)
    migrate(engine)
    return StateStore(engine, clock=clock)
