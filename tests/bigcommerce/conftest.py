"""Shared fixtures: one in-process BigCommerce simulator per module and hooks pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from ml_connector.audit import MemoryAudit
from ml_connector.http import RetryPolicy
from ml_connector.storefronts.bigcommerce.hook import BigCommerceHook

from sandbox.bigcommerce.server import BigCommerceSim

STORE_HASH, TOKEN, CLIENT_ID, SECRET = "sandbox1", "bc-sandbox-token", "bc-sandbox-client", "bc-sandbox-secret"
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, jitter=0.1, total_budget=20)


@pytest.fixture(scope="module")
def sim() -> Iterator[Any]:
    instance = BigCommerceSim(port=0, seed=1, orders=200, allow_http_destinations=True, quota=100_000)
    base = instance.start()
    # Generated data has a > 50-line order only rarely (0.4 %): add one so every module sees a capped consignment.
    skus = sorted(v.sku for v in instance.store.variants.values())[:55]
    requests.post(f"{base}/_sandbox/orders", json={"lines": [{"sku": s, "quantity": 1} for s in skus]},
                  timeout=10).raise_for_status()
    yield instance
    instance.stop()


@pytest.fixture
def base(sim: Any) -> Iterator[str]:
    url = sim.base_url
    yield url
    requests.delete(f"{url}/_sandbox/faults", timeout=5)


def _make_hook(base_url: str, *, token: str = TOKEN, store_hash: str = STORE_HASH, audit: MemoryAudit | None = None,
              **kwargs: Any) -> BigCommerceHook:
    return BigCommerceHook.from_params(store_hash, token, CLIENT_ID, SECRET, base_url, audit=audit,
                                       retry=kwargs.pop("retry", FAST_RETRY), timeout=kwargs.pop("timeout", (2, 3)),
                                       **kwargs)


@pytest.fixture(scope="session")
def make_hook() -> Any:
    """Factory: ``make_hook(base_url, token=..., store_hash=..., audit=...)`` with fast retries."""
    return _make_hook


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def hook(base: str, audit: MemoryAudit) -> Iterator[BigCommerceHook]:
    h = _make_hook(base, audit=audit)
    yield h
    h.close()


@pytest.fixture(scope="module")
def state(sim: Any) -> dict[str, Any]:
    """The simulator's raw truth, fetched once per module."""
    return requests.get(f"{sim.base_url}/_sandbox/state", timeout=30).json()


@pytest.fixture(scope="module")
def module_hook(sim: Any) -> Iterator[BigCommerceHook]:
    h = _make_hook(sim.base_url)
    yield h
    h.close()
