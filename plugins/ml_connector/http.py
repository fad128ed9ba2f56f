"""The one HTTP policy every hook uses: timeouts, TLS, bounded retries, rate limits, audit, redaction.

``PolicySession`` is a ``requests.Session`` so that any client library that accepts a session
(zeep's ``Transport(session=...)`` among them) inherits the policy without knowing about it.
Each attempt of each exchange is recorded as an ``audit.Exchange`` after redaction.

Retry contract:

* transient outcomes are 429, 500, 502, 503, 504, timeouts and dropped connections;
* they are retried only for idempotent methods (``retry_methods``), or for one request when the
  caller passes ``retryable=True`` (or runs inside ``retryable_calls()``: SOAP reads over POST);
* a 429 that carries a reset header waits for the reset; one without headers (BigCommerce: platform
  load) backs off like a 5xx;
* retries are bounded by ``max_attempts`` and a total time budget; when they run out (or the method
  may not be retried) ``errors.TransientError`` is raised with the last cause;
* 401/403 raise ``errors.AuthenticationError`` naming the system and the connection, never the secret;
* any other status (including 4xx) is returned: the hook interprets it (see ``raise_for_status``).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests

from ml_connector import errors
from ml_connector.audit import AuditSink, Exchange, NullAudit, Redactor, current_correlation, truncate

log = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

_retryable_override: contextvars.ContextVar[bool] = contextvars.ContextVar("ml_connector_retryable", default=False)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, bounded in attempts and in total elapsed time."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    jitter: float = 0.25  # +/- fraction of the delay, so parallel workers do not retry in lockstep
    total_budget: float = 300.0  # seconds from the first attempt after which no retry is started

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        raw = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        spread = raw * self.jitter
        return max(0.0, min(self.max_delay, raw + (rng or random).uniform(-spread, spread)))


class RateLimiter(Protocol):
    """Paces requests for one quota; shared by every thread that spends that quota."""

    def before_request(self) -> None:
        """Block until a request may be sent (and count it as in flight)."""

    def after_response(self, response: requests.Response | None) -> None:
        """Account for a finished attempt; ``None`` when it failed without a response."""


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def rate_limit_reset_seconds(response: requests.Response) -> float | None:
    """Seconds until the quota refreshes according to the response headers, if it says so."""
    reset_ms = _header_int(response.headers, "X-Rate-Limit-Time-Reset-Ms")
    if reset_ms is not None:
        return max(0.0, reset_ms / 1000.0)
    for name in ("X-Retry-After", "Retry-After"):
        seconds = _header_int(response.headers, name)
        if seconds is not None:
            return float(max(0, seconds))
    return None


class HeaderRateLimiter:
    """Paces on BigCommerce's ``X-Rate-Limit-*`` headers, counting requests still in flight.

    The server reports what is left *when it answered*; requests sent since then are not in that
    figure, so the estimate of what may still be spent is ``reported left - in flight``. Within one
    window the estimate only goes down (answers arrive out of order; other clients of the store
    spend the same quota). When the reset time passes the window is assumed fresh until the next
    answer says otherwise. ``reserve`` requests per window are left unspent as a safety margin.
    """

    def __init__(self, *, reserve: int = 1, clock: Callable[[], float] = time.monotonic) -> None:
        self._reserve = reserve
        self._clock = clock
        self._cond = threading.Condition()
        self._in_flight = 0
        self._quota: int | None = None
        self._left: int | None = None  # estimate for the current window, in-flight requests deducted
        self._reset_at: float | None = None  # monotonic time the current window ends
        self._window: float | None = None

    @property
    def in_flight(self) -> int:
        with self._cond:
            return self._in_flight

    def before_request(self) -> None:
        with self._cond:
            while True:
                now = self._clock()
                self._roll_window(now)
                if self._left is None or self._left > self._reserve:
                    break
                if self._reset_at is not None:
                    self._cond.wait(timeout=max(0.001, self._reset_at - now))
                elif self._in_flight:
                    self._cond.wait(timeout=1.0)  # an answer will tell us the reset time
                else:
                    break  # nothing known and nothing pending: let one request find out
            self._in_flight += 1
            if self._left is not None:
                self._left -= 1

    def after_response(self, response: requests.Response | None) -> None:
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            if response is not None:
                self._observe(response)
            self._cond.notify_all()

    def _roll_window(self, now: float) -> None:
        if self._reset_at is not None and now >= self._reset_at:
            self._left = None if self._quota is None else self._quota - self._in_flight
            self._reset_at = now + self._window if self._window else None

    def _observe(self, response: requests.Response) -> None:
        headers = response.headers
        left = _header_int(headers, "X-Rate-Limit-Requests-Left")
        reset_ms = _header_int(headers, "X-Rate-Limit-Time-Reset-Ms")
        quota = _header_int(headers, "X-Rate-Limit-Requests-Quota")
        window_ms = _header_int(headers, "X-Rate-Limit-Time-Window-Ms")
        if quota is not None:
            self._quota = quota
        if window_ms:
            self._window = window_ms / 1000.0
        if response.status_code == 429 and left is None and reset_ms is not None:
            left = 0
        if left is None or reset_ms is None:
            return
        reset_at = self._clock() + reset_ms / 1000.0
        estimate = left - self._in_flight
        if self._reset_at is not None and reset_at < self._reset_at - 1.0:
            # The answer is from a window that ended before the one we are in. A success is a late
            # answer from the old window: it says nothing about the new one (taking its "left"
            # would stall the client for a whole window). A 429 means we rolled over too early.
            if response.status_code == 429:
                self._left, self._reset_at = estimate, reset_at
            return
        # A reset later than the one we know by more than a second means a new window has begun.
        new_window = self._reset_at is None or reset_at > self._reset_at + 1.0
        if new_window or self._left is None:
            self._left, self._reset_at = estimate, reset_at
        else:
            self._left = min(self._left, estimate)
            self._reset_at = max(self._reset_at, reset_at) if response.status_code == 429 else self._reset_at


@contextlib.contextmanager
def retryable_calls() -> Iterator[None]:
    """Mark every request in the block as safe to retry (a read that travels as POST, e.g. SOAP Get)."""
    token = _retryable_override.set(True)
    try:
        yield
    finally:
        _retryable_override.reset(token)


class PolicySession(requests.Session):
    """``requests.Session`` with the ml-connector policy applied to every attempt (see module doc)."""

    def __init__(
        self,
        system: str,
        *,
        timeout: float | tuple[float, float] = (5, 60),
        verify: bool | str = True,
        redactor: Redactor | None = None,
        audit: AuditSink | None = None,
        rate_limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = RetryPolicy(),  # noqa: B008 - frozen, shared safely
        retry_methods: frozenset[str] = IDEMPOTENT_METHODS,
        user_agent: str = "ml-connector/0.1",
        connection_id: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__()
        self.system = system
        self.timeout = timeout
        self.verify = verify
        self.redactor = redactor or Redactor()
        self.audit = audit or NullAudit()
        self.rate_limiter = rate_limiter
        self.retry = retry or RetryPolicy(max_attempts=1)
        self.retry_methods = frozenset(m.upper() for m in retry_methods)
        self.connection_id = connection_id
        self.headers["User-Agent"] = user_agent
        self._sleep = sleep
        self._rng = random.Random()

    # -- entry points ----------------------------------------------------------------------
    def request(self, method: str | bytes, url: str | bytes, *args: Any, retryable: bool = False, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """As ``requests.Session.request``; ``retryable=True`` allows retries of a non-idempotent call."""
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        token = _retryable_override.set(retryable or _retryable_override.get())
        try:
            return super().request(method, url, *args, **kwargs)
        finally:
            _retryable_override.reset(token)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        method = (request.method or "GET").upper()
        may_retry = method in self.retry_methods or _retryable_override.get()
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            outcome = self._attempt(request, attempt, kwargs)
            if isinstance(outcome, requests.Response):
                if outcome.status_code in AUTH_STATUSES:
                    raise self._auth_error(outcome, request)
                if not self.is_transient(outcome):
                    return outcome
                cause = f"HTTP {outcome.status_code}"
                delay = self._delay_after(outcome, attempt)
            else:
                cause = f"{type(outcome).__name__}: {self.redactor.text(str(outcome))}"
                delay = self.retry.backoff(attempt, self._rng)
            where = f"{method} {self._safe_url(request.url)}"
            out_of_budget = time.monotonic() - started + delay > self.retry.total_budget
            if not may_retry or attempt >= self.retry.max_attempts or out_of_budget:
                if isinstance(outcome, requests.Response):
                    outcome.close()
                reason = "not retried (non-idempotent)" if not may_retry else f"gave up after {attempt} attempts"
                raise errors.TransientError(
                    self.system, f"{where}: {reason}; last cause {cause}",
                    status=outcome.status_code if isinstance(outcome, requests.Response) else None,
                ) from (outcome if isinstance(outcome, BaseException) else None)
            if isinstance(outcome, requests.Response):
                outcome.close()
            log.info("%s: %s failed (%s), retry %d in %.2fs", self.system, where, cause, attempt, delay)
            self._sleep(delay)

    def is_transient(self, response: requests.Response) -> bool:
        """Whether an answer is worth retrying; a protocol whose errors ride on 5xx refines this."""
        return response.status_code in TRANSIENT_STATUSES

    # -- one attempt -----------------------------------------------------------------------
    def _attempt(self, request: requests.PreparedRequest, attempt: int, kwargs: dict[str, Any]) -> requests.Response | Exception:
        if self.rate_limiter is not None:
            self.rate_limiter.before_request()
        started_at = dt.datetime.now(dt.UTC)
        t0 = time.monotonic()
        response: requests.Response | None = None
        failure: Exception | None = None
        try:
            response = super().send(request, **kwargs)
            if not kwargs.get("stream"):
                _ = response.content  # read now, so the duration covers the body and retries can close it
            return response
        except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            failure, response = exc, None
            return exc
        finally:
            if self.rate_limiter is not None:
                self.rate_limiter.after_response(response)
            error = None if failure is None else f"{type(failure).__name__}: {self.redactor.text(str(failure))}"
            self._record(request, response, attempt, started_at, (time.monotonic() - t0) * 1000.0, error=error)

    def _record(self, request: requests.PreparedRequest, response: requests.Response | None, attempt: int,
                started_at: dt.datetime, duration_ms: float, *, error: str | None) -> None:
        try:
            self.audit.record(
                Exchange(
                    system=self.system,
                    method=(request.method or "GET").upper(),
                    url=self._safe_url(request.url),
                    started_at=started_at,
                    duration_ms=round(duration_ms, 3),
                    status=response.status_code if response is not None else None,
                    request_headers=self.redactor.headers(dict(request.headers)),
                    request_body=truncate(self.redactor.text(_body_text(request.body))),
                    response_headers=self.redactor.headers(dict(response.headers)) if response is not None else {},
                    response_body=truncate(self.redactor.text(_response_text(response))) if response is not None else None,
                    error=error,
                    attempt=attempt,
                    correlation=current_correlation(),
                )
            )
        except Exception:  # the audit trail must never break the call it describes
            log.exception("%s: could not record an audit exchange", self.system)

    # -- helpers -----------------------------------------------------------------------------
    def _delay_after(self, response: requests.Response, attempt: int) -> float:
        if response.status_code == 429:
            reset = rate_limit_reset_seconds(response)
            if reset is not None:
                # Wait for the refresh; a small jittered pad avoids a thundering herd at the boundary.
                return min(self.retry.max_delay * 2, reset + self._rng.uniform(0.0, 0.05 + 0.05 * attempt))
        return self.retry.backoff(attempt, self._rng)

    def _auth_error(self, response: requests.Response, request: requests.PreparedRequest) -> errors.AuthenticationError:
        conn = f"connection {self.connection_id!r}" if self.connection_id else "the connection"
        what = "rejected (HTTP 401)" if response.status_code == 401 else "refused permission (HTTP 403: missing scope?)"
        return errors.AuthenticationError(
            self.system,
            f"the credentials in {conn} were {what} on {(request.method or 'GET').upper()} {self._safe_url(request.url)}",
            status=response.status_code,
        )

    def _safe_url(self, url: str | None) -> str:
        return self.redactor.text(url or "") or ""


def _body_text(body: bytes | str | None | Any) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        return body
    return "<streamed body>"


def _response_text(response: requests.Response) -> str | None:
    if not response._content_consumed:  # streamed: leave the body to the caller
        return "<streamed body>"
    return response.content.decode(response.encoding or "utf-8", errors="replace") if response.content else None


def error_detail(response: requests.Response) -> str:
    """A short, human-readable description of an error body (v2 list, v3 object or text)."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or "").strip()[:500] or f"HTTP {response.status_code}"
    if isinstance(body, list):
        return "; ".join(str(item.get("message", item)) if isinstance(item, dict) else str(item) for item in body)[:1000]
    if isinstance(body, dict):
        parts = [str(body.get("title") or body.get("message") or "")]
        if body.get("errors"):
            parts.append(json.dumps(body["errors"], sort_keys=True))
        return " ".join(p for p in parts if p)[:1000] or f"HTTP {response.status_code}"
    return str(body)[:500]


def raise_for_status(response: requests.Response, system: str, *, what: str) -> None:
    """Turn a non-2xx answer into a typed error that says what failed (``NotFound`` for 404)."""
    if response.status_code < 400:
        return
    cls = errors.NotFound if response.status_code == 404 else errors.ExternalError
    raise cls(system, f"{what}: HTTP {response.status_code}: {error_detail(response)}", status=response.status_code)
