"""SKU-family rules (``by_sku_prefix``): BigCommerce order lines carry no category."""

from __future__ import annotations

from pathlib import Path

import pytest
from ml_connector.errors import NeedsMapping
from ml_connector.mappings import load_mapping

SHIPPED = Path(__file__).resolve().parents[2] / "include" / "mappings" / "bigcommerce_to_peoplesoft.yaml"


def test_longest_prefix_wins_and_exact_sku_beats_prefix(tmp_path: Path) -> None:
    text = SHIPPED.read_text().replace(
        "      HW-: {ACCOUNT: \"400100\", PRODUCT: \"HARDWR\"}",
        "      HW-: {ACCOUNT: \"400100\", PRODUCT: \"HARDWR\"}\n      HW-9: {ACCOUNT: \"400190\"}",
    )
    path = tmp_path / "bigcommerce_to_peoplesoft.yaml"
    path.write_text(text)
    mapping = load_mapping(path)
    assert dict(mapping.resolve("revenue", sku="HW-9001"))["ACCOUNT"] == "400190"
    assert dict(mapping.resolve("revenue", sku="HW-5001"))["ACCOUNT"] == "400100"
    assert dict(mapping.resolve("revenue", sku="HW-1001"))["ACCOUNT"] == "400110"  # by_sku


def test_unknown_family_is_parked_with_the_keys_to_add() -> None:
    mapping = load_mapping(SHIPPED)
    with pytest.raises(NeedsMapping) as err:
        mapping.resolve("revenue", sku="ZZ-1", channel="1", context="order 7")
    assert "no revenue mapping for SKU 'ZZ-1' (channel '1') in order 7" in err.value.reason
    assert "roles.revenue.by_sku.ZZ-1" in err.value.reason
