"""Step 3: post ready journals into the ERP, exactly once.

Journals are claimed (safe under concurrent workers), looked up in the ERP by their
deterministic key when a previous attempt may have reached it, and created only if absent;
the ERP's answer and every exchange land in the audit trail. One failing journal does not
stop the others; the task fails at the end if any failed, so "clear" in the Airflow UI
re-runs exactly what is left. Credentials that the ERP rejects stop the task at once:
every other journal would fail the same way.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ml_connector.audit import correlate
from ml_connector.errors import AuthenticationError, ConnectorError, ParkedError, ValidationRejected
from ml_connector.tasks.runtime import Params, Runtime

log = logging.getLogger("ml_connector.load")


class LoadFailed(ConnectorError):
    """Some journals could not be posted; they stay claimable for the next try."""


@dataclass
class _Tally:
    counts: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    auth_error: AuthenticationError | None = None

    def add(self, status: str, error: str | None = None) -> None:
        with self.lock:
            self.counts[status] += 1
            if error and len(self.errors) < 50:
                self.errors.append(error)


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


def run_load(rt: Runtime, params: Params, *, worker: str) -> dict[str, Any]:
    if params.dry_run:
        return {"dry_run": True, "posted": 0}
    hook = rt.erp_hook()
    tally = _Tally()
    replay = _replay_keys(rt, params)
    # One load task per pair runs at a time (max_active_runs=1), so claims left by a killed
    # earlier try are released at once instead of waiting for their lease to expire.
    rt.store.release_claims(rt.pair, worker=None)
    statuses: tuple[str, ...] = ("ready", "failed")
    if replay is not None:
        statuses = ("ready", "failed", "posted", "needs_review")
    attempted: set[int] = set()
    with ThreadPoolExecutor(max_workers=rt.config.concurrency, thread_name_prefix="load") as pool:
        while tally.auth_error is None:
            claimed = rt.store.claim_journals(
                rt.pair,
                limit=rt.config.load_batch,
                worker=worker,
                keys=replay,
                statuses=statuses,
            )
            claimed = [c for c in claimed if c.id not in attempted]
            if not claimed:
                break
            attempted.update(c.id for c in claimed)
            list(pool.map(lambda c: _post_one(rt, hook, c, tally, params, replay is not None), claimed))
            # After the first sweep only fresh journals are taken: a journal that failed in this
            # try waits for the next try (Airflow retry or an operator's clear).
            statuses = ("ready",) if replay is None else statuses
    rt.store.release_claims(rt.pair, worker=worker)
    rt.close()
    summary = {"counts": dict(tally.counts), "errors": tally.errors[:10]}
    log.info("load %s: %s", rt.pair, summary)
    if tally.auth_error is not None:
        raise tally.auth_error
    failed = tally.counts.get("failed", 0)
    if failed:
        raise LoadFailed(f"{failed} journal(s) failed and stay queued for the next try: {tally.errors[:5]}")
    return summary


def _post_one(rt: Runtime, hook: Any, claimed: Any, tally: _Tally, params: Params, replay: bool) -> None:
    if tally.auth_error is not None:
        return
    journal = claimed.journal
    previous = rt.store.last_posting_id(journal.key) if replay else None
    with correlate(f"journal:{journal.key}"):
        try:
            outcome = rt.erp.post_journal(hook, journal, lookup_first=replay or claimed.attempts > 1)
        except AuthenticationError as exc:
            tally.auth_error = exc
            rt.store.finish_posting(claimed.id, status="failed", error=str(exc), run_id=rt.run_id, try_number=rt.try_number)
            tally.add("failed", f"{journal.key}: {exc}")
            return
        except (ValidationRejected, ParkedError) as exc:
            rt.store.finish_posting(
                claimed.id, status="needs_review", error=str(exc), run_id=rt.run_id, try_number=rt.try_number,
                replay_of=previous,
            )
            tally.add("needs_review", f"{journal.key}: {exc}")
            return
        except Exception as exc:  # transient after retries, or an unexpected answer: retry on the next try
            rt.store.finish_posting(
                claimed.id, status="failed", error=f"{type(exc).__name__}: {exc}", run_id=rt.run_id,
                try_number=rt.try_number, replay_of=previous,
            )
            tally.add("failed", f"{journal.key}: {type(exc).__name__}: {exc}")
            return
    if outcome.status == "conflict":
        rt.store.finish_posting(
            claimed.id, status="needs_review", erp_document_id=outcome.document_id,
            error=f"ERP holds {outcome.document_id} with different content: {outcome.detail}",
            run_id=rt.run_id, try_number=rt.try_number, replay_of=previous,
        )
        tally.add("conflict", f"{journal.key}: conflict with {outcome.document_id}")
        return
    rt.store.finish_posting(
        claimed.id, status="posted", erp_document_id=outcome.document_id, run_id=rt.run_id,
        try_number=rt.try_number, replay_of=previous, outcome=outcome.status,
    )
    tally.add(outcome.status)
