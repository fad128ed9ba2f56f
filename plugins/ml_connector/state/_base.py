"""What every part of the state store shares: the engine, the clock, transactions, retries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from ml_connector.state.db import write_transaction

T = TypeVar("T")
Clock = Callable[[], dt.datetime]

SUPPORTED_DIALECTS = ("sqlite", "postgresql")
# Keeps IN lists well under SQLite's and psycopg2's parameter limits.
IN_CHUNK = 900


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def check_statuses(values: Collection[str] | None, allowed: Collection[str], what: str) -> None:
    unknown = sorted(set(values or ()) - set(allowed))
    if unknown:
        raise ValueError(f"{what}: unknown status {unknown}; expected one of {sorted(allowed)}")


class StoreBase:
    """Holds the engine; subclasses add one area of the store each."""

    def __init__(self, engine: Engine, *, clock: Clock = utc_now) -> None:
        if engine.dialect.name not in SUPPORTED_DIALECTS:
            raise ValueError(
                f"state store supports {SUPPORTED_DIALECTS}, not {engine.dialect.name!r} ({engine.url!r})"
            )
        self.engine = engine
        self._clock = clock

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def now(self) -> dt.datetime:
        return self._clock()

    def _upsert(self, table: Table) -> Any:
        """A dialect INSERT that supports ON CONFLICT (both backends spell it the same)."""
        return (postgresql.insert if self.is_postgres else sqlite.insert)(table)

    def _in_write(self, work: Callable[[Connection], T], attempts: int = 3) -> T:
        """Run ``work`` in one write transaction; retry when a concurrent writer won a unique key race."""
        for attempt in range(1, attempts + 1):
            try:
                with write_transaction(self.engine) as conn:
                    return work(conn)
            except IntegrityError:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")
