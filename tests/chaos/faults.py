"""The chaos: about 10 % faults on every class of external call, expiring tokens, a credential rotation.

Faults go through the simulators' public control APIs (``POST /_sandbox/faults``,
``/_sandbox/faults/transient``, ``/_sandbox/tokens/expire``, ``/_sandbox/auth``), exactly as an
outside test harness would drive them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import requests

# BigCommerce REST: 429 with reset headers (the store's quota spent by someone else: wait for the
# window, which the simulator runs at WINDOW_MS), 429 without headers (platform load: back off),
# 5xx, dropped connections, and a rare hang that ends in a drop.
WINDOW_MS = 500
RATE_LIMITED = {
    "X-Rate-Limit-Requests-Left": "0", "X-Rate-Limit-Time-Reset-Ms": "150", "X-Retry-After": "1",
    "X-Rate-Limit-Requests-Quota": "1000000", "X-Rate-Limit-Time-Window-Ms": str(WINDOW_MS),
}
BIGCOMMERCE_FAULTS: list[dict[str, Any]] = [
    {"kind": "status", "path": "^/stores/", "rate": 0.02, "status": 429, "headers": RATE_LIMITED,
     "body": '{"status":429,"title":"Too many requests"}'},
    {"kind": "status", "path": "^/stores/", "rate": 0.02, "status": 429, "body": '{"status":429,"title":"Busy"}'},
    {"kind": "status", "path": "^/stores/", "rate": 0.02, "status": 503, "body": '{"status":503,"title":"Unavailable"}'},
    {"kind": "status", "path": "^/stores/", "rate": 0.015, "status": 500, "body": '{"status":500,"title":"Internal"}'},
    {"kind": "reset", "path": "^/stores/", "rate": 0.02},
    {"kind": "timeout", "path": "^/stores/", "rate": 0.005, "seconds": 1.0},
]
SOAP = "^/PSIGW/PeopleSoftServiceListeningConnector/"
# PeopleSoft: gateway 5xx without a SOAP body, drops before acting, drops after a commit (the
# Create that happened but whose answer was lost), read timeouts (the hook's is 2 s), and the
# token and query endpoints failing too. SOAP application faults 158,10721 come on top.
PEOPLESOFT_FAULTS: list[dict[str, Any]] = [
    {"kind": "status", "path": SOAP, "method": "POST", "rate": 0.02, "status": 500, "body": "gateway error"},
    {"kind": "status", "path": SOAP, "method": "POST", "rate": 0.01, "status": 503, "body": "unavailable"},
    {"kind": "reset", "path": SOAP, "rate": 0.015},
    {"kind": "reset_after", "path": SOAP, "method": "POST", "rate": 0.025},
    {"kind": "timeout", "path": SOAP, "method": "POST", "rate": 0.004, "seconds": 2.5},
    {"kind": "status", "path": "^/oauth2/token$", "rate": 0.08, "status": 503, "body": "{}"},
    {"kind": "status", "path": "/ExecuteQuery", "rate": 0.08, "status": 500, "body": "{}"},
]
SOAP_TRANSIENT = {"rate": 0.03, "operation": ".*"}


def _post(url: str, body: Any) -> dict[str, Any]:
    response = requests.post(url, json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def install_faults(bc_url: str, ps_url: str) -> None:
    _post(f"{bc_url}/_sandbox/faults", BIGCOMMERCE_FAULTS)
    _post(f"{ps_url}/_sandbox/faults", PEOPLESOFT_FAULTS)
    _post(f"{ps_url}/_sandbox/faults/transient", SOAP_TRANSIENT)


def faults_injected(url: str) -> int:
    return int(requests.get(f"{url}/_sandbox/counters", timeout=10).json()["faults_injected"])


class Ticker:
    """Calls ``action`` every ``interval`` seconds in a daemon thread until stopped."""

    def __init__(self, interval: float, action: Callable[[], None]) -> None:
        self._interval, self._action = interval, action
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-ticker", daemon=True)
        self.errors: list[str] = []

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._action()
            except Exception as exc:  # keep ticking; the test reports what went wrong
                self.errors.append(f"{type(exc).__name__}: {exc}")

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def token_expirer(ps_url: str) -> Callable[[], None]:
    """Revoke every token the PeopleSoft IdP has issued (the hook must fetch a new one)."""

    def expire() -> None:
        _post(f"{ps_url}/_sandbox/tokens/expire", {})

    return expire


class CredentialRotation:
    """Once PeopleSoft holds ``after_journals`` journals, rotate its password and OAuth secret.

    Tokens are revoked at the same moment, so the running load task must authenticate again with
    the connection's (now stale) secret and fail with ``AuthenticationError``.
    """

    def __init__(self, ps_url: str, journal_count: Callable[[], int], after_journals: int,
                 rotate: Callable[[], tuple[str, str]]) -> None:
        self._ps_url, self._count, self._after, self._rotate = ps_url, journal_count, after_journals, rotate
        self.fired = threading.Event()

    def check(self) -> None:
        if self.fired.is_set() or self._count() < self._after:
            return
        password, client_secret = self._rotate()
        _post(f"{self._ps_url}/_sandbox/auth", {"password": password, "client_secret": client_secret})
        _post(f"{self._ps_url}/_sandbox/tokens/expire", {})
        self.fired.set()
