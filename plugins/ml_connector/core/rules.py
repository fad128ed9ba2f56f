"""Business rules a record must pass before it becomes a journal.

A record that fails is parked with a reason an operator can act on (``NeedsReview``,
``NotSettled``, ``NotPostable``); it is never dropped and never posted half-right.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal

from ml_connector.core.model import (
    POSTABLE_STATUSES,
    ZERO,
    Order,
    PaymentEvent,
    PaymentMethod,
    Refund,
    RefundPayment,
)
from ml_connector.errors import NeedsReview, ParkedError

# Which mapping role a tender debits (sale) or credits (refund).
LIABILITY_ROLES = {
    PaymentMethod.GIFT_CERTIFICATE: "gift_certificate_liability",
    PaymentMethod.STORE_CREDIT: "store_credit_liability",
}
CLEARING = "clearing"

Tender = tuple[str, str]  # (mapping role, gateway)


class NotSettled(ParkedError):
    """Less money was captured than the order total: wait for the capture, then post."""

    status = "not_settled"


class NotPostable(ParkedError):
    """The order's status means there is nothing to post (unpaid, cancelled before payment...)."""

    status = "skipped"


def tender_role(method: PaymentMethod) -> str:
    return LIABILITY_ROLES.get(method, CLEARING)


def tenders(order: Order, *, order_level: bool = True) -> dict[Tender, Decimal]:
    """Money taken per (role, gateway): successful captures minus voids of those captures.

    A void that references an authorization (not a capture) releases a hold, not money, so it is
    not subtracted. Gift certificate / store credit amounts the storefront reports only on the
    order (no matching payment record) count as tenders of their liability role.
    """
    payments = order.payments
    if (
        len(payments) == 1
        and payments[0].ok
        and payments[0].event is PaymentEvent.CAPTURE
        and not order.gift_certificate_amount
        and not order.store_credit_amount
    ):  # the common case, kept cheap for the transform hot path
        only = payments[0]
        return {(tender_role(only.method), only.gateway): only.amount} if only.amount else {}
    non_captures = {p.payment_id for p in payments if p.event is not PaymentEvent.CAPTURE}
    net: dict[Tender, Decimal] = {}
    for payment in order.payments:
        if not payment.ok:
            continue
        if payment.event is PaymentEvent.CAPTURE:
            sign = 1
        elif payment.event is PaymentEvent.VOID and payment.reference_id not in non_captures:
            sign = -1
        else:
            continue
        key = (tender_role(payment.method), payment.gateway)
        net[key] = net.get(key, ZERO) + (payment.amount if sign > 0 else -payment.amount)
    for method, amount in (
        (PaymentMethod.GIFT_CERTIFICATE, order.gift_certificate_amount),
        (PaymentMethod.STORE_CREDIT, order.store_credit_amount),
    ):
        if not order_level:
            break
        role = LIABILITY_ROLES[method]
        if amount and not any(r == role for r, _ in net):
            net[(role, method.value)] = amount
    for (role, gateway), amount in net.items():
        if amount < 0:
            raise NeedsReview(
                f"order {order.order_id}: voids exceed captures for {role} gateway {gateway!r} (net {amount})"
            )
    return {key: amount for key, amount in net.items() if amount}


def settled_amount(order: Order) -> Decimal:
    """Total money the merchant holds for the order (all tenders)."""
    return sum(tenders(order).values(), ZERO)


def check_postable(order: Order) -> None:
    if order.status not in POSTABLE_STATUSES:
        allowed = ", ".join(sorted(s.value for s in POSTABLE_STATUSES))
        raise NotPostable(f"order {order.order_id} has status {order.status.value}: only {allowed} orders post a sale")


def check_settled(order: Order, settled: Decimal, tolerance: Decimal) -> None:
    """Captured must equal the order total (within ``tolerance``, which goes to rounding)."""
    gap = settled - order.total
    if gap < -tolerance:
        raise NotSettled(
            f"order {order.order_id} is not settled: captured {settled} of {order.total} {order.currency}"
        )
    if gap > tolerance:
        raise NeedsReview(
            f"order {order.order_id}: captured {settled} {order.currency} is more than the order total {order.total}"
        )


def check_sale_components(
    order: Order, *, items: Decimal, discounts: Decimal, tax: Decimal, allowance: Decimal, fees: Decimal = ZERO
) -> None:
    """Items - discounts + shipping + handling + wrapping + fees + tax must make the order total.

    The caller passes the sums it already made while drafting lines (the hot path adds once).
    """
    computed = items - discounts + order.shipping + order.handling + order.wrapping + fees + tax
    if abs(computed - order.total) > allowance:
        raise NeedsReview(
            f"order {order.order_id}: items {items} - discounts {discounts} + shipping {order.shipping}"
            f" + handling {order.handling} + wrapping {order.wrapping} + fees {fees} + tax {tax} = {computed},"
            f" but the order total is {order.total} {order.currency}"
        )


def check_refund_limit(refund: Refund, order: Order, earlier: Iterable[Refund]) -> None:
    """A refund may never take the order's refunds above what was captured: not even by a cent."""
    captured = settled_amount(order)
    before = sum((r.total for r in earlier if r.refund_id != refund.refund_id), ZERO)
    if refund.total + before > captured:
        raise NeedsReview(
            f"refund {refund.refund_id} exceeds captured: captured {captured}, earlier refunds {before},"
            f" this refund {refund.total} (order {order.order_id})"
        )


def check_refund_components(refund: Refund, tolerance: Decimal) -> None:
    """Refunded items + shipping + handling + wrapping + tax + other must make the refund total."""
    items = sum((ln.amount for ln in refund.lines), ZERO)
    computed = items + refund.shipping + refund.handling + refund.wrapping + refund.fees + refund.tax + refund.other
    if abs(computed - refund.total) > tolerance:
        raise NeedsReview(
            f"refund {refund.refund_id} (order {refund.order_id}): items {items} + shipping {refund.shipping}"
            f" + handling {refund.handling} + wrapping {refund.wrapping} + fees {refund.fees} + tax {refund.tax} + other"
            f" {refund.other} = {computed}, but the refund total is {refund.total} {refund.currency}"
        )
    paid = sum((p.amount for p in refund.payments), ZERO)
    if refund.payments and abs(paid - refund.total) > tolerance:
        raise NeedsReview(
            f"refund {refund.refund_id} (order {refund.order_id}): payments {paid} do not match the refund"
            f" total {refund.total} {refund.currency}"
        )


def allocate(total: Decimal, weights: Sequence[Decimal], quantum: Decimal) -> list[Decimal]:
    """Split ``total`` pro rata to ``weights``, rounded to ``quantum``; the last share takes the remainder."""
    if not weights:
        return []
    weight_sum = sum(weights, ZERO)
    if not weight_sum:
        shares = [ZERO] * len(weights)
        shares[-1] = total
        return shares
    shares = [(total * w / weight_sum).quantize(quantum, rounding=ROUND_HALF_UP) for w in weights[:-1]]
    shares.append(total - sum(shares, ZERO))
    return shares


def refund_payments(refund: Refund, order: Order, quantum: Decimal) -> tuple[RefundPayment, ...]:
    """The refund's payments, or (when the storefront gives none) the order's tenders pro rata."""
    if refund.payments:
        return refund.payments
    held = tenders(order)
    if not held:
        raise NeedsReview(
            f"refund {refund.refund_id} (order {order.order_id}) says nothing about where the money went"
            " and the order has no captured payment to return it to"
        )
    methods = {role: method for method, role in LIABILITY_ROLES.items()}
    shares = allocate(refund.total, list(held.values()), quantum)
    return tuple(
        RefundPayment(gateway=gateway, method=methods.get(role, PaymentMethod.OTHER), amount=share)
        for (role, gateway), share in zip(held, shares, strict=True)
        if share
    )
