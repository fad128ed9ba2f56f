"""Chaos (issue 6 §1): 2,000 orders and about 300 refunds through ``bigcommerce_to_peoplesoft``
with faults on every external call, then re-runs as an operator would, until everything is green.

The chaos: ~10 % of BigCommerce calls answer 429 (with and without reset headers), 5xx, hang or
drop; ~10 % of PeopleSoft calls fail at the gateway, drop before or after committing, time out
or return transient SOAP faults; OAuth tokens are revoked every few seconds; PeopleSoft's
credentials are rotated under the first run (the operator then fixes the connection); orders and
refunds made during the run arrive only as webhooks, newest first and each twice; and one load
step is SIGKILLed between "PeopleSoft accepted" and "state recorded".

Afterwards, against the simulators' own data: every settled order and every refund is in
PeopleSoft exactly once or parked with a reason; the trial balance per ChartField combination
equals the test's own computation from the raw store and the mapping file; the connector's own
reconciliation over the whole period has no unexplained variance; no secret is in any log line,
subprocess output, audit row or report.

Seed: ``ML_CONNECTOR_CHAOS_SEED`` (default 1). Retry backoff is scaled down (``fast_backoff``) and
Airflow retries are 2 x 1-2 s (``fast_retries``), so a run takes about three minutes.
"""

from __future__ import annotations

import logging
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from ml_connector.config import pipeline
from ml_connector.state.db import get_engine, state_url
from ml_connector.state.store import StateStore
from ml_connector.storefronts.bigcommerce import adapter as bigcommerce_adapter
from ml_connector.tasks.reconcile import run_reconcile
from ml_connector.tasks.runtime import Runtime

from tests.chaos.conftest import ORDERS, PAIR, PS_CLIENT_ID, PS_OPRID, ROOT, ChaosSandbox
from tests.chaos.expected import ExpectedLedger, expected_ledger
from tests.chaos.faults import CredentialRotation, Ticker, faults_injected, install_faults, token_expirer
from tests.chaos.leaks import audit_texts, find_leaks, report_texts
from tests.chaos.observed import posted_ledger, record_states
from tests.chaos.webhooks import LiveActivity, WebhookSender, create_live_activity

pytestmark = pytest.mark.chaos

SINCE = {"since": "2025-01-01T00:00:00+00:00"}  # initial load: every order, refund and customer
MAX_RUNS = 6
ROTATE_AFTER_JOURNALS = 300
KILL_AFTER_CREATES = 50
TOKEN_REVOKE_EVERY_S = 4.0
KILLED_LOAD = Path(__file__).with_name("killed_load.py")


@dataclass(frozen=True)
class Run:
    state: str
    tasks: dict[str, str]
    seconds: float

    @property
    def green(self) -> bool:
        return self.state == "success" and all(s == "success" for s in self.tasks.values())


def rerun_conf(store: StateStore) -> dict[str, str]:
    """What clearing the failed tasks amounts to: carry on from where extract got (its watermark).

    Until one extract has succeeded there is no watermark and the initial load starts over.
    """
    return {} if store.get_watermark(PAIR, "orders") else SINCE


def run_dag(conf: dict[str, str]) -> Run:
    """One DAG run with its task retries (``dag.test()``)."""
    started = time.monotonic()
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    dr = bag.dags[PAIR].test(logical_date=None, run_conf=conf)
    tasks = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    return Run(str(dr.state), tasks, time.monotonic() - started)


def run_killed_load() -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(KILLED_LOAD), PAIR, str(KILL_AFTER_CREATES)], cwd=ROOT,
                          capture_output=True, text=True, timeout=240)


def _diff(expected: dict, actual: dict) -> list[str]:
    keys = sorted(set(expected) | set(actual), key=str)
    return [f"{key}: expected {expected.get(key)}, PeopleSoft {actual.get(key)}"
            for key in keys if expected.get(key) != actual.get(key)]


def assert_exactly_once(chaos: ChaosSandbox, ledger: ExpectedLedger) -> None:
    observed = posted_ledger(chaos.ps.journals)
    assert not observed.malformed, f"journals not traceable to one source document: {observed.malformed[:10]}"
    twice = {doc: n for doc, n in observed.documents.items() if n > 1}
    assert not twice, f"posted more than once: {sorted(twice.items())[:20]}"
    missing = sorted(set(ledger.posted) - set(observed.documents))
    unexpected = sorted(set(observed.documents) - set(ledger.posted))
    assert not missing, f"{len(missing)} settled documents never reached PeopleSoft: {missing[:20]}"
    assert not unexpected, f"{len(unexpected)} journals PeopleSoft should not hold: {unexpected[:20]}"
    foreign = _diff(ledger.foreign_balance(), observed.foreign)
    assert not foreign, "trial balance (transaction currency) differs:\n" + "\n".join(foreign[:30])
    base = _diff(ledger.base_balance(), observed.base)
    assert not base, "trial balance (USD) differs:\n" + "\n".join(base[:30])


def assert_nothing_dropped(store: StateStore, ledger: ExpectedLedger, store_id: str) -> None:
    states = record_states(store, pair=PAIR, store_id=store_id)
    not_recorded = sorted(doc for doc in (*ledger.posted, *ledger.parked) if doc not in states)
    assert not not_recorded, f"documents the connector never recorded: {not_recorded[:20]}"
    posted_not_processed = sorted((doc, states[doc]) for doc in ledger.posted if states[doc].status != "processed")
    assert not posted_not_processed, f"posted but not marked processed: {posted_not_processed[:20]}"
    unparked = sorted((doc, why) for doc, why in ledger.parked.items() if not states[doc].parked)
    assert not unparked, f"unpostable documents not parked with a reason: {unparked[:20]}"
    parked_unexpectedly = sorted((doc, st) for doc, st in states.items() if st.parked and doc not in ledger.parked)
    assert not parked_unexpectedly, f"parked although the mapping covers them: {parked_unexpectedly[:20]}"


def operate_through_chaos(chaos: ChaosSandbox, monkeypatch: pytest.MonkeyPatch, sender: WebhookSender,
                          live: LiveActivity) -> tuple[list[Run], subprocess.CompletedProcess[str]]:
    """The first run under rotating credentials, the operator's fix, a killed load, re-runs until green."""
    rotation = CredentialRotation(chaos.ps_url, lambda: len(chaos.ps.ledger.journals.rows), ROTATE_AFTER_JOURNALS,
                                  chaos.secrets.rotate_peoplesoft)
    store = StateStore(get_engine(state_url()))
    with Ticker(0.2, rotation.check) as rotator, Ticker(TOKEN_REVOKE_EVERY_S, token_expirer(chaos.ps_url)) as revoker:
        runs = [run_dag(SINCE)]
        assert rotation.fired.is_set(), f"the first run never reached {ROTATE_AFTER_JOURNALS} journals: {runs[0]}"
        assert runs[0].tasks["load"] == "failed", f"load must fail on the rotated credentials: {runs[0]}"
        chaos.apply_connections(monkeypatch)  # the operator puts the new secrets into the connection
        sender.deliver_out_of_order_twice(live.order_events)

        before = len(chaos.ps.journals)
        killed = run_killed_load()
        assert killed.returncode == -signal.SIGKILL, f"load was not killed: {killed.returncode}\n{killed.stderr[-3000:]}"
        recorded = len(store.journal_keys_with_status(PAIR, ("posted",)))
        assert before < len(chaos.ps.journals) and recorded < len(chaos.ps.journals), (
            "the kill must leave a journal that PeopleSoft accepted and state did not record")

        while not runs[-1].green and len(runs) < MAX_RUNS:
            runs.append(run_dag(rerun_conf(store)))
    assert runs[-1].green, f"still failing after {len(runs)} runs: {runs}"
    assert not rotator.errors and not revoker.errors, rotator.errors + revoker.errors
    return runs, killed


def reconcile_whole_period(chaos: ChaosSandbox) -> dict[str, object]:
    """The controller's reconciliation over every posting day (store vs state vs PeopleSoft).

    A run reconciles only the days it touched; after a run whose load failed, that is what an
    operator asks for. ``run_reconcile`` raises when a variance is unexplained.
    """
    days = sorted({str(journal["JOURNAL_DATE"]) for journal in chaos.ps.journals})
    return run_reconcile(Runtime.open(pipeline(PAIR), run_id="chaos__month_end"), days=days)


def assert_chaos_happened(chaos: ChaosSandbox, sender: WebhookSender, store: StateStore, logs: str) -> None:
    assert min(faults_injected(chaos.bc_url), faults_injected(chaos.ps_url)) > ORDERS // 20, "too few faults"
    assert chaos.ps.counter_snapshot()["counters"].get("status:401", 0) > 0, "no call met the rotated credentials"
    assert "AuthenticationError" in logs, "the rotated credentials must surface as AuthenticationError"
    assert all(status == 200 for _, status, _ in sender.answers), sender.answers
    flags = sender.duplicate_flags()
    assert flags and all(f == [False, True] for f in flags.values()), f"retried deliveries not deduplicated: {flags}"
    assert store.pending_webhook_events(PAIR, "bigcommerce", "bigcommerce_default") == [], "webhook inbox not drained"


def test_chaos_every_document_posted_exactly_once(
    airflow_db: None, chaos: ChaosSandbox, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    caplog.set_level(logging.INFO)
    # The webhook verifier caches connection settings for a minute: start from this test's secrets.
    monkeypatch.setattr(bigcommerce_adapter.ADAPTER, "_settings", type(bigcommerce_adapter.ADAPTER._settings)())
    config = pipeline(PAIR)
    creds = chaos.secrets
    assert len(chaos.bc.store.orders) == ORDERS and 250 <= len(chaos.bc.store.refunds()) <= 350

    install_faults(chaos.bc_url, chaos.ps_url)
    live = create_live_activity(chaos.bc, random.Random(chaos.seed))
    with WebhookSender(chaos.bc, creds.bc_client_secret, config.webhook_registration.header_name,
                       creds.webhook_header_secret) as sender:
        sender.deliver_out_of_order_twice(live.refund_events)  # refunds before their orders are known
        runs, killed = operate_through_chaos(chaos, monkeypatch, sender, live)

    store = StateStore(get_engine(state_url()))
    month_end = reconcile_whole_period(chaos)
    assert month_end["unexplained"] == 0 and month_end["report"], month_end
    captured = capfd.readouterr()
    logs = "\n".join((caplog.text, captured.out, captured.err))
    (tmp_path / "chaos.log").write_text(logs)  # what the runs printed, for whoever has to read a failure
    assert_chaos_happened(chaos, sender, store, logs)

    ledger = expected_ledger(chaos.bc.store, config.mapping_path)
    assert len(ledger.posted) > ORDERS * 3 // 4 and ledger.parked, "the scenario must post thousands and park some"
    assert_exactly_once(chaos, ledger)
    assert_nothing_dropped(store, ledger, chaos.bc.store_hash)
    emails = sorted(c["EMAILID"] for c in chaos.ps.customers if c.get("EMAILID"))
    assert emails == sorted(c.email for c in chaos.bc.store.customers.values()), "customers missing or duplicated"

    sources = {"log records": caplog.text, "stdout": captured.out, "stderr": captured.err,
               "killed load stdout": killed.stdout, "killed load stderr": killed.stderr}
    sources |= audit_texts(store.engine) | report_texts(chaos.reports)
    leaks = find_leaks(sources, creds.labelled(), users=[PS_OPRID, PS_CLIENT_ID, chaos.bc.client_id])
    assert not leaks, f"secrets leaked: {leaks[:20]}"
    print(f"chaos seed {chaos.seed}: runs {[(r.state, round(r.seconds)) for r in runs]}")
