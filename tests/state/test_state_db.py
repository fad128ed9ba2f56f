"""Database selection, engine settings and migrations."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from ml_connector.state import db
from ml_connector.state.db import build_engine, current_revision, get_engine, migrate, state_url
from ml_connector.state.schema import VERSION_TABLE, metadata
from sqlalchemy import Engine, inspect, text

EXPECTED_TABLES = {t.name for t in metadata.sorted_tables}
HEAD = "0002"


class TestStateUrl:
    def test_env_override_wins_over_the_airflow_connection(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv(db.ENV_URL, "postgres://u:p@h:5432/state")
        monkeypatch.setattr(
            db, "_airflow_connection_uri", lambda conn_id: pytest.fail("must not be consulted")
        )
        assert state_url() == "postgresql+psycopg2://u:p@h:5432/state"

    @pytest.mark.parametrize(
        ("uri", "expected"),
        [
            ("postgres://user:pw@db:5432/mlc", "postgresql+psycopg2://user:pw@db:5432/mlc"),
            ("postgresql://user:pw@db/mlc", "postgresql+psycopg2://user:pw@db/mlc"),
            ("sqlite:////data/state.db", "sqlite:////data/state.db"),
        ],
    )
    def test_airflow_connection_uri_gets_a_driver(
        self, monkeypatch: pytest.MonkeyPatch, uri: str, expected: str
    ) -> None:
        monkeypatch.delenv(db.ENV_URL, raising=False)
        seen: list[str] = []
        monkeypatch.setattr(db, "_airflow_connection_uri", lambda conn_id: seen.append(conn_id) or uri)
        assert state_url("my_state") == expected
        assert seen == ["my_state"]

    def test_without_connection_falls_back_to_sqlite_in_airflow_home(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.delenv(db.ENV_URL, raising=False)
        monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
        monkeypatch.setattr(db, "_airflow_connection_uri", lambda conn_id: None)
        assert state_url() == f"sqlite:///{tmp_path}/ml_connector_state.db"


def test_engine_is_cached_per_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    try:
        assert get_engine(url) is get_engine(url)
        assert get_engine(url) is not get_engine(f"sqlite:///{tmp_path / 'b.db'}")
    finally:
        db.dispose_engine(url)
        db.dispose_engine(f"sqlite:///{tmp_path / 'b.db'}")


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'nested' / 'dir' / 'state.db'}")  # parent dirs created
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == db.SQLITE_BUSY_TIMEOUT_MS
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def test_sqlite_transactions_roll_back(tmp_path: Path) -> None:
    """We emit BEGIN ourselves on SQLite; make sure a failed transaction still leaves nothing behind."""
    engine = build_engine(f"sqlite:///{tmp_path / 'tx.db'}")
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with pytest.raises(RuntimeError), db.write_transaction(engine) as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            raise RuntimeError("boom")
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar() == 0
    finally:
        engine.dispose()


def _table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def test_migrations_apply_from_empty_and_are_idempotent(db_url: str) -> None:
    engine = get_engine(db_url)
    assert current_revision(engine) is None
    assert not EXPECTED_TABLES & _table_names(engine)
    migrate(engine)
    assert EXPECTED_TABLES | {VERSION_TABLE} <= _table_names(engine)
    assert current_revision(engine) == HEAD
    migrate(engine)  # every task calls it: must be a no-op the second time
    migrate(engine)
    assert current_revision(engine) == HEAD
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {VERSION_TABLE}")).scalar() == 1


def test_migrated_schema_matches_the_table_definitions(engine: Engine) -> None:
    """The migration and schema.py cannot drift apart: autogenerate finds nothing to do."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        diff = compare_metadata(context, metadata)
    assert diff == []


def test_concurrent_first_time_migrations_do_not_collide(db_url: str) -> None:
    """Two workers starting at once on an empty database: both succeed, schema created once."""
    engines = [build_engine(db_url), build_engine(db_url)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(engines))

    def run(engine: Engine) -> None:
        try:
            barrier.wait()
            migrate(engine)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for e in engines:
        e.dispose()
    assert errors == []
    assert current_revision(get_engine(db_url)) == HEAD
