"""Dry run: what a real run would post, computed without writing anything anywhere.

A dry run reads the store exactly as a real run would (the same window from the same
watermarks, the same webhook inbox), but keeps the records in memory: state, watermarks, the
inbox, the store's webhooks and the ERP are left untouched. The journals are planned by the
same code as a real run, over state *as it would be* after the upsert, and logged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Iterator
from typing import Any

from ml_connector.state.hashing import record_hash
from ml_connector.state.rows import RecordRow
from ml_connector.storefronts.base import RawRecord


class PreviewRecords:
    """State's records with fetched ones laid over them (as an upsert would leave them); read-only.

    Built for one pair's run, so one store: the fetched records are that store's. Only what
    planning reads is offered (``records`` and ``order_documents``); a write fails loudly.
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self._fetched: dict[tuple[str, str], dict[str, RawRecord]] = {}

    def add(self, system: str, obj: str, records: Iterable[RawRecord]) -> None:
        bucket = self._fetched.setdefault((system, obj), {})
        for record in records:
            bucket[str(record[0])] = record

    def count(self, obj: str) -> int:
        return sum(len(v) for (_, o), v in self._fetched.items() if o == obj)

    def records(
        self,
        system: str,
        object: str,
        statuses: Collection[str] | None = None,
        source_ids: Collection[str] | None = None,
        *,
        store: str,
        pair: str | None = None,
        **_: Any,
    ) -> Iterator[RecordRow]:
        fetched = self._fetched.get((system, object), {})
        stored = {
            row.source_id: row
            for row in self._store.records(system, object, source_ids=source_ids, store=store, pair=pair)
        }
        wanted = None if source_ids is None else {str(s) for s in source_ids}
        for source_id in sorted(stored.keys() | fetched.keys(), key=_id_order):
            if wanted is not None and source_id not in wanted:
                continue
            row = self._overlay(stored.get(source_id), fetched.get(source_id))
            if row is not None and (statuses is None or row.status in statuses):
                yield row

    @staticmethod
    def _overlay(row: RecordRow | None, record: RawRecord | None) -> RecordRow | None:
        if record is None:
            return row
        source_id, payload, updated_at = record
        digest = record_hash(payload)
        if row is None:
            return RecordRow(id=0, source_id=str(source_id), payload=payload, status="new", reason=None, version=1,
                             content_hash=digest, source_updated_at=updated_at)
        if row.content_hash == digest:
            return row
        return dataclasses.replace(row, payload=payload, status="changed", reason=None, version=row.version + 1,
                                   content_hash=digest)

    def order_documents(self, pair: str, system: str, order_ids: Collection[str]) -> Any:
        return self._store.order_documents(pair, system, order_ids)

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"a dry run does not write: PreviewRecords has no {name!r}")


def _id_order(source_id: str) -> tuple[int, int | str]:
    return (0, int(source_id)) if source_id.isdigit() else (1, source_id)
