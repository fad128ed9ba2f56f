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
    LineKind,
    Order,
    OrderLine,
    Refund,
    RefundPayment,
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
    "fee_revenue": "Fees",
    "refunds_payable": "Refunds payable",
    "rounding": "Rounding",
}
GIFT_CERTIFICATE_ROLE = "gift_certificate_liability"
REFUNDS_PAYABLE = "refunds_payable"
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


def _tender_key(role: str, gateway: str, mapping: Mapping, context: str) -> DraftKey:
    if role == rules.CLEARING:
        return role, mapping.resolve(role, gateway=gateway, context=context), label("Clearing", gateway)
    return role, mapping.resolve(role, context=context), ROLE_LABELS[role]


def _line_target(line: OrderLine, channel: str | None, mapping: Mapping, context: str) -> DraftKey:
    """Where an order line's amount goes: revenue for goods, the liability for gift certificates sold."""
    if line.kind is LineKind.GIFT_CERTIFICATE:
        role = GIFT_CERTIFICATE_ROLE
        return role, mapping.resolve(role, context=context), "Gift certificates sold"
    dims = mapping.resolve("revenue", sku=line.sku, category=line.category, channel=channel, context=context)
    return "revenue", dims, "Sales"


def _fee_key(name: str, channel: str | None, mapping: Mapping, context: str) -> DraftKey:
    dims = mapping.resolve("fee_revenue", tax_name=name, channel=channel, context=context)
    return "fee_revenue", dims, label("Fee", name)


def tender_draft(order: Order, mapping: Mapping, context: str) -> dict[DraftKey, Decimal]:
    """The money the merchant holds for a cancelled order, as debits per tender.

    Only payment records count here (captures net of voids): a gift certificate or store credit
    amount printed on a cancelled order is no evidence that it was ever charged.
    """
    draft: dict[DraftKey, Decimal] = {}
    for (role, gateway), amount in rules.tenders(order, order_level=False).items():
        _add(draft, _tender_key(role, gateway, mapping, context), amount)
    return draft


def sale_posting_day(order: Order, mapping: Mapping) -> dt.date:
    """The sale's posting day: the capture (settlement) day, or the order day, in the store's zone."""
    when = order.captured_at if mapping.posting_date == "capture" else None
    return posting_day(when or order.created_at, mapping)


def build_sale(order: Order, mapping: Mapping, pair: str) -> Journal:
    """The sale journal of a paid order: tenders debited, revenue / charges / tax credited.

    Gift certificates sold are credited to their liability (revenue comes when they are spent
    on goods), fees to ``fee_revenue``, discounts debited as contra-revenue.
    """
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
        _add(draft, _tender_key(role, gateway, mapping, context), amount)
    items = discounts = tax_total = ZERO
    for line in order.lines:
        sku, category = line.sku, line.category
        if line.kind is LineKind.PRODUCT:
            key = ("revenue", resolve("revenue", sku=sku, category=category, channel=channel, context=context), "Sales")
        else:
            key = _line_target(line, channel, mapping, context)
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
    fees = ZERO
    for fee in order.fees:
        if fee.amount:
            _add(draft, _fee_key(fee.name, channel, mapping, context), -fee.amount)
            fees += fee.amount
    for tax in order.taxes:
        if tax.amount:
            dims = resolve("tax_payable", tax_name=tax.name, context=context)
            _add(draft, ("tax_payable", dims, label("Tax", tax.name)), -tax.amount)
            tax_total += tax.amount

    rules.check_sale_components(
        order, items=items, discounts=discounts, tax=tax_total, allowance=quantum * len(draft), fees=fees
    )
    lines = finalize_lines(
        draft,
        currency=order.currency,
        base_currency=mapping.base_currency,
        fx_rate=fx_rate,
        reference=order.order_id,
        mapping=mapping,
        context=context,
    )
    return Journal(
        pair=pair,
        key=journal_key(pair, "order", order.order_id, "sale"),
        kind=JournalKind.SALE,
        store_id=order.store_id,
        currency=order.currency,
        base_currency=mapping.base_currency,
        fx_rate=fx_rate,
        posting_date=sale_posting_day(order, mapping),
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


def _order_discount_shares(order: Order, quantum: Decimal) -> dict[str, Decimal]:
    """Each goods line's share of the order-level discounts, pro rata to its net amount."""
    goods = [ln for ln in order.lines if ln.kind is LineKind.PRODUCT]
    total = sum((d.amount for d in order.discounts), ZERO)
    if not total or not goods:
        return {}
    shares = rules.allocate(total, [ln.total - ln.discount for ln in goods], quantum)
    return {ln.line_id: share for ln, share in zip(goods, shares, strict=True)}


def _refunded_line(
    draft: dict[DraftKey, Decimal],
    amount: Decimal,
    original: OrderLine,
    order_share: Decimal,
    channel: str | None,
    mapping: Mapping,
    context: str,
    quantum: Decimal,
) -> None:
    """Debit what a refunded line had credited, grossed up for its discounts.

    Storefronts refund a line at its net (discounted) price. The sale credited the gross to
    revenue and debited the discount, so the refund debits the gross share and credits the
    discount share back: a full refund leaves revenue and discounts both at zero.
    """
    target = _line_target(original, channel, mapping, context)
    net = original.total - original.discount - order_share
    line_part = order_part = ZERO
    if net > 0 and (original.discount or order_share):
        line_part = (amount * original.discount / net).quantize(quantum, rounding=ROUND_HALF_UP)
        order_part = (amount * order_share / net).quantize(quantum, rounding=ROUND_HALF_UP)
    _add(draft, target, amount + line_part + order_part)
    if line_part:
        dims = mapping.resolve("discount", sku=original.sku, category=original.category, channel=channel, context=context)
        _add(draft, ("discount", dims, "Discounts"), -line_part)
    if order_part:
        _add(draft, ("discount", mapping.resolve("discount", channel=channel, context=context), "Discounts"), -order_part)


def _refund_payments_draft(
    draft: dict[DraftKey, Decimal], payments: Iterable[RefundPayment], mapping: Mapping, context: str
) -> None:
    for payment in payments:
        _add(draft, _tender_key(rules.tender_role(payment.method), payment.gateway, mapping, context), -payment.amount)


def _refund_components(
    draft: dict[DraftKey, Decimal], refund: Refund, order: Order, mapping: Mapping, context: str, quantum: Decimal
) -> None:
    """What the refund gives back, on the accounts the sale credited (sale side)."""
    resolve = mapping.resolve
    channel = refund.channel or order.channel
    order_lines = {line.line_id: line for line in order.lines}
    shares = _order_discount_shares(order, quantum)
    for item in refund.lines:
        original = order_lines.get(item.line_id)
        if original is None:
            dims = resolve("revenue", sku=item.sku, category=item.category, channel=channel, context=context)
            _add(draft, ("revenue", dims, "Sales"), item.amount)
            continue
        _refunded_line(draft, item.amount, original, shares.get(original.line_id, ZERO), channel, mapping, context, quantum)
    for attribute, role in CHARGES:
        amount = getattr(refund, attribute)
        if amount:
            _add(draft, (role, resolve(role, channel=channel, context=context), ROLE_LABELS[role]), amount)
    if refund.fees:
        fees = [fee for fee in order.fees if fee.amount] or None
        if fees is None:
            _add(draft, _fee_key("", channel, mapping, context), refund.fees)
        else:
            for fee, share in zip(fees, rules.allocate(refund.fees, [f.amount for f in fees], quantum), strict=True):
                if share:
                    _add(draft, _fee_key(fee.name, channel, mapping, context), share)
    if refund.tax:
        names = _tax_names(order)
        for name, share in zip(names, rules.allocate(refund.tax, list(names.values()), quantum), strict=True):
            if share:
                dims = resolve("tax_payable", tax_name=name, context=context)
                _add(draft, ("tax_payable", dims, label("Tax", name)), share)
    if refund.other:
        role = "refund_adjustment"
        _add(draft, (role, resolve(role, channel=channel, context=context), ROLE_LABELS[role]), refund.other)


def build_refund(
    refund: Refund,
    order: Order,
    earlier_refunds: Iterable[Refund],
    mapping: Mapping,
    pair: str,
    *,
    sale_stands: bool = True,
) -> Journal:
    """The offsetting journal for what a refund returned, dated in the refund's own period.

    While the sale stands the refund debits what the sale credited (revenue grossed up for
    discounts, charges, fees, tax). Once the order was cancelled the sale is already off the
    ledger and the captured cash sits in ``refunds_payable``: the refund then settles that
    payable (``sale_stands=False``).
    """
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
    draft: dict[DraftKey, Decimal] = {}
    if sale_stands:
        _refund_components(draft, refund, order, mapping, context, quantum)
    else:
        role = REFUNDS_PAYABLE
        _add(draft, (role, mapping.resolve(role, context=context), ROLE_LABELS[role]), refund.total)
    _refund_payments_draft(draft, payments, mapping, context)

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
