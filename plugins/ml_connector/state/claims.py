"""Claiming journals for posting and recording what the ERP answered.

A claim is a lease: ``claim_token`` + ``lease_expires_at``. A worker that dies keeps nothing
for long; its journals become claimable again when the lease runs out. Every outcome is
appended to ``postings`` so the history of attempts survives the journal's current status.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, insert, or_, select, update

from ml_connector.state._base import IN_CHUNK, StoreBase, check_statuses, chunked
from ml_connector.state.journals import load_stored
from ml_connector.state.rows import ClaimedJournal, JournalNotFound, LeaseLost, PostingRow
from ml_connector.state.schema import POSTING_STATUSES, journals, postings

_j, _p = journals, postings

# "posted" only for an explicit replay (the loader looks the key up in the ERP before posting).
CLAIMABLE_STATUSES = ("ready", "failed", "needs_review", "dry_run", "posted")
# A posting outcome -> the journal's status afterwards. "needs_review" is accepted as a synonym
# of "conflict" (the ERP holds a different document under this key).
POSTING_OUTCOMES = {
    "posted": "posted",
    "already_present": "posted",
    "failed": "failed",
    "conflict": "needs_review",
    "needs_review": "needs_review",
    "dry_run": "dry_run",
}


class ClaimStore(StoreBase):
    def claim_journals(
        self,
        pair: str,
        *,
        limit: int,
        worker: str,
        lease_seconds: float = 600,
        keys: Collection[str] | None = None,
        statuses: Collection[str] = ("ready", "failed"),
        after_id: int = 0,
    ) -> list[ClaimedJournal]:
        """Atomically take up to ``limit`` journals for ``worker``; no two workers get the same one.

        Eligible: ``statuses`` (``failed`` included so "clear and re-run" retries them) plus any
        ``claimed`` journal whose lease expired, in id order from ``after_id`` (exclusive): a
        caller that passes its last claimed id never gets a journal twice in one sweep, even one
        that went back to an eligible status meanwhile. ``attempts`` counts claims.
        PostgreSQL: ``FOR UPDATE SKIP LOCKED`` so workers never wait on each other.
        SQLite: one UPDATE inside ``BEGIN IMMEDIATE`` (writers are serialised by the database).
        """
        check_statuses(statuses, CLAIMABLE_STATUSES, "claim_journals()")
        if limit <= 0:
            return []
        now = self.now()
        token = uuid.uuid4().hex
        eligible = and_(
            _j.c.pair == pair,
            _j.c.id > after_id,
            or_(
                _j.c.status.in_(list(statuses)),
                and_(_j.c.status == "claimed", _j.c.lease_expires_at < now),
            ),
        )
        if keys is not None:
            eligible = and_(eligible, _j.c.key.in_(list(keys)))
        pick = select(_j.c.id).where(eligible).order_by(_j.c.id).limit(limit)
        if self.is_postgres:
            picked = pick.with_for_update(skip_locked=True).cte("picked")
            claim = update(_j).where(_j.c.id == picked.c.id)
        else:
            claim = update(_j).where(_j.c.id.in_(pick.scalar_subquery()))
        claim = claim.values(
            status="claimed",
            claim_token=token,
            claimed_by=worker,
            claimed_at=now,
            lease_expires_at=now + dt.timedelta(seconds=lease_seconds),
            attempts=_j.c.attempts + 1,
            updated_at=now,
        ).returning(_j.c.id)

        def work(conn: Connection) -> list[ClaimedJournal]:
            ids = [row.id for row in conn.execute(claim)]
            if not ids:
                return []
            return [
                ClaimedJournal(id=s.id, key=s.key, attempts=s.attempts, journal=s.journal, claim_token=token)
                for s in load_stored(conn, _j.c.id.in_(ids))
            ]

        return self._in_write(work)

    def release_claims(self, pair: str, worker: str | None) -> int:
        """Hand back what ``worker`` still holds (graceful shutdown); returns how many.

        A released journal is ``posted`` again if the ERP ever accepted it (a replay that was
        claimed but never sent must not look unposted), ``ready`` otherwise.
        ``worker=None`` releases every claim of the pair: only for a caller that knows no other
        worker of the pair is running (e.g. the single load task of a pair after a crash).
        """
        where = and_(_j.c.pair == pair, _j.c.status == "claimed")
        if worker is not None:
            where = and_(where, _j.c.claimed_by == worker)
        status = case((_j.c.posted_at.is_not(None), "posted"), else_="ready")
        statement = update(_j).where(where).values(**_no_claim(), status=status, updated_at=self.now())
        return self._in_write(lambda conn: conn.execute(statement).rowcount)

    def fix_document_ids(self, proposed: Mapping[int, str]) -> dict[int, str]:
        """Store each journal's ERP document id unless one is stored already; return the stored ids.

        DESIGN §5: the key is fixed at the first attempt and every retry or replay reuses it, so
        a later change of what the key is derived from (a connection's prefix) cannot post twice.
        The first id stored wins; ``proposed`` maps journal id -> the id computed now.
        """
        fill = (
            update(_j)
            .where(_j.c.id == bindparam("journal_id"), _j.c.erp_document_id.is_(None))
            .values(erp_document_id=bindparam("document_id"))
        )

        def work(conn: Connection) -> dict[int, str]:
            stored: dict[int, str] = {}
            for chunk in chunked(sorted(proposed), IN_CHUNK):
                conn.execute(fill, [{"journal_id": i, "document_id": proposed[i]} for i in chunk])
                query = select(_j.c.id, _j.c.erp_document_id).where(_j.c.id.in_(chunk))
                stored.update((row.id, row.erp_document_id) for row in conn.execute(query))
            return stored

        return self._in_write(work) if proposed else {}

    def finish_posting(
        self,
        journal_id: int,
        *,
        status: str,
        erp_document_id: str | None = None,
        error: str | None = None,
        run_id: str | None = None,
        try_number: int | None = None,
        replay_of: int | None = None,
        erp: str = "",
        claim_token: str | None = None,
        outcome: str | None = None,
    ) -> int:
        """Record the outcome of posting one journal; returns the new ``postings`` row id.

        ``status`` is a posting outcome (see ``POSTING_OUTCOMES``) and decides the journal's
        status; ``outcome`` optionally refines the ``postings`` row (``status="posted",
        outcome="already_present"``). With ``claim_token``, a worker whose lease was lost to
        another worker gets ``LeaseLost`` instead of overwriting.
        """
        if status not in POSTING_OUTCOMES:
            raise ValueError(
                f"finish_posting({journal_id}): unknown status {status!r}; expected {sorted(POSTING_OUTCOMES)}"
            )
        posting_status = outcome or ("conflict" if status == "needs_review" else status)
        check_statuses({posting_status}, POSTING_STATUSES, f"finish_posting({journal_id}) outcome")

        def work(conn: Connection) -> int:
            row = conn.execute(select(_j).where(_j.c.id == journal_id).with_for_update()).one_or_none()
            if row is None:
                raise JournalNotFound(f"finish_posting: no journal with id {journal_id}")
            if claim_token is not None and row.claim_token != claim_token:
                raise LeaseLost(
                    f"journal {row.pair}/{row.key}: claim token does not match; its lease expired and "
                    "another worker claimed it, so this result is not recorded on the journal"
                )
            now = self.now()
            journal_status = POSTING_OUTCOMES[status]
            conn.execute(
                update(_j)
                .where(_j.c.id == journal_id)
                .values(
                    **_no_claim(),
                    status=journal_status,
                    erp_document_id=erp_document_id or row.erp_document_id,
                    last_error=error if journal_status in ("failed", "needs_review") else None,
                    posted_at=now if journal_status == "posted" else row.posted_at,
                    updated_at=now,
                )
            )
            return self._insert_posting(
                conn,
                document_type="journal",
                document_key=row.key,
                pair=row.pair,
                erp=erp,
                attempt=row.attempts,
                status=posting_status,
                erp_document_id=erp_document_id,
                error=error,
                started_at=row.claimed_at or now,
                finished_at=now,
                replay_of=replay_of,
                run_id=run_id,
                try_number=try_number,
            )

        return self._in_write(work)

    def record_posting(
        self,
        *,
        document_type: str,
        document_key: str,
        pair: str,
        erp: str,
        status: str,
        attempt: int = 1,
        erp_document_id: str | None = None,
        error: str | None = None,
        started_at: dt.datetime | None = None,
        run_id: str | None = None,
        try_number: int | None = None,
        replay_of: int | None = None,
    ) -> int:
        """Append a posting that is not a claimed journal's (customers, replays); returns its id."""
        check_statuses({status}, POSTING_STATUSES, "record_posting()")
        now = self.now()
        return self._in_write(
            lambda conn: self._insert_posting(
                conn,
                document_type=document_type,
                document_key=document_key,
                pair=pair,
                erp=erp,
                attempt=attempt,
                status=status,
                erp_document_id=erp_document_id,
                error=error,
                started_at=started_at or now,
                finished_at=now,
                replay_of=replay_of,
                run_id=run_id,
                try_number=try_number,
            )
        )

    @staticmethod
    def _insert_posting(conn: Connection, **values: Any) -> int:
        return conn.execute(insert(_p).values(**values).returning(_p.c.id)).scalar_one()

    def last_posting_id(self, journal_key: str, pair: str | None = None) -> int | None:
        """The latest posting of a document key (what a replay points ``replay_of`` at)."""
        query = select(_p.c.id).where(_p.c.document_key == journal_key).order_by(_p.c.id.desc()).limit(1)
        if pair is not None:
            query = query.where(_p.c.pair == pair)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def postings_for(self, journal_key: str, pair: str | None = None) -> list[PostingRow]:
        """Every posting attempt for a document key, oldest first."""
        query = select(_p).where(_p.c.document_key == journal_key).order_by(_p.c.id)
        if pair is not None:
            query = query.where(_p.c.pair == pair)
        with self.engine.connect() as conn:
            return [PostingRow(**row._asdict()) for row in conn.execute(query)]


def _no_claim() -> dict[str, None]:
    return {"claim_token": None, "claimed_by": None, "claimed_at": None, "lease_expires_at": None}
