"""Source records: what the storefronts sent, versioned by content hash."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, insert, select, update

from ml_connector.core.model import require_utc
from ml_connector.state._base import IN_CHUNK, StoreBase, check_statuses, chunked
from ml_connector.state.hashing import record_hash
from ml_connector.state.rows import RecordRow, UpsertResult
from ml_connector.state.schema import PARKED_STATUSES, RECORD_STATUSES, source_record_versions, source_records

_r = source_records
_RECORD_COLUMNS = (
    _r.c.id,
    _r.c.source_id,
    _r.c.payload,
    _r.c.status,
    _r.c.reason,
    _r.c.version,
    _r.c.content_hash,
    _r.c.source_updated_at,
)


@dataclass(frozen=True, slots=True)
class _Incoming:
    payload: dict[str, Any]
    content_hash: str
    source_updated_at: dt.datetime | None


def _record_row(row: Row[Any]) -> RecordRow:
    return RecordRow(
        id=row.id,
        source_id=row.source_id,
        payload=row.payload,
        status=row.status,
        reason=row.reason,
        version=row.version,
        content_hash=row.content_hash,
        source_updated_at=row.source_updated_at,
    )


class RecordStore(StoreBase):
    def upsert_records(
        self,
        system: str,
        object: str,
        items: Iterable[tuple[str, dict[str, Any], dt.datetime | None]],
    ) -> UpsertResult:
        """Insert new records, version changed ones, leave unchanged ones alone; one commit.

        An unchanged record keeps its status (so it is not processed again); a changed one gets
        ``version + 1`` and status ``changed``. Every version is kept in ``source_record_versions``.
        """
        incoming: dict[str, _Incoming] = {}
        for source_id, payload, updated_at in items:
            where = f"{system} {object} {source_id}"
            incoming[str(source_id)] = _Incoming(
                payload=payload,
                content_hash=record_hash(payload),
                source_updated_at=None
                if updated_at is None
                else require_utc(updated_at, f"{where} updated_at"),
            )
        if not incoming:
            return UpsertResult(0, 0, 0)
        return self._in_write(lambda conn: self._upsert_records(conn, system, object, incoming))

    def _upsert_records(
        self, conn: Connection, system: str, object: str, incoming: dict[str, _Incoming]
    ) -> UpsertResult:
        existing: dict[str, Row[Any]] = {}
        for chunk in chunked(incoming, IN_CHUNK):
            query = select(_r.c.id, _r.c.source_id, _r.c.content_hash, _r.c.version).where(
                _r.c.system == system, _r.c.object == object, _r.c.source_id.in_(chunk)
            )
            existing.update((row.source_id, row) for row in conn.execute(query))

        now = self.now()
        new: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        changed_sids: list[str] = []
        for source_id, item in incoming.items():
            old = existing.get(source_id)
            if old is None:
                new.append(
                    {
                        "system": system,
                        "object": object,
                        "source_id": source_id,
                        "content_hash": item.content_hash,
                        "version": 1,
                        "payload": item.payload,
                        "status": "new",
                        "source_updated_at": item.source_updated_at,
                        "first_seen_at": now,
                        "updated_at": now,
                    }
                )
            elif old.content_hash != item.content_hash:
                changed_sids.append(source_id)
                changed.append(
                    {
                        "b_id": old.id,
                        "b_old_hash": old.content_hash,
                        "b_hash": item.content_hash,
                        "b_version": old.version + 1,
                        "b_payload": item.payload,
                        "b_updated": item.source_updated_at,
                        "b_now": now,
                    }
                )

        ids: dict[str, int] = {}
        if new:
            inserted = conn.execute(
                insert(_r).returning(_r.c.id, _r.c.source_id, sort_by_parameter_order=True), new
            )
            ids.update((row.source_id, row.id) for row in inserted)
        if changed:
            conn.execute(
                update(_r)
                .where(_r.c.id == bindparam("b_id"), _r.c.content_hash == bindparam("b_old_hash"))
                .values(
                    content_hash=bindparam("b_hash"),
                    version=bindparam("b_version"),
                    payload=bindparam("b_payload", type_=_r.c.payload.type),
                    status="changed",
                    reason=None,
                    source_updated_at=bindparam("b_updated", type_=_r.c.source_updated_at.type),
                    updated_at=bindparam("b_now", type_=_r.c.updated_at.type),
                ),
                changed,
            )
            ids.update((sid, row["b_id"]) for sid, row in zip(changed_sids, changed, strict=True))

        versions = [
            {"record_id": ids[row["source_id"]], "version": 1, "content_hash": row["content_hash"],
             "payload": row["payload"], "seen_at": now}
            for row in new
        ] + [
            {"record_id": row["b_id"], "version": row["b_version"], "content_hash": row["b_hash"],
             "payload": row["b_payload"], "seen_at": now}
            for row in changed
        ]  # fmt: skip
        if versions:
            # A concurrent writer that versioned the same record first makes this collide on the
            # (record_id, version) key: the caller's retry re-reads and re-decides.
            conn.execute(insert(source_record_versions), versions)
        return UpsertResult(
            new=len(new),
            changed=len(changed),
            unchanged=len(incoming) - len(new) - len(changed),
            ids=tuple(ids.values()),
            source_ids=tuple(ids),
        )

    def records(
        self,
        system: str,
        object: str,
        statuses: Collection[str] | None = None,
        source_ids: Collection[str] | None = None,
        *,
        batch_size: int = 1000,
    ) -> Iterator[RecordRow]:
        """Stream records in id order, one short query per batch (memory stays flat for 100k rows).

        Safe to ``mark_records`` while iterating: paging is by id, not by offset.
        """
        check_statuses(statuses, RECORD_STATUSES, "records()")
        query = select(*_RECORD_COLUMNS).where(_r.c.system == system, _r.c.object == object)
        if statuses is not None:
            query = query.where(_r.c.status.in_(list(statuses)))
        if source_ids is not None:
            for chunk in chunked(sorted({str(s) for s in source_ids}), min(batch_size, IN_CHUNK)):
                yield from self._fetch(query.where(_r.c.source_id.in_(chunk)).order_by(_r.c.id))
            return
        last_id = 0
        while True:
            batch = self._fetch(query.where(_r.c.id > last_id).order_by(_r.c.id).limit(batch_size))
            if not batch:
                return
            yield from batch
            last_id = batch[-1].id

    def _fetch(self, query: Select[Any]) -> list[RecordRow]:
        with self.engine.connect() as conn:
            return [_record_row(row) for row in conn.execute(query)]

    def parked_records(self, system: str, object: str) -> Iterator[RecordRow]:
        """Records that need a person: a missing mapping or a failed business rule."""
        return self.records(system, object, statuses=PARKED_STATUSES)

    def mark_records(
        self,
        system: str,
        object: str,
        updates: Iterable[tuple[str, str, str | None]],
    ) -> None:
        """Set status and reason by source id, in one transaction."""
        rows = [
            {"b_sid": str(sid), "b_status": status, "b_reason": reason} for sid, status, reason in updates
        ]
        check_statuses({row["b_status"] for row in rows}, RECORD_STATUSES, "mark_records()")
        if not rows:
            return
        now = self.now()
        statement = (
            update(_r)
            .where(_r.c.system == system, _r.c.object == object, _r.c.source_id == bindparam("b_sid"))
            .values(status=bindparam("b_status"), reason=bindparam("b_reason"), updated_at=now)
        )
        self._in_write(lambda conn: conn.execute(statement, rows))
