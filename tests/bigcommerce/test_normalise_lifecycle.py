"""Normalisation of archived orders, gift certificates sold, order fees and refunds at the currency's minor unit.

Hand-made records in the shape of the specs (``orders.v2.oas2.yml``: ``orderFees_Resp``, order
products of ``type: giftcertificate``; ``orders.v3.yml``: refunds with ``FEE`` items), plus one
check against the simulator that orders are requested with ``include=fees``.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from ml_connector.core.model import LineKind, Order, OrderStatus
from ml_connector.errors import NormalisationError
from ml_connector.storefronts.bigcommerce.hook import BigCommerceHook
from ml_connector.storefronts.bigcommerce.normalise import (
    needs_transactions,
    order_from_bigcommerce,
    refund_from_bigcommerce,
)

ZERO = Decimal(0)
SINCE, UNTIL = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
PAID_CARD = [{"id": 1, "order_id": "201", "event": "purchase", "method": "credit_card", "amount": 1, "currency": "USD",
              "gateway": "stripe", "status": "ok", "date_created": "2024-03-01T10:00:01+00:00"}]


def _line(line_id: int, qty: int, price: str, tax: str, **extra: Any) -> dict[str, Any]:
    total = Decimal(price) * qty
    return {"id": line_id, "product_id": 7, "sku": f"HW-{line_id}", "name": "Hammer", "type": "physical",
            "quantity": qty, "price_ex_tax": price, "price_inc_tax": f"{Decimal(price) + Decimal(tax) / qty:.4f}",
            "price_tax": f"{Decimal(tax) / qty:.4f}", "total_ex_tax": f"{total:.4f}",
            "total_inc_tax": f"{total + Decimal(tax):.4f}", "total_tax": tax, "applied_discounts": [], **extra}


def _fee_ex(fee: dict[str, Any]) -> Decimal:
    if fee.get("cost_ex_tax") is not None:
        return Decimal(str(fee["cost_ex_tax"]))
    return Decimal(str(fee["cost_inc_tax"])) - Decimal(str(fee.get("cost_tax") or 0))


def _order(products: list[dict[str, Any]], *, gift_certificates: tuple[dict[str, Any], ...] = (),
           fees: list[dict[str, Any]] | None = None, currency: str = "USD", store_currency: str = "USD",
           rate: str = "1.0000000000", shipping: str = "0", shipping_tax: str = "0", coupon: str = "0",
           **extra: Any) -> dict[str, Any]:
    """A v2 order (``include=consignments.line_items,fees``) whose totals add up."""
    every = [*products, *gift_certificates]
    ship, ship_tax = Decimal(shipping), Decimal(shipping_tax)
    fee_ex = sum((_fee_ex(f) for f in fees or []), ZERO)
    fee_tax = sum((Decimal(str(f.get("cost_tax") or 0)) for f in fees or []), ZERO)
    total_tax = sum((Decimal(p["total_tax"]) for p in every), ZERO) + ship_tax + fee_tax
    total_ex = sum((Decimal(p["total_ex_tax"]) for p in every), ZERO) + ship + fee_ex - Decimal(coupon)
    emails = [{"recipient_email": "friend@example.com", "line_items": list(gift_certificates)}] if gift_certificates else []
    raw: dict[str, Any] = {
        "id": 201, "customer_id": 5, "status_id": 11, "is_deleted": False,
        "date_created": "Fri, 01 Mar 2024 10:00:00 +0000", "date_modified": "Fri, 01 Mar 2024 10:05:00 +0000",
        "default_currency_code": currency, "currency_code": currency, "store_default_currency_code": store_currency,
        "store_default_to_transactional_exchange_rate": rate,
        "shipping_cost_ex_tax": f"{ship:.4f}", "shipping_cost_inc_tax": f"{ship + ship_tax:.4f}",
        "shipping_cost_tax": f"{ship_tax:.4f}",
        "handling_cost_ex_tax": "0.0000", "handling_cost_inc_tax": "0.0000", "handling_cost_tax": "0.0000",
        "wrapping_cost_ex_tax": "0.0000", "wrapping_cost_inc_tax": "0.0000", "wrapping_cost_tax": "0.0000",
        "coupon_discount": f"{Decimal(coupon):.4f}", "discount_amount": "0.0000", "total_tax": f"{total_tax:.4f}",
        "total_ex_tax": f"{total_ex:.4f}", "total_inc_tax": f"{total_ex + total_tax:.4f}",
        "gift_certificate_amount": "0.0000", "store_credit_amount": "0.0000", "is_tax_inclusive_pricing": False,
        "channel_id": 1, "billing_address": {"email": "b@example.com"},
        "consignments": {"pickups": [], "downloads": [], "email": {"gift_certificates": emails},
                         "shipping": [{"id": 1, "line_items": list(products)}] if products else []},
        **extra,
    }
    if fees is not None:
        raw["fees"] = fees
    return raw


def _adds_up(order: Order) -> bool:
    lines = sum((ln.total for ln in order.lines), ZERO)
    fees = sum((f.amount for f in order.fees), ZERO)
    charges = order.shipping + order.handling + order.wrapping + fees
    return lines + charges - order.discount_total + order.tax_total == order.total


def _refund(items: list[dict[str, Any]], total: Any, tax: Any = 0, order_id: int = 201) -> dict[str, Any]:
    return {"id": 9, "order_id": order_id, "created": "2024-03-05T09:00:00+00:00", "reason": "return",
            "total_amount": total, "total_tax": tax, "items": items,
            "payments": [{"id": 1, "provider_id": "stripe", "amount": total, "offline": False, "is_declined": False,
                          "transaction_id": "1"}]}


def _refund_parts(refund: Any) -> Decimal:
    lines = sum((ln.amount for ln in refund.lines), ZERO)
    return lines + refund.shipping + refund.handling + refund.wrapping + refund.fees + refund.tax + refund.other


# -- archive --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("status_id", "expected"), [
    (11, OrderStatus.PAID), (2, OrderStatus.PAID), (4, OrderStatus.REFUNDED),
    (14, OrderStatus.PARTIALLY_REFUNDED), (5, OrderStatus.CANCELLED), (0, OrderStatus.UNPAID),
])
def test_archived_order_keeps_the_status_of_its_status_id(status_id: int, expected: OrderStatus) -> None:
    raw = _order([_line(1, 1, "10.0000", "1.0000")], status_id=status_id, is_deleted=True)
    order = order_from_bigcommerce(raw, PAID_CARD, store_id="s")
    assert order.status is expected and order.archived
    assert order.status is not OrderStatus.DELETED


def test_archived_paid_order_still_fetches_its_transactions() -> None:
    archived = _order([_line(1, 1, "10.0000", "1.0000")], is_deleted=True)
    order = order_from_bigcommerce(archived, PAID_CARD, store_id="s")
    assert order.status is OrderStatus.PAID and order.archived and order.captured == Decimal(1)
    assert needs_transactions(archived)  # money moved: archiving hides the order, it does not undo it
    assert not needs_transactions({**archived, "status_id": 7})  # awaiting payment: nothing captured
    assert not order_from_bigcommerce(_order([_line(1, 1, "10.0000", "1.0000")]), [], store_id="s").archived


# -- gift certificates sold -----------------------------------------------------------------------
def test_gift_certificate_line_from_the_email_consignment() -> None:
    gift = _line(2, 1, "50.0000", "0.0000", type="giftcertificate", name="$50 Gift Certificate", sku="",
                 product_id=0, gift_certificate_id=52)
    raw = _order([_line(1, 2, "25.0000", "5.0000")], gift_certificates=(gift,))
    order = order_from_bigcommerce(raw, [], store_id="s")
    kinds = {ln.line_id: ln.kind for ln in order.lines}
    assert kinds == {"1": LineKind.PRODUCT, "2": LineKind.GIFT_CERTIFICATE}
    certificate = next(ln for ln in order.lines if ln.kind is LineKind.GIFT_CERTIFICATE)
    assert certificate.total == Decimal("50") and certificate.tax == ZERO and certificate.product_id is None
    assert _adds_up(order)


def test_gift_certificate_line_from_fetched_products() -> None:
    gift = _line(2, 1, "50.0000", "0.0000", type="giftcertificate")
    raw = _order([_line(1, 1, "10.0000", "1.0000")], gift_certificates=(gift,))
    raw["consignments"]["shipping"][0]["__warning__"] = {"message": "only 50"}
    raw["products"] = [_line(1, 1, "10.0000", "1.0000"), gift]  # /v2/orders/{id}/products
    order = order_from_bigcommerce(raw, [], store_id="s")
    assert [ln.kind for ln in order.lines] == [LineKind.PRODUCT, LineKind.GIFT_CERTIFICATE]


# -- fees -----------------------------------------------------------------------------------------
TWO_FEES: list[dict[str, Any]] = [
    {"id": 5, "type": "custom_fee", "display_name_customer": "Packaging", "display_name_merchant": "Packaging fee",
     "source": "v2", "base_cost": "2.5000", "cost_ex_tax": "2.5000", "cost_inc_tax": "2.5000", "cost_tax": "0.0000",
     "tax_class_id": None},
    # oneOf string | number: a JSON number is read as written (4.1, not 4.0999999999999996447...)
    {"id": 6, "type": "custom_fee", "display_name_customer": "Insurance", "display_name_merchant": "",
     "source": "AA", "base_cost": 4.1, "cost_ex_tax": 4.1, "cost_inc_tax": 4.51, "cost_tax": 0.41, "tax_class_id": 3},
]


def _fee_order(**extra: Any) -> dict[str, Any]:
    return _order([_line(1, 2, "25.0000", "5.0000")], fees=copy.deepcopy(TWO_FEES), shipping="10", shipping_tax="1",
                  **extra)


def test_two_fees_one_taxed_in_derived_mode() -> None:
    order = order_from_bigcommerce(_fee_order(), [], store_id="s")
    assert [(f.fee_id, f.name, f.amount) for f in order.fees] == [
        ("5", "Packaging fee", Decimal("2.5000")), ("6", "Insurance", Decimal("4.1"))]
    assert {(t.name, t.applies_to): t.amount for t in order.taxes} == {
        ("Tax", "item"): Decimal("5.0000"), ("Tax", "shipping"): Decimal("1.0000"), ("Tax", "fee"): Decimal("0.41")}
    assert order.tax_total == Decimal("6.41") == Decimal(_fee_order()["total_tax"])
    assert _adds_up(order)


def test_fee_amounts_follow_tax_inclusive_pricing_and_the_documented_names() -> None:
    fees = [
        # the spec's example misspells cost_exc_tax once: it is ignored, inc - tax is used
        {"id": 1, "type": "custom_fee", "display_name_customer": "A Fee", "display_name_merchant": "A Fee",
         "cost_exc_tax": "99.0000", "cost_inc_tax": "12.3000", "cost_tax": "1.3000"},
        {"id": 2, "type": "custom_fee", "display_name_customer": "B Fee",
         "cost_ex_tax": "4.0000", "cost_inc_tax": "12.0000", "cost_tax": "8.0000"},
    ]
    exclusive = order_from_bigcommerce(_order([_line(1, 1, "10.0000", "0.0000")], fees=copy.deepcopy(fees)), [],
                                       store_id="s")
    assert [f.amount for f in exclusive.fees] == [Decimal("11.0000"), Decimal("4.0000")]
    assert [f.name for f in exclusive.fees] == ["A Fee", "B Fee"]
    inclusive = _order([_line(1, 1, "10.0000", "0.0000")], fees=copy.deepcopy(fees), is_tax_inclusive_pricing=True)
    assert [f.amount for f in order_from_bigcommerce(inclusive, [], store_id="s").fees] == [Decimal("11"), Decimal("4")]


def test_no_fees_when_the_order_came_without_them() -> None:
    bare = _order([_line(1, 1, "10.0000", "1.0000")])
    assert "fees" not in bare and order_from_bigcommerce(bare, [], store_id="s").fees == ()
    link = {**bare, "fees": {"url": "https://api.bigcommerce.com/stores/x/v2/orders/201/fees",
                             "resource": "/orders/201/fees"}}
    assert order_from_bigcommerce(link, [], store_id="s").fees == ()
    assert order_from_bigcommerce({**bare, "fees": []}, [], store_id="s").fees == ()


def test_fee_tax_with_fetched_tax_rows() -> None:
    rows = [{"id": 1, "name": "VAT", "line_amount": "5.0000", "line_item_type": "item"},
            {"id": 2, "name": "VAT", "line_amount": "1.0000", "line_item_type": "shipping"}]
    # the rows leave out exactly the fees' tax: it is the fee tax line
    order = order_from_bigcommerce({**_fee_order(), "taxes": rows}, [], store_id="s")
    assert {(t.name, t.applies_to): t.amount for t in order.taxes} == {
        ("VAT", "item"): Decimal("5.0000"), ("VAT", "shipping"): Decimal("1.0000"), ("Tax", "fee"): Decimal("0.41")}
    assert _adds_up(order)
    # rows that carry it already: the v2 enum has no fee type, so an unknown type counts as item, once
    with_fee_row = [*rows, {"id": 3, "name": "VAT", "line_amount": "0.4100", "line_item_type": "fee"}]
    order = order_from_bigcommerce({**_fee_order(), "taxes": with_fee_row}, [], store_id="s")
    assert {(t.name, t.applies_to): t.amount for t in order.taxes} == {
        ("VAT", "item"): Decimal("5.4100"), ("VAT", "shipping"): Decimal("1.0000")}
    assert order.tax_total == Decimal("6.41")
    # rows that explain neither still fail the check
    with pytest.raises(NormalisationError, match="tax lines add up to 5.0000 but total_tax is 6.4100"):
        order_from_bigcommerce({**_fee_order(), "taxes": rows[:1]}, [], store_id="s")


@pytest.mark.parametrize(("fee", "endpoint", "record_id", "problem"), [
    ({"type": "custom_fee", "cost_ex_tax": "1.0000"}, "/v2/orders/201/fees", None, "missing required field 'id'"),
    ({"id": 7, "cost_ex_tax": "abc"}, "/v2/orders/201/fees", 7, "cost_ex_tax: not a decimal amount"),
    ({"id": 7, "cost_ex_tax": True}, "/v2/orders/201/fees", 7, "cost_ex_tax: money is a boolean"),
    ({"id": 7, "cost_tax": "0.1000"}, "/v2/orders/201/fees", 7, "missing required money field cost_ex_tax or cost_inc_tax"),
    ({"id": 7, "cost_ex_tax": "NaN"}, "/v2/orders/201/fees", 7, "cost_ex_tax: not a finite amount"),
])
def test_bad_fees_name_endpoint_record_and_field(fee: dict[str, Any], endpoint: str, record_id: object,
                                                 problem: str) -> None:
    raw = {**_order([_line(1, 1, "10.0000", "0.0000")]), "fees": [fee]}
    with pytest.raises(NormalisationError, match=problem) as info:
        order_from_bigcommerce(raw, [], store_id="s")
    assert info.value.endpoint == endpoint and info.value.record_id == (record_id if record_id is not None else "?")


def test_fees_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(NormalisationError, match="fees: expected a list, got str") as info:
        order_from_bigcommerce({**_order([_line(1, 1, "10.0000", "0.0000")]), "fees": "none"}, [], store_id="s")
    assert info.value.endpoint == "/v2/orders" and info.value.record_id == 201


# -- refunds: fees --------------------------------------------------------------------------------
def test_fee_refund_items_go_to_fees() -> None:
    raw = _fee_order()
    refund = _refund([{"item_type": "FEE", "item_id": 6},  # no amount: the fee's ex-tax cost on the order
                      {"item_type": "FEE", "item_id": 5, "requested_amount": "1.00"}], total=5.51, tax=0.41)
    r = refund_from_bigcommerce(refund, raw, store_id="s")
    assert r.fees == Decimal("5.1") and r.other == ZERO and r.lines == ()
    assert _refund_parts(r) == r.total == Decimal("5.51")


def test_fee_refund_item_named_by_the_order_id() -> None:
    # The refund response documents item_id of a FEE as the order id: unambiguous with one fee only.
    one_fee = _order([_line(1, 1, "10.0000", "0.0000")], fees=copy.deepcopy(TWO_FEES[1:]))
    r = refund_from_bigcommerce(_refund([{"item_type": "FEE", "item_id": 201}], total=4.51, tax=0.41), one_fee,
                                store_id="s")
    assert r.fees == Decimal("4.1") and r.other == ZERO
    with pytest.raises(NormalisationError, match=r"refunded fee 201 not found among the order's fees \['5', '6'\]"):
        refund_from_bigcommerce(_refund([{"item_type": "FEE", "item_id": 201}], total=4.51), _fee_order(), store_id="s")


def test_fee_refund_without_amount_needs_the_order_and_its_fees() -> None:
    refund = _refund([{"item_type": "FEE", "item_id": 99}], total=1.0)
    with pytest.raises(NormalisationError, match="refunded fee 99 not found") as info:
        refund_from_bigcommerce(refund, _fee_order(), store_id="s")
    assert info.value.endpoint == "/v3/orders/payment_actions/refunds item" and info.value.record_id == "9/FEE:99"
    with pytest.raises(NormalisationError, match=r"read without its fees \(include=fees\)"):
        refund_from_bigcommerce(refund, _order([_line(1, 1, "10.0000", "0.0000")]), store_id="s")
    with pytest.raises(NormalisationError, match="FEE refunded without an amount and without the order"):
        refund_from_bigcommerce(refund, None, store_id="s", currency="USD")
    priced = _refund([{"item_type": "FEE", "item_id": 99, "requested_amount": "1.00"}], total=1.0)
    assert refund_from_bigcommerce(priced, None, store_id="s", currency="USD").fees == Decimal("1.00")


# -- refunds: minor units and exchange rate -------------------------------------------------------
def _jpy_order() -> dict[str, Any]:
    line = _line(1, 3, "1000.0000", "300.0000", applied_discounts=[{"id": "c", "amount": "100.0000", "code": "YEN100"}])
    return _order([line], currency="JPY", store_currency="USD", rate="150.0000000000", coupon="100")


def test_jpy_refund_is_valued_in_whole_yen_at_the_order_rate() -> None:
    raw = _jpy_order()
    order = order_from_bigcommerce(raw, [], store_id="s")
    assert order.currency == "JPY" and _adds_up(order)
    # 1 of 3 at (3000 - 100) / 3 = 966.67 -> 967 yen; tax 97 yen
    r = refund_from_bigcommerce(_refund([{"item_type": "PRODUCT", "item_id": 1, "quantity": 1}], total=1064, tax=97),
                                raw, store_id="s")
    assert [ln.amount for ln in r.lines] == [Decimal("967")] and r.lines[0].amount.as_tuple().exponent == 0
    assert r.other == ZERO and _refund_parts(r) == r.total
    assert r.currency == "JPY" and r.base_currency == "USD"
    assert r.fx_rate == order.fx_rate == Decimal(1) / Decimal("150") and r.fx_rate_source == "order"
    # the platform's rounding (966) differs by one yen: it goes to the line, not to ``other``
    r = refund_from_bigcommerce(_refund([{"item_type": "PRODUCT", "item_id": 1, "quantity": 1}], total=1063, tax=97),
                                raw, store_id="s")
    assert [ln.amount for ln in r.lines] == [Decimal("966")] and r.other == ZERO


def test_kwd_refund_line_has_three_decimals() -> None:
    raw = _order([_line(1, 3, "3.3333", "1.0000")], currency="KWD", store_currency="KWD")
    item = [{"item_type": "PRODUCT", "item_id": 1, "quantity": 1}]
    r = refund_from_bigcommerce(_refund(item, total=3.666, tax=0.333), raw, store_id="s")
    assert [ln.amount for ln in r.lines] == [Decimal("3.333")] and r.other == ZERO  # not 3.33
    assert r.fx_rate == Decimal(1) and r.fx_rate_source == "order"
    one_fils = refund_from_bigcommerce(_refund(item, total=3.667, tax=0.333), raw, store_id="s")
    assert [ln.amount for ln in one_fils.lines] == [Decimal("3.334")] and one_fils.other == ZERO
    # more than one minor unit per pro-rated line is not rounding: it stays visible in ``other``
    two_fils = refund_from_bigcommerce(_refund(item, total=3.668, tax=0.333), raw, store_id="s")
    assert [ln.amount for ln in two_fils.lines] == [Decimal("3.333")] and two_fils.other == Decimal("0.002")
    assert _refund_parts(two_fils) == two_fils.total


def test_refund_without_order_has_no_rate_of_its_own() -> None:
    refund = _refund([{"item_type": "ORDER", "item_id": 201, "requested_amount": "5.00"}], total=5.0)
    r = refund_from_bigcommerce(refund, None, store_id="s", currency="JPY")
    assert r.currency == "JPY" and r.other == Decimal("5.00") and r.fx_rate_source == "order"


# -- request side -----------------------------------------------------------------------------------
def test_orders_are_requested_with_their_fees(hook: BigCommerceHook) -> None:
    urls: list[str] = []
    hook.get_conn().hooks["response"].append(lambda response, *args, **kwargs: urls.append(response.request.url))
    first = next(hook.iter_orders(SINCE, UNTIL, limit=5))
    hook.get_order(first[0]["id"])
    order_reads = [u for u in urls if re.search(r"/v2/orders(/\d+)?$", urlsplit(u).path)]
    assert {bool(re.search(r"/\d+$", urlsplit(u).path)) for u in order_reads} == {False, True}, urls  # list and one
    for url in order_reads:
        query = parse_qs(urlsplit(url).query)
        assert query["include"] == ["consignments.line_items,fees"], url
        assert query["consignment_structure"] == ["object"], url


def test_a_cancelled_order_needs_its_transactions() -> None:
    """Cancelling does not refund: the captured cash must be known to be owed back."""
    assert needs_transactions({"id": 1, "status_id": 5})
