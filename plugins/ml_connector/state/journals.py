"""Journals: save by idempotency key, rebuild canonical ``Journal`` objects, query by period."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, delete, func, insert, select, true, update

from ml_connector.core.model import Journal, JournalKind, JournalLine, SourceRef
from ml_connector.state._base import IN_CHUNK, StoreBase, check_statuses, chunked
from ml_connector.state.hashing import journal_content_hash
from ml_connector.state.rows import JournalConflict, JournalNotFound, SaveResult, StoredJournal
from ml_connector.state.schema import JOURNAL_STATUSES, journal_lines, journal_sources, journals

_j, _l, _s = journals, journal_lines, journal_sources

SAVEABLE_STATUSES = ("ready", "dry_run", "needs_review", "detail")
# Never rewritten by save_journals: the ERP has it, or a worker is posting it right now.
_POSTED, _IN_FLIGHT = "posted", "claimed"
_UNTOUCHABLE = (_POSTED, _IN_FLIGHT)
# Committed: the content (and so the ERP key and date) is fixed for good, whatever the source does
# later: posted, being posted, rolled into a daily summary, or attempted at least once.
COMMITTED_STATUSES = (_POSTED, _IN_FLIGHT, "summarised")


def is_committed(status: str, attempts: int) -> bool:
    """Whether a journal's content is fixed (see ``COMMITTED_STATUSES``); drafts may be rebuilt."""
    return attempts > 0 or status in COMMITTED_STATUSES
# Same content saved again with another status: a dry run becoming real, a superseded one revived.
_RESTATABLE = ("dry_run", "superseded")


def _pairs(value: Iterable[tuple[str, str]]) -> list[list[str]]:
    return [[k, v] for k, v in value]


def _header_values(journal: Journal, content_hash: str) -> dict[str, Any]:
    return {
        "kind": str(journal.kind),
        "store_id": journal.store_id,
        "currency": journal.currency,
        "base_currency": journal.base_currency,
        "fx_rate": journal.fx_rate,
        "posting_date": journal.posting_date,
        "description": journal.description,
        "header": _pairs(journal.header),
        "content_hash": content_hash,
    }


def _line_rows(journal_id: int, journal: Journal) -> list[dict[str, Any]]:
    return [
        {
            "journal_id": journal_id,
            "line_no": no,
            "role": ln.role,
            "dims": _pairs(ln.dims),
            "amount": ln.amount,
            "base_amount": ln.base_amount,
            "currency": ln.currency,
            "description": ln.description,
            "reference": ln.reference,
        }
        for no, ln in enumerate(journal.lines, start=1)
    ]


def _source_rows(journal_id: int, journal: Journal) -> list[dict[str, Any]]:
    unique = dict.fromkeys(journal.sources)  # the key allows each source once; keep first-seen order
    return [
        {"journal_id": journal_id, "system": s.system, "object": s.object, "source_id": s.id, "position": pos}
        for pos, s in enumerate(unique)
    ]


def _journal_from_rows(head: Row[Any], lines: list[Row[Any]], sources: list[Row[Any]]) -> Journal:
    return Journal(
        pair=head.pair,
        key=head.key,
        kind=JournalKind(head.kind),
        store_id=head.store_id,
        currency=head.currency,
        base_currency=head.base_currency,
        fx_rate=head.fx_rate,
        posting_date=head.posting_date,
        description=head.description,
        header=tuple((k, v) for k, v in head.header),
        lines=tuple(
            JournalLine(
                role=ln.role,
                dims=tuple((k, v) for k, v in ln.dims),
                amount=ln.amount,
                base_amount=ln.base_amount,
                currency=ln.currency,
                description=ln.description,
                reference=ln.reference,
            )
            for ln in lines
        ),
        sources=tuple(SourceRef(system=s.system, object=s.object, id=s.source_id) for s in sources),
    )


def load_stored(
    conn: Connection, where: ColumnElement[bool], limit: int | None = None
) -> list[StoredJournal]:
    """Journals matching ``where`` with their lines and sources, in id order (three queries per batch)."""
    query = select(_j).where(where).order_by(_j.c.id)
    if limit is not None:
        query = query.limit(limit)
    heads = conn.execute(query).all()
    lines: dict[int, list[Row[Any]]] = defaultdict(list)
    sources: dict[int, list[Row[Any]]] = defaultdict(list)
    for ids in chunked([h.id for h in heads], IN_CHUNK):
        for ln in conn.execute(
            select(_l).where(_l.c.journal_id.in_(ids)).order_by(_l.c.journal_id, _l.c.line_no)
        ):
            lines[ln.journal_id].append(ln)
        for src in conn.execute(
            select(_s).where(_s.c.journal_id.in_(ids)).order_by(_s.c.journal_id, _s.c.position)
        ):
            sources[src.journal_id].append(src)
    return [
        StoredJournal(
            id=h.id,
            key=h.key,
            status=h.status,
            attempts=h.attempts,
            erp_document_id=h.erp_document_id,
            last_error=h.last_error,
            posted_at=h.posted_at,
            journal=_journal_from_rows(h, lines[h.id], sources[h.id]),
        )
        for h in heads
    ]


class JournalStore(StoreBase):
    def save_journals(self, pair: str, journals: Iterable[Journal], status: str = "ready") -> SaveResult:
        """Store journals by (pair, key), idempotently, in one transaction.

        New key: inserted. Same content: untouched. Changed content of a draft (never attempted):
        lines replaced and status reset to ``status``. Changed content of a committed journal
        (posted, summarised, or attempted: the ERP may hold it): untouched and reported in
        ``conflicts``, so the caller books an adjustment instead.
        """
        check_statuses({status}, SAVEABLE_STATUSES, "save_journals()")
        batch: dict[str, tuple[Journal, str]] = {}
        for journal in journals:
            if journal.pair != pair:
                raise ValueError(f"journal {journal.key}: pair {journal.pair!r} saved under pair {pair!r}")
            digest = journal_content_hash(journal)
            earlier = batch.get(journal.key)
            if earlier is not None and earlier[1] != digest:
                raise ValueError(
                    f"journal key {journal.key!r} appears twice in one save with different content"
                )
            batch[journal.key] = (journal, digest)
        if not batch:
            return SaveResult()
        return self._in_write(lambda conn: self._save(conn, pair, batch, status))

    def _save(
        self, conn: Connection, pair: str, batch: dict[str, tuple[Journal, str]], status: str
    ) -> SaveResult:
        existing: dict[str, Row[Any]] = {}
        for keys in chunked(batch, IN_CHUNK):
            query = select(_j.c.id, _j.c.key, _j.c.content_hash, _j.c.status, _j.c.attempts).where(
                _j.c.pair == pair, _j.c.key.in_(keys)
            )
            existing.update((row.key, row) for row in conn.execute(query))

        now = self.now()
        to_insert: list[Journal] = []
        to_replace: list[tuple[int, Journal, str]] = []
        restate: list[int] = []
        unchanged: list[str] = []
        conflicts: list[JournalConflict] = []
        in_flight: list[str] = []
        for key, (journal, digest) in batch.items():
            old = existing.get(key)
            if old is None:
                to_insert.append(journal)
            elif old.content_hash == digest:
                if old.status in _RESTATABLE and old.status != status:
                    restate.append(old.id)
                unchanged.append(key)
            elif old.status == _IN_FLIGHT:
                in_flight.append(key)
            elif is_committed(old.status, old.attempts):
                conflicts.append(JournalConflict(key, old.id, old.status, old.content_hash, digest))
            else:
                to_replace.append((old.id, journal, digest))

        ids = {key: row.id for key, row in existing.items()}
        child_rows: list[tuple[int, Journal]] = []
        if to_insert:
            head_rows = [
                {
                    "pair": pair,
                    "key": j.key,
                    **_header_values(j, batch[j.key][1]),
                    "status": status,
                    "attempts": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for j in to_insert
            ]
            result = conn.execute(
                insert(_j).returning(_j.c.id, _j.c.key, sort_by_parameter_order=True), head_rows
            )
            new_ids = {row.key: row.id for row in result}
            ids.update(new_ids)
            child_rows += [(new_ids[j.key], j) for j in to_insert]
        if to_replace:
            replaced_ids = [journal_id for journal_id, _, _ in to_replace]
            for chunk in chunked(replaced_ids, IN_CHUNK):
                conn.execute(delete(_l).where(_l.c.journal_id.in_(chunk)))
                conn.execute(delete(_s).where(_s.c.journal_id.in_(chunk)))
            for journal_id, journal, digest in to_replace:
                conn.execute(
                    update(_j)
                    .where(_j.c.id == journal_id)
                    .values(
                        **_header_values(journal, digest),
                        status=status,
                        erp_document_id=None,
                        last_error=None,
                        updated_at=now,
                    )
                )
            child_rows += [(journal_id, journal) for journal_id, journal, _ in to_replace]
        if restate:
            conn.execute(update(_j).where(_j.c.id.in_(restate)).values(status=status, updated_at=now))
        lines = [row for journal_id, j in child_rows for row in _line_rows(journal_id, j)]
        sources = [row for journal_id, j in child_rows for row in _source_rows(journal_id, j)]
        if lines:
            conn.execute(insert(_l), lines)
        if sources:
            conn.execute(insert(_s), sources)
        return SaveResult(
            inserted=tuple(j.key for j in to_insert),
            replaced=tuple(j.key for _, j, _ in to_replace),
            unchanged=tuple(unchanged),
            conflicts=tuple(conflicts),
            in_flight=tuple(in_flight),
            ids=ids,
        )

    def stored_journal(self, ref: int | str, pair: str | None = None) -> StoredJournal:
        """A journal by id, or by key (``pair`` disambiguates keys shared by several pairs)."""
        if isinstance(ref, int):
            where: ColumnElement[bool] = _j.c.id == ref
        else:
            where = (_j.c.key == ref) & ((_j.c.pair == pair) if pair is not None else true())
        with self.engine.connect() as conn:
            found = load_stored(conn, where, limit=2)
        if not found:
            raise JournalNotFound(f"no journal {ref!r}" + (f" in pair {pair!r}" if pair else ""))
        if len(found) > 1:
            raise JournalNotFound(f"journal key {ref!r} exists in several pairs; pass pair=")
        return found[0]

    def load_journal(self, ref: int | str, pair: str | None = None) -> Journal:
        """The canonical ``Journal`` as saved (amounts padded to 4 decimals: equal, not identical, Decimals)."""
        return self.stored_journal(ref, pair).journal

    def journal_status(self, pair: str, key: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                select(_j.c.status).where(_j.c.pair == pair, _j.c.key == key)
            ).scalar_one_or_none()

    def journals_between(
        self,
        pair: str,
        start_date: dt.date,
        end_date: dt.date,
        statuses: Collection[str] | None = None,
        *,
        batch_size: int = 500,
    ) -> Iterator[StoredJournal]:
        """Journals with ``start_date <= posting_date <= end_date`` (both inclusive), streamed by id."""
        check_statuses(statuses, JOURNAL_STATUSES, "journals_between()")
        where = (_j.c.pair == pair) & (_j.c.posting_date >= start_date) & (_j.c.posting_date <= end_date)
        if statuses is not None:
            where = where & _j.c.status.in_(list(statuses))
        last_id = 0
        while True:
            with self.engine.connect() as conn:
                batch = load_stored(conn, where & (_j.c.id > last_id), limit=batch_size)
            if not batch:
                return
            yield from batch
            last_id = batch[-1].id

    def journals_for_source(self, system: str, object: str, source_id: str) -> list[tuple[str, str, str]]:
        """(pair, key, status) of every journal built from that storefront object ("where is order X?")."""
        query = (
            select(_j.c.pair, _j.c.key, _j.c.status)
            .join(_s, _s.c.journal_id == _j.c.id)
            .where(_s.c.system == system, _s.c.object == object, _s.c.source_id == str(source_id))
            .order_by(_j.c.id)
        )
        with self.engine.connect() as conn:
            return [(row.pair, row.key, row.status) for row in conn.execute(query)]

    def journals_with_status(self, pair: str, status: str, *, batch_size: int = 500) -> Iterator[Journal]:
        """Every journal of the pair in ``status`` (e.g. the ``detail`` journals of a daily run), by id."""
        check_statuses({status}, JOURNAL_STATUSES, "journals_with_status()")
        where = (_j.c.pair == pair) & (_j.c.status == status)
        last_id = 0
        while True:
            with self.engine.connect() as conn:
                batch = load_stored(conn, where & (_j.c.id > last_id), limit=batch_size)
            if not batch:
                return
            yield from (stored.journal for stored in batch)
            last_id = batch[-1].id

    def journal_keys_with_status(self, pair: str, statuses: Collection[str]) -> list[str]:
        check_statuses(statuses, JOURNAL_STATUSES, "journal_keys_with_status()")
        query = select(_j.c.key).where(_j.c.pair == pair, _j.c.status.in_(list(statuses))).order_by(_j.c.id)
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def journal_keys_for_source(self, pair: str, system: str, object: str, source_id: str) -> list[str]:
        """Keys of the pair's journals built from that storefront object (sale, refunds, reversal, daily)."""
        return [key for p, key, _ in self.journals_for_source(system, object, source_id) if p == pair]

    def set_journal_status(self, pair: str, keys: Collection[str], status: str) -> int:
        """Move journals between bookkeeping states (``detail`` -> ``summarised``, ...).

        Posted and claimed journals are never touched: posting outcomes go through ``finish_posting``.
        Returns how many journals changed.
        """
        check_statuses({status}, set(JOURNAL_STATUSES) - set(_UNTOUCHABLE), "set_journal_status()")
        now = self.now()

        def work(conn: Connection) -> int:
            changed = 0
            for chunk in chunked(list(keys), IN_CHUNK):
                statement = (
                    update(_j)
                    .where(_j.c.pair == pair, _j.c.key.in_(chunk), _j.c.status.not_in(_UNTOUCHABLE))
                    .values(status=status, updated_at=now)
                )
                changed += conn.execute(statement).rowcount
            return changed

        return self._in_write(work)

    def order_documents(self, pair: str, system: str, order_ids: Collection[str]) -> dict[str, list[StoredJournal]]:
        """Per order id: the pair's journals built from it (sale, adjustments, refunds; no daily
        summaries), every status included, oldest first. One query per chunk of orders."""
        found: dict[str, list[StoredJournal]] = defaultdict(list)
        for chunk in chunked(sorted({str(i) for i in order_ids}), IN_CHUNK):
            pairs = select(_s.c.journal_id, _s.c.source_id).where(
                _s.c.system == system, _s.c.object == "order", _s.c.source_id.in_(chunk)
            )
            with self.engine.connect() as conn:
                owners: dict[int, str] = {row.journal_id: row.source_id for row in conn.execute(pairs)}
                if not owners:
                    continue
                where = (_j.c.pair == pair) & (_j.c.kind != JournalKind.DAILY.value)
                stored = [s for ids in chunked(list(owners), IN_CHUNK) for s in load_stored(conn, where & _j.c.id.in_(ids))]
            for item in stored:
                found[owners[item.id]].append(item)
        return dict(found)

    def withdraw_drafts(self, pair: str, keys: Collection[str], reason: str) -> int:
        """Supersede journals never attempted (the record changed before posting); committed ones stay."""
        now = self.now()

        def work(conn: Connection) -> int:
            changed = 0
            for chunk in chunked(sorted(keys), IN_CHUNK):
                statement = (
                    update(_j)
                    .where(
                        _j.c.pair == pair, _j.c.key.in_(chunk), _j.c.attempts == 0,
                        _j.c.status.not_in((*COMMITTED_STATUSES, "superseded")),
                    )
                    .values(status="superseded", last_error=reason, updated_at=now)
                )
                changed += conn.execute(statement).rowcount
            return changed

        return self._in_write(work) if keys else 0

    def summarise_details(
        self,
        pair: str,
        build: Callable[[list[Journal], Callable[[str, str, dt.date], int]], list[Journal]],
        *,
        before: dt.date | None = None,
    ) -> list[str]:
        """Roll ``detail`` journals into daily summaries, in one transaction; returns the new keys.

        ``build(details, next_number)`` makes the summaries; ``next_number(store, currency, day)``
        is 1 + the day's summaries already saved, so a day posted before gets a numbered delta
        and no summary key depends on which orders happened to be present. Saving the summaries
        and marking their details ``summarised`` commit together: a crash leaves neither.
        ``before`` (exclusive) keeps days still open out of the summary.
        """

        def work(conn: Connection) -> list[str]:
            where = (_j.c.pair == pair) & (_j.c.status == "detail")
            if before is not None:
                where = where & (_j.c.posting_date < before)
            details = load_stored(conn, where)
            if not details:
                return []
            counts: dict[tuple[str, str, dt.date], int] = defaultdict(int)
            query = (
                select(_j.c.store_id, _j.c.currency, _j.c.posting_date, func.count())
                .where(_j.c.pair == pair, _j.c.kind == JournalKind.DAILY.value)
                .group_by(_j.c.store_id, _j.c.currency, _j.c.posting_date)
            )
            for store_id, currency, day, n in conn.execute(query):
                counts[(store_id, currency, day)] = n

            def next_number(store_id: str, currency: str, day: dt.date) -> int:
                return counts[(store_id, currency, day)] + 1

            summaries = build([d.journal for d in details], next_number)
            saved = self._save(conn, pair, {j.key: (j, journal_content_hash(j)) for j in summaries}, "ready")
            if saved.conflicts or saved.unchanged:
                raise ValueError(f"daily summary keys already used: {[c.key for c in saved.conflicts] + list(saved.unchanged)}")
            ids = [d.id for d in details]
            for chunk in chunked(ids, IN_CHUNK):
                conn.execute(update(_j).where(_j.c.id.in_(chunk)).values(status="summarised", updated_at=self.now()))
            return [j.key for j in summaries]

        return self._in_write(work)

    def supersede_journal(self, pair: str, key: str, reason: str) -> bool:
        """Withdraw an unposted journal (its order was cancelled before posting); False if posted or in flight."""
        statement = (
            update(_j)
            .where(_j.c.pair == pair, _j.c.key == key, _j.c.status.not_in(_UNTOUCHABLE))
            .values(status="superseded", last_error=reason, updated_at=self.now())
        )
        return self._in_write(lambda conn: conn.execute(statement).rowcount == 1)
