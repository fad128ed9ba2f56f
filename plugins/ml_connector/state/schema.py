"""The state database's tables (SQLAlchemy Core), the single source of truth for queries.

Migrations under ``migrations/versions`` create exactly these tables; a test compares the
migrated database with this metadata so the two cannot drift.
"""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from ml_connector.state.types import Document, Id, Money, Rate, UTCDateTime

# What a pair did with a source record. "new" (no row for the pair) and "changed" (the record's
# version is newer than the one the pair processed) are derived when reading, never stored by a
# normal run; "failed": sending the record failed (e.g. a customer the ERP rejected), retried next run.
RECORD_STATUSES = (
    "new",
    "changed",
    "processed",
    "needs_mapping",
    "needs_review",
    "not_settled",
    "skipped",
    "failed",
)
PARKED_STATUSES = ("needs_mapping", "needs_review")
# "detail": a per-order journal kept only as the detail of a daily summary (never posted itself);
# "summarised": a detail already rolled into its daily journal.
JOURNAL_STATUSES = (
    "ready",
    "claimed",
    "posted",
    "failed",
    "needs_review",
    "dry_run",
    "superseded",
    "detail",
    "summarised",
)
POSTING_STATUSES = ("posted", "already_present", "failed", "conflict", "dry_run")
# "pending" is derived too: an inbox event without a ``webhook_consumed`` row for the pair.
WEBHOOK_STATUSES = ("pending", "processed", "ignored")
CONSUMED_STATUSES = ("processed", "ignored")

# Alembic's bookkeeping table; not "alembic_version", so the store can share a database
# (even Airflow's own metadata database) without clashing with another Alembic history.
VERSION_TABLE = "mlc_alembic_version"

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


def _status_check(values: tuple[str, ...]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _status_in(values: tuple[str, ...]) -> CheckConstraint:
    return CheckConstraint(_status_check(values), name="status")


def _cascade_fk(target: str) -> ForeignKey:
    return ForeignKey(target, ondelete="CASCADE")


# One row per record of one store, shared by every pair reading that store: what the store sent,
# never what a pair did with it (that is ``record_status``). ``store`` is the storefront's store id
# (BigCommerce store hash...), so two stores with the same order ids do not collide.
source_records = Table(
    "source_records",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("system", String(40), nullable=False),
    Column("store", String(100), nullable=False),
    Column("object", String(40), nullable=False),
    Column("source_id", String(255), nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("payload", Document, nullable=False),
    Column("source_updated_at", UTCDateTime),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("system", "store", "object", "source_id"),
)

source_record_versions = Table(
    "source_record_versions",
    metadata,
    Column("record_id", Id, _cascade_fk("source_records.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("payload", Document, nullable=False),
    Column("seen_at", UTCDateTime, nullable=False),
)

# What one pair did with one record, at which version. No row: the record is new for the pair;
# ``processed_version`` older than the record's version: changed since (see records.py).
record_status = Table(
    "record_status",
    metadata,
    Column("pair", String(100), primary_key=True),
    Column("record_id", Id, _cascade_fk("source_records.id"), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("reason", Text),
    Column("processed_version", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    _status_in(RECORD_STATUSES),
)

journals = Table(
    "journals",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("pair", String(100), nullable=False),
    Column("key", String(100), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("store_id", String(100), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("base_currency", String(3), nullable=False),
    Column("fx_rate", Rate(), nullable=False),
    Column("posting_date", Date, nullable=False),
    Column("description", Text, nullable=False),
    Column("header", Document, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("erp_document_id", String(255)),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("claim_token", String(64)),
    Column("claimed_by", String(255)),
    Column("claimed_at", UTCDateTime),
    Column("lease_expires_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("posted_at", UTCDateTime),
    UniqueConstraint("pair", "key"),
    Index(None, "pair", "status"),
    Index(None, "pair", "posting_date"),
    _status_in(JOURNAL_STATUSES),
)

journal_lines = Table(
    "journal_lines",
    metadata,
    Column("journal_id", Id, _cascade_fk("journals.id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("role", String(60), nullable=False),
    Column("dims", Document, nullable=False),
    Column("amount", Money(), nullable=False),
    Column("base_amount", Money(), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("description", Text, nullable=False),
    Column("reference", String(255), nullable=False),
)

journal_sources = Table(
    "journal_sources",
    metadata,
    Column("journal_id", Id, _cascade_fk("journals.id"), primary_key=True),
    Column("system", String(40), primary_key=True),
    Column("object", String(40), primary_key=True),
    Column("source_id", String(255), primary_key=True),
    Column("position", Integer, nullable=False),  # keeps Journal.sources in the caller's order
    Index(None, "system", "object", "source_id"),
)

postings = Table(
    "postings",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("document_type", String(20), nullable=False),
    Column("document_key", String(100), nullable=False),
    Column("pair", String(100), nullable=False),
    Column("erp", String(40), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", String(20), nullable=False),
    Column("erp_document_id", String(255)),
    Column("error", Text),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime, nullable=False),
    Column("replay_of", Id, ForeignKey("postings.id")),
    Column("run_id", String(255)),
    Column("try_number", Integer),
    Index(None, "pair", "document_key"),
    _status_in(POSTING_STATUSES),
)

audit_exchanges = Table(
    "audit_exchanges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("system", String(40), nullable=False),
    Column("method", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("status", Integer),
    Column("request_headers", Document, nullable=False),
    Column("request_body", Text),
    Column("response_headers", Document, nullable=False),
    Column("response_body", Text),
    Column("duration_ms", Float, nullable=False),
    Column("error", Text),
    Column("attempt", Integer, nullable=False),
    Column("correlation", String(255)),
    Column("started_at", UTCDateTime, nullable=False),
    Index(None, "correlation"),
    Index(None, "started_at"),
)

watermarks = Table(
    "watermarks",
    metadata,
    Column("pair", String(100), primary_key=True),
    Column("stream", String(100), primary_key=True),
    Column("value", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Written once by the receiver, read by every pair on that storefront connection.
webhook_inbox = Table(
    "webhook_inbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("storefront", String(40), nullable=False),
    Column("conn_id", String(250), nullable=False),
    Column("delivery_id", String(255), nullable=False),
    Column("topic", String(100), nullable=False),
    Column("object_type", String(40), nullable=False),
    Column("object_id", String(255), nullable=False),
    Column("payload", Document, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    UniqueConstraint("storefront", "conn_id", "delivery_id"),
)

# Which inbox events a pair has drained: one row per (pair, event), so each pair drains each
# event once. A row per event rather than a per-pair cursor on the inbox id, because ids from
# concurrent receivers do not commit in id order and a cursor would skip the late ones.
webhook_consumed = Table(
    "webhook_consumed",
    metadata,
    Column("pair", String(100), primary_key=True),
    Column("event_id", Id, _cascade_fk("webhook_inbox.id"), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("processed_at", UTCDateTime, nullable=False),
    _status_in(CONSUMED_STATUSES),
)

customer_sync = Table(
    "customer_sync",
    metadata,
    Column("pair", String(100), primary_key=True),
    Column("customer_source_id", String(255), primary_key=True),
    Column("erp_customer_id", String(255)),
    Column("content_hash", String(64), nullable=False),
    Column("status", String(20), nullable=False),
    Column("last_error", Text),
    Column("updated_at", UTCDateTime, nullable=False),
)
