"""The chaos test's own instruments, checked on small inputs: a blind instrument proves nothing."""

from __future__ import annotations

import base64
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from sandbox.bigcommerce.model import PAID_STATUSES, Order
from sandbox.bigcommerce.store import Store
from tests.chaos.conftest import configure_include
from tests.chaos.expected import Combination, ExpectedLedger, MappingRules, Unmapped, expected_ledger
from tests.chaos.leaks import find_leaks
from tests.chaos.observed import posted_ledger

MAPPING = """
defaults: {OPERATING_UNIT: WEB}
roles:
  clearing: {by_gateway: {stripe: {ACCOUNT: "101100"}}}
  revenue:
    by_sku: {HW-1001: {ACCOUNT: "400110"}}
    by_sku_prefix: {HW-: {ACCOUNT: "400100"}, HW-10: {ACCOUNT: "400105"}}
  tax_payable: {by_name: {State Tax: {ACCOUNT: "220100"}}, default: {ACCOUNT: "220900"}}
  discount: {ACCOUNT: "450100"}
"""


@pytest.fixture
def rules(tmp_path: Path) -> MappingRules:
    path = tmp_path / "mapping.yaml"
    path.write_text(MAPPING)
    return MappingRules(path)


def test_mapping_rules_follow_the_file(rules: MappingRules) -> None:
    web = ("OPERATING_UNIT", "WEB")
    assert rules.resolve("revenue", sku="HW-1001") == (("ACCOUNT", "400110"), web)  # SKU beats prefix
    assert rules.resolve("revenue", sku="HW-1002") == (("ACCOUNT", "400105"), web)  # longest prefix wins
    assert rules.resolve("revenue", sku="HW-2001") == (("ACCOUNT", "400100"), web)
    assert rules.resolve("tax_payable", name="County Tax") == (("ACCOUNT", "220900"), web)
    assert rules.resolve("discount", sku="anything") == (("ACCOUNT", "450100"), web)
    with pytest.raises(Unmapped):
        rules.resolve("clearing", gateway="square")
    with pytest.raises(Unmapped):
        rules.resolve("revenue", sku="TL-1")


def test_leak_finder_sees_plain_and_basic_auth_forms() -> None:
    secret = "psoauth-0123456789abcdef"
    basic = base64.b64encode(f"ml-connector:{secret}".encode()).decode()
    sources = {"clean": "Authorization: ***", "plain": f"secret={secret}", "header": f"Basic {basic}"}
    assert find_leaks(sources, {"OAuth secret": secret}, users=["ml-connector"]) == [
        "header: OAuth secret", "plain: OAuth secret"]


def _journal(journal_id: str, refs: list[str], amounts: list[str]) -> dict:
    lines = [{"ACCOUNT": "101100", "JRNL_LN_REF": ref, "CURRENCY_CD": "USD", "FOREIGN_CURRENCY": "USD",
              "MONETARY_AMOUNT": Decimal(a), "FOREIGN_AMOUNT": Decimal(a)} for ref, a in zip(refs, amounts, strict=True)]
    return {"JOURNAL_ID": journal_id, "JOURNAL_DATE": "2026-09-01", "JRNL_LN": lines}


def test_posted_ledger_counts_documents_and_flags_untraceable_journals() -> None:
    ledger = posted_ledger([
        _journal("ECS0000101", ["101", "101"], ["5.00", "-5.00"]),
        _journal("ECS0000101", ["101", "101"], ["1.00", "-1.00"]),  # the same id twice
        _journal("ECS0000102", ["101", "101"], ["1.00", "-1.00"]),  # id and lines name different orders
        _journal("ECRABCDEFG", ["7", "8"], ["2.00", "-2.00"]),  # lines naming two sources
        _journal("ECAKQ2M4ZX", ["101", "101"], ["3.00", "-3.00"]),  # an adjustment of order 101
        _journal("ECDMN7Q2RS", ["2026-09-01", "2026-09-02"], ["4.00", "-4.00"]),  # a daily summary
    ])
    assert ledger.documents == {("sale", "101"): 2}
    assert ledger.duplicate_ids == ["ECS0000101"]
    assert ledger.malformed == ["ECS0000102 2026-09-01", "ECRABCDEFG 2026-09-01"]
    assert dict(ledger.kinds) == {"sale": 2, "adjustment": 1, "daily": 1}
    assert ledger.base == {}  # every journal balances on the one account


# -- the expected ledger on small stores: the lifecycle rules, one at a time ---------------------------
@pytest.fixture
def chaos_mapping(fast_retries: Path) -> Path:
    """The chaos run's mapping (fees by name) in this test's copy of include/."""
    return configure_include(fast_retries, "order")


def _account(dims: Combination) -> str:
    return dict(dims)["ACCOUNT"]


def _order_net(ledger: ExpectedLedger, order: Order) -> dict[str, Decimal]:
    """Net per ACCOUNT of every document of ``order``."""
    net: dict[str, Decimal] = defaultdict(Decimal)
    for doc in ledger.documents.values():
        if doc.order_id == str(order.id):
            for dims, amount in doc.amounts().items():
                net[_account(dims)] += amount
    return {account: amount for account, amount in net.items() if amount}


def _discounted(store: Store) -> Order:
    return next(o for o in store.sorted_orders() if o.status_id in PAID_STATUSES and not o.refunds
                and any(ln.discount and ln.quantity >= 2 for ln in o.lines))


def test_refund_of_a_discounted_line_debits_revenue_at_gross_and_a_full_refund_clears_it(chaos_mapping: Path) -> None:
    store = Store.generate(seed=5, orders=300, refund_rate=0)
    order = _discounted(store)
    line = next(ln for ln in order.lines if ln.discount and ln.quantity >= 2)
    refund, _ = store.refund_order(order.id, {"items": [{"item_type": "PRODUCT", "item_id": line.id, "quantity": 1}]})
    ledger = expected_ledger(store, chaos_mapping)
    doc = ledger.documents[("refund", str(refund.id))]
    net = refund.items[0].amount - refund.items[0].tax
    share = (net * line.discount / (line.total_ex_tax - line.discount)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    by_account = {_account(dims): amount for dims, amount in doc.amounts().items()}
    revenue = _account(MappingRules(chaos_mapping).resolve("revenue", sku=line.sku))
    assert share and by_account[revenue] == net + share and by_account["450100"] == -share

    store.refund_order(order.id, {})  # everything else
    net_after = _order_net(expected_ledger(store, chaos_mapping), order)
    assert set(net_after) == set(), f"a full refund leaves nothing on any account: {net_after}"


def test_cancelled_order_keeps_only_the_cash_owed_in_refunds_payable(chaos_mapping: Path) -> None:
    store = Store.generate(seed=5, orders=300, refund_rate=0)
    order = _discounted(store)
    refund, _ = store.refund_order(order.id, {"amount": "5.00"})
    store.cancel(order.id)
    ledger = expected_ledger(store, chaos_mapping)
    assert ledger.documents[("sale", str(order.id))].kind == "cash"
    assert ledger.documents[("refund", str(refund.id))].amounts()  # the refund settles part of what is owed
    net = _order_net(ledger, order)
    assert net.pop("210500") == -(order.captured - Decimal("5.00"))  # refunds payable: captured - refunded
    assert all(account.startswith("101") for account in net), f"only tenders besides refunds payable: {net}"
    assert sum(net.values()) == order.captured - Decimal("5.00")

    store.edit_order(order.id, {"status_id": 11})  # restored to paid: the sale and its refund again
    net = _order_net(expected_ledger(store, chaos_mapping), order)
    assert "210500" not in net and any(account.startswith("4") for account in net)


def test_fees_go_to_their_own_account_and_a_fee_refund_returns_its_fee(chaos_mapping: Path) -> None:
    store = Store.generate(seed=5, orders=20, refund_rate=0)
    order = store.create_order({"lines": [{"sku": "GD-3003", "quantity": 1}], "currency": "JPY",
                                "fees": [{"name": "Insurance", "amount": "450"}, {"name": "Eco fee", "amount": "300"}]})
    insurance = next(f for f in order.fees if f.name == "Insurance")
    refund, _ = store.refund_order(order.id, {"items": [{"item_type": "FEE", "item_id": insurance.id, "amount": "165"}]})
    ledger = expected_ledger(store, chaos_mapping)
    sale = {_account(d): a for d, a in ledger.documents[("sale", str(order.id))].amounts().items()}
    assert sale["410410"] == Decimal("-450") and sale["410400"] == Decimal("-300")
    back = {_account(d): a for d, a in ledger.documents[("refund", str(refund.id))].amounts().items()}
    assert back["410410"] == refund.items[0].amount - refund.items[0].tax and "410400" not in back
    assert refund.items[0].tax and back["220900"] == refund.total_tax  # JPY consumption tax: the default account


def test_gift_certificates_sold_are_owed_not_earned(chaos_mapping: Path) -> None:
    store = Store.generate(seed=5, orders=20, refund_rate=0)
    order = store.create_order({"lines": [], "gift_certificates": [{"amount": "50", "recipient_email": "a@example.org"}]})
    ledger = expected_ledger(store, chaos_mapping)
    assert _order_net(ledger, order).get("240100") == Decimal("-50.00")
