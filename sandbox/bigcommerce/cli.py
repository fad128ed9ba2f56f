"""``python -m sandbox bigcommerce``: run the BigCommerce simulator in the foreground."""

from __future__ import annotations

import argparse
import datetime as dt

from sandbox.bigcommerce.data import DEFAULT_NOW
from sandbox.bigcommerce.server import BigCommerceSim


def _moment(raw: str) -> dt.datetime:
    """``--now``: ISO 8601 (naive = UTC), or ``real`` to anchor the seeded history at start-up time."""
    if raw == "real":
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    value = dt.datetime.fromisoformat(raw)
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).astimezone(dt.UTC)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sandbox bigcommerce", description=__doc__)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8101)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--orders", type=int, default=100)
    p.add_argument("--customers", type=int, default=None, help="default: max(20, orders / 4)")
    p.add_argument("--refund-rate", type=float, default=0.1)
    p.add_argument("--store-hash", default="sandbox1")
    p.add_argument("--access-token", default="bc-sandbox-token")
    p.add_argument("--client-id", default="bc-sandbox-client")
    p.add_argument("--client-secret", default="bc-sandbox-secret")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--quota", type=int, default=150)
    p.add_argument("--window-ms", type=int, default=30000)
    p.add_argument("--hook-deactivate-after", type=float, default=172800.0, metavar="SECONDS")
    p.add_argument("--retry-factor", type=float, default=1.0, help="scale the 60 s, 180 s, ... retry schedule")
    p.add_argument("--delivery-timeout", type=float, default=10.0, metavar="SECONDS")
    p.add_argument("--allow-http-destinations", action="store_true",
                   help="accept http:// hook destinations (real BigCommerce requires https on 443)")
    p.add_argument("--sign-bc-signature", action="store_true",
                   help="also send X-BC-Signature = hex HMAC-SHA256(body, client secret) (not a real BC header)")
    p.add_argument("--timezone", default="America/Chicago")
    p.add_argument("--now", type=_moment, default=DEFAULT_NOW,
                   help="anchor of the seeded 60-day history (ISO 8601 or 'real'); default 2026-10-01T00:00:00Z")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    sim = BigCommerceSim(
        args.host, args.port, seed=args.seed, orders=args.orders, customers=args.customers,
        refund_rate=args.refund_rate, store_hash=args.store_hash, access_token=args.access_token,
        client_id=args.client_id, client_secret=args.client_secret, latency_ms=args.latency_ms,
        quota=args.quota, window_ms=args.window_ms, allow_http_destinations=args.allow_http_destinations,
        now=args.now, timezone=args.timezone, retry_factor=args.retry_factor,
        delivery_timeout_s=args.delivery_timeout, hook_deactivate_after=args.hook_deactivate_after,
        sign_bc_signature=args.sign_bc_signature,
    )
    try:
        sim.serve_forever()
    finally:
        sim.webhooks.stop()
    return 0
