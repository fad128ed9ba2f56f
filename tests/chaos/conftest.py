"""Fixtures for the chaos run: both simulators with unique secrets, connections, state and include/.

Every secret is random per test so that finding one in a log line, an audit row or a report
can only mean it leaked (no innocent coincidence with a fixed sandbox default).

Each chaos run is a (seed, granularity) pair. The run's include/ is a copy of the shipped one
with the pipeline's ``granularity`` set (``daily`` with ``daily_open_day: include``, so the
live activity of today is summarised too) and the order fees split by name in the mapping
(``fee_revenue.by_name``), so a fee refund must reach its own fee's account.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from ml_connector.http import RetryPolicy

from sandbox.bigcommerce.server import BigCommerceSim
from sandbox.peoplesoft.server import PeopleSoftSim
from tests.chaos.faults import WINDOW_MS
from tests.pipeline.conftest import PAIR, ROOT, airflow_db, fast_retries, load_combinations  # noqa: F401 - fixtures

DEFAULT_SEEDS = "1,2,3"
GRANULARITIES = ("order", "daily")
# The chaos mapping books one fee name on an account of its own (the shipped mapping has one account).
FEE_ACCOUNTS = {"by_name": {"Insurance": {"ACCOUNT": "410410"}}, "default": {"ACCOUNT": "410400"}}
ORDERS = 2000
# Refunds are seeded on paid orders (about 87 % of them): this rate gives about 300 refunds.
REFUND_RATE = 0.175
PS_CLIENT_ID = "ml-connector"
PS_OPRID = "ML_INTEGRATOR"
PS_TIMEOUT_S = 2  # read timeout of the PeopleSoft hook (connection extra): injected hangs exceed it
TOKEN_TTL_S = 45.0  # above the hook's 30 s refresh skew, so tokens are reused until the sim expires them
BACKOFF_SCALE = 0.2


def chaos_seeds() -> list[int]:
    """Seeds the suite runs: ``ML_CONNECTOR_CHAOS_SEED=N`` (one, for a quick look) or
    ``ML_CONNECTOR_CHAOS_SEEDS=a,b,c``; by default three fixed seeds, one after another, so
    every ``make test`` shows three different fault schedules passing in a row."""
    raw = os.environ.get("ML_CONNECTOR_CHAOS_SEED") or os.environ.get("ML_CONNECTOR_CHAOS_SEEDS", DEFAULT_SEEDS)
    try:
        return [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise pytest.UsageError(f"chaos seeds must be integers, got {raw!r}") from None


def chaos_runs() -> list[tuple[int, str]]:
    """(seed, granularity) pairs. By default (``make test``) ``alternate``: the first seed in ``order``,
    the second in ``daily``, the third in ``order`` (about 8 minutes); ``make chaos`` sets ``both``,
    every seed in both granularities (about 15 minutes for seeds 1, 2 and 3 when measured);
    ``ML_CONNECTOR_CHAOS_GRANULARITY=order|daily`` runs only one."""
    wanted = os.environ.get("ML_CONNECTOR_CHAOS_GRANULARITY", "alternate").strip().lower() or "alternate"
    if wanted not in ("both", "alternate", *GRANULARITIES):
        raise pytest.UsageError(f"ML_CONNECTOR_CHAOS_GRANULARITY must be order, daily, both or alternate, got {wanted!r}")
    seeds = chaos_seeds()
    if wanted == "both":
        return [(seed, granularity) for seed in seeds for granularity in GRANULARITIES]
    if wanted == "alternate":
        return [(seed, GRANULARITIES[index % 2]) for index, seed in enumerate(seeds)]
    return [(seed, wanted) for seed in seeds]


def _secret(label: str) -> str:
    return f"{label}-{secrets.token_hex(12)}"


@dataclass
class Secrets:
    """Every credential of the run; rotated ones are kept too (they must not leak either)."""

    bc_access_token: str = field(default_factory=lambda: _secret("bctok"))
    bc_client_secret: str = field(default_factory=lambda: _secret("bcsec"))
    webhook_header_secret: str = field(default_factory=lambda: _secret("hdrsec"))
    ps_password: str = field(default_factory=lambda: _secret("pspwd"))
    ps_client_secret: str = field(default_factory=lambda: _secret("psoauth"))
    retired: list[str] = field(default_factory=list)
    issued_tokens: list[str] = field(default_factory=list)

    def rotate_peoplesoft(self) -> tuple[str, str]:
        """New password and OAuth client secret (what an administrator does in PeopleSoft)."""
        self.retired += [self.ps_password, self.ps_client_secret]
        self.ps_password, self.ps_client_secret = _secret("pspwd"), _secret("psoauth")
        return self.ps_password, self.ps_client_secret

    def labelled(self) -> dict[str, str]:
        """Every secret of the run by a name that can be printed."""
        named = {"BigCommerce access token": self.bc_access_token, "BigCommerce client secret": self.bc_client_secret,
                 "webhook header secret": self.webhook_header_secret, "PeopleSoft password": self.ps_password,
                 "PeopleSoft OAuth client secret": self.ps_client_secret}
        named |= {f"retired credential #{n}": value for n, value in enumerate(self.retired, 1)}
        return named | {f"OAuth token #{n}": value for n, value in enumerate(self.issued_tokens, 1)}


@dataclass
class ChaosSandbox:
    seed: int
    granularity: str
    bc: BigCommerceSim
    ps: PeopleSoftSim
    secrets: Secrets
    reports: Path

    @property
    def bc_url(self) -> str:
        return self.bc.base_url

    @property
    def ps_url(self) -> str:
        return self.ps.base_url

    def connection_env(self) -> dict[str, str]:
        """The two Airflow connections as ``AIRFLOW_CONN_*`` values, with the current secrets."""
        s = self.secrets
        bigcommerce = {
            "conn_type": "bigcommerce", "login": self.bc.client_id, "password": s.bc_access_token,
            "extra": {"store_hash": self.bc.store_hash, "client_secret": s.bc_client_secret,
                      "api_base_url": self.bc_url, "webhook_header_secret": s.webhook_header_secret,
                      "concurrency": 4},
        }
        peoplesoft = {
            "conn_type": "peoplesoft", "schema": "http", "host": self.ps.host, "port": self.ps.port,
            "login": PS_OPRID, "password": s.ps_password,
            "extra": {"node": self.ps.node, "auth_mode": "oauth2", "token_url": f"{self.ps_url}/oauth2/token",
                      "oauth_client_id": PS_CLIENT_ID, "oauth_client_secret": s.ps_client_secret,
                      "concurrency": 4, "timeout": PS_TIMEOUT_S},
        }
        return {"AIRFLOW_CONN_BIGCOMMERCE_DEFAULT": json.dumps(bigcommerce),
                "AIRFLOW_CONN_PEOPLESOFT_DEFAULT": json.dumps(peoplesoft)}

    def apply_connections(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for key, value in self.connection_env().items():
            monkeypatch.setenv(key, value)


def _record_issued_tokens(ps: PeopleSoftSim, sink: list[str]) -> None:
    """Instrument the simulator's token endpoint so the test knows every token it handed out."""
    issue = ps.auth.issue_token

    def recording(client_id: str, client_secret: str) -> dict[str, object] | None:
        issued = issue(client_id, client_secret)
        if issued is not None:
            sink.append(str(issued["access_token"]))
        return issued

    ps.auth.issue_token = recording  # type: ignore[method-assign]


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hooks' retry backoff cut to a fifth, as ``fast_retries`` cuts Airflow's retry delay.

    Hundreds of faults each wait out a backoff; what this test checks is what the retries do,
    not how long they wait (waits announced by 429 reset headers are kept as they are).
    """
    backoff = RetryPolicy.backoff

    def scaled(self: RetryPolicy, attempt: int, rng: Any = None) -> float:
        return backoff(self, attempt, rng) * BACKOFF_SCALE

    monkeypatch.setattr(RetryPolicy, "backoff", scaled)


def configure_include(include: Path, granularity: str) -> Path:
    """The run's copy of include/: granularity in the pipeline, fees by name in the mapping."""
    pipeline_path = include / "pipelines" / f"{PAIR}.yaml"
    cfg = yaml.safe_load(pipeline_path.read_text())
    cfg["granularity"] = granularity
    if granularity == "daily":
        cfg["daily_open_day"] = "include"
    pipeline_path.write_text(yaml.safe_dump(cfg))
    mapping_path = include / "mappings" / f"{PAIR}.yaml"
    mapping = yaml.safe_load(mapping_path.read_text())
    mapping["roles"]["fee_revenue"] = FEE_ACCOUNTS
    mapping_path.write_text(yaml.safe_dump(mapping, sort_keys=False))
    return mapping_path


@pytest.fixture(params=chaos_runs(), ids=lambda run: f"seed{run[0]}-{run[1]}")
def chaos(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, fast_retries: Path,  # noqa: F811
          fast_backoff: None) -> Iterator[ChaosSandbox]:
    seed, granularity = int(request.param[0]), str(request.param[1])
    mapping_path = configure_include(fast_retries, granularity)
    creds = Secrets()
    bc = BigCommerceSim(port=0, seed=seed, orders=ORDERS, refund_rate=REFUND_RATE, quota=1_000_000,
                        window_ms=WINDOW_MS, access_token=creds.bc_access_token, client_secret=creds.bc_client_secret,
                        allow_http_destinations=True)
    ps = PeopleSoftSim(port=0, seed=seed, auth="oauth2", password=creds.ps_password, oauth_client_id=PS_CLIENT_ID,
                       oauth_client_secret=creds.ps_client_secret, token_ttl=TOKEN_TTL_S)
    _record_issued_tokens(ps, creds.issued_tokens)
    bc.start()
    ps.start()
    load_combinations(ps, mapping_path)
    sandbox = ChaosSandbox(seed, granularity, bc, ps, creds, tmp_path / "reports")
    sandbox.apply_connections(monkeypatch)
    monkeypatch.setenv("ML_CONNECTOR_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("ML_CONNECTOR_REPORTS_URL", sandbox.reports.as_uri())
    try:
        yield sandbox
    finally:
        bc.stop()
        ps.stop()
