"""Refund rules: what may be refunded, how much it is worth, and which payments give it back.

One function serves both the seeded history and the control API, so a refund created live obeys
exactly the limits the seeded ones do: never more units than sold, shipping and handling once,
a fee up to what is left of it, and never more money than was captured (net of voids) minus
earlier refunds. Every amount is exact at the minor unit of the order's currency.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.bigcommerce.data import Dataset, Sequences
from sandbox.bigcommerce.model import (
    PAID_STATUSES,
    ZERO,
    Fee,
    Order,
    Refund,
    RefundItem,
    RefundPayment,
    Transaction,
    money,
    quantum,
)

ITEM_TYPES = ("PRODUCT", "GIFT_WRAPPING", "SHIPPING", "HANDLING", "ORDER", "FEE")
# Card gateways give money back first, then store credit, then gift certificates.
_SOURCE_ORDER = {"storecredit": 1, "giftcertificate": 2}


class RefundRejected(ValueError):
    """The request breaks a refund rule; the message says which item and why (HTTP 422)."""


def refundable(order: Order) -> Decimal:
    return order.captured - order.refunded


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RefundRejected(f"{what} must be an integer, got {value!r}")
    return value


def _money(value: Any, what: str, currency: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise RefundRejected(f"{what} must be a number, got {value!r}") from exc
    if not amount.is_finite() or amount <= 0 or amount != money(amount, currency):
        raise RefundRejected(f"{what} must be positive and exact to the {currency} minor unit "
                             f"({quantum(currency)}), got {value!r}")
    return amount


def _fee_item(order: Order, fee: Fee | None, raw: Mapping[str, Any], where: str) -> RefundItem:
    """All that is left of a fee (tax included, like SHIPPING and HANDLING), or a requested part of
    it carrying its pro-rata share of the fee's tax."""
    if fee is None:
        raise RefundRejected(f"{where}: order {order.id} has no fee {raw.get('item_id')!r}")
    left = fee.cost_inc_tax - fee.refunded_amount
    if left <= ZERO:
        raise RefundRejected(f"{where}: nothing left to refund for FEE {fee.id} on order {order.id}")
    requested = raw.get("amount", raw.get("requested_amount"))
    if requested is None:
        return RefundItem("FEE", fee.id, left, fee.cost_tax - fee.refunded_tax)
    amount = _money(requested, f"{where}.amount", order.currency)
    if amount > left:
        raise RefundRejected(f"{where}: amount {amount} exceeds the {left} left of FEE {fee.id}")
    tax = (fee.cost_tax - fee.refunded_tax if amount == left
           else money(fee.cost_tax * amount / fee.cost_inc_tax, order.currency))
    return RefundItem("FEE", fee.id, amount, tax, requested_amount=amount)


def _price_items(order: Order, raw_items: Iterable[Mapping[str, Any]]) -> list[RefundItem]:
    """Validate the request and value every item (tax included) without touching the order."""
    pending_units: dict[int, int] = {}
    once: set[tuple[str, int]] = set()
    priced: list[RefundItem] = []
    for index, raw in enumerate(raw_items):
        where = f"items[{index}]"
        kind = raw.get("item_type")
        if kind not in ITEM_TYPES:
            raise RefundRejected(f"{where}.item_type must be one of {ITEM_TYPES}, got {kind!r}")
        item_id = _int(raw.get("item_id", order.id if kind == "ORDER" else None), f"{where}.item_id")
        if kind == "PRODUCT":
            line = order.line(item_id)
            if line is None:
                raise RefundRejected(f"{where}: order {order.id} has no product line {item_id}")
            qty = _int(raw.get("quantity"), f"{where}.quantity")
            left = line.quantity - line.quantity_refunded - pending_units.get(item_id, 0)
            if qty < 1 or qty > left:
                raise RefundRejected(f"{where}: quantity {qty} exceeds the {left} refundable units of line {item_id}")
            pending_units[item_id] = pending_units.get(item_id, 0) + qty
            if pending_units[item_id] == line.quantity - line.quantity_refunded:  # last units take the rest
                amount = line.discounted_total_inc_tax - line.refund_amount
                tax = line.total_tax - line.refund_tax
            else:
                amount = money(line.discounted_total_inc_tax * qty / line.quantity, order.currency)
                tax = money(line.total_tax * qty / line.quantity, order.currency)
            priced.append(RefundItem("PRODUCT", item_id, amount, tax, quantity=qty))
            continue
        if kind == "ORDER":
            if item_id != order.id:
                raise RefundRejected(f"{where}: ORDER item_id must be the order id {order.id}")
            amount = _money(raw.get("amount", raw.get("requested_amount")), f"{where}.amount", order.currency)
            priced.append(RefundItem("ORDER", item_id, amount, ZERO, requested_amount=amount))
            continue
        if (kind, item_id) in once:
            raise RefundRejected(f"{where}: {kind} {item_id} appears twice")
        once.add((kind, item_id))
        if kind == "FEE":
            priced.append(_fee_item(order, order.fee(item_id), raw, where))
            continue
        if kind == "GIFT_WRAPPING":
            line = order.line(item_id)
            if line is None or not line.wrapping_ex_tax or line.wrapping_refunded:
                raise RefundRejected(f"{where}: line {item_id} has no unrefunded gift wrapping")
            priced.append(RefundItem(kind, item_id, line.wrapping_ex_tax + line.wrapping_tax, line.wrapping_tax))
            continue
        if item_id != order.address_id:
            raise RefundRejected(f"{where}: {kind} item_id must be the order address id {order.address_id}")
        ex, tax, done = (
            (order.shipping_ex_tax, order.shipping_tax, order.shipping_refunded) if kind == "SHIPPING"
            else (order.handling_ex_tax, order.handling_tax, order.handling_refunded)
        )
        if done or ex + tax == ZERO:
            raise RefundRejected(f"{where}: nothing left to refund for {kind} on order {order.id}")
        priced.append(RefundItem(kind, item_id, ex + tax, tax))
    if not priced:
        raise RefundRejected("items must list at least one item")
    return priced


def full_refund_items(order: Order) -> list[dict[str, Any]]:
    """Everything not yet refunded; an ORDER item settles any gap with the captured money."""
    items: list[dict[str, Any]] = [
        {"item_type": "PRODUCT", "item_id": line.id, "quantity": line.quantity - line.quantity_refunded}
        for line in order.lines if line.quantity > line.quantity_refunded
    ]
    items += [{"item_type": "GIFT_WRAPPING", "item_id": line.id} for line in order.lines
              if line.wrapping_ex_tax and not line.wrapping_refunded]
    if order.shipping_ex_tax + order.shipping_tax > ZERO and not order.shipping_refunded:
        items.append({"item_type": "SHIPPING", "item_id": order.address_id})
    if order.handling_ex_tax + order.handling_tax > ZERO and not order.handling_refunded:
        items.append({"item_type": "HANDLING", "item_id": order.address_id})
    items += [{"item_type": "FEE", "item_id": fee.id} for fee in order.fees if fee.cost_inc_tax > fee.refunded_amount]
    left = refundable(order)
    value = sum((i.amount for i in _price_items(order, items)), ZERO) if items else ZERO
    if value > left or not items:  # earlier goodwill refunds used up part of the money
        return [{"item_type": "ORDER", "item_id": order.id, "amount": str(left)}] if left > ZERO else []
    if value < left:
        items.append({"item_type": "ORDER", "item_id": order.id, "amount": str(left - value)})
    return items


def _payment_sources(order: Order) -> list[tuple[Transaction, Decimal]]:
    """Captured money per payment source still available for refunds, in refund priority."""
    already: dict[str, Decimal] = {}
    for refund in order.refunds:
        for payment in refund.payments:
            already[payment.provider_id] = already.get(payment.provider_id, ZERO) + payment.amount
    sources = []
    for txn in sorted(order.live_captures(), key=lambda t: (_SOURCE_ORDER.get(t.gateway, 0), t.id)):
        used = min(already.get(txn.gateway, ZERO), txn.amount)
        already[txn.gateway] = already.get(txn.gateway, ZERO) - used
        if txn.amount - used > ZERO:
            sources.append((txn, txn.amount - used))
    return sources


def apply_refund(order: Order, raw_items: Iterable[Mapping[str, Any]], created: dt.datetime, seq: Sequences,
                 reason: str = "") -> Refund:
    """Validate, value and record a refund; returns it. Raises RefundRejected (nothing changed)."""
    if order.captured == ZERO:
        raise RefundRejected(f"order {order.id} has no captured payment to refund")
    items = _price_items(order, raw_items)
    total = sum((i.amount for i in items), ZERO)
    left = refundable(order)
    if total > left:
        raise RefundRejected(f"refund of {total} exceeds the {left} {order.currency} still refundable on order {order.id}")
    refund = Refund(id=seq.next("refund"), order_id=order.id, created=created, reason=reason, items=items, payments=[])
    remaining = total
    for source, available in _payment_sources(order):
        if remaining == ZERO:
            break
        amount = min(available, remaining)
        remaining -= amount
        txn_id = seq.next("transaction")
        order.transactions.append(Transaction(
            id=txn_id, order_id=order.id, event="refund", method=source.method, amount=amount,
            currency=order.currency, gateway=source.gateway,
            gateway_transaction_id=f"{source.gateway[:3]}_{order.id}_{txn_id}",
            payment_method_id=source.payment_method_id, date_created=created, card_last4=source.card_last4,
            gift_certificate_code=source.gift_certificate_code, reference_transaction_id=source.id,
        ))
        refund.payments.append(RefundPayment(id=seq.next("refund_payment"), provider_id=source.gateway,
                                             amount=amount, transaction_id=str(txn_id)))
    for item in items:
        line = order.line(item.item_id) if item.item_type in ("PRODUCT", "GIFT_WRAPPING") else None
        if item.item_type == "PRODUCT" and line is not None:
            line.quantity_refunded += item.quantity or 0
            line.refund_amount += item.amount
            line.refund_tax += item.tax
        elif item.item_type == "GIFT_WRAPPING" and line is not None:
            line.wrapping_refunded = True
        elif item.item_type == "SHIPPING":
            order.shipping_refunded = True
        elif item.item_type == "HANDLING":
            order.handling_refunded = True
        elif item.item_type == "FEE" and (fee := order.fee(item.item_id)) is not None:
            fee.refunded_amount += item.amount
            fee.refunded_tax += item.tax
    order.refunds.append(refund)
    order.status_id = 4 if order.refunded == order.captured else 14
    order.date_modified = max(order.date_modified, created)
    return refund


def seed_refunds(rng: random.Random, data: Dataset) -> None:
    """Refund a share of paid orders: full, one unit (plus shipping), or a goodwill amount."""
    for order in data.orders:
        if order.status_id not in PAID_STATUSES or rng.random() >= data.refund_rate:
            continue
        latest = int((data.now - order.date_created).total_seconds()) - 60
        if latest < 3600:
            continue
        created = order.date_created + dt.timedelta(seconds=rng.randint(3600, latest))
        style = rng.random()
        if style < 0.4:
            items = full_refund_items(order)
        elif style < 0.85:
            line = rng.choice(order.lines)
            items = [{"item_type": "PRODUCT", "item_id": line.id, "quantity": 1}]
            if rng.random() < 0.3 and order.shipping_ex_tax:
                items.append({"item_type": "SHIPPING", "item_id": order.address_id})
        else:
            items = [{"item_type": "ORDER", "item_id": order.id,
                      "amount": str(max(money(order.total_inc_tax / 10, order.currency), quantum(order.currency)))}]
        apply_refund(order, items, created, data.seq, reason=rng.choice(("Damaged", "Changed mind", "Late delivery")))
