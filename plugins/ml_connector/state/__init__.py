"""The connector's own database: records, journals, postings, audit, watermarks, webhook inbox.

Other code uses ``open_store()`` (or ``StateStore(get_engine(url))``) and nothing else from here.
"""

from ml_connector.state.audit_sink import StateAudit
from ml_connector.state.db import get_engine, migrate, state_url
from ml_connector.state.hashing import journal_content_hash, record_hash
from ml_connector.state.rows import (
    ClaimedJournal,
    CustomerSync,
    JournalConflict,
    JournalNotFound,
    LeaseLost,
    PostingRow,
    RecordRow,
    SaveResult,
    StateError,
    StoredJournal,
    UpsertResult,
    WebhookEvent,
)
from ml_connector.state.store import StateStore, open_store

__all__ = [
    "ClaimedJournal",
    "CustomerSync",
    "JournalConflict",
    "JournalNotFound",
    "LeaseLost",
    "PostingRow",
    "RecordRow",
    "SaveResult",
    "StateAudit",
    "StateError",
    "StateStore",
    "StoredJournal",
    "UpsertResult",
    "WebhookEvent",
    "get_engine",
    "journal_content_hash",
    "migrate",
    "open_store",
    "record_hash",
    "state_url",
]
