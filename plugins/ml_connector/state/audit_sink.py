"""The persistent ``AuditSink``: every exchange with an external system, buffered into the store.

Posting 5,000 journals makes 10,000+ exchanges; one commit each would dominate the run.
``StateAudit`` buffers rows and writes them in batches, from any number of threads.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any, Protocol

from sqlalchemy import insert, select

from ml_connector.audit import Exchange, truncate
from ml_connector.core.model import require_utc
from ml_connector.state._base import StoreBase
from ml_connector.state.schema import audit_exchanges

_a = audit_exchanges
ERROR_LIMIT = 8_000


def exchange_row(exchange: Exchange) -> dict[str, Any]:
    """The row for one exchange (bodies bounded; they arrive already redacted)."""
    where = f"audit exchange {exchange.system} {exchange.method} {exchange.url}"
    return {
        "system": exchange.system,
        "method": exchange.method,
        "url": exchange.url,
        "status": exchange.status,
        "request_headers": dict(exchange.request_headers),
        "request_body": truncate(exchange.request_body),
        "response_headers": dict(exchange.response_headers),
        "response_body": truncate(exchange.response_body),
        "duration_ms": float(exchange.duration_ms),
        "error": truncate(exchange.error, ERROR_LIMIT),
        "attempt": exchange.attempt,
        "correlation": exchange.correlation,
        "started_at": require_utc(exchange.started_at, where),
    }


class AuditStore(StoreBase):
    def insert_exchanges(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self._in_write(lambda conn: conn.execute(insert(_a), rows))

    def audit_for(self, correlation: str) -> list[Exchange]:
        """The exchanges tagged with ``correlation`` (e.g. ``journal:BC00001234``), in order."""
        query = select(_a).where(_a.c.correlation == correlation).order_by(_a.c.started_at, _a.c.id)
        with self.engine.connect() as conn:
            return [
                Exchange(
                    system=row.system,
                    method=row.method,
                    url=row.url,
                    started_at=row.started_at,
                    duration_ms=row.duration_ms,
                    status=row.status,
                    request_headers=row.request_headers,
                    request_body=row.request_body,
                    response_headers=row.response_headers,
                    response_body=row.response_body,
                    error=row.error,
                    attempt=row.attempt,
                    correlation=row.correlation,
                )
                for row in conn.execute(query)
            ]


class _ExchangeWriter(Protocol):
    def insert_exchanges(self, rows: list[dict[str, Any]]) -> None: ...


class StateAudit:
    """``AuditSink`` that persists exchanges in batches of ``flush_every``.

    Use it as a context manager (or call ``flush()``) so the tail of the buffer is written.
    If a write fails, the rows go back into the buffer and the error propagates.
    """

    def __init__(self, store: _ExchangeWriter, flush_every: int = 200) -> None:
        if flush_every < 1:
            raise ValueError(f"StateAudit: flush_every must be >= 1, got {flush_every}")
        self._store = store
        self._flush_every = flush_every
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, exchange: Exchange) -> None:
        row = exchange_row(exchange)  # validate now, so a bad exchange fails where it was made
        with self._lock:
            self._buffer.append(row)
            full = len(self._buffer) >= self._flush_every
        if full:
            self.flush()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._buffer)

    def flush(self) -> int:
        """Write what is buffered; returns how many exchanges were written."""
        with self._lock:
            rows, self._buffer = self._buffer, []
        if not rows:
            return 0
        try:
            self._store.insert_exchanges(rows)
        except BaseException:
            with self._lock:
                self._buffer[:0] = rows
            raise
        return len(rows)

    def __enter__(self) -> StateAudit:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.flush()
