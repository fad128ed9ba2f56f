"""Step 3: post ready journals into the ERP, exactly once.

Journals are claimed (safe under concurrent workers), looked up in the ERP by their
deterministic key when a previous attempt may have reached it, and created only if absent;
the ERP's answer and every exchange land in the audit trail. One failing journal does not
stop the others; the task fails at the end if any failed, so "clear" in the Airflow UI
re-runs exactly what is left. Credentials that the ERP rejects stop the task at once:
every other journal would fail the same way.

Each try attempts every journal it takes at most once: a normal run sweeps the ready and
failed journals in id order (a journal that fails in this try waits for the next one); a
replay claims its journal keys chunk by chunk, so a journal it posts is not claimable again
by the same run. The ERP document id is stored before the first attempt sends anything and
every later attempt reuses it (DESIGN §5).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ml_connector.audit import correlate
from ml_connector.errors import AuthenticationError, ConnectorError, ParkedError, ValidationRejected
from ml_connector.state import ClaimedJournal
from ml_connector.tasks.runtime import Params, Runtime

log = logging.getLogger("ml_connector.load")

# A normal run retries what failed before; a replay also re-checks posted and parked journals
# (looked up in the ERP first, so a posted one is confirmed, never posted twice).
RETRYABLE = ("ready", "failed")
REPLAYABLE = ("ready", "failed", "posted", "needs_review")
_KEEP = 50  # messages kept per list in the task's summary


class LoadFailed(ConnectorError):
    """Some journals could not be posted; they stay claimable for the next try."""


@dataclass
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    auth_error: AuthenticationError | None = None

    def add(self, status: str, error: str | None = None) -> None:
        with self.lock:
            self.counts[status] += 1
            if error and len(self.errors) < _KEEP:
                self.errors.append(error)

    def skip(self, notes: Sequence[str]) -> None:
        """Replay keys that could not be taken (not replayable, or held by a live worker)."""
        with self.lock:
            self.counts["skipped"] += len(notes)
            self.skipped.extend(notes[: _KEEP - len(self.skipped)])


@dataclass(frozen=True)
class _Attempt:
    """One claimed journal as this try posts it."""

    claimed: ClaimedJournal
    document_id: str  # fixed at the first attempt
    replay_of: int | None  # the posting a replay follows up


def _replay_keys(rt: Runtime, params: Params) -> list[str] | None:
    """Journal keys a replay asks for, or None for a normal run."""
    if not params.is_replay:
        return None
    keys = set(params.journal_keys)
    for obj, ids in (("order", params.order_ids), ("refund", params.refund_ids)):
        for source_id in ids:
            keys.update(rt.store.journal_keys_for_source(rt.pair, rt.storefront.system, obj, source_id))
    if params.replay_failed:
        keys.update(rt.store.journal_keys_with_status(rt.pair, ("failed",)))
    return sorted(keys)


def _sweep(rt: Runtime, worker: str) -> Iterator[list[ClaimedJournal]]:
    """A normal run: ready and failed journals in id order, each once, ``load_batch`` at a time."""
    after = 0
    while claimed := rt.store.claim_journals(
        rt.pair, limit=rt.config.load_batch, worker=worker, statuses=RETRYABLE, after_id=after
    ):
        yield claimed
        after = max(c.id for c in claimed)


def _replay(rt: Runtime, worker: str, keys: list[str], tally: _Tally) -> Iterator[list[ClaimedJournal]]:
    """A replay: its keys in chunks of ``load_batch``, each chunk claimed once."""
    size = rt.config.load_batch
    for chunk in (keys[start : start + size] for start in range(0, len(keys), size)):
        claimed = rt.store.claim_journals(
            rt.pair, limit=len(chunk), worker=worker, keys=chunk, statuses=REPLAYABLE
        )
        taken = {c.key for c in claimed}
        missed = [f"{key} ({_status_of(rt, key)})" for key in chunk if key not in taken]
        if missed:
            log.warning("replay %s: not replayable now: %s", rt.pair, ", ".join(missed))
            tally.skip(missed)
        if claimed:
            yield claimed


def _status_of(rt: Runtime, key: str) -> str:
    """Why a replay could not take ``key``: its status (superseded, detail, claimed...) or none."""
    return rt.store.journal_status(rt.pair, key) or "unknown key"


def _attempts(rt: Runtime, hook: Any, claimed: list[ClaimedJournal], replay: bool) -> list[_Attempt]:
    """Fix each journal's ERP document id before anything is sent (the first stored id wins)."""
    stored = rt.store.fix_document_ids({c.id: rt.erp.document_id(hook, c.journal) for c in claimed})
    return [
        _Attempt(c, stored[c.id], rt.store.last_posting_id(c.key, pair=rt.pair) if replay else None)
        for c in claimed
    ]


@contextmanager
def _releasing(rt: Runtime, worker: str) -> Iterator[None]:
    """Hand back what this try claimed but never finished (after an auth error or an exception).

    A killed worker runs no handler: its claims wait for the next try, which releases them first.
    """
    try:
        yield
    except Exception:
        rt.store.release_claims(rt.pair, worker=worker)
        raise
    rt.store.release_claims(rt.pair, worker=worker)


def run_load(rt: Runtime, params: Params, *, worker: str) -> dict[str, Any]:
    if params.dry_run:
        return {"dry_run": True, "posted": 0}
    hook = rt.erp_hook()
    tally = _Tally()
    replay = _replay_keys(rt, params)
    # One load task per pair runs at a time (max_active_runs=1), so claims left by a killed
    # earlier try are released at once instead of waiting for their lease to expire.
    rt.store.release_claims(rt.pair, worker=None)
    batches = _sweep(rt, worker) if replay is None else _replay(rt, worker, replay, tally)
    with _releasing(rt, worker), ThreadPoolExecutor(rt.config.concurrency, thread_name_prefix="load") as pool:
        for claimed in batches:
            attempts = _attempts(rt, hook, claimed, replay is not None)
            list(pool.map(lambda a: _post_one(rt, hook, a, tally, replay is not None), attempts))
            if tally.auth_error is not None:
                break
    rt.close()
    summary: dict[str, Any] = {"counts": dict(tally.counts), "errors": tally.errors[:10]}
    if tally.skipped:
        summary["skipped"] = tally.skipped[:10]
    log.info("load %s: %s", rt.pair, summary)
    if tally.auth_error is not None:
        raise tally.auth_error
    failed = tally.counts.get("failed", 0)
    if failed:
        raise LoadFailed(f"{failed} journal(s) failed and stay queued for the next try: {tally.errors[:5]}")
    return summary


def _post_one(rt: Runtime, hook: Any, attempt: _Attempt, tally: _Tally, replay: bool) -> None:
    if tally.auth_error is not None:
        return
    claimed, journal = attempt.claimed, attempt.claimed.journal

    def finish(status: str, **extra: Any) -> None:
        rt.store.finish_posting(
            claimed.id, status=status, erp=rt.erp.system, run_id=rt.run_id, try_number=rt.try_number,
            replay_of=attempt.replay_of, **extra,
        )

    with correlate(f"journal:{journal.key}"):
        try:
            outcome = rt.erp.post_journal(
                hook, journal, lookup_first=replay or claimed.attempts > 1, document_id=attempt.document_id
            )
        except AuthenticationError as exc:
            tally.auth_error = exc
            finish("failed", error=str(exc))
            tally.add("failed", f"{journal.key}: {exc}")
            return
        except (ValidationRejected, ParkedError) as exc:
            finish("needs_review", error=str(exc))
            tally.add("needs_review", f"{journal.key}: {exc}")
            return
        except Exception as exc:  # transient after retries, or an unexpected answer: retry on the next try
            finish("failed", error=f"{type(exc).__name__}: {exc}")
            tally.add("failed", f"{journal.key}: {type(exc).__name__}: {exc}")
            return
    if outcome.status == "conflict":
        finish(
            "needs_review", erp_document_id=outcome.document_id,
            error=f"ERP holds {outcome.document_id} with different content: {outcome.detail}",
        )
        tally.add("conflict", f"{journal.key}: conflict with {outcome.document_id}")
        return
    finish("posted", erp_document_id=outcome.document_id, outcome=outcome.status)
    tally.add(outcome.status)
