"""Raw BigCommerce JSON to canonical records: pure functions, no I/O.

Conventions of the source (reference §2–§4): v2 money is a 4-dp string (a float there is a
contract breach and is rejected), v3 money is a JSON number (read through ``Decimal(str(x))``),
v2 dates are RFC 2822, v3 dates ISO 8601. Anything required that is missing or unparsable raises
``NormalisationError(endpoint, record_id, problem)`` instead of guessing.

Tax without ``/v2/orders/{id}/taxes``: the embedded data carry tax per line (``total_tax``) and
per charge (``shipping_cost_tax``, ``handling_cost_tax``, ``wrapping_cost_tax``) but no
jurisdiction. The derived tax lines are therefore named ``Tax`` and told apart by ``applies_to``
(item / shipping / handling / wrapping): that is the split a tax-payable mapping can rely on.
When the hook fetched the tax rows (``order["taxes"]`` is a list) the lines carry the real tax
names (``State Tax``, ``VAT``...) instead; the total is the same either way.

Order fees (``include=fees``, schema ``orderFees_Resp``) become ``Fee`` records; their tax is a
``TaxLine`` with ``applies_to="fee"`` built from the fees' ``cost_tax``. The tax rows' documented
``line_item_type`` enum (item, shipping, handling, gift-wrapping) has no fee type, so with fetched
rows a fee's tax is told apart only when the rows leave out exactly the fees' tax (see ``_taxes``).

Archived orders (``is_deleted: true``) keep the status their ``status_id`` gives and are flagged
``archived``: archiving hides an order, it moves no money. Order products of ``type``
``giftcertificate`` are gift certificates sold (``LineKind.GIFT_CERTIFICATE``), not goods.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ml_connector.core.model import (
    ZERO,
    Address,
    Customer,
    Discount,
    Fee,
    LineKind,
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
from ml_connector.core.money import minor_unit, quantize
from ml_connector.errors import NormalisationError

SOURCE = "bigcommerce"
ORDERS = "/v2/orders"
FEES = "/v2/orders/{id}/fees"
TRANSACTIONS = "/v3/orders/{id}/transactions"
REFUNDS = "/v3/orders/payment_actions/refunds"
CUSTOMERS = "/v3/customers"

PAID_STATUS_IDS = frozenset({2, 3, 8, 9, 10, 11})
UNPAID_STATUS_IDS = frozenset({0, 1, 6, 7, 12})
DISPUTED = 13
CANCELLED = 5
# Orders whose payment history matters to the ledger: worth one transactions call each. A
# cancelled order is one of them: cancelling does not refund, and captured cash stays owed.
SETTLED_STATUS_IDS = PAID_STATUS_IDS | {4, CANCELLED, DISPUTED, 14}

_EVENTS = {
    "purchase": PaymentEvent.CAPTURE,
    "capture": PaymentEvent.CAPTURE,
    "authorization": PaymentEvent.AUTHORIZATION,
    "void": PaymentEvent.VOID,
    "refund": PaymentEvent.REFUND,
    "pending": PaymentEvent.PENDING,
}
_METHODS = {
    "credit_card": PaymentMethod.CARD,
    "token": PaymentMethod.CARD,
    "bigpay_token": PaymentMethod.CARD,
    "nonce": PaymentMethod.CARD,
    "electronic_wallet": PaymentMethod.WALLET,
    "apple_pay_card": PaymentMethod.WALLET,
    "apple_pay_token": PaymentMethod.WALLET,
    "gift_certificate": PaymentMethod.GIFT_CERTIFICATE,
    "store_credit": PaymentMethod.STORE_CREDIT,
    "offline": PaymentMethod.OFFLINE,
    "offsite": PaymentMethod.OTHER,
    "custom": PaymentMethod.OTHER,
}
_REFUND_PROVIDERS = {
    "storecredit": PaymentMethod.STORE_CREDIT,
    "giftcertificate": PaymentMethod.GIFT_CERTIFICATE,
    "paypalexpress": PaymentMethod.WALLET,
}
_CHARGE_KINDS = {"item": "item", "shipping": "shipping", "handling": "handling", "gift-wrapping": "wrapping"}


class _Reader:
    """Typed field access for one record, so every failure names the endpoint, record and field."""

    def __init__(self, endpoint: str, record: Mapping[str, Any], record_id: object | None = None) -> None:
        if not isinstance(record, Mapping):
            raise NormalisationError(endpoint, record_id, f"expected an object, got {type(record).__name__}")
        self.endpoint, self.record = endpoint, record
        self.record_id = record_id if record_id is not None else record.get("id", "?")

    def fail(self, problem: str) -> NormalisationError:
        return NormalisationError(self.endpoint, self.record_id, problem)

    def require(self, key: str) -> Any:
        if key not in self.record or self.record[key] is None:
            raise self.fail(f"missing required field {key!r}")
        return self.record[key]

    def money_str(self, key: str, *, default: Decimal | None = None, source: Mapping[str, Any] | None = None) -> Decimal:
        """A v2 money string ("12.3400"); floats are refused: they would already have lost precision."""
        data = self.record if source is None else source
        value = data.get(key)
        if value is None or value == "":
            if default is not None:
                return default
            raise self.fail(f"missing required money field {key!r}")
        if isinstance(value, bool) or isinstance(value, float):
            raise self.fail(f"{key}: money must be a decimal string, got float {value!r}")
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise self.fail(f"{key}: not a decimal amount: {value!r}") from None

    def money_num(self, key: str, *, default: Decimal | None = None, source: Mapping[str, Any] | None = None) -> Decimal:
        """A v3 money number; ``Decimal(str(x))`` keeps what the JSON said, not the binary float."""
        data = self.record if source is None else source
        value = data.get(key)
        if value is None:
            if default is not None:
                return default
            raise self.fail(f"missing required amount {key!r}")
        if isinstance(value, bool):
            raise self.fail(f"{key}: amount is a boolean")
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise self.fail(f"{key}: not a number: {value!r}") from None

    def money_any(self, key: str, *, default: Decimal | None = None) -> Decimal:
        """Money the spec types as a string *or* a number (``oneOf``: order fees), read exactly.

        A decimal string is taken as is; a JSON number through ``Decimal(str(x))``, which keeps what
        the JSON said (``8.5`` gives ``Decimal("8.5")``), not the binary float.
        """
        value = self.record.get(key)
        if value is None or value == "":
            if default is not None:
                return default
            raise self.fail(f"missing required money field {key!r}")
        if isinstance(value, bool):
            raise self.fail(f"{key}: money is a boolean: {value!r}")
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(f"{key}: not a decimal amount: {value!r}") from None
        if not amount.is_finite():
            raise self.fail(f"{key}: not a finite amount: {value!r}")
        return amount

    def integer(self, key: str, *, default: int | None = None) -> int:
        value = self.record.get(key)
        if value is None or value == "":
            if default is not None:
                return default
            raise self.fail(f"missing required integer {key!r}")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise self.fail(f"{key}: not an integer: {value!r}") from None
        if number != number.to_integral_value():
            raise self.fail(f"{key}: not an integer: {value!r}")
        return int(number)

    def rfc2822(self, key: str) -> dt.datetime:
        value = self.require(key)
        try:
            parsed = email.utils.parsedate_to_datetime(str(value))
        except (TypeError, ValueError):
            raise self.fail(f"{key}: not an RFC 2822 date: {value!r}") from None
        if parsed.tzinfo is None:
            raise self.fail(f"{key}: date without a UTC offset: {value!r}")
        return parsed.astimezone(dt.UTC)

    def iso(self, key: str) -> dt.datetime:
        value = self.iso_optional(key)
        if value is None:
            raise self.fail(f"missing required date {key!r}")
        return value

    def iso_optional(self, key: str) -> dt.datetime | None:
        value = self.record.get(key)
        if value in (None, ""):
            return None
        try:
            parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise self.fail(f"{key}: not an ISO 8601 date: {value!r}") from None
        if parsed.tzinfo is None:
            raise self.fail(f"{key}: date without a UTC offset: {value!r}")
        return parsed.astimezone(dt.UTC)

    def text(self, key: str, default: str = "") -> str:
        value = self.record.get(key)
        return default if value is None else str(value)


# -- orders -------------------------------------------------------------------------------------
def needs_transactions(order: Mapping[str, Any]) -> bool:
    """Whether an order's payments matter to the ledger (settled, refunded or disputed).

    Archived orders (``is_deleted``) included: archiving hides the order, the money still moved.
    """
    try:
        return int(order.get("status_id", -1)) in SETTLED_STATUS_IDS
    except (TypeError, ValueError):
        return True  # let the normaliser report the bad status


def _consignment_groups(order: Mapping[str, Any]) -> list[Any]:
    consignments = order.get("consignments")
    if not isinstance(consignments, Mapping):
        return []
    groups: list[Any] = [*consignments.get("shipping", []), *consignments.get("pickups", []),
                         *consignments.get("downloads", [])]
    groups.extend((consignments.get("email") or {}).get("gift_certificates", []))
    return groups


def lines_capped(order: Mapping[str, Any]) -> bool:
    """Whether the API embedded only part of the line items (``__warning__`` on the order or a consignment)."""
    return "__warning__" in order or any(isinstance(g, Mapping) and "__warning__" in g for g in _consignment_groups(order))


def order_products(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The order's line items: the fetched ``products`` list, else those embedded in consignments."""
    products = order.get("products")
    if isinstance(products, list):
        return products
    reader = _Reader(ORDERS, order)
    if lines_capped(order):
        raise reader.fail("line items were capped by the API (__warning__) and /products was not fetched")
    if not isinstance(order.get("consignments"), Mapping):
        raise reader.fail("no line items: fetch with include=consignments.line_items&consignment_structure=object")
    groups = _consignment_groups(order)
    seen: dict[object, dict[str, Any]] = {}
    for group in groups:
        items = group.get("line_items") if isinstance(group, Mapping) else None
        if isinstance(items, Mapping) or (isinstance(items, list) and items and "resource" in items[0]):
            raise reader.fail("consignment line items are links, not objects: include=consignments.line_items is missing")
        for item in items or []:
            seen.setdefault(item.get("id"), item)  # a product split over consignments is one order line
    return list(seen.values())


def _status(reader: _Reader, payments: Iterable[Payment]) -> OrderStatus:
    """The financial state from ``status_id`` alone (``is_deleted`` is ``Order.archived``, not a status)."""
    status_id = reader.integer("status_id")
    if status_id in PAID_STATUS_IDS:
        return OrderStatus.PAID
    if status_id == 14:
        return OrderStatus.PARTIALLY_REFUNDED
    if status_id == 4:
        return OrderStatus.REFUNDED
    if status_id == CANCELLED:
        return OrderStatus.CANCELLED
    if status_id == DISPUTED:
        # A dispute is not an accounting event: the capture stands until a refund or chargeback
        # arrives. Treating it as unpaid would drop captured cash from the ledger.
        captured = any(p.ok and p.event is PaymentEvent.CAPTURE for p in payments)
        return OrderStatus.PAID if captured else OrderStatus.UNPAID
    if status_id in UNPAID_STATUS_IDS:
        return OrderStatus.UNPAID
    raise reader.fail(f"unknown status_id {status_id}")


def _ex_tax(reader: _Reader, source: Mapping[str, Any], ex_key: str, inc_key: str, tax_key: str, inclusive: bool) -> Decimal:
    """Tax-exclusive amount from the fields the store marks as actual (``is_tax_inclusive_pricing``)."""
    if inclusive:
        return reader.money_str(inc_key, source=source, default=ZERO) - reader.money_str(tax_key, source=source, default=ZERO)
    return reader.money_str(ex_key, source=source, default=ZERO)


def _lines(reader: _Reader, products: list[dict[str, Any]], inclusive: bool) -> tuple[OrderLine, ...]:
    lines = []
    for raw in products:
        item = _Reader(ORDERS + "/{id}/products", raw, raw.get("id"))
        quantity = item.integer("quantity")
        lines.append(
            OrderLine(
                line_id=str(item.require("id")),
                sku=item.text("sku"),
                name=item.text("name"),
                quantity=quantity,
                unit_price=_ex_tax(item, raw, "price_ex_tax", "price_inc_tax", "price_tax", inclusive),
                total=_ex_tax(item, raw, "total_ex_tax", "total_inc_tax", "total_tax", inclusive),
                tax=item.money_str("total_tax", default=ZERO),
                product_id=str(raw["product_id"]) if raw.get("product_id") not in (None, 0) else None,
                # A gift certificate sold is a liability to the shopper, not revenue.
                kind=LineKind.GIFT_CERTIFICATE if raw.get("type") == "giftcertificate" else LineKind.PRODUCT,
            )
        )
    return tuple(lines)


def _taxes(reader: _Reader, lines: tuple[OrderLine, ...], fee_tax: Decimal = ZERO) -> tuple[TaxLine, ...]:
    """Tax lines per name and charge kind: from fetched tax rows when present, else derived (module doc).

    ``fee_tax`` is the fees' ``cost_tax`` total. Derived, it is the ``fee`` tax line. With fetched
    rows it is added only when the rows add up to ``total_tax`` less exactly that amount (the rows
    left the fees out); rows that do carry it come under one of the documented ``line_item_type``
    values, which has no fee type, and are mapped as such (an unknown type counts as ``item``).
    """
    totals: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    declared = reader.money_str("total_tax", default=ZERO)
    rows = reader.record.get("taxes")
    if isinstance(rows, list):
        for raw in rows:
            row = _Reader(ORDERS + "/{id}/taxes", raw, raw.get("id"))
            kind = _CHARGE_KINDS.get(row.text("line_item_type", "item"), "item")
            totals[(row.text("name", "Tax") or "Tax", kind)] += row.money_str("line_amount")
        if fee_tax and sum(totals.values(), ZERO) == declared - fee_tax:
            totals[("Tax", "fee")] += fee_tax
    else:
        totals[("Tax", "item")] = sum((ln.tax for ln in lines), ZERO)
        for kind, key in (("shipping", "shipping_cost_tax"), ("handling", "handling_cost_tax"), ("wrapping", "wrapping_cost_tax")):
            totals[("Tax", kind)] += reader.money_str(key, default=ZERO)
        totals[("Tax", "fee")] += fee_tax
    taxes = tuple(TaxLine(name, amount, kind) for (name, kind), amount in totals.items() if amount != 0)
    found = sum((t.amount for t in taxes), ZERO)
    if found != declared:
        raise reader.fail(f"tax lines add up to {found} but total_tax is {declared}")
    return taxes


def _fees(order: Mapping[str, Any]) -> list[tuple[Fee, Decimal]]:
    """The order's fees (``include=fees``) with each fee's tax; none when the order came without them.

    Without ``include=fees`` the field is absent or a ``{url, resource}`` link: no fee is known here
    (totals that then fail to add up are the core's to report). Money is a string or a number
    (``oneOf`` in ``orderFees_Resp``). The amount is ex tax from the field the store marks as actual
    (``is_tax_inclusive_pricing``), like the other charges; when ``cost_ex_tax`` is absent it is
    ``cost_inc_tax - cost_tax``. Only the documented names are read (the spec's own example once
    spells ``cost_exc_tax``: that key is never trusted, the derivation covers it).
    """
    raw_fees = order.get("fees")
    if raw_fees is None or isinstance(raw_fees, Mapping):
        return []
    order_id = order.get("id", "?")
    if not isinstance(raw_fees, list):
        raise _Reader(ORDERS, order).fail(f"fees: expected a list, got {type(raw_fees).__name__}")
    inclusive = bool(order.get("is_tax_inclusive_pricing"))
    out = []
    for raw in raw_fees:
        fee = _Reader(FEES.format(id=order_id), raw, raw.get("id") if isinstance(raw, Mapping) else None)
        fee_id = str(fee.require("id"))
        tax = fee.money_any("cost_tax", default=ZERO)
        if inclusive or raw.get("cost_ex_tax") in (None, ""):
            if raw.get("cost_inc_tax") in (None, ""):
                wanted = "cost_inc_tax" if inclusive else "cost_ex_tax or cost_inc_tax"
                raise fee.fail(f"missing required money field {wanted}")
            amount = fee.money_any("cost_inc_tax") - tax
        else:
            amount = fee.money_any("cost_ex_tax")
        name = fee.text("display_name_merchant") or fee.text("display_name_customer") or fee.text("type") or "Fee"
        out.append((Fee(fee_id=fee_id, name=name, amount=amount), tax))
    return out


def _discounts(reader: _Reader, products: list[dict[str, Any]]) -> tuple[Discount, ...]:
    """Coupons by code (from the lines' ``applied_discounts`` when they add up) plus the manual discount."""
    discounts: list[Discount] = []
    coupon_total = reader.money_str("coupon_discount", default=ZERO)
    if coupon_total:
        by_code: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for raw in products:
            for applied in raw.get("applied_discounts") or []:
                if applied.get("code"):
                    by_code[str(applied["code"])] += reader.money_str("amount", source=applied, default=ZERO)
        if by_code and sum(by_code.values(), ZERO) == coupon_total:
            discounts.extend(Discount(code, amount, "coupon") for code, amount in sorted(by_code.items()))
        else:
            discounts.append(Discount("coupon", coupon_total, "coupon"))
    manual = reader.money_str("discount_amount", default=ZERO)
    if manual:
        discounts.append(Discount("manual", manual, "manual"))
    return tuple(discounts)


def _fx(reader: _Reader, currency: str) -> tuple[str | None, Decimal]:
    """Base currency and rate with ``base amount = amount * fx_rate``.

    BigCommerce gives ``store_default_to_transactional_exchange_rate`` = r such that
    ``transactional = base * r``; hence ``base = transactional / r`` and ``fx_rate = 1 / r``.
    """
    base = reader.record.get("store_default_currency_code") or None
    if base is None or base == currency:
        return base, Decimal("1")
    rate = reader.money_str("store_default_to_transactional_exchange_rate")
    if rate <= 0:
        raise reader.fail(f"store_default_to_transactional_exchange_rate must be positive, got {rate}")
    return str(base), Decimal(1) / rate


def payment_from_transaction(raw: Mapping[str, Any], *, order_id: object) -> Payment:
    """One v3 transaction as a canonical payment event (``status: error`` gives ``ok=False``)."""
    reader = _Reader(TRANSACTIONS.format(id=order_id), raw)
    event = str(reader.require("event"))
    if event not in _EVENTS and event != "settled":
        raise reader.fail(f"unknown transaction event {event!r}")
    amount = reader.money_num("amount")
    gateway = reader.text("gateway")
    method = _METHODS.get(reader.text("method"), PaymentMethod.OTHER)
    occurred = reader.iso("date_created")
    reference = raw.get("reference_transaction_id")
    return Payment(
        payment_id=str(reader.require("id")),
        event=_EVENTS.get(event, PaymentEvent.PENDING),  # "settled" is a gateway notice, not money moving
        method=method,
        gateway=gateway,
        amount=abs(amount),
        currency=str(reader.require("currency")),
        occurred_at=occurred,
        ok=reader.text("status", "ok") != "error",
        reference_id=str(reference) if reference not in (None, 0, "") else None,
    )


def order_from_bigcommerce(order: Mapping[str, Any], transactions: list[dict[str, Any]], *, store_id: str) -> Order:
    """A v2 order (lines embedded or fetched) and its v3 transactions as a canonical ``Order``."""
    reader = _Reader(ORDERS, order)
    order_id = reader.require("id")
    inclusive = bool(order.get("is_tax_inclusive_pricing"))
    products = order_products(order)
    lines = _lines(reader, products, inclusive)
    fees = _fees(order)
    payments = tuple(payment_from_transaction(t, order_id=order_id) for t in transactions)
    currency = str(order.get("default_currency_code") or reader.require("currency_code"))
    base_currency, fx_rate = _fx(reader, currency)
    billing = order.get("billing_address") or {}
    customer_id = reader.integer("customer_id", default=0)
    channel = order.get("channel_id")
    return Order(
        source=SOURCE,
        store_id=store_id,
        order_id=str(order_id),
        status=_status(reader, payments),
        currency=currency,
        created_at=reader.rfc2822("date_created"),
        updated_at=reader.rfc2822("date_modified"),
        lines=lines,
        total=reader.money_str("total_inc_tax"),
        shipping=_ex_tax(reader, order, "shipping_cost_ex_tax", "shipping_cost_inc_tax", "shipping_cost_tax", inclusive),
        handling=_ex_tax(reader, order, "handling_cost_ex_tax", "handling_cost_inc_tax", "handling_cost_tax", inclusive),
        wrapping=_ex_tax(reader, order, "wrapping_cost_ex_tax", "wrapping_cost_inc_tax", "wrapping_cost_tax", inclusive),
        taxes=_taxes(reader, lines, sum((tax for _, tax in fees), ZERO)),
        discounts=_discounts(reader, products),
        payments=payments,
        customer_id=str(customer_id) if customer_id else None,
        customer_email=str(billing.get("email") or ""),
        channel=str(channel) if channel is not None else None,
        base_currency=base_currency,
        fx_rate=fx_rate,
        gift_certificate_amount=reader.money_str("gift_certificate_amount", default=ZERO),
        store_credit_amount=reader.money_str("store_credit_amount", default=ZERO),
        billing_address=_billing_address(billing) if billing else None,
        fees=tuple(fee for fee, _ in fees),
        archived=bool(order.get("is_deleted")),
    )


def _billing_address(raw: Mapping[str, Any]) -> Address:
    return Address(
        line1=str(raw.get("street_1") or ""), line2=str(raw.get("street_2") or ""), city=str(raw.get("city") or ""),
        state=str(raw.get("state") or ""), postal_code=str(raw.get("zip") or ""),
        country=str(raw.get("country_iso2") or ""), kind="billing",
    )


# -- refunds ------------------------------------------------------------------------------------
def refund_from_bigcommerce(refund: Mapping[str, Any], order: Mapping[str, Any] | None, *, store_id: str,
                            currency: str | None = None) -> Refund:
    """A v3 refund as a canonical ``Refund``; the order supplies SKUs, unit prices, fees and the currency.

    ``total_amount`` (what left the merchant) is authoritative. Items are valued at their
    ``requested_amount`` when given, else PRODUCT at quantity x the line's net unit price (rounded
    to the currency's minor unit: 1 JPY, 0.001 KWD), SHIPPING / HANDLING / GIFT_WRAPPING at the
    order's (or wrapped line's) charge and FEE at the fee's ex-tax cost (``item_id`` is the fee id).
    FEE amounts are ``fees``. A rounding minor unit per pro-rated line goes to the last such line;
    anything else the items do not explain (merchant overrides, ORDER-level amounts) is carried in
    ``other`` so the refund still adds up. Declined refund payments are left out: no money moved.

    Exchange rate: a BigCommerce refund has no rate of its own (the v3 refund object carries
    amounts, items and payments, neither a currency nor an exchange rate), so the order's rate is
    kept and ``fx_rate_source`` is ``"order"``. That is also the right valuation: the refund
    returns the transactional amount the shopper paid, and valued at the order's rate the sale
    and its refund offset exactly in base currency. The FX difference is realised at settlement
    with the payment provider, which the connector does not see.
    """
    reader = _Reader(REFUNDS, refund)
    refund_id = reader.require("id")
    order_id = reader.require("order_id")
    if order is not None and str(order.get("id")) != str(order_id):
        raise reader.fail(f"refund belongs to order {order_id}, got order {order.get('id')}")
    order_reader = _Reader(ORDERS, order) if order is not None else None
    inclusive = bool(order and order.get("is_tax_inclusive_pricing"))
    products = {str(p.get("id")): p for p in order_products(order)} if order is not None else {}
    order_currency = (order or {}).get("default_currency_code") or (order or {}).get("currency_code")
    refund_currency = str(order_currency or currency or "") or None
    total = reader.money_num("total_amount")
    tax = reader.money_num("total_tax", default=ZERO)
    lines: list[RefundLine] = []
    derived: list[int] = []  # indexes of lines valued from the order (not from requested_amount)
    charges: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for raw in refund.get("items") or []:
        item = _Reader(REFUNDS + " item", raw, f"{refund_id}/{raw.get('item_type')}:{raw.get('item_id')}")
        kind = str(item.require("item_type"))
        requested = item.money_num("requested_amount") if raw.get("requested_amount") is not None else None
        if kind == "PRODUCT":
            if requested is None:
                derived.append(len(lines))
            lines.append(_refund_line(item, products, requested, inclusive, refund_currency))
        elif kind in ("SHIPPING", "HANDLING", "GIFT_WRAPPING"):
            charges[kind] += requested if requested is not None else _order_charge(
                item, order_reader, products, kind, inclusive)
        elif kind == "FEE":
            charges["FEE"] += requested if requested is not None else _order_fee(item, order)
        elif kind == "ORDER":
            charges["OTHER"] += requested if requested is not None else ZERO
        else:
            raise item.fail(f"unknown item_type {kind!r}")
    residual = total - (sum((ln.amount for ln in lines), ZERO) + sum(charges.values(), ZERO) + tax)
    if derived and residual and refund_currency and abs(residual) <= minor_unit(refund_currency) * len(derived):
        # Pro-rating quantity x net price rounds per line; the platform's minor unit goes to the last such line.
        last = lines[derived[-1]]
        lines[derived[-1]] = RefundLine(last.line_id, last.sku, last.quantity, last.amount + residual, last.category)
        residual = ZERO
    other = charges["OTHER"] + residual
    if not refund_currency:
        raise reader.fail("currency unknown: pass the order (or currency=) to normalise a refund")
    base_currency, fx_rate = _fx(order_reader, refund_currency) if order_reader else (None, Decimal("1"))
    created = reader.iso("created")
    return Refund(
        source=SOURCE,
        store_id=store_id,
        refund_id=str(refund_id),
        order_id=str(order_id),
        currency=refund_currency,
        created_at=created,
        total=total,
        lines=tuple(lines),
        shipping=charges["SHIPPING"],
        handling=charges["HANDLING"],
        wrapping=charges["GIFT_WRAPPING"],
        tax=tax,
        fees=charges["FEE"],
        other=other,
        payments=tuple(_refund_payment(p, refund_id) for p in refund.get("payments") or [] if not p.get("is_declined")),
        reason=reader.text("reason"),
        channel=str(order["channel_id"]) if order and order.get("channel_id") is not None else None,
        base_currency=base_currency,
        fx_rate=fx_rate,
        fx_rate_source="order",  # the refund has no rate of its own: see the docstring
    )


def _refund_line(item: _Reader, products: Mapping[str, Mapping[str, Any]], requested: Decimal | None,
                 inclusive: bool, currency: str | None) -> RefundLine:
    line_id = str(item.require("item_id"))
    quantity = item.integer("quantity", default=0)
    product = products.get(line_id)
    if requested is None:
        if product is None:
            raise item.fail(f"refunded order product {line_id} not found on the order; cannot value it")
        ordered = int(product.get("quantity") or 0)
        if ordered <= 0:
            raise item.fail(f"order product {line_id} has no quantity")
        if not currency:
            raise item.fail("currency unknown: cannot round the pro-rated amount of order product " + line_id)
        line_total = _ex_tax(item, product, "total_ex_tax", "total_inc_tax", "total_tax", inclusive)
        discount = sum((Decimal(str(d.get("amount") or "0")) for d in product.get("applied_discounts") or []), ZERO)
        requested = quantize((line_total - discount) * quantity / ordered, currency)
    return RefundLine(line_id=line_id, sku=str((product or {}).get("sku") or ""), quantity=quantity, amount=requested)


def _order_charge(item: _Reader, order: _Reader | None, products: Mapping[str, Mapping[str, Any]], kind: str,
                  inclusive: bool) -> Decimal:
    if order is None:
        raise item.fail(f"{kind} refunded without an amount and without the order to value it")
    line = products.get(str(item.record.get("item_id")))
    if kind == "GIFT_WRAPPING" and line is not None:  # item_id is the wrapped order product
        return _ex_tax(item, line, "wrapping_cost_ex_tax", "wrapping_cost_inc_tax", "wrapping_cost_tax", inclusive)
    prefix = {"SHIPPING": "shipping_cost", "HANDLING": "handling_cost", "GIFT_WRAPPING": "wrapping_cost"}[kind]
    return _ex_tax(order, order.record, f"{prefix}_ex_tax", f"{prefix}_inc_tax", f"{prefix}_tax", inclusive)


def _order_fee(item: _Reader, order: Mapping[str, Any] | None) -> Decimal:
    """A FEE refunded without an amount: the fee's ex-tax cost on the order (``item_id`` = the fee id).

    The refund request documents ``item_id`` of a FEE as the fee's id, the refund response as the
    order's id; the latter names the fee only when the order has exactly one.
    """
    if order is None:
        raise item.fail("FEE refunded without an amount and without the order to value it")
    if not isinstance(order.get("fees"), list):
        raise item.fail("FEE refunded without an amount and the order was read without its fees (include=fees)")
    fees = {fee.fee_id: fee for fee, _ in _fees(order)}
    fee_id = str(item.integer("item_id"))
    fee = fees.get(fee_id)
    if fee is None and fee_id == str(order.get("id")) and len(fees) == 1:
        fee = next(iter(fees.values()))
    if fee is None:
        raise item.fail(f"refunded fee {fee_id} not found among the order's fees {sorted(fees)}; cannot value it")
    return fee.amount


def _refund_payment(raw: Mapping[str, Any], refund_id: object) -> RefundPayment:
    reader = _Reader(REFUNDS + " payment", raw, f"{refund_id}/{raw.get('id')}")
    provider = reader.text("provider_id")
    method = PaymentMethod.OFFLINE if raw.get("offline") else _REFUND_PROVIDERS.get(provider, PaymentMethod.CARD)
    transaction = raw.get("transaction_id")
    return RefundPayment(gateway=provider, method=method, amount=reader.money_num("amount"),
                         payment_id=str(transaction) if transaction not in (None, "") else None)


# -- customers ----------------------------------------------------------------------------------
def customer_from_bigcommerce(c: Mapping[str, Any], *, store_id: str) -> Customer:
    """A v3 customer (``include=addresses``) as a canonical ``Customer``."""
    reader = _Reader(CUSTOMERS, c)
    addresses = tuple(
        Address(
            line1=str(a.get("address1") or ""), line2=str(a.get("address2") or ""), city=str(a.get("city") or ""),
            state=str(a.get("state_or_province") or ""), postal_code=str(a.get("postal_code") or ""),
            country=str(a.get("country_code") or ""), kind=str(a.get("address_type") or "residential"),
        )
        for a in c.get("addresses") or []
    )
    return Customer(
        source=SOURCE,
        store_id=store_id,
        customer_id=str(reader.require("id")),
        email=str(reader.require("email")),
        first_name=reader.text("first_name"),
        last_name=reader.text("last_name"),
        company=reader.text("company"),
        phone=reader.text("phone"),
        addresses=addresses,
        created_at=reader.iso_optional("date_created"),
        updated_at=reader.iso_optional("date_modified"),
    )
