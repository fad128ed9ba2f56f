"""The connection's "Store timezone" decides posting days; the mapping's zone is the fallback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ml_connector.errors import ConfigError
from ml_connector.storefronts.bigcommerce.hook import BigCommerceHook

from tests.core.core_factories import simple_order
from tests.lifecycle.harness import Scenario


def _posting_days(s: Scenario) -> list[str]:
    return sorted(j.posting_date.isoformat() for j in s.ledger.documents.values())


def test_the_store_timezone_decides_the_posting_day(tmp_path: Path) -> None:
    # Captured 2026-10-03 16:00 UTC: still 10-03 in Chicago (the mapping's zone), already 10-04 in Tokyo.
    default = Scenario(tmp_path / "a")
    default.put_order(simple_order())
    default.run()
    assert _posting_days(default) == ["2026-10-03"]
    tokyo = Scenario(tmp_path / "b")
    tokyo.shop.store_timezone = lambda conn_id: "Asia/Tokyo"  # type: ignore[method-assign]
    tokyo.put_order(simple_order())
    tokyo.run()
    assert _posting_days(tokyo) == ["2026-10-04"]


@pytest.mark.parametrize(("extra", "expected"), [({}, None), ({"timezone": "Asia/Tokyo"}, "Asia/Tokyo")])
def test_the_connection_field_is_read(monkeypatch: pytest.MonkeyPatch, extra: dict, expected: str | None) -> None:
    conn = {"conn_type": "bigcommerce", "login": "c", "password": "t", "extra": {"store_hash": "abc", **extra}}
    monkeypatch.setenv("AIRFLOW_CONN_BC_TZ", json.dumps(conn))
    assert BigCommerceHook("bc_tz").settings.timezone == expected


def test_a_bad_zone_names_the_connection_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    conn = {"conn_type": "bigcommerce", "login": "c", "password": "t", "extra": {"store_hash": "abc", "timezone": "Mars/Base"}}
    monkeypatch.setenv("AIRFLOW_CONN_BC_BADTZ", json.dumps(conn))
    with pytest.raises(ConfigError, match=r"bc_badtz.*extra\.timezone.*Mars/Base"):
        BigCommerceHook("bc_badtz").settings  # noqa: B018
