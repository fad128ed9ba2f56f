"""Money moved after checkout: captures, voids, the charge an edit adds, settling a late payment.

Each function only appends transactions (through ``OrderBuilder.txn`` so ids, gateway ids and
payment method ids follow the seeded ones) and raises ``PaymentRejected`` before touching anything
when the order's money does not allow the action. Status changes are the store's business.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sandbox.bigcommerce.bodies import Conflict
from sandbox.bigcommerce.data import OrderBuilder, capture_payment, card_method
from sandbox.bigcommerce.model import ZERO, Order, Transaction
from sandbox.bigcommerce.refunds import refundable


class PaymentRejected(Conflict):
    """Nothing (or not that much) to capture or void; the message says what is left (HTTP 422)."""


def capture(builder: OrderBuilder, order: Order, amount: Decimal | None, when: dt.datetime) -> list[Transaction]:
    """Capture ``amount`` (default: everything still authorized), oldest authorization first."""
    opens = order.open_authorizations()
    available = sum((left for _, left in opens), ZERO)
    if available == ZERO:
        raise PaymentRejected(f"order {order.id} has no open authorization to capture")
    wanted = available if amount is None else amount
    if wanted > available:
        raise PaymentRejected(f"amount {wanted} exceeds the {available} {order.currency} still authorized "
                              f"on order {order.id}")
    made = []
    for auth, left in opens:
        take = min(left, wanted)
        if take == ZERO:
            break
        made.append(builder.txn(order, when, "capture", auth.method, take, auth.gateway,
                                card_last4=auth.card_last4, reference_transaction_id=auth.id))
        wanted -= take
    return made


def void_authorizations(builder: OrderBuilder, order: Order, when: dt.datetime) -> list[Transaction]:
    """Release every open authorization (cancel): no money moves, the hold is dropped."""
    return [
        builder.txn(order, when, "void", auth.method, left, auth.gateway, card_last4=auth.card_last4,
                    reference_transaction_id=auth.id)
        for auth, left in order.open_authorizations()
    ]


def void_latest_capture(builder: OrderBuilder, order: Order, when: dt.datetime) -> Transaction:
    """Void the newest capture still standing; its money goes back, so it must still be refundable."""
    captures = order.live_captures()
    if not captures:
        raise PaymentRejected(f"order {order.id} has no capture to void")
    latest = max(captures, key=lambda t: t.id)
    left = refundable(order)
    if latest.amount > left:
        raise PaymentRejected(f"capture {latest.id} of {latest.amount} {order.currency} cannot be voided: "
                              f"only {left} is still refundable on order {order.id}")
    return builder.txn(order, when, "void", latest.method, latest.amount, latest.gateway,
                       card_last4=latest.card_last4, gift_certificate_code=latest.gift_certificate_code,
                       reference_transaction_id=latest.id)


def charge(builder: OrderBuilder, order: Order, amount: Decimal, when: dt.datetime) -> Transaction:
    """A new purchase on the order's card gateway (an edit that raised the total, a late balance)."""
    gateway = order.gateway or "testgateway"
    card = next((t.card_last4 for t in reversed(order.transactions) if t.gateway == gateway and t.card_last4), "")
    return builder.txn(order, when, "purchase", card_method(gateway), amount, gateway, card_last4=card or "4242")


def settle(builder: OrderBuilder, order: Order, when: dt.datetime) -> None:
    """An unpaid order becomes paid: capture what is authorized, then whatever is still owed."""
    if order.authorized_open:
        capture(builder, order, None, when)
    if order.captured == ZERO:
        capture_payment(builder, order, when)
        return
    owed = order.total_inc_tax - order.captured
    if owed > ZERO:
        charge(builder, order, owed, when)
