"""The audit trail's vocabulary: one ``Exchange`` per request/response with an external system.

Hooks never write to the database themselves: they hand exchanges to an ``AuditSink``
(the state store provides one that persists them). Every exchange passes through a
``Redactor`` first, so a secret never reaches the audit trail, a log line or a report.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

REDACTED = "***"

# Header names whose values are always secret, whatever the system.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "x-auth-token",
        "x-auth-client",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-api-key",
        "webhook-signature",
        "x-wc-webhook-signature",
        "x-shopify-hmac-sha256",
        "x-bc-signature",
        "x-ml-connector-secret",
    }
)

# Credential-shaped fields in bodies (JSON keys, XML elements, form fields).
_SECRET_FIELD = re.compile(
    r"(?i)(\"(?:access_token|refresh_token|client_secret|password|token|secret)\"\s*:\s*\")([^\"]*)(\")"
    r"|(<(?:\w+:)?Password\b[^>]*>)([^<]*)(</(?:\w+:)?Password>)"
    r"|((?:client_secret|password|access_token)=)([^&\s]*)"
)

_correlation: contextvars.ContextVar[str | None] = contextvars.ContextVar("ml_connector_correlation", default=None)


@contextlib.contextmanager
def correlate(key: str) -> Iterator[None]:
    """Tag every exchange made inside the block with ``key`` (e.g. ``journal:BC00001234``)."""
    token = _correlation.set(key)
    try:
        yield
    finally:
        _correlation.reset(token)


def current_correlation() -> str | None:
    return _correlation.get()


class Redactor:
    """Removes known secret values and credential-shaped fields from text and headers."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret that contains another is removed whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, *secrets: str | None) -> None:
        self._secrets = sorted(set(self._secrets) | {s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def text(self, value: str | None) -> str | None:
        if not value:
            return value
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return _SECRET_FIELD.sub(_mask_field, value)

    def headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in (headers or {}).items():
            out[name] = REDACTED if name.lower() in SECRET_HEADERS else (self.text(str(value)) or "")
        return out


def _mask_field(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        return f"{m.group(1)}{REDACTED}{m.group(3)}"
    if m.group(4) is not None:
        return f"{m.group(4)}{REDACTED}{m.group(6)}"
    return f"{m.group(7)}{REDACTED}"


@dataclass
class Exchange:
    """One call to an external system, already redacted."""

    system: str  # bigcommerce | peoplesoft | ...
    method: str
    url: str
    started_at: dt.datetime
    duration_ms: float
    status: int | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    request_body: str | None = None
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str | None = None
    error: str | None = None
    attempt: int = 1
    correlation: str | None = None


class AuditSink(Protocol):
    def record(self, exchange: Exchange) -> None: ...


class NullAudit:
    def record(self, exchange: Exchange) -> None:
        return None


class MemoryAudit:
    """Keeps exchanges in memory: for tests and dry runs."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def record(self, exchange: Exchange) -> None:
        self.exchanges.append(exchange)


def truncate(body: str | None, limit: int = 64_000) -> str | None:
    """Bound what one audit row holds; the head of a response is what an operator needs."""
    if body is None or len(body) <= limit:
        return body
    return body[:limit] + f"...[truncated {len(body) - limit} chars]"
