"""The order lifecycle end to end: the store changes an order through the simulator's control API
(which fires the webhooks BigCommerce fires), the pair's DAG runs with ``dag.test()``, and
PeopleSoft's simulator is read back per account.

What each test expects is the accounting of the README's lifecycle table, stated from the store's
own figures (what was captured, what was refunded), never from the connector's journals.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import yaml

from tests.pipeline.conftest import PAIR, Sandbox
from tests.pipeline.test_dag_e2e import run

pytestmark = pytest.mark.slow

CLEARING = "101100"  # stripe
PAYABLE = "210500"  # refunds payable
STATE_TAX, COUNTY_TAX = "220100", "220200"


def control(sandbox: Sandbox, method: str, path: str, body: dict | None = None) -> dict:
    r = requests.request(method, f"{sandbox.bc_url}/_sandbox/{path}", json=body, timeout=30)
    assert r.ok, r.text
    return r.json() if r.content else {}


def new_order(sandbox: Sandbox, **spec: object) -> int:
    body = {"status_id": 11, "plain": True, "gateway": "stripe", "currency": "USD", "customer_id": 0, **spec}
    return int(control(sandbox, "POST", "orders", body)["id"])


def store_order(sandbox: Sandbox, order_id: int) -> dict:
    state = control(sandbox, "GET", "state")
    return next(o for o in state["orders"] if o["id"] == order_id)


def refund_ids(sandbox: Sandbox, order_id: int) -> set[str]:
    return {str(r["id"]) for r in store_order(sandbox, order_id).get("refunds", [])}


def journals_for(sandbox: Sandbox, refs: set[str]) -> list[dict]:
    return [j for j in sandbox.ps_journals() if any(str(ln["JRNL_LN_REF"]) in refs for ln in j["JRNL_LN"])]


def net_by_account(journals: list[dict]) -> dict[str, Decimal]:
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for journal in journals:
        for ln in journal["JRNL_LN"]:
            sums[str(ln["ACCOUNT"])] += Decimal(str(ln["MONETARY_AMOUNT"]))
    return {account: amount for account, amount in sorted(sums.items()) if amount}


def order_net(sandbox: Sandbox, order_id: int) -> dict[str, Decimal]:
    refs = {str(order_id)} | refund_ids(sandbox, order_id)
    return net_by_account(journals_for(sandbox, refs))


def tax_accounts(net: dict[str, Decimal]) -> Decimal:
    return sum((v for k, v in net.items() if k.startswith("220")), Decimal(0))


def succeed(conf: dict | None = None) -> None:
    """One run of the pair over everything up to now (the settle lag would hold back what the test just did)."""
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()
    dr, states = run({"until": until, **(conf or {})})
    assert dr.state == "success", states


def test_edit_after_posting_posts_only_the_delta(airflow_db, sandbox: Sandbox, state_url: str):
    succeed()
    order_id = new_order(sandbox, lines=[{"sku": sku_of(sandbox), "quantity": 1}])
    succeed()
    before = store_order(sandbox, order_id)
    assert order_net(sandbox, order_id)[CLEARING] == Decimal(before["total_inc_tax"])
    control(sandbox, "PUT", f"orders/{order_id}", {"lines": [{"sku": sku_of(sandbox), "quantity": 3}],
                                                    "capture_difference": True})
    succeed()
    after = store_order(sandbox, order_id)
    net = order_net(sandbox, order_id)
    # The ledger holds the order as it stands now: all it captured, its tax, nothing twice.
    assert net[CLEARING] == Decimal(after["captured"]) == Decimal(after["total_inc_tax"])
    assert tax_accounts(net) == -Decimal(after["total_tax"])
    assert sum(net.values()) == 0
    ids = sorted(j["JOURNAL_ID"] for j in journals_for(sandbox, {str(order_id)}))
    assert len(ids) == 2 and ids[0].startswith("ECA") and ids[1].startswith("ECS"), ids  # sale + adjustment
    succeed()  # nothing new on a second run
    assert len(journals_for(sandbox, {str(order_id)})) == 2


def test_cancel_after_a_partial_refund_then_a_late_refund(airflow_db, sandbox: Sandbox, state_url: str):
    succeed()
    order_id = new_order(sandbox)
    succeed()
    total = Decimal(store_order(sandbox, order_id)["total_inc_tax"])
    part = (total / 3).quantize(Decimal("0.01"))
    control(sandbox, "POST", f"orders/{order_id}/refunds", {"amount": str(part)})
    succeed()
    control(sandbox, "POST", f"orders/{order_id}/cancel")
    succeed()
    held = total - part
    # Cancelling is not refunding: the cash still held is owed, and no sale stands.
    assert order_net(sandbox, order_id) == {CLEARING: held, PAYABLE: -held}
    control(sandbox, "POST", f"orders/{order_id}/refunds", {})  # everything left
    succeed()
    assert order_net(sandbox, order_id) == {}
    succeed()
    assert order_net(sandbox, order_id) == {}


def test_refund_after_cancel_settles_what_is_owed(airflow_db, sandbox: Sandbox, state_url: str):
    succeed()
    order_id = new_order(sandbox)
    succeed()
    total = Decimal(store_order(sandbox, order_id)["total_inc_tax"])
    control(sandbox, "POST", f"orders/{order_id}/cancel")
    succeed()
    assert order_net(sandbox, order_id) == {CLEARING: total, PAYABLE: -total}
    control(sandbox, "POST", f"orders/{order_id}/refunds", {})
    succeed()
    assert order_net(sandbox, order_id) == {}
    refund_journals = [j for j in journals_for(sandbox, refund_ids(sandbox, order_id))]
    assert {str(ln["ACCOUNT"]) for j in refund_journals for ln in j["JRNL_LN"]} == {CLEARING, PAYABLE}


def test_archive_posts_nothing(airflow_db, sandbox: Sandbox, state_url: str):
    succeed()
    order_id = new_order(sandbox)
    succeed()
    before = order_net(sandbox, order_id)
    control(sandbox, "POST", f"orders/{order_id}/archive")
    succeed()
    control(sandbox, "POST", f"orders/{order_id}/restore")
    succeed()
    assert order_net(sandbox, order_id) == before
    assert len(journals_for(sandbox, {str(order_id)})) == 1


def test_a_changed_order_in_daily_mode_posts_a_delta_not_the_day_again(
    airflow_db, sandbox: Sandbox, state_url: str, fast_retries: Path
):
    path = fast_retries / "pipelines" / f"{PAIR}.yaml"
    cfg = yaml.safe_load(path.read_text())
    cfg.update({"granularity": "daily", "daily_open_day": "include"})  # today's orders post today, in tests
    path.write_text(yaml.safe_dump(cfg))
    succeed()
    daily_before = Counter(j["JOURNAL_ID"] for j in sandbox.ps_journals())
    order_id = new_order(sandbox, lines=[{"sku": sku_of(sandbox), "quantity": 1}])
    succeed()
    first = [j for j in sandbox.ps_journals() if j["JOURNAL_ID"] not in daily_before]
    assert len(first) == 1 and first[0]["JOURNAL_ID"].startswith("ECD")
    control(sandbox, "PUT", f"orders/{order_id}", {"lines": [{"sku": sku_of(sandbox), "quantity": 2}],
                                                    "capture_difference": True})
    succeed()
    new = [j for j in sandbox.ps_journals() if j["JOURNAL_ID"] not in daily_before]
    assert len(new) == 2, [j["JOURNAL_ID"] for j in new]  # the day's summary, then its delta
    after = store_order(sandbox, order_id)
    net = net_by_account(new)
    assert net[CLEARING] == Decimal(after["total_inc_tax"])
    assert tax_accounts(net) == -Decimal(after["total_tax"])
    succeed()
    assert len([j for j in sandbox.ps_journals() if j["JOURNAL_ID"] not in daily_before]) == 2


def sku_of(sandbox: Sandbox) -> str:
    """A hardware SKU of the simulator's catalog (mapped by the shipped SKU families)."""
    state = control(sandbox, "GET", "state")
    for product in state["products"]:
        for variant in product.get("variants", []):
            if str(variant["sku"]).startswith("HW-"):
                return str(variant["sku"])
    raise AssertionError("the seeded catalog has no HW- SKU")
