"""Per-store fixed-window quota, the way BigCommerce meters its REST API.

Every API response carries the four ``X-Rate-Limit-*`` headers; once the window's quota is
spent the store answers 429 with the same headers plus ``X-Retry-After`` until the window
resets. The quota is shared by every client of the store, so the limiter is keyed by store.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    """The quota state a response reports; ``allowed`` is False when the request is refused."""

    allowed: bool
    quota: int
    left: int
    window_ms: int
    reset_ms: int

    def headers(self) -> dict[str, str]:
        headers = {
            "X-Rate-Limit-Time-Window-Ms": str(self.window_ms),
            "X-Rate-Limit-Time-Reset-Ms": str(self.reset_ms),
            "X-Rate-Limit-Requests-Quota": str(self.quota),
            "X-Rate-Limit-Requests-Left": str(self.left),
        }
        if not self.allowed:
            headers["X-Retry-After"] = str(max(1, math.ceil(self.reset_ms / 1000)))
        return headers


class FixedWindowLimiter:
    """``quota`` requests per ``window_ms`` per store; the window starts at its first request."""

    def __init__(self, quota: int = 150, window_ms: int = 30000, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # store -> (window start, used)
        self.rate_limited = 0
        self.configure(quota, window_ms)

    def configure(self, quota: int, window_ms: int) -> None:
        if quota < 1 or window_ms < 1:
            raise ValueError(f"quota and window_ms must be positive, got quota={quota} window_ms={window_ms}")
        with self._lock:
            self.quota, self.window_ms = int(quota), int(window_ms)
            self._windows = {}

    def _current(self, store: str, now: float) -> tuple[float, int]:
        start, used = self._windows.get(store, (now, 0))
        if (now - start) * 1000 >= self.window_ms:
            start, used = now, 0
        return start, used

    def _verdict(self, allowed: bool, start: float, used: int, now: float) -> Verdict:
        reset = max(0, math.ceil(self.window_ms - (now - start) * 1000))
        return Verdict(allowed, self.quota, max(0, self.quota - used), self.window_ms, reset)

    def consume(self, store: str) -> Verdict:
        """Count one request against the store's window, or refuse it when the quota is spent."""
        with self._lock:
            now = self._clock()
            start, used = self._current(store, now)
            if used >= self.quota:
                self._windows[store] = (start, used)
                self.rate_limited += 1
                return self._verdict(False, start, used, now)
            self._windows[store] = (start, used + 1)
            return self._verdict(True, start, used + 1, now)

    def peek(self, store: str) -> Verdict:
        """The state without spending anything (for responses refused before metering)."""
        with self._lock:
            now = self._clock()
            start, used = self._current(store, now)
            return self._verdict(used < self.quota, start, used, now)
