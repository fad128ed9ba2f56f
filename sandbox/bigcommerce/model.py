"""The simulator's in-memory truth: plain mutable records the API renders from.

Kept apart from the rendering so tests and chaos runs can compute their own expectations from
the raw numbers (``sim.store``) instead of trusting the JSON the hook under test also reads.
Money is ``Decimal`` rounded to the minor unit of the order's transactional currency (cents for
most, whole yen for JPY, fils for KWD): ``money(value, currency)`` is the one rounding rule.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

ZERO = Decimal("0.00")
CENT = Decimal("0.01")

STATUS_NAMES: dict[int, str] = {
    0: "Incomplete",
    1: "Pending",
    2: "Shipped",
    3: "Partially Shipped",
    4: "Refunded",
    5: "Cancelled",
    6: "Declined",
    7: "Awaiting Payment",
    8: "Awaiting Pickup",
    9: "Awaiting Shipment",
    10: "Completed",
    11: "Awaiting Fulfillment",
    12: "Manual Verification Required",
    13: "Disputed",
    14: "Partially Refunded",
}
PAID_STATUSES = frozenset({2, 3, 8, 9, 10, 11})
# Statuses whose money was captured at some point (refund statuses included).
CAPTURED_STATUSES = PAID_STATUSES | {4, 14}


# ISO 4217 minor units that are not 2; every other currency rounds to the cent.
MINOR_UNITS: dict[str, int] = {"JPY": 0, "KWD": 3}


def cents(value: Decimal) -> Decimal:
    """Round half-up to the cent: catalog prices (store currency) and 2-decimal currencies."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def quantum(currency: str) -> Decimal:
    """The smallest amount of ``currency`` (0.01, 1 for JPY, 0.001 for KWD)."""
    return Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2))


def money(value: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit, the way the storefront stores every order amount."""
    return value.quantize(quantum(currency), rounding=ROUND_HALF_UP)


@dataclass
class Category:
    id: int
    name: str


@dataclass
class Variant:
    id: int
    product_id: int
    sku: str
    price: Decimal | None  # None: inherits the product price
    option_label: str = ""  # "Size: M"; empty for a base variant
    inventory_level: int = 100
    cost_price: Decimal | None = None
    sale_price: Decimal | None = None
    retail_price: Decimal | None = None
    date_modified: dt.datetime | None = None


@dataclass
class Product:
    id: int
    name: str
    sku: str
    category_id: int
    price: Decimal
    cost_price: Decimal
    weight: Decimal
    date_created: dt.datetime
    date_modified: dt.datetime
    variants: list[Variant] = field(default_factory=list)
    inventory_level: int = 100
    is_visible: bool = True
    has_options: bool = False
    sale_price: Decimal = ZERO
    retail_price: Decimal = ZERO

    def unit_price(self, variant: Variant) -> Decimal:
        return self.price if variant.price is None else variant.price


@dataclass
class CustomerAddress:
    id: int
    customer_id: int
    first_name: str
    last_name: str
    address1: str
    city: str
    state_or_province: str
    postal_code: str
    country_code: str
    country: str
    phone: str = ""
    company: str = ""
    address_type: str = "residential"


@dataclass
class Customer:
    id: int
    email: str
    first_name: str
    last_name: str
    company: str
    phone: str
    date_created: dt.datetime
    date_modified: dt.datetime
    addresses: list[CustomerAddress] = field(default_factory=list)
    store_credit: Decimal = ZERO
    customer_group_id: int = 0


@dataclass
class PostalAddress:
    """An order's billing or shipping address (v2 field names)."""

    first_name: str
    last_name: str
    company: str
    street_1: str
    city: str
    state: str
    zip: str
    country: str
    country_iso2: str
    phone: str
    email: str


@dataclass
class OrderLine:
    id: int  # order product id: the refund item_id for PRODUCT items
    order_id: int
    product_id: int
    variant_id: int
    name: str
    sku: str
    quantity: int
    price_ex_tax: Decimal  # unit price before discounts
    total_ex_tax: Decimal  # price_ex_tax * quantity
    discount: Decimal  # share of coupon + manual discount allocated to the line
    total_tax: Decimal  # tax on (total_ex_tax - discount)
    wrapping_ex_tax: Decimal = ZERO  # gift wrapping on this line (rare)
    wrapping_tax: Decimal = ZERO
    quantity_refunded: int = 0
    refund_amount: Decimal = ZERO  # tax included
    refund_tax: Decimal = ZERO
    wrapping_refunded: bool = False
    type: str = "physical"  # physical | giftcertificate (sold, not redeemed: no tax, no discount)
    recipient_email: str = ""  # gift certificates are delivered by email

    @property
    def total_inc_tax(self) -> Decimal:
        return self.total_ex_tax + self.total_tax

    @property
    def is_gift_certificate(self) -> bool:
        return self.type == "giftcertificate"

    @property
    def discounted_total_inc_tax(self) -> Decimal:
        return self.total_ex_tax - self.discount + self.total_tax


@dataclass
class TaxLine:
    id: int
    order_id: int
    name: str
    rate: Decimal  # percent, e.g. 6.0
    amount: Decimal
    line_item_type: str  # item | shipping | handling | gift-wrapping (fee tax is rendered as handling)
    order_product_id: int | None
    priority: int
    fee_id: int | None = None  # set on the rows taxing an order fee


@dataclass
class Fee:
    """An order-level custom fee (v2 ``orderFees_Resp``); refund item type FEE, item_id = ``id``."""

    id: int
    name: str
    cost_ex_tax: Decimal
    taxable: bool = True
    cost_tax: Decimal = ZERO
    refunded_amount: Decimal = ZERO  # tax included
    refunded_tax: Decimal = ZERO

    @property
    def cost_inc_tax(self) -> Decimal:
        return self.cost_ex_tax + self.cost_tax


@dataclass
class CouponUse:
    id: int
    coupon_id: int
    order_id: int
    code: str
    type: int  # 0 per_item, 1 percentage, 2 per_total ...
    amount: Decimal  # the coupon's configured value (percent or money)
    discount: Decimal  # what it took off this order


@dataclass
class Transaction:
    id: int
    order_id: int
    event: str  # purchase | authorization | capture | refund | void | pending | settled
    method: str
    amount: Decimal
    currency: str
    gateway: str
    gateway_transaction_id: str
    payment_method_id: str
    date_created: dt.datetime
    status: str = "ok"
    card_last4: str = ""
    gift_certificate_code: str = ""
    reference_transaction_id: int | None = None

    @property
    def captures_money(self) -> bool:
        return self.status == "ok" and self.event in ("purchase", "capture")

    @property
    def is_void(self) -> bool:
        return self.status == "ok" and self.event == "void"


@dataclass
class RefundItem:
    item_type: str  # PRODUCT | SHIPPING | HANDLING | GIFT_WRAPPING | ORDER | FEE
    item_id: int
    amount: Decimal  # tax included
    tax: Decimal
    quantity: int | None = None
    requested_amount: Decimal | None = None


@dataclass
class RefundPayment:
    id: int
    provider_id: str
    amount: Decimal
    transaction_id: str
    offline: bool = False


@dataclass
class Refund:
    id: int
    order_id: int
    created: dt.datetime
    reason: str
    items: list[RefundItem]
    payments: list[RefundPayment]

    @property
    def total_amount(self) -> Decimal:
        return sum((p.amount for p in self.payments), ZERO)

    @property
    def total_tax(self) -> Decimal:
        return sum((i.tax for i in self.items), ZERO)


@dataclass
class Order:
    id: int
    customer_id: int  # 0 = guest
    status_id: int
    date_created: dt.datetime
    date_modified: dt.datetime
    currency: str  # transactional currency
    exchange_rate: Decimal  # store default (USD) -> transactional
    billing: PostalAddress
    shipping: PostalAddress
    shipping_method: str
    lines: list[OrderLine]
    shipping_ex_tax: Decimal
    shipping_tax: Decimal
    handling_ex_tax: Decimal
    handling_tax: Decimal
    discount_amount: Decimal  # manual discount
    coupons: list[CouponUse]
    taxes: list[TaxLine]
    gift_certificate_amount: Decimal
    store_credit_amount: Decimal
    gateway: str  # card/wallet gateway paying the rest ("" when none)
    payment_method: str  # v2 display name
    transactions: list[Transaction] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)
    address_id: int = 0  # order address id: refund item_id for SHIPPING / HANDLING
    ip_address: str = "127.0.0.1"
    cart_id: str = ""
    customer_message: str = ""
    shipping_refunded: bool = False
    handling_refunded: bool = False
    fees: list[Fee] = field(default_factory=list)
    is_deleted: bool = False  # archived: still readable by id, hidden from the default listing

    @property
    def wrapping_ex_tax(self) -> Decimal:
        return sum((line.wrapping_ex_tax for line in self.lines), ZERO)

    @property
    def wrapping_tax(self) -> Decimal:
        return sum((line.wrapping_tax for line in self.lines), ZERO)

    # -- amount identities: everything derives from lines + costs, never stored twice ----
    @property
    def subtotal_ex_tax(self) -> Decimal:
        return sum((line.total_ex_tax for line in self.lines), ZERO)

    @property
    def subtotal_tax(self) -> Decimal:
        return sum((line.total_tax for line in self.lines), ZERO)

    @property
    def coupon_discount(self) -> Decimal:
        return sum((c.discount for c in self.coupons), ZERO)

    @property
    def fees_ex_tax(self) -> Decimal:
        return sum((fee.cost_ex_tax for fee in self.fees), ZERO)

    @property
    def fees_tax(self) -> Decimal:
        return sum((fee.cost_tax for fee in self.fees), ZERO)

    @property
    def total_tax(self) -> Decimal:
        return self.subtotal_tax + self.shipping_tax + self.handling_tax + self.wrapping_tax + self.fees_tax

    @property
    def total_ex_tax(self) -> Decimal:
        return (
            self.subtotal_ex_tax
            + self.shipping_ex_tax
            + self.handling_ex_tax
            + self.wrapping_ex_tax
            + self.fees_ex_tax
            - self.discount_amount
            - self.coupon_discount
        )

    @property
    def total_inc_tax(self) -> Decimal:
        return self.total_ex_tax + self.total_tax

    @property
    def items_total(self) -> int:
        return sum(line.quantity for line in self.lines)

    def live_captures(self) -> list[Transaction]:
        """Captures and purchases that no later void took back, oldest first."""
        voided = {t.reference_transaction_id for t in self.transactions if t.is_void}
        return [t for t in self.transactions if t.captures_money and t.id not in voided]

    @property
    def captured(self) -> Decimal:
        """Money the store holds before refunds: captures minus the captures voided since."""
        return sum((t.amount for t in self.live_captures()), ZERO)

    def open_authorizations(self) -> list[tuple[Transaction, Decimal]]:
        """Each authorization with what is neither captured nor voided yet, oldest first."""
        auths = [t for t in self.transactions if t.status == "ok" and t.event == "authorization"]
        left = {t.id: t.amount for t in auths}
        for t in self.transactions:
            if t.reference_transaction_id in left and (t.captures_money or t.is_void):
                left[t.reference_transaction_id] -= t.amount
        return [(t, left[t.id]) for t in auths if left[t.id] > ZERO]

    @property
    def authorized_open(self) -> Decimal:
        """Authorized and not settled yet: a capture or a cancel (void) settles it."""
        return sum((left for _, left in self.open_authorizations()), ZERO)

    @property
    def refunded(self) -> Decimal:
        return sum((r.total_amount for r in self.refunds), ZERO)

    def line(self, order_product_id: int) -> OrderLine | None:
        return next((line for line in self.lines if line.id == order_product_id), None)

    def fee(self, fee_id: int) -> Fee | None:
        return next((fee for fee in self.fees if fee.id == fee_id), None)
