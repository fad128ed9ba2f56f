"""mapping.py: validation of every error in a file at once, resolution and its messages."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from core_factories import bc_mapping
from ml_connector.core.mapping import MappingErrors
from ml_connector.errors import ConfigError, NeedsMapping
from ml_connector.mappings import load_mapping
from ml_connector.settings import include_dir

SHIPPED = sorted((include_dir() / "mappings").glob("*.yaml"))

MINIMAL = """\
pair: {pair}
erp: peoplesoft
base_currency: USD
timezone: America/Chicago
posting_date: capture
header: {{BUSINESS_UNIT: US001, LEDGER: LOCAL}}
defaults: {{OPERATING_UNIT: WEB}}
roles:
  clearing: {{by_gateway: {{stripe: {{ACCOUNT: "101100"}}}}}}
  gift_certificate_liability: {{ACCOUNT: "240100"}}
  store_credit_liability: {{ACCOUNT: "240200"}}
  revenue:
    by_sku: {{ABC-1: {{ACCOUNT: "{sku_account}"}}}}
    by_category: {{Garden: {{ACCOUNT: "400300", OPERATING_UNIT: GARDEN}}}}
  shipping_revenue: {{ACCOUNT: "410100"}}
  handling_revenue: {{ACCOUNT: "410200"}}
  wrapping_revenue: {{ACCOUNT: "410300"}}
  tax_payable: {{default: {{ACCOUNT: "220900"}}}}
  discount: {{ACCOUNT: "450100"}}
  refund_adjustment: {{ACCOUNT: "460100"}}
  rounding: {{ACCOUNT: "799900"}}
"""


def write(tmp_path: Path, text: str, name: str = "x") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def errors_of(path: Path) -> list[str]:
    with pytest.raises(MappingErrors) as caught:
        load_mapping(path)
    assert isinstance(caught.value, ConfigError)
    lines = str(caught.value).splitlines()
    assert lines == [str(e) for e in caught.value.errors]
    return lines


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_mappings_are_valid(path: Path) -> None:
    mapping = load_mapping(path)
    assert mapping.pair == path.stem
    assert mapping.version == hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    assert len(mapping.roles) == 13  # the 11 required roles plus fee_revenue and refunds_payable
    assert mapping.all_line_dims()


def test_the_five_pairs_are_shipped() -> None:
    assert [p.stem for p in SHIPPED] == [
        "bigcommerce_to_fusion", "bigcommerce_to_jde", "bigcommerce_to_peoplesoft",
        "shopify_to_peoplesoft", "woocommerce_to_peoplesoft",
    ]  # fmt: skip


def test_bigcommerce_peoplesoft_covers_the_simulator_data() -> None:
    mapping = bc_mapping()
    for gateway in ("stripe", "braintree", "paypalexpress", "authorizenet", "squarev2", "testgateway",
                    "giftcertificate", "storecredit"):  # fmt: skip
        assert mapping.resolve("clearing", gateway=gateway)
    for category in ("Hardware", "Tools", "Garden", "Apparel", "Kitchen"):
        assert mapping.resolve("revenue", sku="NEW-1", category=category)
    for tax in ("State Tax", "County Tax", "VAT", "Other tax"):
        assert mapping.resolve("tax_payable", tax_name=tax)
    assert mapping.timezone == "America/Chicago" and mapping.base_currency == "USD"
    assert mapping.header == {"BUSINESS_UNIT": "US001", "LEDGER_GROUP": "ACTUALS", "LEDGER": "LOCAL",
                              "SOURCE": "ECM", "RT_TYPE": "CRRNT"}  # fmt: skip


def test_revenue_precedence_sku_then_category_then_channel_and_defaults_merged() -> None:
    mapping = bc_mapping()
    assert mapping.resolve("revenue", sku="HW-1001", category="Garden", channel="2") == (
        ("ACCOUNT", "400110"), ("OPERATING_UNIT", "WEB"), ("PRODUCT", "HWPREM"),
    )  # fmt: skip
    assert mapping.resolve("revenue", sku="X", category="Garden", channel="2") == (
        ("ACCOUNT", "400300"), ("OPERATING_UNIT", "WEB"), ("PRODUCT", "GARDEN"),
    )  # fmt: skip
    # a role value wins over the file's defaults
    assert mapping.resolve("revenue", sku="X", category="Unknown", channel="2") == (
        ("ACCOUNT", "400900"), ("OPERATING_UNIT", "MKTPLACE"),
    )  # fmt: skip


def test_unmapped_sku_names_value_role_record_file_and_key_to_add() -> None:
    with pytest.raises(NeedsMapping) as caught:
        bc_mapping().resolve("revenue", sku="ZZ-9", category="Garden-X", context="order 123")
    assert caught.value.status == "needs_mapping"
    assert caught.value.reason == (
        "no revenue mapping for SKU 'ZZ-9' (category 'Garden-X') in order 123: add roles.revenue.by_sku.ZZ-9"
        " or roles.revenue.by_category.Garden-X to include/mappings/bigcommerce_to_peoplesoft.yaml"
    )


def test_unmapped_gateway_and_role_without_selectors_messages() -> None:
    mapping = bc_mapping()
    with pytest.raises(NeedsMapping, match=r"^no clearing mapping for gateway 'cod' in order 7: add "
                       r"roles\.clearing\.by_gateway\.cod to include/mappings/bigcommerce_to_peoplesoft\.yaml$"):
        mapping.resolve("clearing", gateway="cod", context="order 7")
    with pytest.raises(NeedsMapping, match=r"^no revenue mapping in order 8: add roles\.revenue\.default to "):
        mapping.resolve("revenue", context="order 8")
    with pytest.raises(ValueError, match="unknown mapping role 'fees'"):
        mapping.resolve("fees")


def test_minimal_file_loads_and_lists_every_combination(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, MINIMAL.format(pair="x", sku_account="400111")))
    dims = mapping.all_line_dims()
    assert (("ACCOUNT", "400300"), ("OPERATING_UNIT", "GARDEN")) in dims
    assert (("ACCOUNT", "400111"), ("OPERATING_UNIT", "WEB")) in dims
    assert len(dims) == len(set(dims)) == 12


def test_too_long_value_gives_the_precise_message(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.format(pair="x", sku_account="12345678901"))
    assert errors_of(path) == [
        f"{path}: roles.revenue.by_sku.ABC-1.ACCOUNT: expected a string of at most 10 characters, got '12345678901'"
    ]


def test_every_error_of_a_broken_file_is_listed(tmp_path: Path) -> None:
    text = MINIMAL.format(pair="wrong", sku_account="400111")
    text = text.replace("timezone: America/Chicago", "timezone: Mars/Olympus")
    text = text.replace("erp: peoplesoft", "erp: peoplesoft\ncolour: blue")
    text = text.replace('  rounding: {ACCOUNT: "799900"}\n', "")
    text = text.replace('discount: {ACCOUNT: "450100"}', "discount: {ACCOUNT: 450100, DEPT: X}")
    text = text.replace("header: {BUSINESS_UNIT: US001, LEDGER: LOCAL}", "header: {BUSINESS_UNIT: US001}")
    text = text.replace('tax_payable: {default: {ACCOUNT: "220900"}}', "tax_payable: {by_sku: {A: {ACCOUNT: T}}}")
    text = text.replace('store_credit_liability: {ACCOUNT: "240200"}', "store_credit_liability: {OPERATING_UNIT: SC}")
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path}: colour: expected one of the top-level keys pair, erp, base_currency, timezone, posting_date,"
        " header, defaults, roles, got 'colour'",
        f"{path}: pair: expected 'x' (the file name), got 'wrong'",
        f"{path}: timezone: expected an IANA time zone such as America/Chicago, got 'Mars/Olympus'",
        f"{path}: header.LEDGER: expected a value (required by peoplesoft)",
        f"{path}: roles.store_credit_liability.ACCOUNT: expected a value (required by peoplesoft here or in defaults)",
        f"{path}: roles.discount.ACCOUNT: expected a string of at most 10 characters, got 450100",
        f"{path}: roles.discount.DEPT: expected one of the peoplesoft line fields (ACCOUNT, DEPTID, OPERATING_UNIT,"
        " PRODUCT, FUND_CODE, CLASS_FLD, PROGRAM_CODE, PROJECT_ID, CHARTFIELD1, CHARTFIELD2, CHARTFIELD3), got 'DEPT'",
        f"{path}: roles.tax_payable.by_sku: expected one of the rule keys for this role (by_name, default), got 'by_sku'",
        f"{path}: roles.tax_payable: expected at least one rule or a default",
        f"{path}: roles.rounding: expected a rule for this required role",
    ]


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pair: x\nerp: peoplesoft\nroles: [unclosed\nheader: {}\n")
    [message] = errors_of(path)
    assert message.startswith(f"{path}: line 4, column 7: expected valid YAML, got ")


def test_duplicate_keys_and_wrong_types_are_reported(tmp_path: Path) -> None:
    text = MINIMAL.format(pair="x", sku_account="400111").replace(
        "    by_sku: {ABC-1:", "    by_sku: {ABC-1: {ACCOUNT: \"1\"}, ABC-1:"
    )
    text = text.replace("base_currency: USD", "base_currency: 840").replace("posting_date: capture", "posting_date: paid")
    text = text.replace('gift_certificate_liability: {ACCOUNT: "240100"}', "gift_certificate_liability: 240100")
    path = write(tmp_path, text)
    assert errors_of(path) == [
        f"{path}: line 13: expected each key at most once in its block, got 'ABC-1'",
        f"{path}: posting_date: expected one of capture, created, got 'paid'",
        f"{path}: base_currency: expected an ISO 4217 code such as USD, got 840",
        f"{path}: roles.gift_certificate_liability: expected a mapping of peoplesoft line fields, or rules (default),"
        " got 240100",
    ]


def test_fusion_requires_three_segments_across_defaults_and_role(tmp_path: Path) -> None:
    source = (include_dir() / "mappings" / "bigcommerce_to_fusion.yaml").read_text()
    broken = source.replace('defaults: {SEGMENT1: "101", SEGMENT2: "0000", SEGMENT4: "000"}', 'defaults: {SEGMENT1: "101"}')
    path = write(tmp_path, broken, name="bigcommerce_to_fusion")
    messages = errors_of(path)
    assert f"{path}: roles.clearing.by_gateway.stripe.SEGMENT2: expected a value (required by fusion here or in defaults)" in messages
    assert not any("roles.revenue.by_category" in m for m in messages)  # those set SEGMENT2 themselves


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    [message] = errors_of(tmp_path / "absent.yaml")
    assert "absent.yaml: (file): expected a readable mapping file" in message
