"""The chaos test's own instruments, checked on small inputs: a blind instrument proves nothing."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path

import pytest

from tests.chaos.expected import MappingRules, Unmapped
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
        _journal("ECS0000102", ["101", "101"], ["1.00", "-1.00"]),  # another key, same order: a double post
        _journal("ECRABCDEFG", ["7", "8"], ["2.00", "-2.00"]),  # lines naming two sources
    ])
    assert ledger.documents == {("sale", "101"): 2}
    assert ledger.malformed == ["ECRABCDEFG 2026-09-01"]
    assert ledger.base == {}  # every journal balances on the one account
