"""Deterministic store generator: the same seed gives the same catalog, shoppers and orders.

Every amount is built bottom-up (unit price x quantity, discount allocated to lines, tax per line
and per rate, payments splitting the exact total) so the identities a controller checks hold by
construction, not by luck. Dates are relative to a fixed anchor (``DEFAULT_NOW``) so that runs
are byte-identical; pass another ``now`` to move the whole store in time.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from sandbox.bigcommerce.model import (
    CAPTURED_STATUSES,
    ZERO,
    Category,
    CouponUse,
    Customer,
    CustomerAddress,
    Fee,
    Order,
    OrderLine,
    PostalAddress,
    Product,
    TaxLine,
    Transaction,
    Variant,
    cents,
    money,
)

DEFAULT_NOW = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
ORDER_SPAN = dt.timedelta(days=60)
STORE_CURRENCY = "USD"
CURRENCY_IDS = {"USD": 1, "EUR": 2, "CAD": 3, "JPY": 4, "KWD": 5}
# Fixed store-default (USD) -> transactional rates; JPY has no minor unit, KWD three (model.MINOR_UNITS).
EXCHANGE_RATES = {"USD": Decimal("1"), "EUR": Decimal("0.9215000000"), "CAD": Decimal("1.3650000000"),
                  "JPY": Decimal("149.5000000000"), "KWD": Decimal("0.3075000000")}
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "CAD": "C$", "JPY": "¥", "KWD": "KD "}

CATALOG: dict[str, tuple[str, list[str]]] = {
    "Hardware": ("HW-1", ["Hex Bolt Set", "Wood Screws 200pc", "Door Hinge Pair", "Cabinet Handle",
                          "Wall Anchor Kit", "Padlock 40mm", "Steel Bracket", "Chain Link 2m"]),
    "Tools": ("TL-2", ["Claw Hammer", "Cordless Drill", "Screwdriver Set", "Adjustable Wrench",
                       "Tape Measure 8m", "Utility Knife", "Spirit Level", "Socket Set 40pc"]),
    "Garden": ("GD-3", ["Garden Hose 25m", "Pruning Shears", "Watering Can", "Seed Starter Tray",
                        "Leaf Rake", "Planter Box", "Garden Gloves", "Compost Bin"]),
    "Apparel": ("AP-4", ["Work Jacket", "Canvas Apron", "Flannel Shirt", "Safety Vest",
                         "Knit Beanie", "Cargo Pants", "Rain Poncho", "Logo T-Shirt"]),
    "Kitchen": ("KT-5", ["Chef Knife", "Cutting Board", "Cast Iron Skillet", "Measuring Cups",
                         "Mixing Bowl Set", "Spice Rack", "French Press", "Dish Rack"]),
}
SIZES = ("S", "M", "L", "XL")
CARD_GATEWAYS = ("stripe", "braintree", "paypalexpress", "authorizenet", "square", "testgateway")
# The v3 spec's gateway enum has ``square``; the payment method id keeps the real ``squarev2`` name.
PAYMENT_METHOD_IDS = {
    "stripe": "stripe.card", "braintree": "braintree.card", "paypalexpress": "paypalexpress",
    "authorizenet": "authorizenet.card", "square": "squarev2.card", "testgateway": "testgateway.card",
}
AUTH_THEN_CAPTURE = frozenset({"braintree", "authorizenet"})
US_TAXES = (("State Tax", Decimal("6.0000")), ("County Tax", Decimal("1.5000")))
EU_TAXES = (("VAT", Decimal("20.0000")),)
JP_TAXES = (("Consumption Tax", Decimal("10.0000")),)
TAXES_BY_CURRENCY = {"EUR": EU_TAXES, "JPY": JP_TAXES}  # any other currency is taxed like the US store
FEE_TAX_CLASS_ID, NON_TAXABLE_CLASS_ID = 0, 1  # BigCommerce's default and "Non-Taxable Products" classes
COUPONS = (("SAVE10", 1, Decimal("10")), ("SPRING15", 1, Decimal("15")), ("TAKE5", 2, Decimal("5")))
FIRST = ("Jane", "John", "Maria", "Wei", "Aisha", "Lucas", "Emma", "Noah", "Olivia", "Liam", "Sofia",
         "Mateo", "Chloe", "Ravi", "Hannah", "Diego", "Yuki", "Omar", "Grace", "Elena")
LAST = ("Doe", "Smith", "Garcia", "Chen", "Khan", "Martin", "Brown", "Rossi", "Nguyen", "Müller",
        "Silva", "Kowalski", "Tanaka", "Haddad", "Olsen", "Dubois", "Murphy", "Patel")
CITIES = (("Austin", "Texas", "TX", "787"), ("Denver", "Colorado", "CO", "802"),
          ("Portland", "Oregon", "OR", "972"), ("Columbus", "Ohio", "OH", "432"),
          ("Raleigh", "North Carolina", "NC", "276"), ("Madison", "Wisconsin", "WI", "537"))
SHIPPING_METHODS = (("Flat Rate", Decimal("7.50")), ("UPS Ground", Decimal("12.95")),
                    ("Free Shipping", ZERO), ("Express", Decimal("24.00")))


@dataclass
class Sequences:
    """Id counters shared by generation and live mutations so ids never collide."""

    order: int = 99
    order_product: int = 0
    order_address: int = 0
    tax: int = 0
    coupon_use: int = 0
    transaction: int = 1000
    refund: int = 0
    refund_payment: int = 0
    customer: int = 0
    customer_address: int = 0
    hook: int = 0
    fee: int = 0

    def next(self, name: str) -> int:
        value = getattr(self, name) + 1
        setattr(self, name, value)
        return value


@dataclass
class Dataset:
    now: dt.datetime
    categories: list[Category]
    products: list[Product]
    customers: list[Customer]
    orders: list[Order]
    seq: Sequences
    seed: int = 0
    refund_rate: float = 0.1


@dataclass(frozen=True)
class LinePick:
    product: Product
    variant: Variant
    quantity: int


@dataclass
class OrderOptions:
    """What the generator (or a control-API caller) decided about one order."""

    status_id: int
    customer: Customer | None
    currency: str = STORE_CURRENCY
    coupon: tuple[str, int, Decimal] | None = None
    manual_discount: Decimal = ZERO
    handling: Decimal = ZERO
    wrap_first_line: bool = False
    gift_certificate: Decimal = ZERO  # redeemed, in the order currency; capped at the total
    store_credit: Decimal = ZERO
    gateway: str = "stripe"
    failed_attempt: bool = False
    shipping: tuple[str, Decimal] = field(default=SHIPPING_METHODS[0])
    fees: list[FeeSpec] = field(default_factory=list)
    gift_certificates: list[GiftCertificateSpec] = field(default_factory=list)  # sold as line items
    authorize_only: bool = False  # status 7 with the card authorized, captured later


@dataclass(frozen=True)
class FeeSpec:
    """A custom fee as requested: ``amount`` ex tax in the order currency."""

    name: str
    amount: Decimal
    taxable: bool = True
    id: int | None = None  # an existing fee to keep (edits replace the list but keep named ids)


@dataclass(frozen=True)
class GiftCertificateSpec:
    """A gift certificate sold on the order: ``amount`` in the order currency."""

    amount: Decimal
    recipient_email: str


def build_catalog(rng: random.Random, now: dt.datetime) -> tuple[list[Category], list[Product]]:
    categories, products = [], []
    variant_id = 200
    for cat_index, (cat_name, (prefix, names)) in enumerate(CATALOG.items()):
        category = Category(id=21 + cat_index, name=cat_name)
        categories.append(category)
        for i, name in enumerate(names):
            pid = 101 + cat_index * len(names) + i
            price = cents(Decimal(rng.randint(499, 19999)) / 100)
            created = now - dt.timedelta(days=500 - pid)
            product = Product(
                id=pid, name=name, sku=f"{prefix}{i + 1:03d}", category_id=category.id, price=price,
                cost_price=cents(price * Decimal("0.55")), weight=Decimal(rng.randint(1, 80)) / 10,
                date_created=created, date_modified=now - dt.timedelta(days=rng.randint(1, 90), seconds=pid),
                inventory_level=rng.randint(20, 500),
            )
            product.has_options = cat_name == "Apparel" or (cat_name == "Tools" and i == 1)
            labels: tuple[str, ...] = (
                SIZES if cat_name == "Apparel" else ("18V", "24V") if product.has_options else ("",)
            )
            for label in labels:
                variant_id += 1
                suffix = f"-{label}" if label else ""
                surcharge = Decimal("5.00") if label in ("XL", "24V") else None
                product.variants.append(Variant(
                    id=variant_id, product_id=pid, sku=f"{product.sku}{suffix}",
                    price=None if surcharge is None else price + surcharge,
                    option_label=f"{'Size' if label in SIZES else 'Voltage'}: {label}" if label else "",
                    inventory_level=rng.randint(5, 120), date_modified=product.date_modified,
                ))
            products.append(product)
    return categories, products


def _person(rng: random.Random) -> tuple[str, str]:
    return rng.choice(FIRST), rng.choice(LAST)


def _postal(rng: random.Random, first: str, last: str, email: str) -> PostalAddress:
    city, state, _iso, zip3 = rng.choice(CITIES)
    return PostalAddress(
        first_name=first, last_name=last, company=rng.choice(("", "", "", "Acme Builders LLC")),
        street_1=f"{rng.randint(1, 9999)} {rng.choice(('Main', 'Oak', 'Pine', 'Elm', 'Lake'))} Street",
        city=city, state=state, zip=f"{zip3}{rng.randint(10, 99)}", country="United States",
        country_iso2="US", phone=f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}", email=email,
    )


def build_customer(rng: random.Random, seq: Sequences, created: dt.datetime, modified: dt.datetime) -> Customer:
    first, last = _person(rng)
    cid = seq.next("customer")
    email = f"{first.lower()}.{last.lower().replace('ü', 'u')}.{cid}@example.com"
    customer = Customer(
        id=cid, email=email, first_name=first, last_name=last,
        company=rng.choice(("", "", "Acme Builders LLC", "Greenleaf Co")),
        phone=f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        date_created=created, date_modified=modified,
        store_credit=rng.choice((ZERO, ZERO, ZERO, Decimal("25.00"), Decimal("50.00"))),
    )
    for _ in range(rng.choice((1, 1, 2))):
        postal = _postal(rng, first, last, email)
        customer.addresses.append(CustomerAddress(
            id=seq.next("customer_address"), customer_id=cid, first_name=first, last_name=last,
            address1=postal.street_1, city=postal.city, state_or_province=postal.state,
            postal_code=postal.zip, country_code="US", country="United States", phone=postal.phone,
            company=postal.company,
        ))
    return customer


def _allocate(total: Decimal, weights: Sequence[Decimal], currency: str) -> list[Decimal]:
    """Split ``total`` over ``weights`` in minor units; the last share absorbs the rounding."""
    base = sum(weights, ZERO)
    if not weights or total == ZERO or base == ZERO:
        return [ZERO for _ in weights]
    shares = [money(total * w / base, currency) for w in weights[:-1]]
    return [*shares, total - sum(shares, ZERO)]


def taxes_for(currency: str) -> tuple[tuple[str, Decimal], ...]:
    return TAXES_BY_CURRENCY.get(currency, US_TAXES)


def gift_certificate_name(amount: Decimal, currency: str) -> str:
    """``$50 Gift Certificate``: whole amounts without decimals, as the storefront names them."""
    shown = f"{amount:f}".rstrip("0").rstrip(".") if "." in f"{amount:f}" else f"{amount:f}"
    return f"{CURRENCY_SYMBOLS.get(currency, currency + ' ')}{shown} Gift Certificate"


def gift_certificate_line(seq: Sequences, order_id: int, spec: GiftCertificateSpec, currency: str) -> OrderLine:
    """A gift certificate sold as an order product: no SKU, no tax, never discounted."""
    return OrderLine(
        id=seq.next("order_product"), order_id=order_id, product_id=0, variant_id=0,
        name=gift_certificate_name(spec.amount, currency), sku="", quantity=1, price_ex_tax=spec.amount,
        total_ex_tax=spec.amount, discount=ZERO, total_tax=ZERO, type="giftcertificate",
        recipient_email=spec.recipient_email,
    )


def catalog_line(seq: Sequences, order_id: int, pick: LinePick, *, rate: Decimal, currency: str) -> OrderLine:
    """A catalog product line priced at today's catalog price converted to the order currency."""
    unit = money(pick.product.unit_price(pick.variant) * rate, currency)
    label = pick.variant.option_label
    return OrderLine(
        id=seq.next("order_product"), order_id=order_id, product_id=pick.product.id, variant_id=pick.variant.id,
        name=pick.product.name + (f" ({label})" if label else ""), sku=pick.variant.sku, quantity=pick.quantity,
        price_ex_tax=unit, total_ex_tax=unit * pick.quantity, discount=ZERO, total_tax=ZERO,
    )


def fee_record(seq: Sequences, spec: FeeSpec) -> Fee:
    return Fee(id=seq.next("fee"), name=spec.name, cost_ex_tax=spec.amount, taxable=spec.taxable)


def price_order(order: Order, seq: Sequences) -> None:
    """(Re)compute everything derived from an order's inputs: line totals, coupon and manual
    discounts, the tax of every line, charge and fee, and the tax rows.

    The builder and live edits both call this, so an edited order is priced exactly like a new
    one. Inputs: lines (unit price, quantity, wrapping), shipping, handling, fees, the coupon
    definitions and the manual discount (capped at what the goods can absorb). Gift certificate
    lines carry no tax and take no discount. Tax rows are rebuilt with new ids.
    """
    currency = order.currency
    goods = [line for line in order.lines if not line.is_gift_certificate]
    for line in order.lines:
        line.total_ex_tax = line.price_ex_tax * line.quantity
        line.discount = line.total_tax = ZERO
    base = sum((line.total_ex_tax for line in goods), ZERO)
    for coupon in order.coupons:
        coupon.discount = (money(base * coupon.amount / 100, currency) if coupon.type == 1
                           else min(money(coupon.amount * order.exchange_rate, currency), base))
    coupon_total = order.coupon_discount
    order.discount_amount = min(order.discount_amount, base - coupon_total)
    shares = _allocate(order.discount_amount + coupon_total, [line.total_ex_tax for line in goods], currency)
    for line, share in zip(goods, shares, strict=True):
        line.discount = share
    order.taxes = []

    def tax_on(amount: Decimal, kind: str, product_id: int | None, fee_id: int | None = None) -> Decimal:
        total = ZERO
        for priority, (name, pct) in enumerate(taxes_for(currency)):
            tax = money(amount * pct / 100, currency)
            total += tax
            order.taxes.append(TaxLine(id=seq.next("tax"), order_id=order.id, name=name, rate=pct, amount=tax,
                                       line_item_type=kind, order_product_id=product_id, priority=priority,
                                       fee_id=fee_id))
        return total

    for line in goods:
        line.total_tax = tax_on(line.total_ex_tax - line.discount, "item", line.id)
        line.wrapping_tax = tax_on(line.wrapping_ex_tax, "gift-wrapping", line.id) if line.wrapping_ex_tax else ZERO
    order.shipping_tax = tax_on(order.shipping_ex_tax, "shipping", None) if order.shipping_ex_tax else ZERO
    order.handling_tax = tax_on(order.handling_ex_tax, "handling", None) if order.handling_ex_tax else ZERO
    for fee in order.fees:
        # The spec's line_item_type enum has no "fee": fee tax rows are "handling" rows (an order-level charge).
        fee.cost_tax = tax_on(fee.cost_ex_tax, "handling", None, fee.id) if fee.taxable and fee.cost_ex_tax else ZERO


class OrderBuilder:
    """Turns picks + options into a fully priced order with taxes and payment transactions."""

    def __init__(self, seq: Sequences) -> None:
        self.seq = seq

    def build(self, rng: random.Random, order_id: int, created: dt.datetime,
              picks: Sequence[LinePick], opts: OrderOptions) -> Order:
        rate, currency = EXCHANGE_RATES[opts.currency], opts.currency
        lines = [catalog_line(self.seq, order_id, p, rate=rate, currency=currency) for p in picks]
        lines += [gift_certificate_line(self.seq, order_id, gc, currency) for gc in opts.gift_certificates]
        coupons: list[CouponUse] = []
        if opts.coupon:
            code, ctype, value = opts.coupon
            coupons.append(CouponUse(id=self.seq.next("coupon_use"), coupon_id=10 + COUPONS.index(opts.coupon),
                                     order_id=order_id, code=code, type=ctype, amount=value, discount=ZERO))
        goods = [line for line in lines if not line.is_gift_certificate]
        if opts.wrap_first_line and goods:
            goods[0].wrapping_ex_tax = money(Decimal("4.95") * rate, currency)
        ship_name, ship_cost = opts.shipping
        address_id = self.seq.next("order_address")
        order = Order(
            id=order_id, customer_id=opts.customer.id if opts.customer else 0, status_id=opts.status_id,
            date_created=created, date_modified=created, currency=currency, exchange_rate=rate,
            billing=self._billing(rng, opts.customer), shipping=self._billing(rng, opts.customer),
            shipping_method=ship_name, lines=lines, shipping_ex_tax=money(ship_cost * rate, currency),
            shipping_tax=ZERO, handling_ex_tax=money(opts.handling * rate, currency), handling_tax=ZERO,
            discount_amount=money(opts.manual_discount * rate, currency), coupons=coupons, taxes=[],
            gift_certificate_amount=ZERO, store_credit_amount=ZERO, gateway="", payment_method="",
            address_id=address_id, ip_address=f"203.0.113.{order_id % 250 + 1}", cart_id=f"cart-{order_id:08d}",
            fees=[fee_record(self.seq, spec) for spec in opts.fees],
        )
        price_order(order, self.seq)
        self._pay(rng, order, opts)
        return order

    @staticmethod
    def _billing(rng: random.Random, customer: Customer | None) -> PostalAddress:
        if customer is None:
            first, last = _person(rng)
            return _postal(rng, first, last, f"guest.{first.lower()}{rng.randint(1, 99999)}@example.net")
        address = customer.addresses[0]
        return PostalAddress(
            first_name=customer.first_name, last_name=customer.last_name, company=customer.company,
            street_1=address.address1, city=address.city, state=address.state_or_province,
            zip=address.postal_code, country=address.country, country_iso2=address.country_code,
            phone=customer.phone, email=customer.email,
        )

    def txn(self, order: Order, when: dt.datetime, event: str, method: str, amount: Decimal, gateway: str,
             **extra: object) -> Transaction:
        tid = self.seq.next("transaction")
        txn = Transaction(
            id=tid, order_id=order.id, event=event, method=method, amount=amount, currency=order.currency,
            gateway=gateway, gateway_transaction_id=f"{gateway[:3]}_{order.id}_{tid}",
            payment_method_id=PAYMENT_METHOD_IDS.get(gateway, gateway), date_created=when, **extra,  # type: ignore[arg-type]
        )
        order.transactions.append(txn)
        return txn

    def _pay(self, rng: random.Random, order: Order, opts: OrderOptions) -> None:
        """Split the exact total over gift certificate, store credit and the card gateway."""
        total = order.total_inc_tax
        gift = min(money(opts.gift_certificate, order.currency), total)
        credit = min(money(opts.store_credit, order.currency), total - gift) if opts.customer else ZERO
        card = total - gift - credit
        order.gift_certificate_amount, order.store_credit_amount = gift, credit
        order.gateway = opts.gateway if card > ZERO else ""
        order.payment_method = (
            ("PayPal" if opts.gateway == "paypalexpress" else "Credit Card") if card > ZERO
            else "Gift Certificate" if gift > ZERO else "Store Credit"
        )
        when = order.date_created + dt.timedelta(seconds=5)
        method = card_method(opts.gateway)
        last4 = f"{rng.randint(0, 9999):04d}"
        status = opts.status_id
        if status in CAPTURED_STATUSES:
            self.redeem(order, when)
            if card:
                if opts.failed_attempt:
                    self.txn(order, when - dt.timedelta(seconds=3), "purchase", method, card, opts.gateway,
                              status="error", card_last4=last4)
                if opts.gateway in AUTH_THEN_CAPTURE:
                    auth = self.txn(order, when, "authorization", method, card, opts.gateway, card_last4=last4)
                    self.txn(order, when + dt.timedelta(minutes=rng.randint(1, 240)), "capture", method, card,
                              opts.gateway, card_last4=last4, reference_transaction_id=auth.id)
                else:
                    self.txn(order, when, "purchase", method, card, opts.gateway, card_last4=last4)
        elif status == 7 and opts.authorize_only:
            self.redeem(order, when)  # tenders held by the store are taken at checkout, the card only authorized
            if card:
                self.txn(order, when, "authorization", method, card, opts.gateway, card_last4=last4)
        elif status == 7 and card:
            self.txn(order, when, "pending", method, card, opts.gateway, card_last4=last4)
        elif status == 5 and card:
            auth = self.txn(order, when, "authorization", method, card, opts.gateway, card_last4=last4)
            self.txn(order, when + dt.timedelta(hours=2), "void", method, card, opts.gateway,
                      card_last4=last4, reference_transaction_id=auth.id)
        elif status == 0 and card and opts.failed_attempt:
            self.txn(order, when, "purchase", method, card, opts.gateway, status="error", card_last4=last4)

    def redeem(self, order: Order, when: dt.datetime) -> None:
        """Take the gift certificate and store credit parts of the total (purchases, never authorized)."""
        if order.gift_certificate_amount:
            self.txn(order, when, "purchase", "gift_certificate", order.gift_certificate_amount, "giftcertificate",
                     gift_certificate_code=f"GC-{order.id:06d}")
        if order.store_credit_amount:
            self.txn(order, when, "purchase", "store_credit", order.store_credit_amount, "storecredit")


def card_method(gateway: str) -> str:
    return "electronic_wallet" if gateway == "paypalexpress" else "credit_card"


def capture_payment(builder: OrderBuilder, order: Order, when: dt.datetime) -> None:
    """Payment confirmed later (awaiting payment -> paid): capture every source of the total."""
    card = order.total_inc_tax - order.gift_certificate_amount - order.store_credit_amount
    gateway = order.gateway or "testgateway"
    builder.redeem(order, when)
    if card > ZERO:
        pending = next((t for t in order.transactions if t.event in ("pending", "authorization")), None)
        builder.txn(order, when, "capture" if pending else "purchase", card_method(gateway), card, gateway,
                    card_last4=pending.card_last4 if pending else "4242",
                    reference_transaction_id=pending.id if pending else None)


def pick_lines(rng: random.Random, products: Sequence[Product], count: int) -> list[LinePick]:
    chosen: dict[int, LinePick] = {}
    while len(chosen) < count:
        product = rng.choice(products)
        variant = rng.choice(product.variants)
        chosen.setdefault(variant.id, LinePick(product, variant, rng.choice((1, 1, 1, 2, 2, 3, 5))))
        if len(chosen) >= sum(len(p.variants) for p in products):
            break
    return list(chosen.values())


def random_options(rng: random.Random, customers: Sequence[Customer], status_id: int | None = None) -> OrderOptions:
    """The mix of order shapes the brief asks for, in roughly realistic proportions."""
    roll = rng.random()
    status = status_id if status_id is not None else (
        0 if roll < 0.04 else 5 if roll < 0.08 else 7 if roll < 0.13
        else rng.choice((2, 2, 3, 8, 9, 10, 10, 10, 11, 11))
    )
    customer = None if rng.random() < 0.2 or not customers else rng.choice(customers)
    currency = STORE_CURRENCY if rng.random() >= 0.1 else rng.choice(("EUR", "CAD"))
    domestic = currency == STORE_CURRENCY
    return OrderOptions(
        status_id=status, customer=customer, currency=currency,
        coupon=rng.choice(COUPONS) if rng.random() < 0.15 else None,
        manual_discount=Decimal("5.00") if rng.random() < 0.05 else ZERO,
        handling=Decimal("3.50") if rng.random() < 0.15 else ZERO,
        wrap_first_line=rng.random() < 0.03,
        gift_certificate=rng.choice((Decimal("25.00"), Decimal("50.00"), Decimal("500.00")))
        if domestic and rng.random() < 0.08 else ZERO,
        store_credit=customer.store_credit if customer and domestic and rng.random() < 0.15 else ZERO,
        gateway=rng.choice(CARD_GATEWAYS), failed_attempt=rng.random() < 0.03,
        shipping=rng.choice(SHIPPING_METHODS),
    )


def line_count(rng: random.Random) -> int:
    return rng.randint(51, 60) if rng.random() < 0.004 else rng.choice((1, 1, 2, 2, 3, 4, 5, 6))


def generate(seed: int = 0, orders: int = 100, customers: int | None = None, refund_rate: float = 0.1,
             now: dt.datetime = DEFAULT_NOW) -> Dataset:
    """Build a whole store. Refunds are applied by ``sandbox.bigcommerce.refunds``."""
    from sandbox.bigcommerce.refunds import seed_refunds  # refunds build on priced orders

    seq = Sequences()
    catalog_rng, people_rng, order_rng = (random.Random(f"{seed}:{part}") for part in ("catalog", "people", "orders"))
    categories, products = build_catalog(catalog_rng, now)
    n_customers = customers if customers is not None else max(20, orders // 4)
    people = []
    for _ in range(n_customers):
        created = now - dt.timedelta(days=people_rng.randint(61, 400), seconds=people_rng.randint(0, 86399))
        modified = created + dt.timedelta(days=people_rng.randint(0, 30))
        if people_rng.random() < 0.1:
            modified = now - dt.timedelta(days=people_rng.randint(1, 59), seconds=people_rng.randint(0, 86399))
        people.append(build_customer(people_rng, seq, created, modified))
    span = int(ORDER_SPAN.total_seconds()) - 600
    moments = sorted(order_rng.randint(0, span) for _ in range(orders))
    builder = OrderBuilder(seq)
    built: list[Order] = []
    for offset in moments:
        created = now - ORDER_SPAN + dt.timedelta(seconds=offset)
        picks = pick_lines(order_rng, products, line_count(order_rng))
        order = builder.build(order_rng, seq.next("order"), created, picks, random_options(order_rng, people))
        order.date_modified = min(now, created + dt.timedelta(seconds=order_rng.randint(60, 3 * 86400)))
        built.append(order)
    data = Dataset(now=now, categories=categories, products=products, customers=people, orders=built,
                   seq=seq, seed=seed, refund_rate=refund_rate)
    seed_refunds(random.Random(f"{seed}:refunds"), data)
    return data
