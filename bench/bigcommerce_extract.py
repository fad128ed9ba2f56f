"""Benchmark: extract settled orders + transactions + refunds from the BigCommerce simulator.

Reports API calls per order, quota utilisation in the sustained (rate-limited) phase, the share of
429 answers and elapsed time. The simulator runs as a separate process (``python -m sandbox
bigcommerce``) so that its threads do not compete with the client's GIL.

    python -m bench.bigcommerce_extract --orders 2000 --window-ms 10000 --quota 150

Utilisation is measured over whole rate-limit windows between the first window in which the
client was held back and the last full one, from the client's own request timestamps (audit).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import requests
from ml_connector.audit import Exchange
from ml_connector.storefronts.bigcommerce.hook import BigCommerceHook
from ml_connector.storefronts.bigcommerce.normalise import needs_transactions

STORE_HASH, TOKEN, CLIENT_ID, SECRET = "sandbox1", "bc-sandbox-token", "bc-sandbox-client", "bc-sandbox-secret"
ROOT = Path(__file__).resolve().parents[1]


class _TimingAudit:
    """Keeps only what the benchmark needs from each exchange (time and status), not the bodies."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int | None]] = []

    def record(self, exchange: Exchange) -> None:
        self.events.append((time.monotonic(), exchange.status))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_simulator(orders: int, refund_rate: float, latency_ms: int, quota: int, window_ms: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    cmd = [sys.executable, "-m", "sandbox", "bigcommerce", "--port", str(port), "--seed", "7", "--orders", str(orders),
           "--refund-rate", str(refund_rate), "--latency-ms", str(latency_ms), "--quota", str(quota),
           "--window-ms", str(window_ms)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"simulator exited: {(proc.stderr.read() if proc.stderr else b'').decode()[-2000:]}")
        try:
            if requests.get(f"{base}/_sandbox/health", timeout=1).ok:
                return proc, base
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.terminate()
    raise RuntimeError("simulator did not start within 120 s")


def _utilisation(events: list[tuple[float, int | None]], t0: float, window_s: float, quota: int) -> float | None:
    """Requests per full window / quota, over the windows after the client first had to wait."""
    if not events:
        return None
    per_window = Counter(int((t - t0) // window_s) for t, _ in events)
    last_full = int((events[-1][0] - t0) // window_s) - 1
    saturated = [w for w in range(0, last_full + 1) if per_window[w] >= quota * 0.5]
    if not saturated:
        return None
    return round(sum(per_window[w] for w in saturated) / (len(saturated) * quota), 4)


def run(orders: int = 10000, refunds: int = 1000, latency_ms: int = 200, quota: int = 450,
        window_ms: int = 30000, concurrency: int = 4) -> dict[str, Any]:
    proc, base = _start_simulator(orders, refunds / max(orders, 1), latency_ms, quota, window_ms)
    try:
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
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=10000)
    parser.add_argument("--refunds", type=int, default=None, help="default: orders / 10")
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--quota", type=int, default=450)
    parser.add_argument("--window-ms", type=int, default=30000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--out", type=Path, default=None, help="also write the result as JSON here")
    args = parser.parse_args(argv)
    result = run(args.orders, args.refunds if args.refunds is not None else args.orders // 10, args.latency_ms,
                 args.quota, args.window_ms, args.concurrency)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
