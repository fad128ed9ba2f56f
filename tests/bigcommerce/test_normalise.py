"""Normalisation rules on hand-made records (the simulator-driven checks live in test_hook.py)."""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from ml_connector.core.model import OrderStatus, PaymentEvent, PaymentMethod
from ml_connector.errors import NormalisationError
from ml_connector.storefronts.bigcommerce.normalise import (
    customer_from_bigcommerce,
    needs_transactions,
    order_from_bigcommerce,
    refund_from_bigcommerce,
)


def _line(line_id: int, qty: int, price: str, tax: str, **extra: Any) -> dict[str, Any]:
    total = Decimal(price) * qty
    return {"id": line_id, "product_id": 7, "sku": f"HW-{line_id}", "name": "Hammer", "quantity": qty,
            "price_ex_tax": price, "price_inc_tax": str(Decimal(price) + Decimal(tax) / qty), "price_tax": "0",
            "total_ex_tax": f"{total:.4f}", "total_inc_tax": f"{total + Decimal(tax):.4f}", "total_tax": tax,
            "applied_discounts": [], **extra}


ORDER: dict[str, Any] = {
    "id": 101, "customer_id": 0, "status_id": 11, "is_deleted": False,
    "date_created": "Wed, 10 Jan 2018 21:05:30 +0000", "date_modified": "Thu, 11 Jan 2018 09:00:00 +0000",
    "default_currency_code": "EUR", "currency_code": "EUR", "store_default_currency_code": "USD",
    "store_default_to_transactional_exchange_rate": "0.8000000000",
    "shipping_cost_ex_tax": "10.0000", "shipping_cost_inc_tax": "11.0000", "shipping_cost_tax": "1.0000",
    "handling_cost_ex_tax": "0.0000", "handling_cost_inc_tax": "0.0000", "handling_cost_tax": "0.0000",
    "wrapping_cost_ex_tax": "0.0000", "wrapping_cost_inc_tax": "0.0000", "wrapping_cost_tax": "0.0000",
    "coupon_discount": "5.0000", "discount_amount": "0.0000", "total_tax": "9.0000",
    "total_inc_tax": "114.0000", "gift_certificate_amount": "14.0000", "store_credit_amount": "0.0000",
    "is_tax_inclusive_pricing": False, "channel_id": 1, "billing_address": {"email": "a@example.com"},
    "consignments": {"pickups": [], "downloads": [], "email": {"gift_certificates": []}, "shipping": [
        {"id": 1, "line_items": [
            _line(1, 2, "25.0000", "4.0000", applied_discounts=[{"id": "c", "amount": "5.0000", "code": "SAVE5"}]),
            _line(2, 1, "50.0000", "4.0000")]}]},
}
TRANSACTIONS = [
    {"id": 1, "order_id": "101", "event": "purchase", "method": "credit_card", "amount": 100.0, "currency": "EUR",
     "gateway": "stripe", "status": "ok", "date_created": "2018-01-10T21:05:31+00:00"},
    {"id": 2, "order_id": "101", "event": "purchase", "method": "gift_certificate", "amount": 14, "currency": "EUR",
     "gateway": "giftcertificate", "status": "ok", "date_created": "2018-01-10T21:05:31+00:00"},
    {"id": 3, "order_id": "101", "event": "purchase", "method": "credit_card", "amount": 100.0, "currency": "EUR",
     "gateway": "stripe", "status": "error", "date_created": "2018-01-10T21:05:00+00:00"},
]


def test_order_amounts_currency_and_payments() -> None:
    order = order_from_bigcommerce(ORDER, TRANSACTIONS, store_id="sandbox1")
    assert order.status is OrderStatus.PAID and order.customer_id is None
    assert order.currency == "EUR" and order.base_currency == "USD" and order.fx_rate == Decimal("1.25")
    assert order.created_at == dt.datetime(2018, 1, 10, 21, 5, 30, tzinfo=dt.UTC)
    assert [d.code for d in order.discounts] == ["SAVE5"]
    assert {(t.name, t.applies_to): t.amount for t in order.taxes} == {("Tax", "item"): Decimal("8"),
                                                                       ("Tax", "shipping"): Decimal("1")}
    lines = sum((ln.total for ln in order.lines), Decimal(0))
    assert lines + order.shipping + order.handling + order.wrapping - order.discount_total + order.tax_total == order.total
    assert order.captured == order.total  # the failed attempt does not count
    assert [p.ok for p in order.payments] == [True, True, False]
    assert order.payments[1].method is PaymentMethod.GIFT_CERTIFICATE
    assert order.payments[0].event is PaymentEvent.CAPTURE


def test_fetched_taxes_give_jurisdiction_names() -> None:
    raw = copy.deepcopy(ORDER)
    raw["taxes"] = [{"id": 1, "name": "VAT", "line_amount": "8.0000", "line_item_type": "item"},
                    {"id": 2, "name": "VAT", "line_amount": "1.0000", "line_item_type": "shipping"}]
    order = order_from_bigcommerce(raw, TRANSACTIONS, store_id="s")
    assert {(t.name, t.applies_to) for t in order.taxes} == {("VAT", "item"), ("VAT", "shipping")}


def test_tax_inclusive_pricing_takes_inc_minus_tax() -> None:
    raw = copy.deepcopy(ORDER)
    raw["is_tax_inclusive_pricing"] = True
    raw["shipping_cost_ex_tax"] = "9.5000"  # an estimate; inc - tax is the actual figure
    assert order_from_bigcommerce(raw, [], store_id="s").shipping == Decimal("10")


@pytest.mark.parametrize(("status_id", "captured", "expected"), [
    (0, False, OrderStatus.UNPAID), (7, False, OrderStatus.UNPAID), (5, False, OrderStatus.CANCELLED),
    (4, True, OrderStatus.REFUNDED), (14, True, OrderStatus.PARTIALLY_REFUNDED), (10, True, OrderStatus.PAID),
    (13, True, OrderStatus.PAID), (13, False, OrderStatus.UNPAID),
])
def test_status_mapping(status_id: int, captured: bool, expected: OrderStatus) -> None:
    raw = {**copy.deepcopy(ORDER), "status_id": status_id}
    assert order_from_bigcommerce(raw, TRANSACTIONS[:1] if captured else [], store_id="s").status is expected


def test_archived_and_settled_statuses() -> None:
    raw = {**copy.deepcopy(ORDER), "is_deleted": True}  # archived: hidden, the money still moved
    order = order_from_bigcommerce(raw, TRANSACTIONS, store_id="s")
    assert order.status is OrderStatus.PAID and order.archived
    assert not order_from_bigcommerce(ORDER, TRANSACTIONS, store_id="s").archived
    assert needs_transactions(raw) and needs_transactions(ORDER)
    assert not needs_transactions({**ORDER, "status_id": 0})


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("total_inc_tax", 114.0, "float"),
    ("total_inc_tax", None, "missing required money field 'total_inc_tax'"),
    ("date_created", "yesterday", "RFC 2822"),
    ("status_id", 99, "unknown status_id"),
    ("total_tax", "10.0000", "tax lines add up to 9.0000 but total_tax is 10.0000"),
])
def test_bad_records_raise_normalisation_error(field: str, value: Any, problem: str) -> None:
    raw = {**copy.deepcopy(ORDER), field: value}
    with pytest.raises(NormalisationError, match=problem) as info:
        order_from_bigcommerce(raw, [], store_id="s")
    assert info.value.record_id == 101 and info.value.endpoint == "/v2/orders"


def test_capped_consignment_without_products_is_refused() -> None:
    raw = copy.deepcopy(ORDER)
    raw["consignments"]["shipping"][0]["__warning__"] = {"message": "only 50"}
    with pytest.raises(NormalisationError, match="capped"):
        order_from_bigcommerce(raw, [], store_id="s")
    raw["products"] = raw["consignments"]["shipping"][0]["line_items"]
    assert len(order_from_bigcommerce(raw, [], store_id="s").lines) == 2


def test_refund_lines_charges_and_payments() -> None:
    refund = {"id": 9, "order_id": 101, "created": "2018-02-01T10:00:00+00:00", "reason": "damaged",
              "total_amount": 35.0, "total_tax": 3.0,
              "items": [{"item_type": "PRODUCT", "item_id": 1, "quantity": 1},
                        {"item_type": "SHIPPING", "item_id": 1},
                        {"item_type": "ORDER", "item_id": 101, "requested_amount": 2.5}],
              "payments": [{"id": 1, "provider_id": "stripe", "amount": 35.0, "offline": False, "is_declined": False,
                            "transaction_id": "1"},
                           {"id": 2, "provider_id": "storecredit", "amount": 5.0, "is_declined": True}]}
    r = refund_from_bigcommerce(refund, ORDER, store_id="s")
    assert r.currency == "EUR" and r.fx_rate == Decimal("1.25")
    assert [(ln.sku, ln.quantity, ln.amount) for ln in r.lines] == [("HW-1", 1, Decimal("22.50"))]
    assert r.shipping == Decimal("10") and r.tax == Decimal("3")
    assert sum((ln.amount for ln in r.lines), Decimal(0)) + r.shipping + r.handling + r.wrapping + r.tax + r.other == r.total
    assert [p.method for p in r.payments] == [PaymentMethod.CARD]  # the declined one moved no money
    with pytest.raises(NormalisationError, match="order product 1 not found"):
        refund_from_bigcommerce(refund, None, store_id="s")
    goodwill = {**refund, "items": [{"item_type": "ORDER", "item_id": 101, "requested_amount": 35.0}], "total_tax": 0}
    with pytest.raises(NormalisationError, match="currency unknown"):
        refund_from_bigcommerce(goodwill, None, store_id="s")
    assert refund_from_bigcommerce(goodwill, None, store_id="s", currency="EUR").other == Decimal("35.0")


def test_customer() -> None:
    c = customer_from_bigcommerce({"id": 5, "email": "x@example.com", "first_name": "Ada", "last_name": "L",
                                   "date_modified": "2018-11-14T16:46:23Z",
                                   "addresses": [{"address1": "1 Main", "city": "Austin", "country_code": "US",
                                                  "address_type": "residential"}]}, store_id="s")
    assert c.customer_id == "5" and c.addresses[0].country == "US"
    assert c.updated_at == dt.datetime(2018, 11, 14, 16, 46, 23, tzinfo=dt.UTC)
    with pytest.raises(NormalisationError, match="email"):
        customer_from_bigcommerce({"id": 6}, store_id="s")
