"""The HTTP policy against a tiny local server: retries, 429 handling, auth errors, audit, redaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import requests
from ml_connector import errors
from ml_connector.audit import MemoryAudit, Redactor
from ml_connector.http import HeaderRateLimiter, PolicySession, RetryPolicy, retryable_calls

from sandbox.common.server import SimServer, json_response

FAST = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01, jitter=0.1)


class EchoServer(SimServer):
    name = "echo"

    def setup_routes(self) -> None:
        self.add_route("GET", "/ok", lambda r: json_response(200, {"ok": True}))
        self.add_route("POST", "/ok", lambda r: json_response(201, {"got": r.json()}))
        self.add_route("GET", "/denied", lambda r: json_response(401, {"status": 401, "title": "token rejected"}))
        self.add_route("GET", "/missing", lambda r: json_response(404, {"status": 404, "title": "nope"}))


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    sim = EchoServer(port=0)
    sim.start()
    yield sim
    sim.stop()


@pytest.fixture(autouse=True)
def clean(server: EchoServer) -> None:
    server.faults.clear()
    server.counters.clear()


def _session(audit: MemoryAudit | None = None, **kwargs) -> PolicySession:
    s = PolicySession("testsys", audit=audit, retry=kwargs.pop("retry", FAST), timeout=kwargs.pop("timeout", (2, 2)),
                      redactor=Redactor(["super-secret-token"]), connection_id="test_conn", **kwargs)
    s.headers["X-Auth-Token"] = "super-secret-token"
    return s


def _fault(server: EchoServer, **rule) -> None:
    requests.post(f"{server.base_url}/_sandbox/faults", json=rule, timeout=5).raise_for_status()


def test_retries_5xx_then_succeeds_and_audits_every_attempt(server: EchoServer) -> None:
    _fault(server, kind="status", path="^/ok$", status=503, count=2)
    audit = MemoryAudit()
    resp = _session(audit).get(f"{server.base_url}/ok?access_token=super-secret-token")
    assert resp.status_code == 200
    assert [e.status for e in audit.exchanges] == [503, 503, 200]
    assert [e.attempt for e in audit.exchanges] == [1, 2, 3]
    for exchange in audit.exchanges:
        assert "super-secret-token" not in repr(exchange)
        assert exchange.request_headers["X-Auth-Token"] == "***"
        assert exchange.started_at.tzinfo is not None


def test_exhausted_retries_raise_transient_with_last_cause(server: EchoServer) -> None:
    _fault(server, kind="status", path="^/ok$", status=502)
    with pytest.raises(errors.TransientError, match="gave up after 4 attempts; last cause HTTP 502"):
        _session().get(f"{server.base_url}/ok")
    assert server.counters["GET /ok"] == 4


def test_post_is_not_retried_unless_marked(server: EchoServer) -> None:
    _fault(server, kind="status", path="^/ok$", method="POST", status=500, count=1)
    with pytest.raises(errors.TransientError, match="not retried"):
        _session().post(f"{server.base_url}/ok", json={"a": 1})
    assert server.counters["POST /ok"] == 1
    _fault(server, kind="status", path="^/ok$", method="POST", status=500, count=1)
    assert _session().post(f"{server.base_url}/ok", json={"a": 1}, retryable=True).status_code == 201
    _fault(server, kind="status", path="^/ok$", method="POST", status=500, count=1)
    with retryable_calls():
        assert _session().post(f"{server.base_url}/ok", json={"a": 2}).json() == {"got": {"a": 2}}


def test_connection_reset_and_timeout_are_retried(server: EchoServer) -> None:
    _fault(server, kind="reset", path="^/ok$", count=1)
    _fault(server, kind="timeout", path="^/ok$", count=1, seconds=1.5)
    audit = MemoryAudit()
    assert _session(audit, timeout=(1, 0.5)).get(f"{server.base_url}/ok").json() == {"ok": True}
    assert audit.exchanges[0].status is None and "ConnectionError" in (audit.exchanges[0].error or "")
    assert "Timeout" in (audit.exchanges[1].error or "")
    assert audit.exchanges[-1].status == 200


def test_429_with_reset_header_waits_reset_without_backoff(server: EchoServer) -> None:
    _fault(server, kind="status", path="^/ok$", status=429, count=1, headers={"X-Rate-Limit-Time-Reset-Ms": "300"})
    slept: list[float] = []
    s = _session(sleep=slept.append, retry=RetryPolicy(max_attempts=3, base_delay=5.0, jitter=0.0))
    assert s.get(f"{server.base_url}/ok").status_code == 200
    assert len(slept) == 1 and 0.3 <= slept[0] < 0.5  # the reset, not the 5 s backoff


def test_429_without_headers_backs_off_like_5xx(server: EchoServer) -> None:
    _fault(server, kind="status", path="^/ok$", status=429, count=1)
    slept: list[float] = []
    s = _session(sleep=slept.append, retry=RetryPolicy(max_attempts=3, base_delay=2.0, jitter=0.0))
    assert s.get(f"{server.base_url}/ok").status_code == 200
    assert slept == [2.0]


def test_401_raises_authentication_error_naming_connection_not_secret(server: EchoServer) -> None:
    with pytest.raises(errors.AuthenticationError) as info:
        _session().get(f"{server.base_url}/denied")
    assert "test_conn" in str(info.value) and "testsys" in str(info.value)
    assert "super-secret-token" not in str(info.value)
    assert server.counters["GET /denied"] == 1  # never retried


def test_other_4xx_are_returned(server: EchoServer) -> None:
    assert _session().get(f"{server.base_url}/missing").status_code == 404


def test_defaults_timeout_and_tls_verification() -> None:
    s = PolicySession("x")
    assert s.verify is True and s.timeout == (5, 60)
    assert PolicySession("x", verify="/etc/ssl/ca.pem").verify == "/etc/ssl/ca.pem"


class _FakeResponse:
    def __init__(self, status: int, headers: dict[str, str]) -> None:
        self.status_code, self.headers = status, requests.structures.CaseInsensitiveDict(headers)


def test_header_limiter_counts_in_flight_and_blocks_until_reset() -> None:
    now = [100.0]
    limiter = HeaderRateLimiter(reserve=0, clock=lambda: now[0])
    limiter.before_request()
    limiter.after_response(_FakeResponse(200, {"X-Rate-Limit-Requests-Left": "2", "X-Rate-Limit-Time-Reset-Ms": "1000",
                                               "X-Rate-Limit-Requests-Quota": "3", "X-Rate-Limit-Time-Window-Ms": "1000"}))
    limiter.before_request()
    limiter.before_request()  # two in flight: the reported 2 are spent
    assert limiter.in_flight == 2
    released = threading.Event()

    def third() -> None:
        limiter.before_request()
        released.set()

    worker = threading.Thread(target=third)
    worker.start()
    assert not released.wait(0.2)  # blocked: nothing left in this window
    now[0] = 101.5  # the window has reset
    limiter.after_response(None)
    assert released.wait(2)
    worker.join()


def test_header_limiter_takes_the_lower_estimate_within_a_window() -> None:
    now = [0.0]
    limiter = HeaderRateLimiter(reserve=0, clock=lambda: now[0])
    hdr = {"X-Rate-Limit-Time-Reset-Ms": "5000", "X-Rate-Limit-Requests-Quota": "10"}
    limiter.before_request()
    limiter.after_response(_FakeResponse(200, {**hdr, "X-Rate-Limit-Requests-Left": "1"}))
    limiter.before_request()
    limiter.after_response(_FakeResponse(200, {**hdr, "X-Rate-Limit-Requests-Left": "5"}))  # stale, out of order
    assert limiter._left == 0


def test_header_limiter_ignores_a_late_success_from_the_previous_window() -> None:
    """A slow answer from the old window must not zero the new window's quota (the client would idle)."""
    now = [0.0]
    limiter = HeaderRateLimiter(reserve=0, clock=lambda: now[0])
    hdr = {"X-Rate-Limit-Requests-Quota": "10", "X-Rate-Limit-Time-Window-Ms": "30000"}
    limiter.before_request()
    limiter.after_response(_FakeResponse(200, {**hdr, "X-Rate-Limit-Requests-Left": "9", "X-Rate-Limit-Time-Reset-Ms": "30000"}))
    now[0] = 31.0  # the window rolled over; a fresh answer opens the new one
    limiter.before_request()
    limiter.after_response(_FakeResponse(200, {**hdr, "X-Rate-Limit-Requests-Left": "9", "X-Rate-Limit-Time-Reset-Ms": "29000"}))
    # ... and then a request sent in the old window answers late, reporting that window's end.
    limiter.before_request()
    limiter.after_response(_FakeResponse(200, {**hdr, "X-Rate-Limit-Requests-Left": "0", "X-Rate-Limit-Time-Reset-Ms": "100"}))
    assert limiter._left >= 7, "the late answer of the old window must not spend the new one"
