"""Transform benchmark: build sale and refund journals for N synthetic orders.

Run ``python -m bench.transform --orders 100000``. Orders are generated in memory first (not
timed): 3 lines each, a few currencies, several gateways, and 10% of them partially refunded.
Journals are built in batches and dropped once counted, as the transform step does when it
saves them to state, so peak RSS measures the inputs plus one batch, not an ever-growing list.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import time
from decimal import Decimal

from ml_connector.core.journal import build_refund, build_sale
from ml_connector.core.mapping import Mapping
from ml_connector.core.model import (
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentEvent,
    PaymentMethod,
    Refund,
    RefundLine,
    RefundPayment,
    TaxLine,
)
from ml_connector.mappings import load_mapping
from ml_connector.settings import include_dir

from bench.common import bench_main, peak_rss_mb

PAIR = "bigcommerce_to_peoplesoft"
CATEGORIES = ("Hardware", "Tools", "Garden", "Apparel", "Kitchen")
GATEWAYS = ("stripe", "braintree", "paypalexpress", "authorizenet", "squarev2")
CENT = Decimal("0.01")
TAX_RATE = Decimal("0.0625")
EPOCH = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
BATCH = 5_000


def synthetic_order(rng: random.Random, number: int) -> tuple[Order, Refund | None]:
    """One internally consistent paid order (and maybe a refund of its first line)."""
    order_id = str(100_000 + number)
    lines = []
    for index in range(3):
        quantity = rng.randint(1, 4)
        unit = Decimal(rng.randint(199, 19_999)) * CENT
        category = CATEGORIES[rng.randrange(len(CATEGORIES))]
        sku = f"{category[:2].upper()}-{rng.randint(1000, 1040)}"
        total = unit * quantity
        lines.append(OrderLine(str(index + 1), sku, sku, quantity, unit, total, category=category))
    subtotal = sum((ln.total for ln in lines), Decimal(0))
    shipping = Decimal(rng.choice((0, 499, 999))) * CENT
    tax = (subtotal * TAX_RATE).quantize(CENT)
    total = subtotal + shipping + tax
    created = EPOCH + dt.timedelta(seconds=number * 17)
    payment = Payment(
        f"p{order_id}", PaymentEvent.CAPTURE, PaymentMethod.CARD, GATEWAYS[number % len(GATEWAYS)],
        total, "USD", created + dt.timedelta(minutes=5),
    )  # fmt: skip
    order = Order(
        source="bigcommerce", store_id="store1", order_id=order_id, status=OrderStatus.PAID,
        currency="USD", created_at=created, updated_at=created, lines=tuple(lines), total=total,
        shipping=shipping, taxes=(TaxLine("State Tax", tax),), payments=(payment,),
    )  # fmt: skip
    if number % 10:
        return order, None
    first = lines[0]
    refund_tax = (first.total * TAX_RATE).quantize(CENT)
    refund = Refund(
        source="bigcommerce", store_id="store1", refund_id=f"r{order_id}", order_id=order_id,
        currency="USD", created_at=created + dt.timedelta(days=3), total=first.total + refund_tax,
        lines=(RefundLine(first.line_id, first.sku, first.quantity, first.total),), tax=refund_tax,
        payments=(RefundPayment(payment.gateway, PaymentMethod.CARD, first.total + refund_tax),),
    )  # fmt: skip
    return order, refund


def _build_all(records: list[tuple[Order, Refund | None]], mapping: Mapping) -> int:
    built = 0
    for start in range(0, len(records), BATCH):
        batch = []
        for order, refund in records[start : start + BATCH]:
            batch.append(build_sale(order, mapping, PAIR))
            if refund is not None:
                batch.append(build_refund(refund, order, (), mapping, PAIR))
        built += len(batch)
    return built


def run(orders: int) -> dict[str, float | int]:
    """Generate ``orders`` orders, time building their journals, return the measures."""
    mapping = load_mapping(include_dir() / "mappings" / f"{PAIR}.yaml")
    rng = random.Random(2026)  # deterministic data, not security
    records = [synthetic_order(rng, n) for n in range(orders)]
    # The inputs live for the whole run: move them out of the cyclic GC's reach, as a long
    # transform step should, so full collections do not re-walk 100k orders again and again.
    gc.collect()
    gc.freeze()
    started = time.perf_counter()
    journals = _build_all(records, mapping)
    seconds = time.perf_counter() - started
    gc.unfreeze()
    return {
        "transform_orders_per_s": round(orders / seconds, 1) if seconds else 0.0,
        "transform_peak_rss_mb": peak_rss_mb(),
        "orders": orders,
        "journals": journals,
        "seconds": round(seconds, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.transform", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=100_000)
    return bench_main(parser, lambda a: run(a.orders), argv)


if __name__ == "__main__":
    raise SystemExit(main())
