"""Source records: what the storefronts sent, versioned by content hash; and what each pair did with them.

A record is keyed by (system, store, object, source id) and stored once for every pair reading
that store. Whether it was processed, parked or failed is a fact about one pair
(``record_status``), read back as a status derived from the record's version:

- no row for the pair: ``new``;
- the record's version is newer than the one the pair processed: ``changed``;
- otherwise the status (and reason) the pair stored.

So an upsert that versions a record makes it ``changed`` for every pair without knowing the pairs,
and a pair that marks a version it read after a concurrent extract versioned the record again
cannot hide the newer version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    case,
    insert,
    literal,
    null,
    select,
    update,
)

from ml_connector.core.model import require_utc
from ml_connector.state._base import IN_CHUNK, StoreBase, check_statuses, chunked
from ml_connector.state.hashing import record_hash
from ml_connector.state.rows import RecordRow, UpsertResult
from ml_connector.state.schema import (
    PARKED_STATUSES,
    RECORD_STATUSES,
    record_status,
    source_record_versions,
    source_records,
)

_r, _s = source_records, record_status

# (source id, the version that was processed, status, reason)
RecordMark = tuple[str, int, str, str | None]


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


def _pair_status() -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The derived status and reason of a record for the pair joined in ``_base_query``."""
    unseen = _s.c.record_id.is_(None)
    stale = _r.c.version > _s.c.processed_version
    status = case((unseen, literal("new")), (stale, literal("changed")), else_=_s.c.status)
    reason = case((unseen | stale, null()), else_=_s.c.reason)
    return status, reason


def _base_query(system: str, store: str, object: str, pair: str | None) -> tuple[Select[Any], ColumnElement[Any] | None]:
    """Records of one store and object, with the pair's derived status (None without a pair)."""
    columns = (_r.c.id, _r.c.source_id, _r.c.payload, _r.c.version, _r.c.content_hash, _r.c.source_updated_at)
    where = (_r.c.system == system, _r.c.store == store, _r.c.object == object)
    if pair is None:
        query = select(*columns, null().label("status"), null().label("reason")).where(*where)
        return query, None
    status, reason = _pair_status()
    joined = _r.outerjoin(_s, and_(_s.c.record_id == _r.c.id, _s.c.pair == pair))
    query = select(*columns, status.label("status"), reason.label("reason")).select_from(joined).where(*where)
    return query, status


def pair_records_query(system: str, store: str, object: str, pair: str) -> Select[Any]:
    """A SELECT of one store's records with ``pair``'s derived ``status`` and ``reason`` columns."""
    return _base_query(system, store, object, pair)[0]


class RecordStore(StoreBase):
    def upsert_records(
        self,
        system: str,
        object: str,
        items: Iterable[tuple[str, dict[str, Any], dt.datetime | None]],
        *,
        store: str,
    ) -> UpsertResult:
        """Insert new records, version changed ones, leave unchanged ones alone; one commit.

        An unchanged record keeps every pair's status (so it is not processed again); a changed
        one gets ``version + 1``, which makes it ``changed`` for every pair that had processed it.
        Every version is kept in ``source_record_versions``.
        """
        incoming: dict[str, _Incoming] = {}
        for source_id, payload, updated_at in items:
            where = f"{system} {store} {object} {source_id}"
            incoming[str(source_id)] = _Incoming(
                payload=payload,
                content_hash=record_hash(payload),
                source_updated_at=None
                if updated_at is None
                else require_utc(updated_at, f"{where} updated_at"),
            )
        if not incoming:
            return UpsertResult(0, 0, 0)
        return self._in_write(lambda conn: self._upsert_records(conn, system, store, object, incoming))

    def _upsert_records(
        self, conn: Connection, system: str, store: str, object: str, incoming: dict[str, _Incoming]
    ) -> UpsertResult:
        existing: dict[str, Row[Any]] = {}
        for chunk in chunked(incoming, IN_CHUNK):
            query = select(_r.c.id, _r.c.source_id, _r.c.content_hash, _r.c.version).where(
                _r.c.system == system, _r.c.store == store, _r.c.object == object, _r.c.source_id.in_(chunk)
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
                        "store": store,
                        "object": object,
                        "source_id": source_id,
                        "content_hash": item.content_hash,
                        "version": 1,
                        "payload": item.payload,
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
        store: str,
        pair: str | None = None,
        batch_size: int = 1000,
    ) -> Iterator[RecordRow]:
        """Stream one store's records in id order, one short query per batch (memory stays flat).

        With ``pair`` each row carries that pair's status and reason (see the module docstring)
        and ``statuses`` filters on them; without it status and reason are None. Safe to
        ``mark_records`` while iterating: paging is by id, not by offset.
        """
        check_statuses(statuses, RECORD_STATUSES, "records()")
        if statuses is not None and pair is None:
            raise ValueError("records(statuses=...): a status is a fact about one pair; pass pair=")
        query, status = _base_query(system, store, object, pair)
        if statuses is not None and status is not None:
            query = query.where(status.in_(list(statuses)))
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

    def parked_records(self, pair: str, system: str, object: str, *, store: str) -> Iterator[RecordRow]:
        """The pair's records that need a person: a missing mapping or a failed business rule."""
        return self.records(system, object, statuses=PARKED_STATUSES, store=store, pair=pair)

    def mark_records(
        self,
        pair: str,
        system: str,
        object: str,
        updates: Iterable[RecordMark],
        *,
        store: str,
    ) -> int:
        """Store what ``pair`` did with each record, in one transaction; returns how many were stored.

        Each update names the version the pair processed. A record versioned again since (a
        concurrent extract) is left alone: it stays ``changed`` for the pair, and the next run
        processes the newer version. No lock is needed for that: should an extract version the
        record between this check and the write, the stored ``processed_version`` is still the
        older one, so the record still reads ``changed``. A mark never replaces one made at a
        newer version (a slow run finishing after a faster one).
        """
        marks = {str(sid): (int(version), status, reason) for sid, version, status, reason in updates}
        check_statuses({status for _, status, _ in marks.values()}, RECORD_STATUSES, "mark_records()")
        if not marks:
            return 0
        return self._in_write(lambda conn: self._mark(conn, pair, system, store, object, marks))

    def _mark(
        self,
        conn: Connection,
        pair: str,
        system: str,
        store: str,
        object: str,
        marks: dict[str, tuple[int, str, str | None]],
    ) -> int:
        now = self.now()
        rows: list[dict[str, Any]] = []
        for chunk in chunked(marks, IN_CHUNK):
            query = select(_r.c.id, _r.c.source_id, _r.c.version).where(
                _r.c.system == system, _r.c.store == store, _r.c.object == object, _r.c.source_id.in_(chunk)
            )
            for row in conn.execute(query):
                version, status, reason = marks[row.source_id]
                if row.version == version:
                    rows.append({"pair": pair, "record_id": row.id, "status": status, "reason": reason,
                                 "processed_version": version, "updated_at": now})  # fmt: skip
        if rows:
            statement = self._upsert(_s)
            conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["pair", "record_id"],
                    set_={
                        "status": statement.excluded.status,
                        "reason": statement.excluded.reason,
                        "processed_version": statement.excluded.processed_version,
                        "updated_at": statement.excluded.updated_at,
                    },
                    where=_s.c.processed_version <= statement.excluded.processed_version,
                ),
                rows,
            )
        return len(rows)
