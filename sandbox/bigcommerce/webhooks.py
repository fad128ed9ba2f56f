"""Webhook subscriptions (``/v3/hooks``) and their delivery: thin payloads, signatures, retries.

Delivery follows the public contract: the registered custom headers, Standard Webhooks
``webhook-id``/``webhook-timestamp``/``webhook-signature`` keyed by the client secret's UTF-8
bytes, 2xx-or-retry on BigCommerce's schedule (scaled by ``retry_factor`` for tests), and a hook
that keeps failing for ``deactivate_after`` seconds is switched off (``is_active=false``).
Deliveries run on worker threads so a slow receiver never holds up the API.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

RETRY_SCHEDULE_S = (60, 180, 300, 600, 900, 1800, 3600, 7200, 21600, 50400, 86400)
MAX_HOOKS_PER_SCOPE = 10


class HookValidationError(ValueError):
    """Invalid hook request; ``errors`` maps field -> message like the v3 422 body."""

    def __init__(self, title: str, errors: dict[str, str]) -> None:
        super().__init__(f"{title}: {errors}")
        self.title, self.errors = title, errors


@dataclass
class Hook:
    id: int
    client_id: str
    store_hash: str
    scope: str
    destination: str
    is_active: bool
    headers: dict[str, str] | None
    created_at: int
    updated_at: int
    failing_since: float | None = None  # monotonic time of the first failure in the current streak

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "client_id": self.client_id, "store_hash": self.store_hash, "scope": self.scope,
            "destination": self.destination, "is_active": self.is_active, "headers": self.headers,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }

    def covers(self, scope: str) -> bool:
        """Exact scope, or a ``store/order/*`` wildcard covering every event below it."""
        if self.scope.endswith("/*"):
            return scope.startswith(self.scope[:-1])
        return self.scope == scope


class HookRegistry:
    """CRUD with the platform's rules: scope and destination required, https only, no duplicates."""

    def __init__(self, client_id: str, store_hash: str, *, allow_http: bool = False,
                 clock: Callable[[], float] = time.time) -> None:
        self.client_id, self.store_hash, self.allow_http = client_id, store_hash, allow_http
        self._clock = clock
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self.hooks: dict[int, Hook] = {}

    def _validate(self, body: Any, current: Hook | None) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise HookValidationError("JSON data is missing or invalid", {"body": "must be a JSON object"})
        errors: dict[str, str] = {}
        fields: dict[str, Any] = {}
        for name in ("scope", "destination"):
            if name in body:
                if not isinstance(body[name], str) or not body[name].strip():
                    errors[name] = "error.type.string."
                else:
                    fields[name] = body[name].strip()
            elif current is None:
                errors[name] = "error.path.missing."
        if "scope" in fields and not fields["scope"].startswith("store/"):
            errors["scope"] = f"unknown scope {fields['scope']!r}"
        if "destination" in fields:
            url = urlsplit(fields["destination"])
            secure = url.scheme == "https" and url.port in (None, 443)
            if not url.hostname or not (secure or (self.allow_http and url.scheme in ("http", "https"))):
                errors["destination"] = "destination must be an https URL on port 443"
        if "is_active" in body:
            if not isinstance(body["is_active"], bool):
                errors["is_active"] = "error.type.boolean."
            else:
                fields["is_active"] = body["is_active"]
        if "headers" in body:
            headers = body["headers"]
            if headers is not None and not (
                isinstance(headers, Mapping) and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
            ):
                errors["headers"] = "headers must be an object of string values"
            else:
                fields["headers"] = dict(headers) if headers is not None else None
        if errors:
            raise HookValidationError("JSON data is missing or invalid", errors)
        scope = fields.get("scope", current.scope if current else "")
        destination = fields.get("destination", current.destination if current else "")
        others = [h for h in self.hooks.values() if h is not current and h.scope == scope]
        if any(h.destination == destination for h in others):
            raise HookValidationError("Webhook already exists",
                                      {"destination": f"a hook for scope {scope} and this destination already exists"})
        if len(others) >= MAX_HOOKS_PER_SCOPE:
            raise HookValidationError("Too many webhooks", {"scope": f"at most {MAX_HOOKS_PER_SCOPE} hooks per scope"})
        return fields

    def create(self, body: Any) -> Hook:
        with self._lock:
            fields = self._validate(body, None)
            now = int(self._clock())
            hook = Hook(id=next(self._ids), client_id=self.client_id, store_hash=self.store_hash,
                        scope=fields["scope"], destination=fields["destination"],
                        is_active=fields.get("is_active", True), headers=fields.get("headers"),
                        created_at=now, updated_at=now)
            self.hooks[hook.id] = hook
            return hook

    def update(self, hook_id: int, body: Any) -> Hook:
        with self._lock:
            hook = self.hooks[hook_id]
            for name, value in self._validate(body, hook).items():
                setattr(hook, name, value)
            if body.get("is_active") is True:
                hook.failing_since = None
            hook.updated_at = int(self._clock())
            return hook

    def delete(self, hook_id: int) -> Hook:
        with self._lock:
            return self.hooks.pop(hook_id)

    def deactivate(self, hook_id: int) -> Hook:
        with self._lock:
            hook = self.hooks[hook_id]
            hook.is_active = False
            hook.updated_at = int(self._clock())
            return hook

    def listing(self, *, is_active: bool | None = None, scope: str | None = None,
                destination: str | None = None) -> list[Hook]:
        with self._lock:
            return [
                h for h in sorted(self.hooks.values(), key=lambda h: h.id)
                if (is_active is None or h.is_active == is_active)
                and (scope is None or h.scope == scope)
                and (destination is None or h.destination == destination)
            ]

    def matching(self, scope: str) -> list[Hook]:
        with self._lock:
            return [h for h in sorted(self.hooks.values(), key=lambda h: h.id) if h.is_active and h.covers(scope)]


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks v1 signature; the key is the client secret's UTF-8 bytes."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret.encode(), signed, hashlib.sha256).digest()).decode()


@dataclass
class Attempt:
    at: float  # unix seconds
    status: int | None  # HTTP status, None when no answer (refused, timeout)
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Delivery:
    id: str  # the webhook-id: one per message, the same on every retry
    hook_id: int
    scope: str
    destination: str
    body: bytes
    created: float
    state: str = "pending"  # pending | delivered | abandoned
    attempts: list[Attempt] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "hook_id": self.hook_id, "scope": self.scope, "destination": self.destination,
            "payload": json.loads(self.body), "state": self.state, "created": self.created,
            "attempts": [{"at": a.at, "status": a.status, "error": a.error} for a in self.attempts],
        }


_NO_REDIRECTS = urllib.request.build_opener(
    type("NoRedirect", (urllib.request.HTTPRedirectHandler,), {"redirect_request": lambda *a, **k: None})
)


class WebhookDispatcher:
    """Builds the thin payload per event and delivers it to every matching active hook."""

    def __init__(self, registry: HookRegistry, *, store_hash: str, store_id: str, client_secret: str,
                 retry_factor: float = 1.0, timeout_s: float = 10.0, deactivate_after_s: float = 172800.0,
                 sign_bc_signature: bool = False, workers: int = 4,
                 schedule: tuple[float, ...] = RETRY_SCHEDULE_S) -> None:
        self.registry = registry
        self.store_hash, self.store_id, self._secret = store_hash, store_id, client_secret
        self.retry_factor, self.timeout_s, self.deactivate_after_s = retry_factor, timeout_s, deactivate_after_s
        self.sign_bc_signature, self.schedule = sign_bc_signature, schedule
        self.deliveries: dict[str, Delivery] = {}
        self._queue: list[tuple[float, int, str]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [threading.Thread(target=self._work, name=f"bc-webhooks-{i}", daemon=True)
                         for i in range(workers)]
        for thread in self._threads:
            thread.start()

    # -- events --------------------------------------------------------------------------
    def payload(self, scope: str, data: Mapping[str, Any], created_at: int) -> bytes:
        """The thin payload; ``hash`` is the SHA-1 of the payload's JSON without the hash."""
        core = {"scope": scope, "store_id": self.store_id, "data": dict(data), "created_at": created_at,
                "producer": f"stores/{self.store_hash}"}
        digest = hashlib.sha1(json.dumps(core, separators=(",", ":")).encode(), usedforsecurity=False).hexdigest()
        body = {"scope": scope, "store_id": self.store_id, "data": dict(data), "hash": digest,
                "created_at": created_at, "producer": core["producer"]}
        return json.dumps(body, separators=(",", ":")).encode()

    def emit(self, scope: str, data: Mapping[str, Any], created_at: int | None = None) -> list[Delivery]:
        hooks = self.registry.matching(scope)
        if not hooks:
            return []
        body = self.payload(scope, data, int(time.time()) if created_at is None else created_at)
        made = []
        with self._cond:
            for hook in hooks:
                delivery = Delivery(id=f"msg_{uuid.uuid4().hex}", hook_id=hook.id, scope=scope,
                                    destination=hook.destination, body=body, created=time.time())
                self.deliveries[delivery.id] = delivery
                heapq.heappush(self._queue, (time.monotonic(), next(self._seq), delivery.id))
                made.append(delivery)
            self._cond.notify_all()
        return made

    # -- delivery ------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and (not self._queue or self._queue[0][0] > time.monotonic()):
                    self._cond.wait(timeout=(self._queue[0][0] - time.monotonic()) if self._queue else None)
                if self._stopping:
                    return
                _, _, delivery_id = heapq.heappop(self._queue)
                delivery = self.deliveries[delivery_id]
            self._attempt(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        hook = self.registry.hooks.get(delivery.hook_id)
        if hook is None or not hook.is_active:
            delivery.state = "abandoned"
            return
        attempt = self._post(hook, delivery)
        with self._cond:
            delivery.attempts.append(attempt)
            if attempt.ok:
                delivery.state = "delivered"
                hook.failing_since = None
                return
            now = time.monotonic()
            hook.failing_since = hook.failing_since if hook.failing_since is not None else now
            retries_done = len(delivery.attempts) - 1
            if now - hook.failing_since >= self.deactivate_after_s or retries_done >= len(self.schedule):
                hook.is_active = False
                hook.updated_at = int(time.time())
                delivery.state = "abandoned"
                return
            due = now + self.schedule[retries_done] * self.retry_factor
            heapq.heappush(self._queue, (due, next(self._seq), delivery.id))
            self._cond.notify_all()

    def _post(self, hook: Hook, delivery: Delivery) -> Attempt:
        timestamp = int(time.time())
        headers = {**(hook.headers or {}), "Content-Type": "application/json",
                   "webhook-id": delivery.id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign(self._secret, delivery.id, timestamp, delivery.body)}
        if self.sign_bc_signature:
            headers["X-BC-Signature"] = hmac.new(self._secret.encode(), delivery.body, hashlib.sha256).hexdigest()
        # Destinations are validated http(s) URLs at registration (HookRegistry._validate).
        request = urllib.request.Request(delivery.destination, data=delivery.body, headers=headers, method="POST")  # noqa: S310
        try:
            with _NO_REDIRECTS.open(request, timeout=self.timeout_s) as response:
                return Attempt(time.time(), response.status)
        except urllib.error.HTTPError as exc:
            return Attempt(time.time(), exc.code, f"HTTP {exc.code}")
        except (urllib.error.URLError, OSError) as exc:
            return Attempt(time.time(), None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")

    def snapshot(self) -> list[dict[str, Any]]:
        with self._cond:
            return [d.to_json() for d in sorted(self.deliveries.values(), key=lambda d: d.created)]

    def pending(self) -> int:
        with self._cond:
            return sum(1 for d in self.deliveries.values() if d.state == "pending")

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.timeout_s + 1)
