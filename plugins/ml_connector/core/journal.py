"""Canonical orders and refunds -> balanced journals (DESIGN §4).

Every builder returns a Journal that balances exactly in the transaction currency and in the
ledger base currency, or raises a ``ParkedError`` saying why it cannot. Amounts are summed per
(role, dims, description) first and rounded once per line, so rounding never exceeds one minor
unit per line and any residual lands on the mapping's ``rounding`` role.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from ml_connector.core import rules
from ml_connector.core.keys import journal_key
from ml_connector.core.mapping import Dims, Mapping
from ml_connector.core.model import (
    ZERO,
    Journal,
    JournalKind,
    JournalLine,
    Order,
    Refund,
    SourceRef,
)
from ml_connector.core.money import minor_unit
from ml_connector.errors import NeedsReview

ONE = Decimal(1)
DESCRIPTION_MAX = 30  # PeopleSoft DESCR / LINE_DESCR; Fusion and JDE allow more
SOURCE_ABBREVIATIONS = {"bigcommerce": "BC", "woocommerce": "WC", "shopify": "SH"}
ROLE_LABELS = {
    "clearing": "Clearing",
    "gift_certificate_liability": "Gift certificates",
    "store_credit_liability": "Store credit",
    "revenue": "Sales",
    "discount": "Discounts",
    "shipping_revenue": "Shipping",
    "handling_revenue": "Handling",
    "wrapping_revenue": "Gift wrapping",
    "tax_payable": "Tax",
    "refund_adjustment": "Refund adjustment",
    "rounding": "Rounding",
}
# (order / refund attribute, mapping role) for the amounts that are not per line.
CHARGES = (("shipping", "shipping_revenue"), ("handling", "handling_revenue"), ("wrapping", "wrapping_revenue"))

DraftKey = tuple[str, Dims, str]


def fit(text: str, limit: int = DESCRIPTION_MAX) -> str:
    """Cut a description to the ERP's limit (descriptions only: never keys or accounts)."""
    return text if len(text) <= limit else text[:limit]


@lru_cache(maxsize=1024)
def label(prefix: str, name: str | None) -> str:
    """A line description such as "Clearing stripe" or "Tax State Tax" (cached: few distinct values)."""
    return fit(f"{prefix} {name}") if name else prefix


def source_label(system: str) -> str:
    return SOURCE_ABBREVIATIONS.get(system, system[:2].upper())


def _add(draft: dict[DraftKey, Decimal], key: DraftKey, amount: Decimal) -> None:
    draft[key] = draft.get(key, ZERO) + amount


def ledger_rate(
    currency: str, store_base: str | None, fx_rate: Decimal, mapping: Mapping, context: str
) -> Decimal:
    """The rate from ``currency`` to the ledger base currency (1 when they are the same)."""
    if currency == mapping.base_currency:
        return ONE
    if (store_base or currency) != mapping.base_currency:
        raise NeedsReview(
            f"{context} is in {currency} with a rate to {store_base or currency}, but the ledger base"
            f" currency of {mapping.source} is {mapping.base_currency}: no rate to convert"
        )
    if fx_rate <= 0:
        raise NeedsReview(f"{context}: exchange rate {fx_rate} from {currency} to {mapping.base_currency} is not positive")
    return fx_rate


def finalize_lines(
    draft: dict[DraftKey, Decimal],
    *,
    currency: str,
    base_currency: str,
    fx_rate: Decimal,
    reference: str,
    mapping: Mapping,
    context: str,
) -> tuple[JournalLine, ...]:
    """Round each drafted line, book the residual to rounding (within limits), add base amounts."""
    quantum = minor_unit(currency)
    same_currency = fx_rate == ONE and currency == base_currency
    base_quantum = quantum if same_currency else minor_unit(base_currency)
    lines: list[JournalLine] = []
    total = base_total = ZERO
    for (role, dims, description), raw in draft.items():
        amount = raw.quantize(quantum, rounding=ROUND_HALF_UP)
        if amount:
            base = amount if same_currency else (amount * fx_rate).quantize(base_quantum, rounding=ROUND_HALF_UP)
            lines.append(JournalLine(role, dims, amount, base, currency, description, reference))
            total += amount
            base_total += base
    if not lines:
        raise rules.NotPostable(f"{context} has no amounts to post")
    if total:
        allowance = quantum * len(lines)
        if abs(total) > allowance:
            debits = sum((ln.amount for ln in lines if ln.amount > 0), ZERO)
            raise NeedsReview(
                f"{context} does not balance: debits {debits}, credits {debits - total} {currency};"
                f" the difference {-total} is more than the rounding allowance {allowance}"
                f" ({len(lines)} lines x {quantum})"
            )
    if total or base_total:
        # The rounding line takes the transaction residual and whatever the base conversion left.
        dims = mapping.resolve("rounding", context=context)
        lines.append(JournalLine("rounding", dims, -total, -base_total, currency, "Rounding", reference))
    return tuple(lines)


def posting_day(when: dt.datetime, mapping: Mapping) -> dt.date:
    """The calendar day of ``when`` in the store's time zone."""
    return when.astimezone(mapping.zone).date()


def build_sale(order: Order, mapping: Mapping, pair: str) -> Journal:
    """The sale journal of a paid order: tenders debited, revenue / charges / tax credited."""
    context = f"order {order.order_id}"
    rules.check_postable(order)
    quantum = minor_unit(order.currency)
    held = rules.tenders(order)
    rules.check_settled(order, sum(held.values(), ZERO), quantum)
    fx_rate = ledger_rate(order.currency, order.base_currency, order.fx_rate, mapping, context)
    resolve = mapping.resolve
    channel = order.channel
    draft: dict[DraftKey, Decimal] = {}

    for (role, gateway), amount in held.items():
        if role == rules.CLEARING:
            key = (role, resolve(role, gateway=gateway, context=context), label("Clearing", gateway))
        else:
            key = (role, resolve(role, context=context), ROLE_LABELS[role])
        _add(draft, key, amount)
    items = discounts = tax_total = ZERO
    for line in order.lines:
        sku, category = line.sku, line.category
        key = ("revenue", resolve("revenue", sku=sku, category=category, channel=channel, context=context), "Sales")
        draft[key] = draft.get(key, ZERO) - line.total  # the hottest statement of the transform step
        items += line.total
        if line.discount:
            dims = resolve("discount", sku=sku, category=category, channel=channel, context=context)
            _add(draft, ("discount", dims, "Discounts"), line.discount)
            discounts += line.discount
    for discount in order.discounts:
        if discount.amount:
            _add(draft, ("discount", resolve("discount", channel=channel, context=context), "Discounts"), discount.amount)
            discounts += discount.amount
    for attribute, role in CHARGES:
        amount = getattr(order, attribute)
        if amount:
            _add(draft, (role, resolve(role, channel=channel, context=context), ROLE_LABELS[role]), -amount)
    for tax in order.taxes:
        if tax.amount:
            dims = resolve("tax_payable", tax_name=tax.name, context=context)
            _add(draft, ("tax_payable", dims, label("Tax", tax.name)), -tax.amount)
            tax_total += tax.amount

    rules.check_sale_components(order, items=items, discounts=discounts, tax=tax_total, allowance=quantum * len(draft))
    lines = finalize_lines(
        draft,
        currency=order.currency,
        base_currency=mapping.base_currency,
        fx_rate=fx_rate,
        reference=order.order_id,
        mapping=mapping,
        context=context,
    )
    when = order.captured_at if mapping.posting_date == "capture" else None
    return Journal(
        pair=pair,
        key=journal_key(pair, "order", order.order_id, "sale"),
        kind=JournalKind.SALE,
        store_id=order.store_id,
        currency=order.currency,
        base_currency=mapping.base_currency,
        fx_rate=fx_rate,
        posting_date=posting_day(when or order.created_at, mapping),
        description=fit(f"{source_label(order.source)} order {order.order_id} sale"),
        lines=lines,
        sources=(SourceRef(order.source, "order", order.order_id),),
        header=mapping.header_dims,
    )


def _tax_names(order: Order) -> dict[str | None, Decimal]:
    """The order's tax amounts per name, in first-seen order (the refund's tax is split over them)."""
    by_name: dict[str | None, Decimal] = {}
    for tax in order.taxes:
        by_name[tax.name] = by_name.get(tax.name, ZERO) + tax.amount
    return by_name or {None: ONE}


def build_refund(refund: Refund, order: Order, earlier_refunds: Iterable[Refund], mapping: Mapping, pair: str) -> Journal:
    """The offsetting journal for what a refund returned, dated in the refund's own period."""
    context = f"refund {refund.refund_id} of order {order.order_id}"
    if refund.order_id != order.order_id:
        raise ValueError(f"{context}: the refund belongs to order {refund.order_id}")
    if refund.currency != order.currency:
        raise NeedsReview(f"{context}: refund currency {refund.currency} differs from the order's {order.currency}")
    quantum = minor_unit(refund.currency)
    rules.check_refund_limit(refund, order, earlier_refunds)
    rules.check_refund_components(refund, quantum)
    payments = rules.refund_payments(refund, order, quantum)
    fx_rate = ledger_rate(refund.currency, refund.base_currency, refund.fx_rate, mapping, context)
    resolve = mapping.resolve
    channel = refund.channel or order.channel
    order_lines = {line.line_id: line for line in order.lines}
    draft: dict[DraftKey, Decimal] = {}

    for item in refund.lines:
        original = order_lines.get(item.line_id)
        sku = original.sku if original else item.sku
        category = original.category if original else item.category
        dims = resolve("revenue", sku=sku, category=category, channel=channel, context=context)
        _add(draft, ("revenue", dims, "Sales"), item.amount)
    for attribute, role in CHARGES:
        amount = getattr(refund, attribute)
        if amount:
            _add(draft, (role, resolve(role, channel=channel, context=context), ROLE_LABELS[role]), amount)
    if refund.tax:
        names = _tax_names(order)
        for name, share in zip(names, rules.allocate(refund.tax, list(names.values()), quantum), strict=True):
            if share:
                dims = resolve("tax_payable", tax_name=name, context=context)
                _add(draft, ("tax_payable", dims, label("Tax", name)), share)
    if refund.other:
        role = "refund_adjustment"
        _add(draft, (role, resolve(role, channel=channel, context=context), ROLE_LABELS[role]), refund.other)
    for payment in payments:
        role = rules.tender_role(payment.method)
        if role == rules.CLEARING:
            key = (role, resolve(role, gateway=payment.gateway, context=context), label("Clearing", payment.gateway))
        else:
            key = (role, resolve(role, context=context), ROLE_LABELS[role])
        _add(draft, key, -payment.amount)

    lines = finalize_lines(
        draft,
        currency=refund.currency,
        base_currency=mapping.base_currency,
        fx_rate=fx_rate,
        reference=refund.refund_id,
        mapping=mapping,
        context=context,
    )
    return Journal(
        pair=pair,
        key=journal_key(pair, "refund", refund.refund_id, "refund"),
        kind=JournalKind.REFUND,
        store_id=refund.store_id,
        currency=refund.currency,
        base_currency=mapping.base_currency,
        fx_rate=fx_rate,
        posting_date=posting_day(refund.created_at, mapping),
        description=fit(f"{source_label(refund.source)} refund {refund.refund_id}"),
        lines=lines,
        sources=(SourceRef(refund.source, "refund", refund.refund_id), SourceRef(order.source, "order", order.order_id)),
        header=mapping.header_dims,
    )


def build_reversal(original: Journal, when: dt.date, reason: str) -> Journal:
    """Undo a posted journal (order cancelled or deleted) with its exact negation, dated ``when``."""
    if not reason.strip():
        raise ValueError(f"reversal of {original.key}: a reason is required for the audit trail")
    if len(original.sources) == 1:
        source = original.sources[0]
        key = journal_key(original.pair, source.object, source.id, JournalKind.REVERSAL.value)
    else:
        key = f"{original.key}:{JournalKind.REVERSAL.value}"
    lines = tuple(
        JournalLine(ln.role, ln.dims, -ln.amount, -ln.base_amount, ln.currency, ln.description, ln.reference)
        for ln in original.lines
    )
    return Journal(
        pair=original.pair,
        key=key,
        kind=JournalKind.REVERSAL,
        store_id=original.store_id,
        currency=original.currency,
        base_currency=original.base_currency,
        fx_rate=original.fx_rate,
        posting_date=when,
        description=fit(f"REV {original.description} ({reason.strip()})"),
        lines=lines,
        sources=original.sources,
        header=original.header,
    )
