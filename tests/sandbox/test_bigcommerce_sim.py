"""The BigCommerce simulator against its public contract and its own accounting truth.

Expectations are computed from the raw store (``sim.store``) or from first principles, never
from the rendered JSON the hook under test also reads; contract checks use the official specs.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from ml_connector.settings import specs_dir
from standardwebhooks import Webhook

from sandbox.bigcommerce.data import generate
from sandbox.bigcommerce.model import CAPTURED_STATUSES, ZERO, Order, cents
from sandbox.bigcommerce.ratelimit import FixedWindowLimiter
from sandbox.bigcommerce.server import BigCommerceSim
from sandbox.bigcommerce.webhooks import sign
from tests.conftest import require

TOKEN = "bc-sandbox-token"
SECRET = "bc-sandbox-secret"
RATE_HEADERS = ("X-Rate-Limit-Time-Window-Ms", "X-Rate-Limit-Time-Reset-Ms", "X-Rate-Limit-Requests-Quota",
                "X-Rate-Limit-Requests-Left")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(base: str, method: str, path: str, body: Any = None, *, token: str | None = TOKEN,
         content_type: str | None = "application/json") -> Reply:
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["X-Auth-Token"] = token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        if content_type:
            headers["Content-Type"] = content_type
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)  # noqa: S310 - local sim
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - 127.0.0.1 only
            return Reply(resp.status, dict(resp.headers.items()), resp.read())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, dict(exc.headers.items()), exc.read())


def api(sim: BigCommerceSim, method: str, path: str, body: Any = None, **kw: Any) -> Reply:
    return call(sim.base_url, method, f"/stores/{sim.store_hash}{path}", body, **kw)


def wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


@pytest.fixture(scope="module")
def sim() -> Iterator[BigCommerceSim]:
    server = BigCommerceSim(seed=7, orders=700, quota=1_000_000, allow_http_destinations=True)
    server.start()
    yield server
    server.stop()


# -- determinism and the accounting truth --------------------------------------------------
def test_same_seed_gives_byte_identical_responses_and_another_seed_differs() -> None:
    paths = ["/v2/orders?limit=250", "/v2/orders/120/products", "/v3/orders/payment_actions/refunds?limit=250",
             "/v3/customers?include=addresses", "/v3/orders/105/transactions"]
    sims = [BigCommerceSim(seed=seed, orders=260) for seed in (11, 11, 12)]
    try:
        for s in sims:
            s.start()
        # resource links carry the simulator's own address; only the port may differ between runs
        first, same, other = ([api(s, "GET", p).body.replace(s.base_url.encode(), b"SIM") for p in paths]
                              for s in sims)
    finally:
        for s in sims:
            s.stop()
    assert first == same
    assert first[0] != other[0]


def _money(text: str) -> Decimal:
    assert len(text.split(".")[1]) == 4, f"v2 money must have 4 decimals: {text!r}"
    return Decimal(text)


def test_every_order_satisfies_the_amount_identities() -> None:
    data = generate(seed=3, orders=3000)
    refunded_orders = 0
    for order in data.orders:
        lines_total = sum((line.price_ex_tax * line.quantity for line in order.lines), ZERO)
        assert order.subtotal_ex_tax == lines_total
        discounts = order.discount_amount + order.coupon_discount
        assert sum((line.discount for line in order.lines), ZERO) == discounts
        assert sum((t.amount for t in order.taxes), ZERO) == order.total_tax
        expected = (order.subtotal_ex_tax + order.shipping_ex_tax + order.handling_ex_tax + order.wrapping_ex_tax
                    - discounts + order.total_tax)
        assert expected == order.total_inc_tax
        assert order.gift_certificate_amount + order.store_credit_amount <= order.total_inc_tax
        for amount in (order.total_inc_tax, order.total_tax, order.subtotal_ex_tax, *[t.amount for t in order.taxes]):
            assert amount == amount.quantize(Decimal("0.01"))
        if order.status_id in CAPTURED_STATUSES:
            assert order.captured == order.total_inc_tax, order.id
            by_method = {t.method for t in order.transactions if t.captures_money}
            assert ("gift_certificate" in by_method) == (order.gift_certificate_amount > 0)
            assert ("store_credit" in by_method) == (order.store_credit_amount > 0)
        else:
            assert order.captured == ZERO and not order.refunds
        _check_refunds(order)
        refunded_orders += bool(order.refunds)
    assert refunded_orders > 50
    assert {o.status_id for o in data.orders} >= {0, 2, 3, 4, 5, 7, 8, 9, 10, 11, 14}
    assert any(len(o.lines) > 50 for o in data.orders)
    assert {o.currency for o in data.orders} == {"USD", "EUR", "CAD"}
    assert sum(o.customer_id == 0 for o in data.orders) > 300
    gateways = {t.gateway for o in data.orders for t in o.transactions}
    assert gateways >= {"stripe", "braintree", "paypalexpress", "authorizenet", "square", "testgateway",
                        "giftcertificate", "storecredit"}


def _check_refunds(order: Order) -> None:
    running = ZERO
    for refund in order.refunds:
        assert sum((p.amount for p in refund.payments), ZERO) == sum((i.amount for i in refund.items), ZERO)
        running += refund.total_amount
        assert running <= order.captured
    refund_txns = sum((t.amount for t in order.transactions if t.event == "refund"), ZERO)
    assert refund_txns == order.refunded
    if order.refunds:
        assert order.status_id == (4 if order.refunded == order.captured else 14)
    for line in order.lines:
        assert 0 <= line.quantity_refunded <= line.quantity


def test_rendered_v2_order_matches_the_raw_store(sim: BigCommerceSim) -> None:
    for order in list(sim.store.orders.values())[:40]:
        body = api(sim, "GET", f"/v2/orders/{order.id}").json()
        assert _money(body["total_inc_tax"]) == order.total_inc_tax
        assert (_money(body["subtotal_ex_tax"]) + _money(body["shipping_cost_ex_tax"])
                + _money(body["handling_cost_ex_tax"]) + _money(body["wrapping_cost_ex_tax"])
                - _money(body["discount_amount"]) - _money(body["coupon_discount"]) + _money(body["total_tax"])
                ) == _money(body["total_inc_tax"])
        assert body["date_created"].endswith(" +0000")
        assert dt.datetime.strptime(body["date_modified"], "%a, %d %b %Y %H:%M:%S %z") == order.date_modified
        assert body["products"]["resource"] == f"/orders/{order.id}/products"
        assert "consignments" not in body


# -- auth and errors ------------------------------------------------------------------------
def test_auth_errors_use_the_v2_and_v3_shapes(sim: BigCommerceSim) -> None:
    v2 = api(sim, "GET", "/v2/orders", token=None)
    assert v2.status == 401 and isinstance(v2.json(), list) and v2.json()[0]["status"] == 401
    v3 = api(sim, "GET", "/v3/customers", token="wrong")
    assert v3.status == 401 and v3.json()["status"] == 401 and "title" in v3.json() and "type" in v3.json()
    other_store = call(sim.base_url, "GET", "/stores/nosuchstore/v2/orders")
    assert other_store.status == 404 and other_store.json()[0]["status"] == 404
    missing = api(sim, "GET", "/v2/orders/99999999")
    assert missing.status == 404 and missing.json() == [{"status": 404, "message": "The requested resource was not found."}]
    assert api(sim, "GET", "/v3/orders/99999999/transactions").status == 404


def test_body_without_json_content_type_is_415(sim: BigCommerceSim) -> None:
    reply = api(sim, "PUT", "/v3/catalog/products", [{"id": 101, "price": 1}], content_type="text/plain")
    assert reply.status == 415 and reply.json()["status"] == 415


# -- paging, filters, include ----------------------------------------------------------------
def test_v2_orders_page_until_204_and_clamp_the_limit(sim: BigCommerceSim) -> None:
    seen, page = [], 1
    while True:
        reply = api(sim, "GET", f"/v2/orders?limit=100&page={page}")
        if reply.status == 204:
            assert reply.body == b""
            break
        assert reply.status == 200
        seen += [o["id"] for o in reply.json()]
        page += 1
    assert seen == sorted(sim.store.orders)
    assert len(api(sim, "GET", "/v2/orders?limit=1000").json()) == 250
    assert api(sim, "GET", "/v2/orders?limit=abc").status == 400


def test_min_date_modified_accepts_rfc2822_and_iso_and_sorts(sim: BigCommerceSim) -> None:
    orders = sorted(sim.store.orders.values(), key=lambda o: (o.date_modified, o.id))
    pivot = orders[len(orders) // 2].date_modified
    expected = [o.id for o in orders if o.date_modified >= pivot][:250]
    rfc = quote(pivot.strftime("%a, %d %b %Y %H:%M:%S +0000"))
    iso = quote(pivot.isoformat())
    for value in (rfc, iso):
        reply = api(sim, "GET", f"/v2/orders?min_date_modified={value}&sort=date_modified:asc&limit=250")
        assert [o["id"] for o in reply.json()] == expected
    assert api(sim, "GET", "/v2/orders?min_date_modified=yesterday").status == 400
    paid = api(sim, "GET", "/v2/orders?status_id=11&limit=250").json()
    assert {o["status_id"] for o in paid} == {11}


def test_include_line_items_caps_at_50_with_a_warning(sim: BigCommerceSim) -> None:
    big = next(o for o in sim.store.orders.values() if len(o.lines) > 50)
    body = api(sim, "GET", f"/v2/orders/{big.id}?include=consignments.line_items&consignment_structure=object").json()
    shipping = body["consignments"]["shipping"][0]
    assert len(shipping["line_items"]) == 50
    assert "Not all line items" in shipping["__warning__"]["message"]
    small = next(o for o in sim.store.orders.values() if len(o.lines) < 50)
    listed = api(sim, "GET", f"/v2/orders?min_id={small.id}&max_id={small.id}&include=consignments.line_items").json()
    assert len(listed[0]["consignments"]["shipping"][0]["line_items"]) == len(small.lines)
    assert "__warning__" not in listed[0]["consignments"]["shipping"][0]
    everything = api(sim, "GET", f"/v2/orders/{big.id}/products?limit=250").json()
    assert [p["id"] for p in everything] == [line.id for line in big.lines]


def test_v3_refunds_customers_and_catalog_filters(sim: BigCommerceSim) -> None:
    refunds = sim.store.refunds()
    cut = refunds[len(refunds) // 2].created
    reply = api(sim, "GET", f"/v3/orders/payment_actions/refunds?created:min={quote(cut.isoformat())}&limit=250").json()
    assert [r["id"] for r in reply["data"]] == [r.id for r in refunds if r.created >= cut]
    assert reply["meta"]["pagination"]["total"] == len(reply["data"])
    customers = api(sim, "GET", "/v3/customers?id:in=1,2&include=addresses").json()["data"]
    assert [c["id"] for c in customers] == [1, 2] and customers[0]["addresses"]
    product = api(sim, "GET", "/v3/catalog/products?sku=hw-1001&include=variants").json()["data"]
    assert [p["sku"] for p in product] == ["HW-1001"] and product[0]["variants"][0]["sku"] == "HW-1001"
    variants = api(sim, "GET", "/v3/catalog/variants?sku=AP-4001-M").json()["data"]
    assert [v["sku"] for v in variants] == ["AP-4001-M"]
    order_without_payment = next(o for o in sim.store.orders.values() if not o.transactions)
    assert api(sim, "GET", f"/v3/orders/{order_without_payment.id}/transactions").status == 204


# -- rate limits and injected faults --------------------------------------------------------
def test_rate_limit_headers_429_and_runtime_reconfiguration() -> None:
    server = BigCommerceSim(orders=5, quota=3, window_ms=600_000)
    server.start()
    try:
        lefts = []
        for _ in range(3):
            reply = api(server, "GET", "/v2/orders/count")
            assert reply.status == 200 and all(h in reply.headers for h in RATE_HEADERS)
            lefts.append(int(reply.headers["X-Rate-Limit-Requests-Left"]))
        assert lefts == [2, 1, 0]
        limited = api(server, "GET", "/v3/customers")
        assert limited.status == 429 and limited.json()["status"] == 429
        assert limited.headers["X-Rate-Limit-Requests-Left"] == "0"
        assert 0 < int(limited.headers["X-Rate-Limit-Time-Reset-Ms"]) <= 600_000
        assert int(limited.headers["X-Retry-After"]) >= 1
        assert call(server.base_url, "GET", "/_sandbox/counters").json()["rate_limited"] == 1
        call(server.base_url, "POST", "/_sandbox/ratelimit", {"quota": 10, "window_ms": 30000})
        again = api(server, "GET", "/v2/orders/count")
        assert again.status == 200 and again.headers["X-Rate-Limit-Requests-Quota"] == "10"
    finally:
        server.stop()


def test_fixed_window_resets_after_the_window() -> None:
    now = [100.0]
    limiter = FixedWindowLimiter(quota=2, window_ms=30000, clock=lambda: now[0])
    assert [limiter.consume("s").allowed for _ in range(3)] == [True, True, False]
    now[0] += 10
    assert limiter.consume("s").reset_ms == 20000
    now[0] += 20
    fresh = limiter.consume("s")
    assert fresh.allowed and fresh.left == 1 and fresh.reset_ms == 30000


def test_injected_429_has_no_rate_limit_headers(sim: BigCommerceSim) -> None:
    fault = {"kind": "status", "status": 429, "count": 1, "path": "/v2/orders/count$",
             "body": json.dumps([{"status": 429, "message": "platform busy"}])}
    assert call(sim.base_url, "POST", "/_sandbox/faults", fault).status == 200
    try:
        busy = api(sim, "GET", "/v2/orders/count")
        assert busy.status == 429 and not any(h in busy.headers for h in RATE_HEADERS)
        normal = api(sim, "GET", "/v2/orders/count")
        assert normal.status == 200 and all(h in normal.headers for h in RATE_HEADERS)
    finally:
        call(sim.base_url, "DELETE", "/_sandbox/faults")


# -- catalog batches -------------------------------------------------------------------------
def test_catalog_batches_413_207_and_422(sim: BigCommerceSim) -> None:
    assert api(sim, "PUT", "/v3/catalog/products", [{"id": 101, "price": 1}] * 11).status == 413
    assert api(sim, "PUT", "/v3/catalog/variants", [{"id": 201, "price": 1}] * 51).status == 413
    partial = api(sim, "PUT", "/v3/catalog/products", [{"id": 102, "price": 12.34}, {"id": 103, "price": -1},
                                                       {"id": 999999, "price": 5}])
    assert partial.status == 207
    body = partial.json()
    assert [p["id"] for p in body["data"]] == [102] and body["data"][0]["price"] == 12.34
    assert set(body["errors"]["errors"]) == {"1", "2"}
    assert sim.store.products[102].price == Decimal("12.34") and sim.store.products[103].price >= 0
    rejected = api(sim, "PUT", "/v3/catalog/variants", [{"id": 202, "price": 9.5}, {"id": 203, "sku": "HW-1001"}])
    assert rejected.status == 422 and rejected.json()["batch_errors"][0]["instance"] == "/1"
    assert sim.store.variants[202].price != Decimal("9.50")  # all-or-nothing
    ok = api(sim, "PUT", "/v3/catalog/variants", [{"id": 202, "price": 9.5}])
    assert ok.status == 200 and sim.store.variants[202].price == Decimal("9.50")


# -- hooks CRUD ------------------------------------------------------------------------------
def test_hook_crud_and_validation() -> None:
    server = BigCommerceSim(orders=5)  # real rules: https only
    server.start()
    try:
        plain = api(server, "POST", "/v3/hooks", {"scope": "store/order/*", "destination": "http://example.com/h"})
        assert plain.status == 422 and "destination" in plain.json()["errors"]
        assert api(server, "POST", "/v3/hooks", {"destination": "https://example.com/h"}).json()["errors"] == {
            "scope": "error.path.missing."}
        created = api(server, "POST", "/v3/hooks", {"scope": "store/order/*", "destination": "https://example.com/h",
                                                    "headers": {"X-Secret": "s3"}})
        assert created.status == 200
        hook = created.json()["data"]
        assert hook["is_active"] is True and hook["headers"] == {"X-Secret": "s3"}
        assert isinstance(hook["created_at"], int) and hook["client_id"] == "bc-sandbox-client"
        duplicate = api(server, "POST", "/v3/hooks", {"scope": "store/order/*", "destination": "https://example.com/h"})
        assert duplicate.status == 422
        updated = api(server, "PUT", f"/v3/hooks/{hook['id']}", {"is_active": False})
        assert updated.json()["data"]["is_active"] is False
        listed = api(server, "GET", "/v3/hooks?is_active=false").json()["data"]
        assert [h["id"] for h in listed] == [hook["id"]]
        assert api(server, "DELETE", f"/v3/hooks/{hook['id']}").json()["data"]["id"] == hook["id"]
        assert api(server, "GET", f"/v3/hooks/{hook['id']}").status == 404
    finally:
        server.stop()


# -- webhook delivery ------------------------------------------------------------------------
@dataclass
class Receiver:
    """A local webhook endpoint answering from a script of status codes (then 200)."""

    script: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""
    _server: ThreadingHTTPServer | None = None

    def __enter__(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.script.pop(0) if receiver.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/bc"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()


def test_webhooks_are_signed_carry_custom_headers_and_retry_with_a_stable_id(sim: BigCommerceSim) -> None:
    with Receiver(script=[500]) as receiver:
        hook = api(sim, "POST", "/v3/hooks", {"scope": "store/order/*", "destination": receiver.url,
                                              "headers": {"X-Connector-Secret": "shh"}}).json()["data"]
        sim.webhooks.retry_factor = 0.001
        try:
            created = call(sim.base_url, "POST", "/_sandbox/orders",
                           {"lines": [{"sku": "TL-2002-18V", "quantity": 2}], "customer_id": 0, "status_id": 11})
            assert created.status == 201
            order_id = created.json()["id"]
            wait_for(lambda: len(receiver.received) >= 3)  # created (500, then retried) + statusUpdated
        finally:
            api(sim, "DELETE", f"/v3/hooks/{hook['id']}")
            sim.webhooks.retry_factor = 1.0
    verifier = Webhook(base64.b64encode(SECRET.encode()).decode())
    by_id: dict[str, list[dict[str, Any]]] = {}
    for headers, body in receiver.received:
        payload = verifier.verify(body, headers)
        assert headers["x-connector-secret"] == "shh" and headers["content-type"] == "application/json"
        by_id.setdefault(headers["webhook-id"], []).append(payload)
        core = {k: payload[k] for k in ("scope", "store_id", "data", "created_at", "producer")}
        assert payload["hash"] == hashlib.sha1(json.dumps(core, separators=(",", ":")).encode(), usedforsecurity=False).hexdigest()
        assert payload["producer"] == f"stores/{sim.store_hash}" and isinstance(payload["store_id"], str)
    scopes = sorted(p[0]["scope"] for p in by_id.values())
    assert scopes == ["store/order/created", "store/order/statusUpdated"]
    retried = [p for p in by_id.values() if len(p) > 1]  # whichever message met the scripted 500
    assert len(retried) == 1 and len(retried[0]) == 2 and retried[0][0] == retried[0][1]
    created = next(p for p in by_id.values() if p[0]["scope"] == "store/order/created")[0]
    assert created["data"] == {"type": "order", "id": order_id}
    status = next(p for p in by_id.values() if p[0]["scope"] == "store/order/statusUpdated")[0]
    assert status["data"]["status"] == {"previous_status_id": 0, "new_status_id": 11}


def test_signature_matches_standard_webhooks_reference() -> None:
    body = b'{"scope":"store/order/created"}'
    header = sign(SECRET, "msg_1", 1700000000, body)
    expected = Webhook(base64.b64encode(SECRET.encode()).decode()).sign("msg_1", dt.datetime.fromtimestamp(
        1700000000, tz=dt.UTC), body.decode())
    assert header == expected


def test_failing_hook_is_deactivated_after_the_failure_period() -> None:
    with socket.socket() as probe:  # a port nothing listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    server = BigCommerceSim(orders=5, allow_http_destinations=True, retry_factor=0.001, hook_deactivate_after=0.5,
                            delivery_timeout_s=2)
    server.start()
    try:
        hook = api(server, "POST", "/v3/hooks", {"scope": "store/customer/created",
                                                 "destination": f"http://127.0.0.1:{dead_port}/x"}).json()["data"]
        assert call(server.base_url, "POST", "/_sandbox/customers", {"first_name": "Ada"}).status == 201
        wait_for(lambda: api(server, "GET", f"/v3/hooks/{hook['id']}").json()["data"]["is_active"] is False)
        deliveries = call(server.base_url, "GET", "/_sandbox/deliveries").json()["deliveries"]
        assert len(deliveries) == 1 and deliveries[0]["state"] == "abandoned"
        assert len(deliveries[0]["attempts"]) >= 2 and all(a["status"] is None for a in deliveries[0]["attempts"])
        reactivated = api(server, "PUT", f"/v3/hooks/{hook['id']}", {"is_active": True}).json()["data"]
        assert reactivated["is_active"] is True
    finally:
        server.stop()


# -- control API -----------------------------------------------------------------------------
def test_control_refunds_follow_the_rules_and_show_in_v3(sim: BigCommerceSim) -> None:
    order = call(sim.base_url, "POST", "/_sandbox/orders",
                 {"lines": [{"sku": "KT-5001", "quantity": 3}], "customer_id": 1, "status_id": 10}).json()
    line_id = order["consignments"]["shipping"][0]["line_items"][0]["id"]
    raw = sim.store.orders[order["id"]]
    one = call(sim.base_url, "POST", f"/_sandbox/orders/{raw.id}/refunds",
               {"items": [{"item_type": "PRODUCT", "item_id": line_id, "quantity": 1}]})
    assert one.status == 201 and raw.status_id == 14
    assert Decimal(str(one.json()["data"]["total_amount"])) == cents(raw.lines[0].discounted_total_inc_tax / 3)
    too_many = call(sim.base_url, "POST", f"/_sandbox/orders/{raw.id}/refunds",
                    {"items": [{"item_type": "PRODUCT", "item_id": line_id, "quantity": 3}]})
    assert too_many.status == 422 and "exceeds" in too_many.json()["error"]
    rest = call(sim.base_url, "POST", f"/_sandbox/orders/{raw.id}/refunds", {})
    assert rest.status == 201 and raw.status_id == 4 and raw.refunded == raw.captured == raw.total_inc_tax
    listed = api(sim, "GET", f"/v3/orders/{raw.id}/payment_actions/refunds").json()["data"]
    assert [r["id"] for r in listed] == [one.json()["data"]["id"], rest.json()["data"]["id"]]
    assert call(sim.base_url, "POST", f"/_sandbox/orders/{raw.id}/refunds", {}).status == 422
    cancelled = call(sim.base_url, "PUT", f"/_sandbox/orders/{raw.id}", {"status_id": 5}).json()
    assert cancelled["status_id"] == 5 and sim.store.orders[raw.id].date_modified >= raw.date_created
    state = call(sim.base_url, "GET", "/_sandbox/state").json()
    truth = next(o for o in state["orders"] if o["id"] == raw.id)
    assert Decimal(truth["refunded"]) == Decimal(truth["total_inc_tax"])


def test_awaiting_payment_order_captures_when_paid(sim: BigCommerceSim) -> None:
    order = call(sim.base_url, "POST", "/_sandbox/orders",
                 {"lines": [{"sku": "GD-3001", "quantity": 1}], "status_id": 7, "gateway": "braintree"}).json()
    raw = sim.store.orders[order["id"]]
    assert raw.captured == ZERO
    call(sim.base_url, "PUT", f"/_sandbox/orders/{raw.id}", {"status_id": 11})
    assert raw.captured == raw.total_inc_tax
    events = [t["event"] for t in api(sim, "GET", f"/v3/orders/{raw.id}/transactions").json()["data"]]
    assert events == ["pending", "capture"]
    modified = api(sim, "GET", f"/v2/orders?min_id={raw.id}&max_id={raw.id}").json()[0]
    assert modified["status_id"] == 11 and modified["payment_status"] == "captured"


def test_cli_serves_in_the_foreground() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "bigcommerce", "--port", "0", "--orders", "10"],
                            cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        base = line.strip().rsplit(" ", 1)[-1]
        assert urlsplit(base).scheme == "http"
        assert call(base, "GET", "/_sandbox/health").json()["name"] == "bigcommerce"
        orders = call(base, "GET", "/stores/sandbox1/v2/orders?limit=250").json()
        assert len(orders) == 10
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# -- contract: responses validate against the official OpenAPI specs ---------------------------
SPEC_DIR = specs_dir() / "bigcommerce"
CONTRACT = [
    ("orders.v2.oas2.yml", "/v2/orders?limit=250"),
    ("orders.v2.oas2.yml", "/v2/orders/{big}?include=consignments.line_items&consignment_structure=object"),
    ("orders.v2.oas2.yml", "/v2/orders/{big}/products?limit=250"),
    ("orders.v2.oas2.yml", "/v2/orders/{big}/taxes?details=true"),
    ("orders.v2.oas2.yml", "/v2/orders/{big}/shipping_addresses"),
    ("orders.v2.oas2.yml", "/v2/orders/{coupon}/coupons"),
    ("orders.v2.oas2.yml", "/v2/orders/count"),
    ("orders.v3.yml", "/v3/orders/{split}/transactions"),
    ("orders.v3.yml", "/v3/orders/payment_actions/refunds?limit=250"),
    ("customers.v3.yml", "/v3/customers?limit=250&include=addresses,storecredit"),
    ("products_catalog.v3.yml", "/v3/catalog/products?limit=250&include=variants"),
    ("product-variants_catalog.v3.yml", "/v3/catalog/variants?limit=250"),
    ("webhooks.v3.yml", "/v3/hooks"),
]


@pytest.fixture(scope="module")
def openapi() -> Callable[[str], Any]:
    require(SPEC_DIR.is_dir(), f"BigCommerce specs not found at {SPEC_DIR} (set ML_CONNECTOR_SPECS)")
    from openapi_core import OpenAPI

    cache: dict[str, Any] = {}

    def load(name: str) -> Any:
        if name not in cache:
            cache[name] = OpenAPI.from_file_path(str(SPEC_DIR / name))
        return cache[name]

    return load


def test_responses_validate_against_the_official_specs(sim: BigCommerceSim, openapi: Callable[[str], Any]) -> None:
    from openapi_core.testing import MockRequest, MockResponse

    orders = sim.store.orders.values()
    ids = {
        "big": next(o.id for o in orders if len(o.lines) > 50),
        "coupon": next(o.id for o in orders if o.coupons),
        "split": next(o.id for o in orders if o.store_credit_amount and o.gift_certificate_amount and o.captured),
    }
    api(sim, "POST", "/v3/hooks", {"scope": "store/sku/*", "destination": "https://example.com/c",
                                   "headers": {"X-Secret": "x"}})
    for spec, template in CONTRACT:
        path = template.format(**ids)
        reply = api(sim, "GET", path)
        assert reply.status == 200, (path, reply.status)
        full, _, query = f"/stores/{sim.store_hash}{path}".partition("?")
        request = MockRequest("https://api.bigcommerce.com", "get", full,
                              args={k: v[-1] for k, v in parse_qs(query).items()})
        openapi(spec).validate_response(request, MockResponse(reply.body, status_code=200))
