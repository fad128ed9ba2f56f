"""Turning verified deliveries into asset events, coalesced, off the request path.

A burst of hundreds of deliveries must start one DAG run, not hundreds, and a slow or failing
Airflow database must never hold up (or fail) the 200 the platform is waiting for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("ml_connector.webhooks")

Emit = Callable[[str, dict[str, Any]], None]


class Waker:
    """Emits at most one asset event per asset URI every ``interval`` seconds.

    One asset-triggered run consumes every event queued before it starts, so coalescing
    loses nothing: the run drains the whole inbox. The worker thread starts on the first
    ``wake`` (after the api-server has forked its workers) and ends after ``idle_timeout``.
    """

    def __init__(self, emit: Emit, interval: float = 1.0, idle_timeout: float = 60.0) -> None:
        self._emit, self._interval, self._idle_timeout = emit, interval, idle_timeout
        self._pending: dict[str, int] = {}
        self._emitting = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def wake(self, asset_uri: str) -> None:
        """Ask for an asset event for ``asset_uri``; returns at once."""
        with self._cond:
            self._pending[asset_uri] = self._pending.get(asset_uri, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="ml-connector-waker", daemon=True)
                self._thread.start()
            self._cond.notify_all()  # notify_all: flush() waiters share the condition

    def flush(self, timeout: float) -> bool:
        """Wait until every wake so far has been handed to ``emit``; False when ``timeout`` ran out."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._pending and not self._emitting, timeout)

    def _next_batch(self) -> dict[str, int] | None:
        with self._cond:
            while not self._pending:
                if not self._cond.wait(timeout=self._idle_timeout) and not self._pending:
                    self._thread = None
                    return None
            batch, self._pending = self._pending, {}
            self._emitting = True
            return batch

    def _run(self) -> None:
        while (batch := self._next_batch()) is not None:
            for uri, count in batch.items():
                try:
                    self._emit(uri, {"deliveries": count})
                except Exception:  # the scheduled poll still runs; never let the waker die
                    log.exception("could not emit asset event for %s (the scheduled poll will catch up)", uri)
            with self._cond:
                self._emitting = False
                self._cond.notify_all()
            time.sleep(self._interval)


def emit_asset_event(uri: str, extra: dict[str, Any]) -> None:
    """Record an asset event inside the api-server, as ``POST /api/v2/assets/events`` does.

    Airflow's ``AssetManager`` is internal API, so it is wrapped here and nowhere else. Every
    asset with this URI gets the event (the name may differ between DAG versions).
    """
    from airflow.assets.manager import asset_manager
    from airflow.models.asset import AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        models = list(session.scalars(select(AssetModel).where(AssetModel.uri == uri)))
        if not models:
            log.warning("asset %s is unknown to Airflow (has the DAG been parsed?)", uri)
            return
        for model in models:
            event = asset_manager.register_asset_change(
                asset=model, extra={**extra, "source": "ml-connector webhook"}, source_is_api=True, session=session
            )
            if event is None:
                log.warning("Airflow recorded no asset event for %s (asset %s)", uri, model.name)
