"""The BigCommerce simulator's order lifecycle: edit, cancel, archive, fees, gift certificates,
JPY / KWD rounding, capture and void, refunds after all of them.

Each test drives the control API (or the real write endpoint), then checks three things: the HTTP
answer against the official specs (openapi-core, as in ``test_bigcommerce_sim``), the webhooks the
simulator recorded for that order, and the money against expectations computed from first
principles or from the raw store (``/_sandbox/state``), never from the JSON under test.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from urllib.parse import parse_qs

import pytest

from sandbox.bigcommerce.data import DEFAULT_NOW
from sandbox.bigcommerce.server import BigCommerceSim
from tests.conftest import require
from tests.sandbox.test_bigcommerce_sim import SPEC_DIR, Receiver, Reply, api, call

US_RATES = (Decimal("6"), Decimal("1.5"))  # State Tax, County Tax on every USD amount
JP_RATE = Decimal("10")
Event = tuple[str, dict[str, Any]]


class Ticker:
    """The store's clock: one second later on every read, so each change moves date_modified."""

    def __init__(self) -> None:
        self._now = DEFAULT_NOW + dt.timedelta(days=1)
        self._lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self._lock:
            self._now += dt.timedelta(seconds=1)
            return self._now


@pytest.fixture(scope="module")
def sim() -> Iterator[BigCommerceSim]:
    server = BigCommerceSim(seed=5, orders=40, quota=1_000_000, allow_http_destinations=True, clock=Ticker())
    server.start()
    with Receiver() as receiver:
        hook = api(server, "POST", "/v3/hooks", {"scope": "store/order/*", "destination": receiver.url})
        assert hook.status == 200
        yield server
    server.stop()


@pytest.fixture(scope="module")
def contract() -> Callable[[str, str, Reply], None]:
    """``check(spec_file, path, reply)``: the reply validates as that path's GET (or its method's) response."""
    require(SPEC_DIR.is_dir(), f"BigCommerce specs not found at {SPEC_DIR} (set ML_CONNECTOR_SPECS)")
    from openapi_core import OpenAPI
    from openapi_core.testing import MockRequest, MockResponse

    cache: dict[str, Any] = {}

    def check(spec: str, path: str, reply: Reply, method: str = "get") -> None:
        if spec not in cache:
            cache[spec] = OpenAPI.from_file_path(str(SPEC_DIR / spec))
        full, _, query = f"/stores/sandbox1{path}".partition("?")
        request = MockRequest("https://api.bigcommerce.com", method, full,
                              args={k: v[-1] for k, v in parse_qs(query).items()})
        cache[spec].validate_response(request, MockResponse(reply.body, status_code=reply.status))

    return check


# -- helpers -------------------------------------------------------------------------------------
def control(sim: BigCommerceSim, method: str, path: str, body: Any = None) -> Reply:
    return call(sim.base_url, method, f"/_sandbox/{path}", body)


def create(sim: BigCommerceSim, **body: Any) -> dict[str, Any]:
    """An explicit USD order: a guest paying by card through a purchase-only gateway unless told otherwise."""
    reply = control(sim, "POST", "orders", {"customer_id": 0, "status_id": 11, "gateway": "stripe", "currency": "USD",
                                            **body})
    assert reply.status == 201, reply.body
    return reply.json()


def _deliveries(sim: BigCommerceSim) -> list[dict[str, Any]]:
    return [d["payload"] for d in control(sim, "GET", "deliveries").json()["deliveries"]]


def _about(data: dict[str, Any], order_id: int) -> bool:
    return data.get("id") == order_id if data.get("type") == "order" else data.get("order_id") == str(order_id)


def fired(sim: BigCommerceSim, order_id: int, action: Callable[[], Reply]) -> tuple[Reply, list[Event]]:
    """Run ``action``; return its reply and the webhooks it fired for ``order_id``, in order."""
    before = len(_deliveries(sim))
    reply = action()
    return reply, [(p["scope"], p["data"]) for p in _deliveries(sim)[before:] if _about(p["data"], order_id)]


def scopes(events: list[Event]) -> list[str]:
    return [scope for scope, _ in events]


def raw(sim: BigCommerceSim, order_id: int) -> dict[str, Any]:
    """The order as the store holds it (exact Decimal strings), not as the API renders it."""
    state = control(sim, "GET", "state").json()
    return next(o for o in state["orders"] if o["id"] == order_id)


def money(value: Decimal, exponent: int = 2) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_UP)


def us_tax(base: Decimal) -> Decimal:
    return sum((money(base * rate / 100) for rate in US_RATES), Decimal(0))


def unit_price(sim: BigCommerceSim, sku: str) -> Decimal:
    variant = next(v for v in sim.store.variants.values() if v.sku == sku)
    return sim.store.products[variant.product_id].unit_price(variant)


def v2(sim: BigCommerceSim, path: str) -> Reply:
    reply = api(sim, "GET", path)
    assert reply.status == 200, (path, reply.status, reply.body)
    return reply


FULL = "?include=consignments.line_items,fees&consignment_structure=object"


# -- 1. edit -------------------------------------------------------------------------------------
def test_edit_replaces_lines_and_fees_and_reprices_like_the_builder(sim: BigCommerceSim,
                                                                    contract: Callable[..., None]) -> None:
    order = create(sim, lines=[{"sku": "KT-5001", "quantity": 2}, {"sku": "GD-3001", "quantity": 1}],
                   fees=[{"name": "Service fee", "amount": "3.00"}])
    oid = order["id"]
    kept = next(li["id"] for li in order["consignments"]["shipping"][0]["line_items"] if li["sku"] == "KT-5001")
    before = raw(sim, oid)
    edit = {"lines": [{"sku": "KT-5001", "quantity": 3}, {"sku": "HW-1001", "quantity": 1}],
            "shipping_cost": "10.00", "billing_address": {"city": "Boston", "zip": "02108"},
            "fees": [{"name": "Eco fee", "amount": "1.50", "taxable": False}]}
    reply, events = fired(sim, oid, lambda: control(sim, "PUT", f"orders/{oid}", edit))
    assert reply.status == 200, reply.body
    contract("orders.v2.oas2.yml", f"/v2/orders/{oid}{FULL}", reply)
    assert scopes(events) == ["store/order/updated"]

    after = raw(sim, oid)
    lines = {li["sku"]: li for li in after["lines"]}
    assert set(lines) == {"KT-5001", "HW-1001"} and lines["KT-5001"]["id"] == kept
    assert lines["HW-1001"]["id"] > kept and lines["KT-5001"]["quantity"] == 3
    goods = unit_price(sim, "KT-5001") * 3 + unit_price(sim, "HW-1001")
    shipping, fee = Decimal("10.00"), Decimal("1.50")
    tax = sum((us_tax(Decimal(li["price_ex_tax"]) * li["quantity"]) for li in after["lines"]), Decimal(0))
    tax += us_tax(shipping)  # the fee is not taxable
    assert Decimal(after["subtotal_ex_tax"]) == goods
    assert Decimal(after["total_tax"]) == tax == sum((Decimal(t["amount"]) for t in after["taxes"]), Decimal(0))
    assert Decimal(after["total_inc_tax"]) == goods + shipping + fee + tax
    assert after["billing"]["city"] == "Boston" and after["billing"]["street_1"] == before["billing"]["street_1"]
    assert [f["name"] for f in after["fees"]] == ["Eco fee"] and after["fees"][0]["id"] != before["fees"][0]["id"]
    assert after["date_modified"] > before["date_modified"]
    assert after["transactions"] == before["transactions"]  # capture_difference defaults to false
    assert Decimal(after["captured"]) == Decimal(before["captured"]) != Decimal(after["total_inc_tax"])
    body = reply.json()
    assert Decimal(body["total_inc_tax"]) == Decimal(after["total_inc_tax"]) and body["billing_address"]["zip"] == "02108"
    for path in (f"/v2/orders/{oid}/products", f"/v2/orders/{oid}/taxes?details=true", f"/v2/orders/{oid}/fees"):
        contract("orders.v2.oas2.yml", path, v2(sim, path))


def test_edit_captures_the_difference_only_when_asked(sim: BigCommerceSim, contract: Callable[..., None]) -> None:
    order = create(sim, lines=[{"sku": "TL-2001", "quantity": 1}])
    oid = order["id"]
    total = Decimal(order["total_inc_tax"])
    reply, events = fired(sim, oid, lambda: control(sim, "PUT", f"orders/{oid}", {
        "lines": [{"sku": "TL-2001", "quantity": 2}], "capture_difference": True}))
    assert reply.status == 200, reply.body
    new_total = Decimal(reply.json()["total_inc_tax"])
    txns = raw(sim, oid)["transactions"]
    assert txns[-1]["event"] == "purchase" and Decimal(txns[-1]["amount"]) == new_total - total
    assert scopes(events) == ["store/order/updated", "store/order/transaction/created"]
    assert events[1][1]["transaction_id"] == str(txns[-1]["id"]) and events[1][1]["transaction_type"] == "purchase"
    assert Decimal(raw(sim, oid)["captured"]) == new_total
    contract("orders.v3.yml", f"/v3/orders/{oid}/transactions", v2(sim, f"/v3/orders/{oid}/transactions"))
    lowered, events = fired(sim, oid, lambda: control(sim, "PUT", f"orders/{oid}", {
        "lines": [{"sku": "TL-2001", "quantity": 1}], "capture_difference": True}))
    assert lowered.status == 200 and scopes(events) == ["store/order/updated"]  # a lower total moves no money
    assert Decimal(raw(sim, oid)["captured"]) == new_total


def test_edit_status_fires_both_status_webhooks(sim: BigCommerceSim) -> None:
    oid = create(sim, lines=[{"sku": "GD-3002", "quantity": 1}])["id"]
    reply, events = fired(sim, oid, lambda: control(sim, "PUT", f"orders/{oid}", {"status_id": 2}))
    assert reply.status == 200 and reply.json()["status_id"] == 2
    assert scopes(events) == ["store/order/updated", "store/order/statusUpdated"]
    assert events[1][1]["status"] == {"previous_status_id": 11, "new_status_id": 2}


@pytest.mark.parametrize(("body", "field"), [
    ({}, "nothing to change"),
    ({"colour": "red"}, "colour"),
    ({"status_id": 42}, "status_id"),
    ({"lines": [{"sku": "NOPE-1", "quantity": 1}]}, "lines[0].sku"),
    ({"lines": [{"sku": "KT-5001", "quantity": 0}]}, "lines[0].quantity"),
    ({"lines": [{"sku": "KT-5001"}, {"sku": "kt-5001"}]}, "lines[1].sku"),
    ({"shipping_cost": "4.999"}, "shipping_cost"),
    ({"shipping_cost": "-1"}, "shipping_cost"),
    ({"fees": [{"name": "x", "amount": "abc"}]}, "fees[0].amount"),
    ({"fees": [{"amount": "1.00"}]}, "fees[0].name"),
    ({"fees": [{"name": "x", "amount": "1.00", "id": 999}]}, "fees[0].id"),
    ({"billing_address": {"planet": "Mars"}}, "billing_address.planet"),
    ({"status_id": 2, "capture_difference": "yes"}, "capture_difference"),
])
def test_bad_edits_are_400_naming_the_field_and_change_nothing(sim: BigCommerceSim, body: dict[str, Any],
                                                               field: str) -> None:
    oid = create(sim, lines=[{"sku": "KT-5001", "quantity": 1}])["id"]
    before = raw(sim, oid)
    reply, events = fired(sim, oid, lambda: control(sim, "PUT", f"orders/{oid}", body))
    assert reply.status == 400 and field in reply.json()["error"], reply.body
    assert events == [] and raw(sim, oid) == before


def test_edit_of_an_unknown_order_is_404(sim: BigCommerceSim) -> None:
    assert control(sim, "PUT", "orders/99999999", {"status_id": 2}).status == 404


# -- 2. cancel -----------------------------------------------------------------------------------
def test_cancel_keeps_captured_money_and_a_refund_after_cancel_works(sim: BigCommerceSim,
                                                                     contract: Callable[..., None]) -> None:
    order = create(sim, lines=[{"sku": "AP-4001-M", "quantity": 2}])
    oid, total = order["id"], Decimal(order["total_inc_tax"])
    before = raw(sim, oid)
    reply, events = fired(sim, oid, lambda: control(sim, "POST", f"orders/{oid}/cancel"))
    assert reply.status == 200 and reply.json()["status_id"] == 5
    contract("orders.v2.oas2.yml", f"/v2/orders/{oid}{FULL}", reply)
    assert scopes(events) == ["store/order/updated", "store/order/statusUpdated"]
    assert events[1][1]["status"] == {"previous_status_id": 11, "new_status_id": 5}
    after = raw(sim, oid)
    assert after["transactions"] == before["transactions"] and Decimal(after["captured"]) == total
    assert reply.json()["payment_status"] == "captured"
    assert control(sim, "POST", f"orders/{oid}/cancel").status == 422  # already cancelled

    too_much = control(sim, "POST", f"orders/{oid}/refunds", {"amount": str(total + Decimal("0.01"))})
    assert too_much.status == 422 and "exceeds" in too_much.json()["error"]
    refund, events = fired(sim, oid, lambda: control(sim, "POST", f"orders/{oid}/refunds", {}))
    assert refund.status == 201 and Decimal(str(refund.json()["data"]["total_amount"])) == total
    assert scopes(events) == ["store/order/refund/created", "store/order/updated", "store/order/statusUpdated",
                              "store/order/transaction/created"]
    contract("orders.v3.yml", f"/v3/orders/{oid}/payment_actions/refunds",
             v2(sim, f"/v3/orders/{oid}/payment_actions/refunds"))
    assert control(sim, "POST", f"orders/{oid}/refunds", {"amount": "0.01"}).status == 422  # nothing left


def test_cancel_voids_an_open_authorization(sim: BigCommerceSim, contract: Callable[..., None]) -> None:
    order = create(sim, lines=[{"sku": "GD-3003", "quantity": 1}], status_id=7, authorize_only=True)
    oid = order["id"]
    assert order["payment_status"] == "authorized"
    auth = raw(sim, oid)["transactions"][-1]
    assert auth["event"] == "authorization" and Decimal(auth["amount"]) == Decimal(order["total_inc_tax"])
    reply, events = fired(sim, oid, lambda: control(sim, "POST", f"orders/{oid}/cancel"))
    assert reply.status == 200 and reply.json()["payment_status"] == "void"
    void = raw(sim, oid)["transactions"][-1]
    assert void["event"] == "void" and void["reference_transaction_id"] == auth["id"]
    assert void["amount"] == auth["amount"]
    assert scopes(events) == ["store/order/updated", "store/order/statusUpdated", "store/order/transaction/created"]
    after = raw(sim, oid)
    assert Decimal(after["captured"]) == Decimal(after["authorized_open"]) == 0
    assert control(sim, "POST", f"orders/{oid}/refunds", {}).status == 422  # nothing was ever captured
    contract("orders.v3.yml", f"/v3/orders/{oid}/transactions", v2(sim, f"/v3/orders/{oid}/transactions"))


# -- 3. archive / restore ------------------------------------------------------------------------
def _listed(sim: BigCommerceSim, oid: int, extra: str = "") -> bool:
    reply = api(sim, "GET", f"/v2/orders?min_id={oid}&max_id={oid}{extra}")
    return reply.status == 200 and [o["id"] for o in reply.json()] == [oid]


def test_archive_by_delete_hides_from_the_listing_and_restore_brings_it_back(
        sim: BigCommerceSim, contract: Callable[..., None]) -> None:
    oid = create(sim, lines=[{"sku": "HW-1002", "quantity": 1}])["id"]
    before = raw(sim, oid)
    counted = sum(s["count"] for s in api(sim, "GET", "/v2/orders/count").json()["statuses"])
    reply, events = fired(sim, oid, lambda: api(sim, "DELETE", f"/v2/orders/{oid}"))
    assert reply.status == 204 and reply.body == b""
    contract("orders.v2.oas2.yml", f"/v2/orders/{oid}", reply, method="delete")
    assert scopes(events) == ["store/order/archived"]
    shown = v2(sim, f"/v2/orders/{oid}")
    contract("orders.v2.oas2.yml", f"/v2/orders/{oid}", shown)
    assert shown.json()["is_deleted"] is True
    assert not _listed(sim, oid) and _listed(sim, oid, "&is_deleted=true")
    assert sum(s["count"] for s in api(sim, "GET", "/v2/orders/count").json()["statuses"]) == counted - 1
    again, events = fired(sim, oid, lambda: api(sim, "DELETE", f"/v2/orders/{oid}"))
    assert again.status == 204 and events == []  # already archived: nothing happens
    after = raw(sim, oid)
    assert after["is_deleted"] is True and after["transactions"] == before["transactions"]

    restored, events = fired(sim, oid, lambda: control(sim, "POST", f"orders/{oid}/restore"))
    assert restored.status == 200 and restored.json()["is_deleted"] is False
    assert scopes(events) == ["store/order/updated"] and _listed(sim, oid)
    assert api(sim, "GET", "/v2/orders?is_deleted=maybe").status == 400


def test_archive_and_restore_through_put_and_the_control_api(sim: BigCommerceSim,
                                                             contract: Callable[..., None]) -> None:
    oid = create(sim, lines=[{"sku": "HW-1003", "quantity": 2}])["id"]
    put, events = fired(sim, oid, lambda: api(sim, "PUT", f"/v2/orders/{oid}", {"is_deleted": True}))
    assert put.status == 200 and put.json()["is_deleted"] is True
    contract("orders.v2.oas2.yml", f"/v2/orders/{oid}", put, method="put")
    assert scopes(events) == ["store/order/archived"]
    back, events = fired(sim, oid, lambda: api(sim, "PUT", f"/v2/orders/{oid}", {"is_deleted": False}))
    assert back.json()["is_deleted"] is False and scopes(events) == ["store/order/updated"]
    archived, events = fired(sim, oid, lambda: control(sim, "POST", f"orders/{oid}/archive"))
    assert archived.status == 200 and archived.json()["is_deleted"] is True
    assert scopes(events) == ["store/order/archived"]
    refused = api(sim, "PUT", f"/v2/orders/{oid}", {"customer_message": "hi"})
    assert refused.status == 400 and "customer_message" in refused.json()[0]["message"]
    assert api(sim, "PUT", f"/v2/orders/{oid}", {"is_deleted": "yes"}).status == 400
    assert api(sim, "DELETE", "/v2/orders/99999999").status == 404


# -- 4. fees -------------------------------------------------------------------------------------
def test_fees_are_priced_taxed_rendered_on_request_and_refundable(sim: BigCommerceSim,
                                                                  contract: Callable[..., None]) -> None:
    order = create(sim, lines=[{"sku": "KT-5002", "quantity": 1}],
                   fees=[{"name": "Packaging", "amount": "4.00"}, {"name": "Donation", "amount": "2.00", "taxable": False}])
    oid = order["id"]
    truth = raw(sim, oid)
    packaging, donation = truth["fees"]
    assert Decimal(packaging["cost_tax"]) == us_tax(Decimal("4.00")) and Decimal(donation["cost_tax"]) == 0
    fee_rows = [t for t in truth["taxes"] if t["fee_id"] == packaging["id"]]
    assert {t["line_item_type"] for t in fee_rows} == {"handling"}
    assert sum((Decimal(t["amount"]) for t in fee_rows), Decimal(0)) == Decimal(packaging["cost_tax"])
    goods = Decimal(truth["subtotal_ex_tax"])
    assert Decimal(truth["total_ex_tax"]) == goods + Decimal(truth["shipping_ex_tax"]) + Decimal("6.00")
    assert Decimal(truth["total_tax"]) == sum((Decimal(t["amount"]) for t in truth["taxes"]), Decimal(0))

    assert "fees" not in v2(sim, f"/v2/orders/{oid}").json()
    included = v2(sim, f"/v2/orders/{oid}?include=fees")
    contract("orders.v2.oas2.yml", f"/v2/orders/{oid}?include=fees", included)
    assert [f["cost_inc_tax"] for f in included.json()["fees"]] == [
        f"{Decimal('4.00') + us_tax(Decimal('4.00')):.4f}", "2.0000"]
    listed = v2(sim, f"/v2/orders?min_id={oid}&max_id={oid}&include=fees")
    contract("orders.v2.oas2.yml", f"/v2/orders?min_id={oid}&max_id={oid}&include=fees", listed)
    assert listed.json()[0]["fees"] == included.json()["fees"]
    fees = v2(sim, f"/v2/orders/{oid}/fees")
    contract("orders.v2.oas2.yml", f"/v2/orders/{oid}/fees", fees)
    assert fees.json() == {"fees": included.json()["fees"]}

    whole = Decimal(packaging["cost_ex_tax"]) + Decimal(packaging["cost_tax"])
    part = control(sim, "POST", f"orders/{oid}/refunds",
                   {"items": [{"item_type": "FEE", "item_id": packaging["id"], "amount": "1.00"}]})
    assert part.status == 201, part.body
    part_body = part.json()["data"]
    assert part_body["total_amount"] == 1.0 and part_body["items"][0]["requested_amount"] == 1.0
    assert Decimal(str(part_body["total_tax"])) == money(Decimal(packaging["cost_tax"]) / whole)
    rest = control(sim, "POST", f"orders/{oid}/refunds", {"items": [{"item_type": "FEE", "item_id": packaging["id"]}]})
    assert rest.status == 201 and Decimal(str(rest.json()["data"]["total_amount"])) == whole - Decimal("1.00")
    assert Decimal(str(rest.json()["data"]["total_tax"])) + Decimal(str(part_body["total_tax"])) == Decimal(packaging["cost_tax"])
    contract("orders.v3.yml", f"/v3/orders/{oid}/payment_actions/refunds",
             v2(sim, f"/v3/orders/{oid}/payment_actions/refunds"))
    spent = control(sim, "POST", f"orders/{oid}/refunds", {"items": [{"item_type": "FEE", "item_id": packaging["id"]}]})
    assert spent.status == 422 and "nothing left" in spent.json()["error"]
    unknown = control(sim, "POST", f"orders/{oid}/refunds", {"items": [{"item_type": "FEE", "item_id": 424242}]})
    assert unknown.status == 422


# -- 5. gift certificates ------------------------------------------------------------------------
def test_gift_certificates_sold_as_lines_and_redeemed_as_tenders(sim: BigCommerceSim,
                                                                 contract: Callable[..., None]) -> None:
    customer = next(iter(sim.store.customers))
    order = create(sim, customer_id=customer, lines=[{"sku": "KT-5003", "quantity": 1}],
                   gift_certificates=[{"amount": "50.00", "recipient_email": "x@example.com"}],
                   pay_with_gift_certificate="25.00", pay_with_store_credit="10.00")
    oid = order["id"]
    contract("orders.v2.oas2.yml", f"/v2/orders/{oid}{FULL}", v2(sim, f"/v2/orders/{oid}{FULL}"))
    (consignment,) = order["consignments"]["email"]["gift_certificates"]
    (gift,) = consignment["line_items"]
    assert consignment["recipient_email"] == "x@example.com"
    assert gift["type"] == "giftcertificate" and gift["sku"] == "" and gift["name"] == "$50 Gift Certificate"
    assert gift["total_tax"] == "0.0000" and gift["total_inc_tax"] == "50.0000"
    assert [li["sku"] for li in order["consignments"]["shipping"][0]["line_items"]] == ["KT-5003"]
    products = v2(sim, f"/v2/orders/{oid}/products")
    contract("orders.v2.oas2.yml", f"/v2/orders/{oid}/products", products)
    assert [p["type"] for p in products.json()] == ["physical", "giftcertificate"]
    truth = raw(sim, oid)
    assert not [t for t in truth["taxes"] if t["order_product_id"] == gift["id"]]
    tenders = {t["method"]: Decimal(t["amount"]) for t in truth["transactions"] if t["event"] == "purchase"}
    assert tenders["gift_certificate"] == Decimal("25.00") and tenders["store_credit"] == Decimal("10.00")
    assert sum(tenders.values(), Decimal(0)) == Decimal(truth["total_inc_tax"])

    refund = control(sim, "POST", f"orders/{oid}/refunds",
                     {"items": [{"item_type": "PRODUCT", "item_id": gift["id"], "quantity": 1}]})
    assert refund.status == 201, refund.body
    assert refund.json()["data"]["total_amount"] == 50.0 and refund.json()["data"]["total_tax"] == 0.0


def test_a_gift_certificate_only_order_ships_nothing(sim: BigCommerceSim, contract: Callable[..., None]) -> None:
    order = create(sim, lines=[], gift_certificates=[{"amount": "20.00", "recipient_email": "a@example.com"},
                                                      {"amount": "30.00", "recipient_email": "b@example.com"}])
    oid = order["id"]
    assert order["total_inc_tax"] == "50.0000" and order["total_tax"] == "0.0000" and order["order_is_digital"]
    assert order["consignments"]["shipping"] == []
    assert [c["recipient_email"] for c in order["consignments"]["email"]["gift_certificates"]] == [
        "a@example.com", "b@example.com"]
    contract("orders.v2.oas2.yml", f"/v2/orders/{oid}{FULL}", v2(sim, f"/v2/orders/{oid}{FULL}"))


@pytest.mark.parametrize(("body", "field"), [
    ({"gift_certificates": [{"amount": "50.00", "recipient_email": "nobody"}]}, "gift_certificates[0].recipient_email"),
    ({"gift_certificates": [{"amount": "0", "recipient_email": "x@example.com"}]}, "gift_certificates[0].amount"),
    ({"pay_with_store_credit": "5.00", "customer_id": 0}, "pay_with_store_credit"),
    ({"pay_with_gift_certificate": "1.001"}, "pay_with_gift_certificate"),
    ({"fees": [{"name": "x", "amount": "1.00", "taxable": "no"}]}, "fees[0].taxable"),
    ({"currency": "XYZ"}, "currency"),
    ({"authorize_only": True, "status_id": 11}, "authorize_only"),
])
def test_bad_creates_are_400_naming_the_field(sim: BigCommerceSim, body: dict[str, Any], field: str) -> None:
    reply = control(sim, "POST", "orders", {"lines": [{"sku": "KT-5001", "quantity": 1}], "customer_id": 0, **body})
    assert reply.status == 400 and field in reply.json()["error"], reply.body


# -- 6. currencies -------------------------------------------------------------------------------
@pytest.mark.parametrize(("currency", "exponent", "rate"), [("JPY", 0, "149.5000000000"), ("KWD", 3, "0.3075000000")])
def test_every_amount_is_at_the_currency_minor_unit(sim: BigCommerceSim, contract: Callable[..., None],
                                                    currency: str, exponent: int, rate: str) -> None:
    step = Decimal(1).scaleb(-exponent)
    order = create(sim, currency=currency, lines=[{"sku": "AP-4002-L", "quantity": 3}, {"sku": "GD-3004", "quantity": 1}],
                   fees=[{"name": "Insurance", "amount": str(step * 777)}])
    oid = order["id"]
    assert order["currency_code"] == order["default_currency_code"] == currency
    assert order["store_default_to_transactional_exchange_rate"] == rate
    contract("orders.v2.oas2.yml", f"/v2/orders/{oid}{FULL}", v2(sim, f"/v2/orders/{oid}{FULL}"))
    truth = raw(sim, oid)
    assert truth["minor_unit"] == str(step)
    line = next(li for li in truth["lines"] if li["sku"] == "AP-4002-L")
    assert Decimal(line["price_ex_tax"]) == money(unit_price(sim, "AP-4002-L") * Decimal(rate), exponent)
    amounts = [truth[k] for k in ("total_inc_tax", "total_tax", "shipping_ex_tax", "shipping_tax", "fees_tax")]
    amounts += [t["amount"] for t in truth["taxes"]] + [t["amount"] for t in truth["transactions"]]
    amounts += [li[k] for li in truth["lines"] for k in ("price_ex_tax", "total_tax", "discount")]
    assert all(Decimal(a) == money(Decimal(a), exponent) for a in amounts), amounts
    rates = (JP_RATE,) if currency == "JPY" else US_RATES
    for tax in truth["taxes"]:
        assert Decimal(tax["rate"]) in rates
    for key in ("total_inc_tax", "total_tax", "subtotal_ex_tax", "shipping_cost_ex_tax"):
        assert len(order[key].split(".")[1]) == 4  # v2 money stays a 4-dp string whatever the currency

    one = control(sim, "POST", f"orders/{oid}/refunds",
                  {"items": [{"item_type": "PRODUCT", "item_id": line["id"], "quantity": 1}]})
    assert one.status == 201, one.body
    expected = money((Decimal(line["total_ex_tax"]) - Decimal(line["discount"]) + Decimal(line["total_tax"])) / 3,
                     exponent)
    assert Decimal(str(one.json()["data"]["total_amount"])) == expected
    assert Decimal(str(one.json()["data"]["total_tax"])) == money(Decimal(line["total_tax"]) / 3, exponent)
    contract("orders.v3.yml", f"/v3/orders/{oid}/payment_actions/refunds",
             v2(sim, f"/v3/orders/{oid}/payment_actions/refunds"))
    too_fine = control(sim, "POST", f"orders/{oid}/refunds", {"amount": str(step / 2)})
    assert too_fine.status == 422 and currency in too_fine.json()["error"]
    exact = control(sim, "POST", f"orders/{oid}/refunds", {"amount": str(step * 3)})
    assert exact.status == 201 and Decimal(str(exact.json()["data"]["total_amount"])) == step * 3
    refunded = [Decimal(t["amount"]) for t in raw(sim, oid)["transactions"] if t["event"] == "refund"]
    assert sum(refunded, Decimal(0)) == expected + step * 3


# -- 7. capture and void -------------------------------------------------------------------------
def test_partial_then_full_capture_moves_the_status_only_when_fully_captured(
        sim: BigCommerceSim, contract: Callable[..., None]) -> None:
    order = create(sim, lines=[{"sku": "TL-2003", "quantity": 2}], authorize_only=True, status_id=7, currency="KWD")
    oid, total = order["id"], Decimal(order["total_inc_tax"])
    assert order["status_id"] == 7
    part, events = fired(sim, oid, lambda: control(sim, "POST", f"orders/{oid}/capture", {"amount": "1.250"}))
    assert part.status == 201 and [t["event"] for t in part.json()["data"]] == ["capture"]
    assert part.json()["data"][0]["amount"] == 1.25 and v2(sim, f"/v2/orders/{oid}").json()["status_id"] == 7
    assert scopes(events) == ["store/order/transaction/created"]
    assert control(sim, "POST", f"orders/{oid}/capture", {"amount": "1.2345"}).status == 400
    over = control(sim, "POST", f"orders/{oid}/capture", {"amount": str(total)})
    assert over.status == 422 and "still authorized" in over.json()["error"]
    rest, events = fired(sim, oid, lambda: control(sim, "POST", f"orders/{oid}/capture", {}))
    assert rest.status == 201 and Decimal(str(rest.json()["data"][0]["amount"])) == total - Decimal("1.250")
    assert scopes(events) == ["store/order/updated", "store/order/statusUpdated", "store/order/transaction/created"]
    assert events[1][1]["status"] == {"previous_status_id": 7, "new_status_id": 11}
    truth = raw(sim, oid)
    assert Decimal(truth["captured"]) == total and Decimal(truth["authorized_open"]) == 0
    contract("orders.v3.yml", f"/v3/orders/{oid}/transactions", v2(sim, f"/v3/orders/{oid}/transactions"))
    assert control(sim, "POST", f"orders/{oid}/capture", {}).status == 422  # nothing left authorized


def test_void_returns_the_latest_capture(sim: BigCommerceSim, contract: Callable[..., None]) -> None:
    order = create(sim, lines=[{"sku": "HW-1004", "quantity": 1}])
    oid, total = order["id"], Decimal(order["total_inc_tax"])
    purchase = raw(sim, oid)["transactions"][-1]
    reply, events = fired(sim, oid, lambda: control(sim, "POST", f"orders/{oid}/void"))
    assert reply.status == 201, reply.body
    (void,) = reply.json()["data"]
    assert void["event"] == "void" and void["reference_transaction_id"] == purchase["id"] and void["amount"] == float(total)
    assert scopes(events) == ["store/order/updated", "store/order/statusUpdated", "store/order/transaction/created"]
    assert events[2][1]["transaction_type"] == "void" and events[2][1]["order_id"] == str(oid)
    truth = raw(sim, oid)
    assert Decimal(truth["captured"]) == 0 and truth["status_id"] == 7
    contract("orders.v3.yml", f"/v3/orders/{oid}/transactions", v2(sim, f"/v3/orders/{oid}/transactions"))
    assert control(sim, "POST", f"orders/{oid}/void").status == 422  # no capture left
    assert control(sim, "POST", f"orders/{oid}/refunds", {}).status == 422  # and nothing to refund
    paid_again, events = fired(sim, oid, lambda: control(sim, "PUT", f"orders/{oid}", {"status_id": 11}))
    assert paid_again.status == 200 and Decimal(raw(sim, oid)["captured"]) == total
    assert "store/order/transaction/created" in scopes(events)


def test_void_cannot_return_money_already_refunded(sim: BigCommerceSim) -> None:
    order = create(sim, lines=[{"sku": "HW-1005", "quantity": 1}])
    oid = order["id"]
    assert control(sim, "POST", f"orders/{oid}/refunds", {"amount": "1.00"}).status == 201
    refused = control(sim, "POST", f"orders/{oid}/void")
    assert refused.status == 422 and "refundable" in refused.json()["error"]


def test_v3_payment_actions_capture_and_void(sim: BigCommerceSim, contract: Callable[..., None]) -> None:
    captured = create(sim, lines=[{"sku": "GD-3005", "quantity": 1}], authorize_only=True, status_id=7)
    oid = captured["id"]
    reply, events = fired(sim, oid, lambda: api(sim, "POST", f"/v3/orders/{oid}/payment_actions/capture", {}))
    assert reply.status == 201, reply.body
    contract("orders.v3.yml", f"/v3/orders/{oid}/payment_actions/capture", reply, method="post")
    assert v2(sim, f"/v2/orders/{oid}").json()["status_id"] == 11 and "store/order/transaction/created" in scopes(events)
    refused = api(sim, "POST", f"/v3/orders/{oid}/payment_actions/void", {})
    assert refused.status == 422 and refused.json()["status"] == 422

    held = create(sim, lines=[{"sku": "GD-3006", "quantity": 1}], authorize_only=True, status_id=7)
    hid = held["id"]
    voided = api(sim, "POST", f"/v3/orders/{hid}/payment_actions/void", {})
    assert voided.status == 201 and Decimal(raw(sim, hid)["authorized_open"]) == 0
    assert api(sim, "POST", "/v3/orders/99999999/payment_actions/capture", {}).status == 404


# -- 9. the raw truth adds up --------------------------------------------------------------------
def test_state_exposes_enough_for_an_independent_trial_balance(sim: BigCommerceSim) -> None:
    """Every order (seeded and made above): amounts, tax rows, captures net of voids and refunds
    reconcile from the raw records alone."""
    state = control(sim, "GET", "state").json()
    made = [o for o in state["orders"] if o["fees"] or o["is_deleted"] or o["currency"] in ("JPY", "KWD")
            or any(li["type"] == "giftcertificate" for li in o["lines"])]
    assert made, "the tests above should have left lifecycle orders behind"
    for o in state["orders"]:
        d = {k: Decimal(o[k]) for k in ("shipping_ex_tax", "shipping_tax", "handling_ex_tax", "handling_tax",
                                        "discount_amount", "total_inc_tax", "total_tax", "captured", "refunded")}
        goods = sum((Decimal(li["price_ex_tax"]) * li["quantity"] for li in o["lines"]), Decimal(0))
        wrapping = sum((Decimal(li["wrapping_ex_tax"]) + Decimal(li["wrapping_tax"]) for li in o["lines"]), Decimal(0))
        line_tax = sum((Decimal(li["total_tax"]) for li in o["lines"]), Decimal(0))
        fees = sum((Decimal(f["cost_ex_tax"]) + Decimal(f["cost_tax"]) for f in o["fees"]), Decimal(0))
        coupons = sum((Decimal(c["discount"]) for c in o["coupons"]), Decimal(0))
        assert sum((Decimal(t["amount"]) for t in o["taxes"]), Decimal(0)) == d["total_tax"], o["id"]
        assert (goods + line_tax + wrapping + d["shipping_ex_tax"] + d["shipping_tax"] + d["handling_ex_tax"]
                + d["handling_tax"] + fees - d["discount_amount"] - coupons) == d["total_inc_tax"], o["id"]
        ok = [t for t in o["transactions"] if t["status"] == "ok"]
        voided = {t["reference_transaction_id"] for t in ok if t["event"] == "void"}
        captures = sum((Decimal(t["amount"]) for t in ok if t["event"] in ("purchase", "capture")
                        and t["id"] not in voided), Decimal(0))
        refunds = sum((Decimal(t["amount"]) for t in ok if t["event"] == "refund"), Decimal(0))
        assert captures == d["captured"] and refunds == d["refunded"] <= d["captured"], o["id"]
        assert {li["type"] for li in o["lines"]} <= {"physical", "giftcertificate"}
