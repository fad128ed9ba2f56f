"""Small per-pair bookkeeping: extraction watermarks, the webhook inbox (and what each pair drained
of it), customer sync state."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from ml_connector.core.model import require_utc
from ml_connector.state._base import IN_CHUNK, StoreBase, check_statuses, chunked
from ml_connector.state.rows import CustomerSync, WebhookEvent
from ml_connector.state.schema import (
    WEBHOOK_STATUSES,
    customer_sync,
    watermarks,
    webhook_consumed,
    webhook_inbox,
)

_w, _i, _wc, _c = watermarks, webhook_inbox, webhook_consumed, customer_sync


class WatermarkStore(StoreBase):
    def get_watermark(self, pair: str, stream: str) -> dt.datetime | None:
        with self.engine.connect() as conn:
            query = select(_w.c.value).where(_w.c.pair == pair, _w.c.stream == stream)
            return conn.execute(query).scalar_one_or_none()

    def set_watermark(
        self, pair: str, stream: str, value: dt.datetime, *, force: bool = False
    ) -> dt.datetime:
        """Advance the watermark; an older value is ignored unless ``force`` (a deliberate backfill).

        Returns the watermark now stored. The row is locked while deciding, so two concurrent
        runs cannot move it backwards.
        """
        value = require_utc(value, f"watermark {pair}/{stream}")

        def work(conn: Connection) -> dt.datetime:
            current = conn.execute(
                select(_w.c.value).where(_w.c.pair == pair, _w.c.stream == stream).with_for_update()
            ).scalar_one_or_none()
            now = self.now()
            if current is None:
                conn.execute(_w.insert().values(pair=pair, stream=stream, value=value, updated_at=now))
                return value
            if value > current or (force and value != current):
                conn.execute(
                    update(_w)
                    .where(_w.c.pair == pair, _w.c.stream == stream)
                    .values(value=value, updated_at=now)
                )
                return value
            return current

        return self._in_write(work)


class InboxStore(StoreBase):
    """The webhook inbox: events written once by the receiver, drained once by each pair."""

    @functools.cached_property
    def _inbox_insert(self) -> Any:
        """Built once: constructing it for every delivery cost more than executing it (bench.webhooks)."""
        return self._upsert(_i).on_conflict_do_nothing(index_elements=["storefront", "conn_id", "delivery_id"])

    def add_webhook_event(
        self,
        storefront: str,
        conn_id: str,
        delivery_id: str,
        topic: str,
        object_type: str,
        object_id: str,
        payload: dict[str, Any],
    ) -> bool:
        """Queue a verified webhook delivery; False when that delivery id was already queued.

        Deduplication is the unique key with ON CONFLICT DO NOTHING, so simultaneous retries
        of the same delivery (the platforms do send them) cannot both get in.
        """
        row = {
            "storefront": storefront,
            "conn_id": conn_id,
            "delivery_id": str(delivery_id),
            "topic": topic,
            "object_type": object_type,
            "object_id": str(object_id),
            "payload": payload,
            "received_at": self.now(),
        }
        statement = self._inbox_insert
        return self._in_write(lambda conn: conn.execute(statement, row).rowcount == 1)

    def pending_webhook_events(
        self, pair: str, storefront: str, conn_id: str, limit: int | None = None
    ) -> list[WebhookEvent]:
        """The events ``pair`` has not drained yet, oldest first."""
        drained = select(_wc.c.event_id).where(_wc.c.pair == pair, _wc.c.event_id == _i.c.id).exists()
        query = (
            select(_i)
            .where(_i.c.storefront == storefront, _i.c.conn_id == conn_id, ~drained)
            .order_by(_i.c.id)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [WebhookEvent(**row._asdict()) for row in conn.execute(query)]

    def mark_webhook_events(self, pair: str, ids: Iterable[int], status: str) -> int:
        """Record that ``pair`` drained (``processed``) or skipped (``ignored``) these events;
        ``pending`` hands them back to the pair. Other pairs are not affected."""
        check_statuses({status}, WEBHOOK_STATUSES, "mark_webhook_events()")
        id_list = sorted({int(i) for i in ids})
        if not id_list:
            return 0
        now = self.now()

        def work(conn: Connection) -> int:
            changed = 0
            for chunk in chunked(id_list, IN_CHUNK):
                if status == "pending":
                    statement: Any = delete(_wc).where(_wc.c.pair == pair, _wc.c.event_id.in_(chunk))
                    changed += conn.execute(statement).rowcount
                    continue
                known = conn.execute(select(_i.c.id).where(_i.c.id.in_(chunk))).scalars().all()
                if not known:
                    continue
                insert = self._upsert(_wc)
                statement = insert.on_conflict_do_update(
                    index_elements=["pair", "event_id"],
                    set_={"status": insert.excluded.status, "processed_at": insert.excluded.processed_at},
                )
                rows = [{"pair": pair, "event_id": i, "status": status, "processed_at": now} for i in known]
                conn.execute(statement, rows)
                changed += len(rows)
            return changed

        return self._in_write(work)


class CustomerSyncStore(StoreBase):
    def get_customer_sync(self, pair: str, source_id: str) -> CustomerSync | None:
        query = select(_c).where(_c.c.pair == pair, _c.c.customer_source_id == str(source_id))
        with self.engine.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else CustomerSync(**row._asdict())

    def set_customer_sync(
        self,
        pair: str,
        source_id: str,
        erp_customer_id: str | None,
        content_hash: str,
        status: str,
        last_error: str | None = None,
    ) -> None:
        """Insert or update; an ERP customer id once known is kept when a later call passes None."""
        insert = self._upsert(_c).values(
            pair=pair,
            customer_source_id=str(source_id),
            erp_customer_id=erp_customer_id,
            content_hash=content_hash,
            status=status,
            last_error=last_error,
            updated_at=self.now(),
        )
        statement = insert.on_conflict_do_update(
            index_elements=["pair", "customer_source_id"],
            set_={
                "erp_customer_id": func.coalesce(insert.excluded.erp_customer_id, _c.c.erp_customer_id),
                "content_hash": insert.excluded.content_hash,
                "status": insert.excluded.status,
                "last_error": insert.excluded.last_error,
                "updated_at": insert.excluded.updated_at,
            },
        )
        self._in_write(lambda conn: conn.execute(statement))
