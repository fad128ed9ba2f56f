"""Alembic environment for the state store, driven from ``ml_connector.state.db.migrate``.

There is no alembic.ini: ``migrate`` hands over an open connection (already inside a
transaction that holds the migration lock) through ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context
from ml_connector.state.schema import VERSION_TABLE, metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "ml_connector state migrations run through ml_connector.state.db.migrate(engine), "
        "which passes an open connection; the alembic command line is not configured for them"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite can only ALTER by copying tables
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
