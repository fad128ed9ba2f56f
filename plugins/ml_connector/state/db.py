"""Which database the state store uses, how to connect to it, and how to bring it up to date.

Resolution order for the URL: ``ML_CONNECTOR_STATE_URL`` (tests, demo), then the Airflow
connection ``ml_connector_state``, then a SQLite file next to Airflow's own (``AIRFLOW_HOME``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url

from ml_connector.state.hashing import canonical_json, load_json

ENV_URL = "ML_CONNECTOR_STATE_URL"
DEFAULT_CONN_ID = "ml_connector_state"
SQLITE_BUSY_TIMEOUT_MS = 30_000
# Arbitrary constant shared by every process that migrates: serialises first-time migrations.
MIGRATION_LOCK_KEY = 0x6D6C_6373  # "mlcs"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def _airflow_connection_uri(conn_id: str) -> str | None:
    """The URI of Airflow connection ``conn_id``, or None when it is not defined."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        return BaseHook.get_connection(conn_id).get_uri()
    except AirflowNotFoundException:
        return None


def _sqlalchemy_url(uri: str) -> str:
    """Airflow writes ``postgres://``; SQLAlchemy needs an explicit driver."""
    for prefix in ("postgres://", "postgresql://"):
        if uri.startswith(prefix):
            return "postgresql+psycopg2://" + uri[len(prefix) :]
    return uri


def default_sqlite_url() -> str:
    home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser()
    return f"sqlite:///{home / 'ml_connector_state.db'}"


def state_url(conn_id: str = DEFAULT_CONN_ID) -> str:
    """The SQLAlchemy URL of the state database (see the module docstring for the order)."""
    if override := os.environ.get(ENV_URL):
        return _sqlalchemy_url(override)
    uri = _airflow_connection_uri(conn_id)
    return _sqlalchemy_url(uri) if uri else default_sqlite_url()


def _ensure_wal(cursor: Any) -> None:
    """Switch a SQLite file to WAL once. The switch needs a moment of exclusive access and fails
    at once (the busy timeout does not apply) while another connection is mid-transaction, as
    when two workers open a brand-new file together: retry for a while."""
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN issued by us so write transactions can be IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the sqlite3 module must not BEGIN on its own
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        _ensure_wal(cursor)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; fsync at checkpoints only
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A read-then-write transaction must hold the write lock from the start: a deferred
        # one that upgrades later fails with SQLITE_BUSY regardless of the busy timeout.
        mode = "IMMEDIATE" if conn.get_execution_options().get("write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")


def build_engine(url: str) -> Engine:
    """A new, uncached engine configured for the state store (tools and tests; tasks use get_engine)."""
    parsed = make_url(url)
    options: dict[str, Any] = {"json_serializer": canonical_json, "json_deserializer": load_json}
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **options)
        _configure_sqlite(engine)
        return engine
    return create_engine(parsed, pool_pre_ping=True, **options)


def get_engine(url: str | None = None) -> Engine:
    """One engine (and connection pool) per URL per process; ``None`` means ``state_url()``."""
    url = url or state_url()
    with _engines_lock:
        engine = _engines.get(url)
        if engine is None:
            engine = _engines[url] = build_engine(url)
        return engine


def dispose_engine(url: str) -> None:
    """Close and forget a cached engine (tests, forked workers)."""
    with _engines_lock:
        engine = _engines.pop(url, None)
    if engine is not None:
        engine.dispose()


_sqlite_writers: dict[int, threading.RLock] = {}


def _writer_lock(engine: Engine) -> AbstractContextManager[Any]:
    """Threads of one process take turns at a SQLite file's single write lock on a Python lock.

    Left to SQLite, a waiting writer sleeps in the busy handler in steps of up to 100 ms, so
    concurrent writers (the webhook receiver's thread pool) see tail latencies of 0.5 s and
    more under load; a Python lock hands over at once. PostgreSQL needs no such turn-taking.
    """
    if engine.dialect.name != "sqlite":
        return nullcontext()
    with _engines_lock:
        return _sqlite_writers.setdefault(id(engine), threading.RLock())


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: IMMEDIATE on SQLite, an ordinary one on PostgreSQL."""
    with _writer_lock(engine), engine.connect() as conn:
        conn.execution_options(write=True)
        with conn.begin():
            yield conn


def _alembic_config(conn: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = conn
    return config


@contextmanager
def _sqlite_foreign_keys_paused(conn: Connection) -> Iterator[None]:
    """Foreign keys off for the life of a migration on SQLite, back on afterwards.

    SQLite alters a table by copying it and dropping the original (Alembic's batch mode); with
    foreign keys on, that drop cascade-deletes the children (every record's versions). The pragma
    is a no-op inside a transaction, so it goes straight to the driver before BEGIN.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.driver_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _check_foreign_keys(conn: Connection) -> None:
    """After a SQLite migration ran with foreign keys off: nothing may point nowhere."""
    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"state migration left rows pointing nowhere (rolled back): {broken[:10]}")


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to ``revision`` (head). Idempotent and cheap, so every task may call it first.

    Concurrent first runs are serialised: by a transaction-scoped advisory lock on PostgreSQL,
    by the IMMEDIATE write lock on SQLite (whose DDL is transactional).
    """
    with _writer_lock(engine), engine.connect() as conn, _sqlite_foreign_keys_paused(conn):
        conn.execution_options(write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            before = _revision(conn)
            command.upgrade(_alembic_config(conn), revision)
            if conn.dialect.name == "sqlite" and _revision(conn) != before:
                _check_foreign_keys(conn)


def _revision(conn: Connection) -> str | None:
    from alembic.migration import MigrationContext

    from ml_connector.state.schema import VERSION_TABLE

    return MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at (None when never migrated)."""
    with engine.connect() as conn:
        return _revision(conn)
