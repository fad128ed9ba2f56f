"""Initial state store: records, journals, postings, audit, watermarks, webhook inbox, customers.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from ml_connector.state import types as st

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _status(table: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"status IN ({allowed})", name=f"ck_{table}_status")


def _created(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, st.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "source_records",
        sa.Column("id", st.Id, primary_key=True, autoincrement=True),
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("object", sa.String(40), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("payload", st.Document, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text()),
        _created("source_updated_at", nullable=True),
        _created("first_seen_at"),
        _created("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_source_records"),
        sa.UniqueConstraint(
            "system", "object", "source_id", name="uq_source_records_system_object_source_id"
        ),
        _status(
            "source_records",
            (
                "new",
                "changed",
                "processed",
                "needs_mapping",
                "needs_review",
                "not_settled",
                "skipped",
                "failed",
            ),
        ),
    )
    op.create_index(
        "ix_source_records_system_object_status", "source_records", ["system", "object", "status"]
    )

    op.create_table(
        "source_record_versions",
        sa.Column("record_id", st.Id, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("payload", st.Document, nullable=False),
        _created("seen_at"),
        sa.PrimaryKeyConstraint("record_id", "version", name="pk_source_record_versions"),
        sa.ForeignKeyConstraint(
            ["record_id"],
            ["source_records.id"],
            name="fk_source_record_versions_record_id_source_records",
            ondelete="CASCADE",
        ),
    )

    op.create_table(
        "journals",
        sa.Column("id", st.Id, primary_key=True, autoincrement=True),
        sa.Column("pair", sa.String(100), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("store_id", sa.String(100), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("base_currency", sa.String(3), nullable=False),
        sa.Column("fx_rate", st.Rate(), nullable=False),
        sa.Column("posting_date", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("header", st.Document, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("erp_document_id", sa.String(255)),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("claim_token", sa.String(64)),
        sa.Column("claimed_by", sa.String(255)),
        _created("claimed_at", nullable=True),
        _created("lease_expires_at", nullable=True),
        _created("created_at"),
        _created("updated_at"),
        _created("posted_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_journals"),
        sa.UniqueConstraint("pair", "key", name="uq_journals_pair_key"),
        _status(
            "journals",
            (
                "ready",
                "claimed",
                "posted",
                "failed",
                "needs_review",
                "dry_run",
                "superseded",
                "detail",
                "summarised",
            ),
        ),
    )
    op.create_index("ix_journals_pair_status", "journals", ["pair", "status"])
    op.create_index("ix_journals_pair_posting_date", "journals", ["pair", "posting_date"])

    op.create_table(
        "journal_lines",
        sa.Column("journal_id", st.Id, nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(60), nullable=False),
        sa.Column("dims", st.Document, nullable=False),
        sa.Column("amount", st.Money(), nullable=False),
        sa.Column("base_amount", st.Money(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("journal_id", "line_no", name="pk_journal_lines"),
        sa.ForeignKeyConstraint(
            ["journal_id"], ["journals.id"], name="fk_journal_lines_journal_id_journals", ondelete="CASCADE"
        ),
    )

    op.create_table(
        "journal_sources",
        sa.Column("journal_id", st.Id, nullable=False),
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("object", sa.String(40), nullable=False),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("journal_id", "system", "object", "source_id", name="pk_journal_sources"),
        sa.ForeignKeyConstraint(
            ["journal_id"], ["journals.id"], name="fk_journal_sources_journal_id_journals", ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_journal_sources_system_object_source_id", "journal_sources", ["system", "object", "source_id"]
    )

    op.create_table(
        "postings",
        sa.Column("id", st.Id, primary_key=True, autoincrement=True),
        sa.Column("document_type", sa.String(20), nullable=False),
        sa.Column("document_key", sa.String(100), nullable=False),
        sa.Column("pair", sa.String(100), nullable=False),
        sa.Column("erp", sa.String(40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("erp_document_id", sa.String(255)),
        sa.Column("error", sa.Text()),
        _created("started_at"),
        _created("finished_at"),
        sa.Column("replay_of", st.Id),
        sa.Column("run_id", sa.String(255)),
        sa.Column("try_number", sa.Integer()),
        sa.PrimaryKeyConstraint("id", name="pk_postings"),
        sa.ForeignKeyConstraint(["replay_of"], ["postings.id"], name="fk_postings_replay_of_postings"),
        _status("postings", ("posted", "already_present", "failed", "conflict", "dry_run")),
    )
    op.create_index("ix_postings_pair_document_key", "postings", ["pair", "document_key"])

    op.create_table(
        "audit_exchanges",
        sa.Column("id", st.Id, primary_key=True, autoincrement=True),
        sa.Column("system", sa.String(40), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("status", sa.Integer()),
        sa.Column("request_headers", st.Document, nullable=False),
        sa.Column("request_body", sa.Text()),
        sa.Column("response_headers", st.Document, nullable=False),
        sa.Column("response_body", sa.Text()),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("correlation", sa.String(255)),
        _created("started_at"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_exchanges"),
    )
    op.create_index("ix_audit_exchanges_correlation", "audit_exchanges", ["correlation"])
    op.create_index("ix_audit_exchanges_started_at", "audit_exchanges", ["started_at"])

    op.create_table(
        "watermarks",
        sa.Column("pair", sa.String(100), nullable=False),
        sa.Column("stream", sa.String(100), nullable=False),
        _created("value"),
        _created("updated_at"),
        sa.PrimaryKeyConstraint("pair", "stream", name="pk_watermarks"),
    )

    op.create_table(
        "webhook_inbox",
        sa.Column("id", st.Id, primary_key=True, autoincrement=True),
        sa.Column("storefront", sa.String(40), nullable=False),
        sa.Column("conn_id", sa.String(250), nullable=False),
        sa.Column("delivery_id", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(100), nullable=False),
        sa.Column("object_type", sa.String(40), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=False),
        sa.Column("payload", st.Document, nullable=False),
        _created("received_at"),
        _created("processed_at", nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_inbox"),
        sa.UniqueConstraint(
            "storefront", "conn_id", "delivery_id", name="uq_webhook_inbox_storefront_conn_id_delivery_id"
        ),
        _status("webhook_inbox", ("pending", "processed", "ignored")),
    )
    op.create_index(
        "ix_webhook_inbox_storefront_conn_id_status", "webhook_inbox", ["storefront", "conn_id", "status"]
    )

    op.create_table(
        "customer_sync",
        sa.Column("pair", sa.String(100), nullable=False),
        sa.Column("customer_source_id", sa.String(255), nullable=False),
        sa.Column("erp_customer_id", sa.String(255)),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("last_error", sa.Text()),
        _created("updated_at"),
        sa.PrimaryKeyConstraint("pair", "customer_source_id", name="pk_customer_sync"),
    )


def downgrade() -> None:
    for table in (
        "customer_sync",
        "webhook_inbox",
        "watermarks",
        "audit_exchanges",
        "postings",
        "journal_sources",
        "journal_lines",
        "journals",
        "source_record_versions",
        "source_records",
    ):
        op.drop_table(table)
