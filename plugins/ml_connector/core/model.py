"""Canonical records: what every storefront yields and every ERP accepts.

N storefronts and M ERPs meet here, so that a pair is configuration rather than code.
Records are immutable (frozen, slotted dataclasses: cheap enough for 100k orders a run),
money is ``Decimal`` in the record's currency, and every timestamp is aware UTC.
Amounts on orders and refunds are tax-exclusive; tax is carried separately.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

ZERO = Decimal("0")


def require_utc(value: dt.datetime, what: str) -> dt.datetime:
    """Reject naive timestamps at the boundary; normalise aware ones to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: naive timestamp {value!r}; an aware UTC datetime is required")
    return value.astimezone(dt.UTC)


class OrderStatus(StrEnum):
    """Financial state of an order, storefront-neutral."""

    PAID = "paid"  # payment confirmed (captured or being captured)
    UNPAID = "unpaid"  # incomplete, pending, awaiting payment, declined: nothing to post
    CANCELLED = "cancelled"  # cancelled after or before payment
    REFUNDED = "refunded"  # fully refunded (refunds post themselves; the sale still stands)
    PARTIALLY_REFUNDED = "partially_refunded"
    DELETED = "deleted"  # archived / deleted in the store


POSTABLE_STATUSES = frozenset({OrderStatus.PAID, OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED})


class LineKind(StrEnum):
    """What an order line sells: goods (revenue) or a gift certificate (a liability, not revenue)."""

    PRODUCT = "product"
    GIFT_CERTIFICATE = "gift_certificate"


class PaymentMethod(StrEnum):
    CARD = "card"
    WALLET = "wallet"
    GIFT_CERTIFICATE = "gift_certificate"
    STORE_CREDIT = "store_credit"
    OFFLINE = "offline"
    OTHER = "other"


class PaymentEvent(StrEnum):
    AUTHORIZATION = "authorization"
    CAPTURE = "capture"  # money moved: purchase (auth+capture) or capture
    VOID = "void"
    REFUND = "refund"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Address:
    line1: str = ""
    line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""
    country: str = ""  # ISO 3166-1 alpha-2
    kind: str = "billing"  # billing | shipping | residential | commercial


@dataclass(frozen=True, slots=True)
class OrderLine:
    line_id: str
    sku: str
    name: str
    quantity: int
    unit_price: Decimal  # ex tax
    total: Decimal  # ex tax, before line discount
    discount: Decimal = ZERO  # line-level discounts allocated to this line (positive number)
    tax: Decimal = ZERO
    category: str | None = None
    product_id: str | None = None
    kind: LineKind = LineKind.PRODUCT


@dataclass(frozen=True, slots=True)
class Fee:
    """An order-level fee the shopper paid (BigCommerce ``fees``, a WooCommerce fee line): its own role."""

    fee_id: str
    name: str
    amount: Decimal  # ex tax; its tax is a ``TaxLine`` with ``applies_to="fee"``


@dataclass(frozen=True, slots=True)
class TaxLine:
    name: str  # jurisdiction / tax class, used by the mapping
    amount: Decimal
    applies_to: str = "item"  # item | shipping | handling | wrapping | fee


@dataclass(frozen=True, slots=True)
class Discount:
    code: str  # coupon code or a label for manual / automatic discounts
    amount: Decimal  # positive number
    kind: str = "coupon"  # coupon | manual | promotion


@dataclass(frozen=True, slots=True)
class Payment:
    payment_id: str
    event: PaymentEvent
    method: PaymentMethod
    gateway: str
    amount: Decimal  # positive
    currency: str
    occurred_at: dt.datetime
    ok: bool = True
    reference_id: str | None = None  # the transaction a capture / void / refund refers to

    def __post_init__(self) -> None:
        object.__setattr__(self, "occurred_at", require_utc(self.occurred_at, f"payment {self.payment_id}"))


@dataclass(frozen=True, slots=True)
class Order:
    source: str  # storefront system: bigcommerce | woocommerce | shopify
    store_id: str
    order_id: str
    status: OrderStatus
    currency: str  # transactional currency (what the shopper paid in)
    created_at: dt.datetime
    updated_at: dt.datetime
    lines: tuple[OrderLine, ...]
    total: Decimal  # grand total charged, tax included
    shipping: Decimal = ZERO  # ex tax
    handling: Decimal = ZERO
    wrapping: Decimal = ZERO
    taxes: tuple[TaxLine, ...] = ()
    discounts: tuple[Discount, ...] = ()  # order-level discounts (coupons, manual)
    payments: tuple[Payment, ...] = ()
    customer_id: str | None = None  # None = guest
    customer_email: str = ""
    channel: str | None = None
    base_currency: str | None = None  # store default currency; None = same as currency
    fx_rate: Decimal = Decimal("1")  # base amount = transaction amount * fx_rate
    gift_certificate_amount: Decimal = ZERO
    store_credit_amount: Decimal = ZERO
    billing_address: Address | None = None
    fees: tuple[Fee, ...] = ()
    archived: bool = False  # hidden in the store (BigCommerce ``is_deleted``): moves no money

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", require_utc(self.created_at, f"order {self.order_id} created_at"))
        object.__setattr__(self, "updated_at", require_utc(self.updated_at, f"order {self.order_id} updated_at"))

    @property
    def is_guest(self) -> bool:
        return self.customer_id is None

    @property
    def tax_total(self) -> Decimal:
        return sum((t.amount for t in self.taxes), ZERO)

    @property
    def discount_total(self) -> Decimal:
        return sum((d.amount for d in self.discounts), ZERO) + sum((ln.discount for ln in self.lines), ZERO)

    @property
    def captured(self) -> Decimal:
        """Money actually taken: successful captures minus voids of those captures.

        A void of an authorization moves no money and is ignored (see ``rules.settled_amount``
        for the ledger's view, which also counts tenders recorded only on the order).
        """
        captures = {p.payment_id: p.amount for p in self.payments if p.ok and p.event is PaymentEvent.CAPTURE}
        voided = sum(
            (p.amount for p in self.payments if p.ok and p.event is PaymentEvent.VOID and p.reference_id in captures),
            ZERO,
        )
        return sum(captures.values(), ZERO) - voided

    @property
    def captured_at(self) -> dt.datetime | None:
        """When the order became settled: the last successful capture."""
        times = [p.occurred_at for p in self.payments if p.ok and p.event is PaymentEvent.CAPTURE]
        return max(times) if times else None


@dataclass(frozen=True, slots=True)
class RefundLine:
    line_id: str  # the order line refunded
    sku: str
    quantity: int
    amount: Decimal  # ex tax
    category: str | None = None


@dataclass(frozen=True, slots=True)
class RefundPayment:
    gateway: str
    method: PaymentMethod
    amount: Decimal
    payment_id: str | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    source: str
    store_id: str
    refund_id: str
    order_id: str
    currency: str
    created_at: dt.datetime
    total: Decimal  # what left the merchant, tax included
    lines: tuple[RefundLine, ...] = ()
    shipping: Decimal = ZERO
    handling: Decimal = ZERO
    wrapping: Decimal = ZERO
    tax: Decimal = ZERO
    fees: Decimal = ZERO  # order fees refunded, ex tax
    other: Decimal = ZERO  # order-level amounts not tied to a line (goodwill, adjustments)
    payments: tuple[RefundPayment, ...] = ()
    reason: str = ""
    channel: str | None = None
    base_currency: str | None = None
    fx_rate: Decimal = Decimal("1")
    # Where ``fx_rate`` came from: "refund" (the platform gave the refund's own rate) or "order"
    # (it gave none, so the order's rate is used and the sale and its refund offset exactly in base).
    fx_rate_source: str = "order"

    def __post_init__(self) -> None:
        object.__setattr__(self, "created_at", require_utc(self.created_at, f"refund {self.refund_id}"))


@dataclass(frozen=True, slots=True)
class Customer:
    source: str
    store_id: str
    customer_id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    phone: str = ""
    addresses: tuple[Address, ...] = ()
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    active: bool = True

    @property
    def display_name(self) -> str:
        name = f"{self.first_name} {self.last_name}".strip()
        return self.company or name or self.email


class JournalKind(StrEnum):
    SALE = "sale"
    REFUND = "refund"
    REVERSAL = "reversal"  # the exact negation of a posted journal (kept for journals saved before adjustments)
    ADJUSTMENT = "adjustment"  # the delta after a posted order changed (edit, cancel, restore), linked to it
    DAILY = "daily"  # one journal per store, currency and posting day


@dataclass(frozen=True, slots=True)
class SourceRef:
    """Which storefront object a journal (or line) came from."""

    system: str
    object: str  # order | refund | customer
    id: str


@dataclass(frozen=True, slots=True)
class JournalLine:
    role: str  # mapping role: clearing, revenue, tax_payable, discount, rounding, ...
    dims: tuple[tuple[str, str], ...]  # ERP dimensions from the mapping (account, chartfields, segments)
    amount: Decimal  # transaction currency; debit positive, credit negative
    base_amount: Decimal  # in the ledger's base currency
    currency: str
    description: str = ""
    reference: str = ""  # source reference (order / refund id)

    @property
    def dim_map(self) -> dict[str, str]:
        return dict(self.dims)

    @property
    def debit(self) -> Decimal:
        return self.amount if self.amount > 0 else ZERO

    @property
    def credit(self) -> Decimal:
        return -self.amount if self.amount < 0 else ZERO


@dataclass(frozen=True, slots=True)
class Journal:
    pair: str
    key: str  # deterministic idempotency key (see core.keys)
    kind: JournalKind
    store_id: str
    currency: str
    base_currency: str
    fx_rate: Decimal
    posting_date: dt.date
    description: str
    lines: tuple[JournalLine, ...]
    sources: tuple[SourceRef, ...] = field(default=())
    header: tuple[tuple[str, str], ...] = ()  # ERP header dimensions (business unit, ledger group, ...)

    @property
    def total_debit(self) -> Decimal:
        return sum((ln.amount for ln in self.lines if ln.amount > 0), ZERO)

    @property
    def total_credit(self) -> Decimal:
        return -sum((ln.amount for ln in self.lines if ln.amount < 0), ZERO)

    @property
    def is_balanced(self) -> bool:
        return sum((ln.amount for ln in self.lines), ZERO) == 0 and sum(
            (ln.base_amount for ln in self.lines), ZERO
        ) == 0
