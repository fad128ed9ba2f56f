"""Benchmark: extract settled orders + transactions + refunds from the BigCommerce simulator.

Reports API calls per order, quota utilisation in the sustained (rate-limited) phase, the share of
429 answers and elapsed time. The simulator runs as a separate process (``python -m sandbox
bigcommerce``) so that its threads do not compete with the client's GIL.

    python -m bench.bigcommerce_extract --orders 2000 --window-ms 10000 --quota 150

Utilisation is measured over every whole rate-limit window between the first window in which the
client was held back and the last full one (idle windows included), from the client's own request
timestamps (audit).
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
from ml_connector.audit import Exchange
from ml_connector.storefronts.bigcommerce.hook import BigCommerceHook
from ml_connector.storefronts.bigcommerce.normalise import needs_transactions

from bench.common import bench_main, processes, start_simulator

STORE_HASH, TOKEN, CLIENT_ID, SECRET = "sandbox1", "bc-sandbox-token", "bc-sandbox-client", "bc-sandbox-secret"


class _TimingAudit:
    """Keeps only what the benchmark needs from each exchange (time and status), not the bodies."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int | None]] = []

    def record(self, exchange: Exchange) -> None:
        self.events.append((time.monotonic(), exchange.status))


def _utilisation(events: list[tuple[float, int | None]], t0: float, window_s: float, quota: int) -> float | None:
    """Requests per whole window / quota, over every window from the first one the client filled
    (>= half the quota: from then on it is held back by the quota, not by latency) to the last full one.

    Every window in that span counts, idle ones included: a client that stalls for a window
    after each full one must score about 0.5, not 1.0.
    """
    if not events:
        return None
    per_window = Counter(int((t - t0) // window_s) for t, _ in events)
    last_full = int((events[-1][0] - t0) // window_s) - 1
    first = next((w for w in range(0, last_full + 1) if per_window[w] >= quota * 0.5), None)
    if first is None:
        return None
    span = range(first, last_full + 1)
    return round(sum(per_window[w] for w in span) / (len(span) * quota), 4)


def run(orders: int = 10000, refunds: int = 1000, latency_ms: int = 200, quota: int = 450,
        window_ms: int = 30000, concurrency: int = 4) -> dict[str, Any]:
    options = ["--seed", "7", "--orders", str(orders), "--refund-rate", str(refunds / max(orders, 1)),
               "--latency-ms", str(latency_ms), "--quota", str(quota), "--window-ms", str(window_ms)]
    with tempfile.TemporaryDirectory(prefix="mlc-bench-bc-") as work, processes(Path(work)) as procs:
        base = start_simulator(procs, "bigcommerce", options).url
        audit = _TimingAudit()
        hook = BigCommerceHook.from_params(STORE_HASH, TOKEN, CLIENT_ID, SECRET, base, audit=audit,
                                           concurrency=concurrency)
        far_past = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
        far_future = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
        requests.post(f"{base}/_sandbox/counters/reset", timeout=5)
        t0 = time.monotonic()
        seen_orders = settled = txn_count = refund_count = 0
        for page in hook.iter_orders(far_past, far_future):
            seen_orders += len(page)
            wanted = [o["id"] for o in page if needs_transactions(o)]
            settled += len(wanted)
            txn_count += sum(len(t) for t in hook.fetch_transactions(wanted).values())
        for page in hook.iter_refunds(far_past, far_future):
            refund_count += len(page)
        elapsed = time.monotonic() - t0
        counters = requests.get(f"{base}/_sandbox/counters", timeout=5).json()
        served = int(counters.get("counters", {}).get("requests", len(audit.events)))
        throttled = sum(1 for _, status in audit.events if status == 429)
        return {
            "orders": seen_orders,
            "settled_orders": settled,
            "transactions": txn_count,
            "refunds": refund_count,
            "bc_api_calls": served,
            "bc_api_calls_per_order": round(served / max(seen_orders, 1), 4),
            "bc_quota_utilisation": _utilisation(audit.events, t0, window_ms / 1000.0, quota),
            "bc_429_share": round(throttled / max(len(audit.events), 1), 4),
            "elapsed_s": round(elapsed, 2),
            "params": {"latency_ms": latency_ms, "quota": quota, "window_ms": window_ms, "concurrency": concurrency},
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bigcommerce_extract", description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--refunds", type=int, default=None, help="default: orders / 10")
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--quota", type=int, default=450)
    parser.add_argument("--window-ms", type=int, default=30000)
    parser.add_argument("--concurrency", type=int, default=4)
    return bench_main(parser, lambda a: run(a.orders, a.refunds if a.refunds is not None else a.orders // 10,
                                            a.latency_ms, a.quota, a.window_ms, a.concurrency), argv)


if __name__ == "__main__":
    raise SystemExit(main())
