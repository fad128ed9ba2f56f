"""A PeopleSoft simulator per test module and hooks bound to it (audited in memory)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from ml_connector.audit import MemoryAudit
from ml_connector.erps.peoplesoft.hook import PeopleSoftHook

from sandbox.peoplesoft.server import PeopleSoftSim
from tests.peoplesoft.factories import BU, COMBINATION_RULES

OPRID, PASSWORD = "ML_INTEGRATOR", "ps-sandbox-pass"
CLIENT_ID, CLIENT_SECRET = "ml-connector", "ps-oauth-secret"


def no_sleep(_: float) -> None:
    return None


@pytest.fixture(scope="module")
def sim() -> Iterator[PeopleSoftSim]:
    server = PeopleSoftSim(port=0, auth="wsse", latency_ms=0, seed=7)
    server.start()
    server.load_combinations(BU, COMBINATION_RULES)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "sim" in request.fixturenames:
        server: PeopleSoftSim = request.getfixturevalue("sim")
        server.faults.clear()
        server.transient_rules.clear()


@pytest.fixture
def audit() -> MemoryAudit:
    return MemoryAudit()


@pytest.fixture
def make_hook(audit: MemoryAudit) -> Callable[..., PeopleSoftHook]:
    def build(base_url: str, *, password: str = PASSWORD, auth_mode: str = "wsse", **options: object) -> PeopleSoftHook:
        return PeopleSoftHook.from_params(base_url, "PSFT_EP", OPRID, password, auth_mode=auth_mode,
                                          audit=audit, sleep=no_sleep, **options)
    return build


@pytest.fixture
def hook(sim: PeopleSoftSim, make_hook: Callable[..., PeopleSoftHook]) -> Iterator[PeopleSoftHook]:
    h = make_hook(sim.base_url)
    yield h
    h.close()
