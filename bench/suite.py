"""What ``python -m bench`` runs: each benchmark's command (full and ``--quick``) and its figures' targets.

Targets are issue 6 §2–3's. A figure without a target is reported, not judged. The quick
mode scales the work down (fewer orders, shorter bursts, fewer samples) but keeps rates,
latencies and concurrency, so its figures are comparable in kind, not in precision; every
recorded figure says which mode produced it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq,
}


@dataclass(frozen=True)
class Target:
    op: str
    bound: float

    def met(self, value: float | None) -> bool:
        return value is not None and _OPS[self.op](value, self.bound)

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}"


@dataclass(frozen=True)
class Figure:
    key: str
    unit: str
    target: Target | None = None


@dataclass(frozen=True)
class Benchmark:
    module: str  # run as ``python -m bench.<module>``
    full: tuple[str, ...]
    quick: tuple[str, ...]
    figures: tuple[Figure, ...]
    timeout_s: float  # generous: the whole full suite must stay under ~25 minutes

    def args(self, quick: bool) -> tuple[str, ...]:
        return self.quick if quick else self.full


# Cheapest first, the 11-minute rate-limited extract last, so a partial run still says most.
SUITE: tuple[Benchmark, ...] = (
    Benchmark(
        "transform", ("--orders", "100000"), ("--orders", "20000"),
        (Figure("transform_orders_per_s", "orders/s", Target(">=", 20_000)),
         Figure("transform_peak_rss_mb", "MiB", Target("<", 1024))),
        timeout_s=300,
    ),
    Benchmark(
        "peoplesoft_post",
        ("--journals", "5000", "--latency-ms", "50", "--concurrency", "8"),
        ("--journals", "1000", "--latency-ms", "50", "--concurrency", "8"),
        (Figure("ps_journals_per_s", "journals/s", Target(">=", 100)),
         Figure("ps_peak_rss_mb", "MiB", Target("<", 500))),
        timeout_s=300,
    ),
    Benchmark(
        "webhooks", ("--seconds", "30", "--concurrency", "8"), ("--seconds", "10", "--concurrency", "8"),
        (Figure("webhook_accepted_per_s", "deliveries/s", Target(">=", 300)),
         Figure("webhook_p99_ms", "ms", Target("<", 100)),
         Figure("webhook_lost", "deliveries", Target("==", 0))),
        timeout_s=420,
    ),
    Benchmark(
        "webhook_to_posted", ("--samples", "15"), ("--samples", "5"),
        (Figure("webhook_to_posted_p50_s", "s"),
         Figure("webhook_to_posted_p95_s", "s", Target("<=", 60))),
        timeout_s=900,
    ),
    Benchmark(
        "backfill", ("--orders", "10000"), ("--orders", "2000"),
        (Figure("backfill_orders_per_min", "orders/min"),),
        timeout_s=900,
    ),
    Benchmark(
        "bigcommerce_extract",
        ("--orders", "10000", "--refunds", "1000", "--latency-ms", "200", "--quota", "450", "--window-ms", "30000"),
        ("--orders", "1000", "--refunds", "100", "--latency-ms", "200", "--quota", "150", "--window-ms", "10000"),
        (Figure("bc_api_calls_per_order", "calls/order", Target("<=", 1.05)),
         Figure("bc_quota_utilisation", "share of quota", Target(">=", 0.90)),
         Figure("bc_429_share", "share of requests", Target("<=", 0.01))),
        timeout_s=1200,
    ),
)


def select(only: list[str] | None) -> list[Benchmark]:
    """The benchmarks producing any of ``only`` (figure keys or module names); all when empty."""
    if not only:
        return list(SUITE)
    known = {f.key for b in SUITE for f in b.figures} | {b.module for b in SUITE}
    unknown = sorted(set(only) - known)
    if unknown:
        raise ValueError(f"unknown benchmark or figure {unknown}; known: {sorted(known)}")
    return [b for b in SUITE if b.module in only or any(f.key in only for f in b.figures)]
