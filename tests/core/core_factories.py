"""Small, explicit builders of canonical records for the core tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ml_connector.core.mapping import Mapping
from ml_connector.core.model import (
    Discount,
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

PAIR = "bigcommerce_to_peoplesoft"
CREATED = dt.datetime(2026, 10, 2, 15, 0, tzinfo=dt.UTC)
CAPTURED = dt.datetime(2026, 10, 3, 16, 0, tzinfo=dt.UTC)

D = Decimal


def bc_mapping() -> Mapping:
    return load_mapping(include_dir() / "mappings" / f"{PAIR}.yaml")


def line(line_id: str, total: str, *, sku: str = "HW-2000", category: str | None = "Hardware", discount: str = "0") -> OrderLine:
    return OrderLine(line_id, sku, f"item {sku}", 1, D(total), D(total), discount=D(discount), category=category)


def capture(amount: str, *, gateway: str = "stripe", method: PaymentMethod = PaymentMethod.CARD,
            payment_id: str = "p1", currency: str = "USD", at: dt.datetime = CAPTURED) -> Payment:
    return Payment(payment_id, PaymentEvent.CAPTURE, method, gateway, D(amount), currency, at)


def order(
    *,
    order_id: str = "100",
    lines: tuple[OrderLine, ...] = (),
    total: str = "0",
    shipping: str = "0",
    taxes: tuple[tuple[str, str], ...] = (),
    discounts: tuple[str, ...] = (),
    payments: tuple[Payment, ...] | None = None,
    currency: str = "USD",
    base_currency: str | None = None,
    fx_rate: str = "1",
    status: OrderStatus = OrderStatus.PAID,
    channel: str | None = None,
    gift_certificate_amount: str = "0",
) -> Order:
    if payments is None:
        payments = (capture(total, currency=currency),)
    return Order(
        source="bigcommerce", store_id="store1", order_id=order_id, status=status, currency=currency,
        created_at=CREATED, updated_at=CREATED, lines=lines, total=D(total), shipping=D(shipping),
        taxes=tuple(TaxLine(name, D(amount)) for name, amount in taxes),
        discounts=tuple(Discount(f"C{i}", D(a)) for i, a in enumerate(discounts)),
        payments=payments, channel=channel, base_currency=base_currency, fx_rate=D(fx_rate),
        gift_certificate_amount=D(gift_certificate_amount),
    )  # fmt: skip


def simple_order(order_id: str = "100") -> Order:
    """100.00 of hardware + 5.00 shipping + 6.25 state tax = 111.25, paid by stripe."""
    return order(
        order_id=order_id, lines=(line("1", "100.00"),), shipping="5.00",
        taxes=(("State Tax", "6.25"),), total="111.25",
    )  # fmt: skip


def refund(
    *,
    refund_id: str = "R1",
    order_id: str = "100",
    total: str,
    lines: tuple[tuple[str, str], ...] = (),
    shipping: str = "0",
    tax: str = "0",
    other: str = "0",
    payments: tuple[tuple[str, str], ...] | None = None,
    currency: str = "USD",
    at: dt.datetime = dt.datetime(2026, 11, 5, 12, 0, tzinfo=dt.UTC),
) -> Refund:
    if payments is None:
        payments = (("stripe", total),)
    return Refund(
        source="bigcommerce", store_id="store1", refund_id=refund_id, order_id=order_id,
        currency=currency, created_at=at, total=D(total),
        lines=tuple(RefundLine(lid, "", 1, D(amount)) for lid, amount in lines),
        shipping=D(shipping), tax=D(tax), other=D(other),
        payments=tuple(RefundPayment(gw, PaymentMethod.CARD, D(a)) for gw, a in payments),
    )  # fmt: skip


def by_account(journals, *, base: bool = False) -> dict[tuple[tuple[str, str], ...], Decimal]:
    """Net amount per dims (account combination) over journals."""
    sums: dict[tuple[tuple[str, str], ...], Decimal] = {}
    for journal in journals:
        for ln in journal.lines:
            sums[ln.dims] = sums.get(ln.dims, D(0)) + (ln.base_amount if base else ln.amount)
    return {dims: amount for dims, amount in sums.items() if amount}
