"""State-store fixtures: every store test runs on SQLite and on PostgreSQL.

PostgreSQL: one throwaway database per test session (``mlc_<random>``), created through an
autocommit connection to ``test`` at 127.0.0.1:5432 and dropped at the end. When the server
is not reachable the PostgreSQL variants are skipped with the reason, except under ``CI=true``
where that is a failure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from ml_connector.core.model import Journal, JournalKind, JournalLine, SourceRef
from ml_connector.state import StateStore
from ml_connector.state.db import build_engine, dispose_engine, get_engine, migrate
from sqlalchemy import Engine, text

PG_PAIR = "bigcommerce_to_peoplesoft"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty (never migrated) database URL: a new SQLite file, or the session's PostgreSQL
    database with every table dropped."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        yield url
        dispose_engine(url)
        return
    url = request.getfixturevalue("pg_database")
    _drop_everything(get_engine(url))
    yield url


def _drop_everything(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))


@pytest.fixture
def engine(db_url: str) -> Engine:
    """A migrated, empty state database."""
    engine = get_engine(db_url)
    migrate(engine)
    return engine


@pytest.fixture
def second_engine(db_url: str, engine: Engine) -> Iterator[Engine]:
    """Another engine (own pool, own connections) on the same database: a second worker process."""
    other = build_engine(db_url)
    yield other
    other.dispose()


class Clock:
    """A controllable clock for leases and timestamps."""

    def __init__(self, start: dt.datetime) -> None:
        self.value = start

    def __call__(self) -> dt.datetime:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += dt.timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC))


@pytest.fixture
def store(engine: Engine, clock: Clock) -> StateStore:
    return StateStore(engine, clock=clock)


def make_journal(
    key: str,
    amount: str = "10.00",
    *,
    pair: str = PG_PAIR,
    posting_date: dt.date = dt.date(2025, 3, 1),
    order_ids: tuple[str, ...] = ("100",),
    description: str = "order",
) -> Journal:
    """A balanced two-line sale journal."""
    value = Decimal(amount)
    return Journal(
        pair=pair,
        key=key,
        kind=JournalKind.SALE,
        store_id="store-1",
        currency="EUR",
        base_currency="USD",
        fx_rate=Decimal("1.0834"),
        posting_date=posting_date,
        description=f"{description} {key}",
        lines=(
            JournalLine(
                "clearing", (("ACCOUNT", "1200"), ("DEPTID", "WEB")), value, value * 2, "EUR", "", "100"
            ),
            JournalLine(
                "revenue", (("ACCOUNT", "4000"), ("DEPTID", "WEB")), -value, -value * 2, "EUR", "", "100"
            ),
        ),
        sources=tuple(SourceRef("bigcommerce", "order", oid) for oid in order_ids),
        header=(("BUSINESS_UNIT", "US001"), ("LEDGER_GROUP", "ACTUALS")),
    )


@pytest.fixture
def journal_factory() -> Callable[..., Journal]:
    return make_journal
