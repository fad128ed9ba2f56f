"""The one HTTP server base every simulator stands on.

A threaded stdlib HTTP/1.1 server with a small router, per-request latency, counters and
fault injection. Faults are what the real systems do to us: status storms (429 with or without
reset headers, 5xx), timeouts, and dropped connections either before the server acted or after
it committed (the case that breaks naive retries). Each simulator adds its own routes and its
own control endpoints under ``/_sandbox/``.
"""

from __future__ import annotations

import json
import random
import re
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # path parameters from the route

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    after: Callable[[], None] | None = None  # runs after the response is sent (webhook delivery...)


def json_response(status: int, payload: Any, headers: dict[str, str] | None = None) -> Response:
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    return Response(status, json.dumps(payload, separators=(",", ":")).encode(), hdrs)


def empty(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status, b"", dict(headers or {}))


Handler = Callable[[Request], Response]


@dataclass
class FaultRule:
    """Inject a fault on matching requests.

    kind: ``status`` (answer ``status`` with ``headers``/``body``), ``timeout`` (hold the
    request ``seconds`` then drop it), ``reset`` (drop the connection before acting),
    ``reset_after`` (act, commit, then drop the connection instead of answering).
    ``rate`` is a probability per matching request; ``count`` bounds how many are injected
    (None = unbounded). ``path`` is a regular expression searched in the request path.
    """

    kind: str
    path: str = ".*"
    method: str | None = None
    rate: float = 1.0
    count: int | None = None
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    seconds: float = 30.0
    injected: int = 0

    def matches(self, req: Request, rng: random.Random) -> bool:
        if self.count is not None and self.injected >= self.count:
            return False
        if self.method and self.method.upper() != req.method:
            return False
        if not re.search(self.path, req.path):
            return False
        return rng.random() < self.rate

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultRule:
        allowed = {"kind", "path", "method", "rate", "count", "status", "headers", "body", "seconds"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown fault fields {sorted(unknown)}; allowed {sorted(allowed)}")
        if data.get("kind") not in {"status", "timeout", "reset", "reset_after"}:
            raise ValueError("fault kind must be one of status, timeout, reset, reset_after")
        return cls(**data)


class _Drop(Exception):
    """Close the connection abruptly (TCP RST) instead of answering."""


class SimServer:
    """Router + faults + counters. Subclasses register routes in ``setup_routes``."""

    name = "sim"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, latency_ms: float = 0.0, seed: int = 0) -> None:
        self.host, self.port = host, port
        self.latency_ms = latency_ms
        self.rng = random.Random(seed)
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []
        self.faults: list[FaultRule] = []
        self.counters: Counter[str] = Counter()
        self.lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._control_routes()
        self.setup_routes()

    # -- routing -----------------------------------------------------------------------
    def route(self, method: str, pattern: str, name: str | None = None) -> Callable[[Handler], Handler]:
        """Register ``pattern`` (``{param}`` placeholders match one path segment)."""
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$")

        def deco(fn: Handler) -> Handler:
            self._routes.append((method.upper(), regex, name or f"{method.upper()} {pattern}", fn))
            return fn

        return deco

    def add_route(self, method: str, pattern: str, fn: Handler, name: str | None = None) -> None:
        self.route(method, pattern, name)(fn)

    def setup_routes(self) -> None:  # pragma: no cover - overridden
        """Subclasses register their API here."""

    def authenticate(self, req: Request, endpoint: str) -> Response | None:
        """Return a response to refuse the request, or None to let it through."""
        return None

    def before_request(self, req: Request, endpoint: str) -> Response | None:
        """Hook for rate limiting; runs after faults, before the handler."""
        return None

    def decorate(self, req: Request, endpoint: str, resp: Response) -> Response:
        """Hook to add headers (rate-limit headers...) to every API response."""
        return resp

    def not_found(self, req: Request) -> Response:
        return json_response(404, {"status": 404, "title": f"No route for {req.method} {req.path}"})

    # -- control API ---------------------------------------------------------------------
    def _control_routes(self) -> None:
        self.add_route("GET", "/_sandbox/health", lambda r: json_response(200, {"ok": True, "name": self.name}))
        self.add_route("GET", "/_sandbox/counters", lambda r: json_response(200, self.counter_snapshot()))
        self.add_route("POST", "/_sandbox/counters/reset", self._reset_counters)
        self.add_route("POST", "/_sandbox/faults", self._add_faults)
        self.add_route("DELETE", "/_sandbox/faults", self._clear_faults)
        self.add_route("GET", "/_sandbox/faults", self._list_faults)
        self.add_route("POST", "/_sandbox/latency", self._set_latency)

    def counter_snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"counters": dict(self.counters), "faults_injected": sum(f.injected for f in self.faults)}

    def _reset_counters(self, req: Request) -> Response:
        with self.lock:
            self.counters.clear()
        return json_response(200, {"ok": True})

    def _add_faults(self, req: Request) -> Response:
        data = req.json()
        rules = data if isinstance(data, list) else [data]
        try:
            parsed = [FaultRule.from_json(r) for r in rules]
        except (TypeError, ValueError) as exc:
            return json_response(400, {"error": str(exc)})
        with self.lock:
            self.faults.extend(parsed)
        return json_response(200, {"ok": True, "faults": len(self.faults)})

    def _clear_faults(self, req: Request) -> Response:
        with self.lock:
            self.faults.clear()
        return json_response(200, {"ok": True})

    def _list_faults(self, req: Request) -> Response:
        with self.lock:
            return json_response(200, [{**f.__dict__} for f in self.faults])

    def _set_latency(self, req: Request) -> Response:
        self.latency_ms = float((req.json() or {}).get("latency_ms", 0))
        return json_response(200, {"latency_ms": self.latency_ms})

    # -- dispatch ------------------------------------------------------------------------
    def _match(self, req: Request) -> tuple[str, Handler] | None:
        for method, regex, endpoint, fn in self._routes:
            m = regex.match(req.path)
            if m and method == req.method:
                req.params = m.groupdict()
                return endpoint, fn
        return None

    def dispatch(self, req: Request) -> Response:
        is_control = req.path.startswith("/_sandbox/")
        route = self._match(req)
        if route is None:
            return self.not_found(req)
        endpoint, fn = route
        if is_control:
            return fn(req)
        with self.lock:
            self.counters[endpoint] += 1
            self.counters["requests"] += 1
            fault = next((f for f in self.faults if f.matches(req, self.rng)), None)
            if fault:
                fault.injected += 1
                self.counters[f"fault:{fault.kind}"] += 1
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000.0)
        if fault and fault.kind in ("reset", "timeout"):
            if fault.kind == "timeout":
                time.sleep(fault.seconds)
            raise _Drop()
        if fault and fault.kind == "status":
            with self.lock:
                self.counters[f"status:{fault.status}"] += 1
            return Response(fault.status, fault.body.encode(), {"Content-Type": "application/json", **fault.headers})
        refused = self.authenticate(req, endpoint) or self.before_request(req, endpoint)
        resp = refused or fn(req)
        resp = self.decorate(req, endpoint, resp)
        with self.lock:
            self.counters[f"status:{resp.status}"] += 1
        if fault and fault.kind == "reset_after":
            raise _Drop()
        return resp

    # -- lifecycle -----------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sim = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are written separately: without TCP_NODELAY every keep-alive
            # request stalls ~40 ms on delayed ACKs, which would distort every benchmark.
            disable_nagle_algorithm = True
            server_version = f"ml-connector-sandbox/{sim.name}"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
                return

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                try:
                    resp = sim.dispatch(req)
                except _Drop:
                    self._reset()
                    return
                except Exception as exc:  # a simulator bug must still answer like a server
                    resp = json_response(500, {"status": 500, "title": f"simulator error: {exc!r}"})
                self.send_response(resp.status)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                if resp.body and self.command != "HEAD":
                    self.wfile.write(resp.body)
                self.wfile.flush()
                if resp.after:
                    resp.after()

            def _reset(self) -> None:
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                finally:
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        return _H

    def start(self) -> str:
        """Start in a background thread; returns the base URL."""
        httpd = ThreadingHTTPServer((self.host, self.port), self._handler_class())
        httpd.daemon_threads = True
        httpd.request_queue_size = 128
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, name=f"sim-{self.name}", daemon=True)
        self._thread.start()
        return self.base_url

    def serve_forever(self) -> None:
        """Run in the foreground (``python -m sandbox NAME``)."""
        httpd = ThreadingHTTPServer((self.host, self.port), self._handler_class())
        httpd.daemon_threads = True
        httpd.request_queue_size = 128
        self._httpd = httpd
        self.port = httpd.server_address[1]
        print(f"{self.name} simulator listening on {self.base_url}", flush=True)
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            httpd.server_close()

    def stop(self) -> None:
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"
