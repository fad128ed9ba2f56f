"""Per-pair state: source records keyed by store, processing status and inbox consumption per pair.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-01 00:00:00

Until 0001 a record's status lived on the record and the inbox was drained per database, so a
second pair on the same store never saw what the first had processed, and two stores collided on
their ids. This revision:

- adds ``source_records.store``, unique on (system, store, object, source_id). Existing records
  get the single store id found in ``journals.store_id``, or ``ML_CONNECTOR_MIGRATION_STORE``
  when set (it must be one of the journals' stores). No journals and no variable, several stores
  and no variable, or a variable the journals contradict, stop the migration with a message
  saying what to set: guessing would file one store's orders under another.
- moves ``status``/``reason`` into ``record_status`` (pair, record_id), one row per pair found in
  ``journals.pair``, ``watermarks.pair`` and ``customer_sync.pair`` (plus any listed in
  ``ML_CONNECTOR_MIGRATION_PAIRS``), so no pair re-processes what was processed. A ``new`` record
  gets no row (new for every pair); a ``changed`` one a row at the previous version (changed).
- moves the inbox's ``status``/``processed_at`` into ``webhook_consumed`` (pair, event_id) for
  the same pairs; pending events get no row (pending for every pair).

There is no downgrade: per-pair facts cannot be folded back into one column without losing them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from ml_connector.state import types as st

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STORE_ENV = "ML_CONNECTOR_MIGRATION_STORE"
PAIRS_ENV = "ML_CONNECTOR_MIGRATION_PAIRS"
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
CONSUMED_STATUSES = ("processed", "ignored")


class MigrationRefused(RuntimeError):
    """The data cannot be migrated without a guess; the message says what to set."""


def _status(table: str, values: tuple[str, ...]) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"status IN ({allowed})", name=f"ck_{table}_status")


def _scalars(sql: str) -> list[str]:
    return [str(v) for v in op.get_bind().execute(sa.text(sql)).scalars() if v is not None]


def _check_foreign_keys_paused() -> None:
    """SQLite alters a table by copying it; dropping the old copy with foreign keys on would
    cascade-delete every record's versions. ``state.db.migrate`` pauses them; refuse otherwise."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise MigrationRefused(
            "0002 must run with SQLite foreign keys off (it copies source_records); "
            "run it through ml_connector.state.db.migrate(engine)"
        )


def backfill_store() -> str | None:
    """The store id of the records already in state (None when there are none).

    ``ML_CONNECTOR_MIGRATION_STORE`` wins when it agrees with the journals; otherwise the single
    store the journals name. Anything else would be a guess, so the migration stops and says why.
    """
    if not _scalars("SELECT id FROM source_records LIMIT 1"):
        return None
    stores = sorted(set(_scalars("SELECT DISTINCT store_id FROM journals")))
    given = (os.environ.get(STORE_ENV) or "").strip() or None
    if given and stores and given not in stores:
        raise MigrationRefused(
            f"{STORE_ENV}={given!r}, but the journals in this database are for store(s) {stores}: "
            f"set it to the store whose records source_records holds, or unset it"
        )
    if given:
        return given
    if len(stores) == 1:
        return stores[0]
    if stores:
        raise MigrationRefused(
            f"the journals name several stores {stores}, and source_records (keyed without a store "
            f"until now) cannot say which store each record came from: set {STORE_ENV} to the store "
            f"they belong to (the other stores' records are extracted again under their own store)"
        )
    raise MigrationRefused(
        f"source_records exist but no journal names their store: set {STORE_ENV} to the store id "
        f"of the storefront connection (the BigCommerce store hash) and migrate again"
    )


def existing_pairs() -> list[str]:
    """Every pair this database has worked for."""
    found = _scalars(
        "SELECT pair FROM journals UNION SELECT pair FROM watermarks UNION SELECT pair FROM customer_sync"
    )
    listed = [p.strip() for p in (os.environ.get(PAIRS_ENV) or "").split(",") if p.strip()]
    return sorted(set(found) | set(listed))


def _require_pairs(pairs: list[str]) -> None:
    """Statuses exist but no pair to give them to: dropping them would re-process everything."""
    if pairs:
        return
    worked = _scalars("SELECT id FROM source_records WHERE status <> 'new' LIMIT 1") or _scalars(
        "SELECT id FROM webhook_inbox WHERE status <> 'pending' LIMIT 1"
    )
    if worked:
        raise MigrationRefused(
            f"records or webhook events were processed, but no pair appears in journals, watermarks "
            f"or customer_sync: set {PAIRS_ENV} to the pair name(s) that processed them (comma separated)"
        )


def _create_tables() -> None:
    op.create_table(
        "record_status",
        sa.Column("pair", sa.String(100), nullable=False),
        sa.Column("record_id", st.Id, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("processed_version", sa.Integer(), nullable=False),
        sa.Column("updated_at", st.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pair", "record_id", name="pk_record_status"),
        sa.ForeignKeyConstraint(
            ["record_id"], ["source_records.id"], name="fk_record_status_record_id_source_records", ondelete="CASCADE"
        ),
        _status("record_status", RECORD_STATUSES),
    )
    op.create_table(
        "webhook_consumed",
        sa.Column("pair", sa.String(100), nullable=False),
        sa.Column("event_id", st.Id, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("processed_at", st.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pair", "event_id", name="pk_webhook_consumed"),
        sa.ForeignKeyConstraint(
            ["event_id"], ["webhook_inbox.id"], name="fk_webhook_consumed_event_id_webhook_inbox", ondelete="CASCADE"
        ),
        _status("webhook_consumed", CONSUMED_STATUSES),
    )


def _copy_statuses(pairs: list[str]) -> None:
    """Each pair inherits the shared status: processed stays processed, changed stays changed."""
    bind = op.get_bind()
    for pair in pairs:
        bind.execute(
            sa.text(
                "INSERT INTO record_status (pair, record_id, status, reason, processed_version, updated_at) "
                "SELECT :pair, id, status, reason, "
                "CASE WHEN status = 'changed' THEN version - 1 ELSE version END, updated_at "
                "FROM source_records WHERE status <> 'new'"
            ),
            {"pair": pair},
        )
        bind.execute(
            sa.text(
                "INSERT INTO webhook_consumed (pair, event_id, status, processed_at) "
                "SELECT :pair, id, status, COALESCE(processed_at, received_at) "
                "FROM webhook_inbox WHERE status <> 'pending'"
            ),
            {"pair": pair},
        )


def _key_records_by_store(store: str | None) -> None:
    op.add_column("source_records", sa.Column("store", sa.String(100), nullable=True))
    if store is not None:
        op.get_bind().execute(sa.text("UPDATE source_records SET store = :store"), {"store": store})
    op.drop_index("ix_source_records_system_object_status", table_name="source_records")
    with op.batch_alter_table("source_records") as batch:
        batch.alter_column("store", existing_type=sa.String(100), nullable=False)
        batch.drop_constraint("uq_source_records_system_object_source_id", type_="unique")
        batch.drop_constraint("ck_source_records_status", type_="check")
        batch.drop_column("status")
        batch.drop_column("reason")
        batch.create_unique_constraint(
            "uq_source_records_system_store_object_source_id", ["system", "store", "object", "source_id"]
        )


def _share_inbox() -> None:
    op.drop_index("ix_webhook_inbox_storefront_conn_id_status", table_name="webhook_inbox")
    with op.batch_alter_table("webhook_inbox") as batch:
        batch.drop_constraint("ck_webhook_inbox_status", type_="check")
        batch.drop_column("status")
        batch.drop_column("processed_at")


def upgrade() -> None:
    _check_foreign_keys_paused()
    store = backfill_store()
    pairs = existing_pairs()
    _require_pairs(pairs)
    _create_tables()
    _copy_statuses(pairs)
    _key_records_by_store(store)
    _share_inbox()


def downgrade() -> None:
    raise MigrationRefused("0002 has no downgrade: per-pair status cannot be folded back; restore a backup")
