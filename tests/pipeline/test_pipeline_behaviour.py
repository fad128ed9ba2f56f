"""What an operator and a controller rely on, beyond the happy path (state on SQLite here;
the end-to-end test runs both backends).

- a load killed between "PeopleSoft accepted" and "state recorded" does not double-post once cleared;
- an unmapped SKU parks the order with the reason, and it posts once the mapping covers it;
- a refund above what was captured is parked for review, never posted;
- replay re-posts chosen records idempotently, each replay linked to the original posting;
- "all failed" replay after an outage posts what is left;
- every DAG file imports without network or database access.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from decimal import Decimal
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag
from ml_connector.config import pipeline
from ml_connector.core.keys import journal_key
from ml_connector.state.db import get_engine
from ml_connector.state.store import StateStore
from ml_connector.tasks.load import run_load
from ml_connector.tasks.runtime import Params, Runtime
from ml_connector.tasks.transform import run_transform

from tests.pipeline.conftest import PAIR, ROOT, STORE_HASH, Sandbox
from tests.pipeline.test_dag_e2e import posted_refs, run

pytestmark = pytest.mark.slow


@pytest.fixture
def sqlite_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateStore:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    monkeypatch.setenv("ML_CONNECTOR_STATE_URL", url)
    return StateStore(get_engine(url))


def _assert_each_once(sandbox: Sandbox) -> None:
    refs = posted_refs(sandbox)
    twice = {ref: n for ref, n in refs.items() if n > 1}
    assert not twice, f"posted more than once: {twice}"


class _Killed(BaseException):
    """Stands for SIGKILL inside the worker: not an Exception, so nothing in load catches it."""


def test_killed_after_erp_accepted_is_not_posted_twice(airflow_db, sandbox: Sandbox, sqlite_state: StateStore,
                                                        monkeypatch: pytest.MonkeyPatch):
    dr, states = run({"dry_run": False})  # extract + transform + load + reconcile once
    assert dr.state == "success", states
    before = len(sandbox.ps_journals())
    # New store activity, then a load that dies right after PeopleSoft accepted its third journal.
    for _ in range(5):
        sandbox.bc_control_post("orders", {"status_id": 11})
    rt = Runtime.open(pipeline(PAIR))
    from ml_connector.tasks.extract import run_extract

    now = dt.datetime.now(dt.UTC)
    run_extract(rt, Params(since=now - dt.timedelta(hours=1), until=now + dt.timedelta(minutes=5)))
    run_transform(rt, Params())
    real_post = rt.erp.post_journal
    calls = {"n": 0}

    def post_then_die(hook, journal, **kwargs):
        outcome = real_post(hook, journal, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            raise _Killed()
        return outcome

    with monkeypatch.context() as patched, pytest.raises(_Killed):
        patched.setattr(rt.erp, "post_journal", post_then_die)
        run_load(rt, Params(), worker="killed-try")
    stuck = [j.key for j in sqlite_state.journals_with_status(PAIR, "claimed")]
    assert len(stuck) == 1, "the killed try leaves exactly the journal it was posting claimed"
    accepted = len(sandbox.ps_journals())
    assert accepted > before  # PeopleSoft holds what was accepted before the kill
    # The operator clears the task: a new try re-claims what the dead one held.
    rt2 = Runtime.open(pipeline(PAIR))
    summary = run_load(rt2, Params(), worker="second-try")
    assert summary["counts"].get("already_present", 0) >= 1, summary
    assert len(sandbox.ps_journals()) == before + 5
    _assert_each_once(sandbox)


def test_unmapped_sku_is_parked_then_posted_once_mapping_is_fixed(airflow_db, sandbox: Sandbox,
                                                                   sqlite_state: StateStore, fast_retries: Path):
    mapping_file = fast_retries / "mappings" / f"{PAIR}.yaml"
    original = mapping_file.read_text()
    mapping_file.write_text(original.replace('      KT-: {ACCOUNT: "400500", PRODUCT: "KITCHN"}\n', ""))
    dr, states = run()
    assert dr.state == "success", states
    parked = [r for r in sqlite_state.parked_records(PAIR, "bigcommerce", "order", store=STORE_HASH) if r.status == "needs_mapping"]
    assert parked, "the seeded store sells KT- items: some orders must wait for a mapping"
    for record in parked:
        assert "no revenue mapping for SKU 'KT-" in record.reason
        assert f"in order {record.source_id}" in record.reason
        assert "roles.revenue.by_sku.KT-" in record.reason
    refs = posted_refs(sandbox)
    assert not any(refs.get(r.source_id) for r in parked), "a parked order must not be posted"

    mapping_file.write_text(original)  # the finance team adds the rule
    dr, states = run()
    assert dr.state == "success", states
    refs = posted_refs(sandbox)
    assert all(refs.get(r.source_id) == 1 for r in parked)
    assert not [r for r in sqlite_state.parked_records(PAIR, "bigcommerce", "order", store=STORE_HASH) if r.status == "needs_mapping"]


def test_refund_above_captured_is_parked_for_review(airflow_db, sandbox: Sandbox, sqlite_state: StateStore):
    dr, _ = run()
    assert dr.state == "success"
    refund = next(r for r in sqlite_state.records("bigcommerce", "refund", store=STORE_HASH))
    inflated = json.loads(json.dumps(refund.payload, default=str))
    inflated["id"] = 990001
    inflated["total_amount"] = "99999.00"
    for payment in inflated.get("payments") or []:
        payment["amount"] = "99999.00"
    inflated["items"] = [{"item_type": "ORDER", "item_id": inflated["order_id"], "requested_amount": "99999.00"}]
    sqlite_state.upsert_records("bigcommerce", "refund", [("990001", inflated, None)], store=STORE_HASH)
    before = len(sandbox.ps_journals())
    rt = Runtime.open(pipeline(PAIR))
    run_transform(rt, Params())
    run_load(rt, Params(), worker="w")
    row = next(sqlite_state.records("bigcommerce", "refund", source_ids=["990001"], store=STORE_HASH, pair=PAIR))
    assert row.status == "needs_review", row
    assert "exceeds captured" in (row.reason or "")
    assert len(sandbox.ps_journals()) == before
    assert not posted_refs(sandbox).get("990001")


def test_replay_reposts_idempotently_and_links_to_the_original(airflow_db, sandbox: Sandbox, sqlite_state: StateStore):
    dr, _ = run()
    assert dr.state == "success"
    before = len(sandbox.ps_journals())
    processed = sqlite_state.records("bigcommerce", "order", statuses=["processed"], store=STORE_HASH, pair=PAIR)
    order_id = next(r.source_id for r in processed)
    key = journal_key(PAIR, "order", order_id, "sale")
    dr, states = run({"order_ids": [order_id]})
    assert dr.state == "success", states
    assert len(sandbox.ps_journals()) == before
    postings = sqlite_state.postings_for(key, PAIR)
    assert len(postings) == 2, postings
    assert postings[1].replay_of == postings[0].id
    assert postings[1].erp_document_id == postings[0].erp_document_id


def test_replay_all_failed_after_an_outage(airflow_db, sandbox: Sandbox, sqlite_state: StateStore):
    # PeopleSoft's gateway answers 503 to every call: every journal fails and the load task fails.
    sandbox.ps_fault({"kind": "status", "status": 503, "path": "PeopleSoftServiceListeningConnector", "method": "POST"})
    dr, states = run()
    assert states["load"] == "failed", states
    failed = list(sqlite_state.journals_with_status(PAIR, "failed"))
    assert failed and sandbox.ps_journals() == []
    sandbox.ps_clear_faults()
    dr, states = run({"replay_failed": True})
    assert dr.state == "success", states
    assert len(sandbox.ps_journals()) >= len(failed)
    _assert_each_once(sandbox)
    assert sum(Decimal(str(ln["MONETARY_AMOUNT"])) for j in sandbox.ps_journals() for ln in j["JRNL_LN"]) == 0


@pytest.mark.parametrize("dag_file", sorted(p.name for p in (ROOT / "dags").glob("*.py")))
def test_every_dag_file_imports_without_network_or_database(dag_file: str, monkeypatch: pytest.MonkeyPatch):
    def no_network(*args, **kwargs):
        raise AssertionError(f"{dag_file} opened a network connection at parse time")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("ML_CONNECTOR_STATE_URL", "sqlite:////nonexistent/dir/never-created.db")
    bag = DagBag(dag_folder=str(ROOT / "dags" / dag_file))
    assert bag.import_errors == {}
    assert bag.dags, f"{dag_file} defines no DAG"
    for dag in bag.dags.values():
        assert dag.max_active_runs == 1 or dag.dag_id.endswith("_reconcile")


def test_daily_granularity_posts_one_journal_per_store_currency_and_day(airflow_db, sandbox: Sandbox,
                                                                         sqlite_state: StateStore):
    dr, states = run({"granularity": "daily"})
    assert dr.state == "success", states
    details = list(sqlite_state.journals_with_status(PAIR, "summarised"))
    assert details, "order-level detail is kept in state"
    days = {(j.store_id, j.currency, j.posting_date) for j in details}
    posted = sandbox.ps_journals()
    assert len(posted) == len(days)
    assert all(j["JOURNAL_ID"][2] == "D" for j in posted)
    # The daily journals carry exactly the per-order amounts, account by account.
    by_account: dict[str, Decimal] = {}
    for journal in details:
        for line in journal.lines:
            account = dict(line.dims)["ACCOUNT"]
            by_account[account] = by_account.get(account, Decimal(0)) + line.base_amount
    in_erp: dict[str, Decimal] = {}
    for journal in posted:
        for line in journal["JRNL_LN"]:
            in_erp[line["ACCOUNT"]] = in_erp.get(line["ACCOUNT"], Decimal(0)) + Decimal(str(line["MONETARY_AMOUNT"]))
    assert {a: v for a, v in by_account.items() if v} == {a: v for a, v in in_erp.items() if v}
