"""The hook against the BigCommerce simulator: pagination, fallbacks, faults, auth, normalisation, webhooks."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from ml_connector import errors
from ml_connector.audit import MemoryAudit
from ml_connector.core.model import ZERO, OrderStatus, PaymentEvent, PaymentMethod
from ml_connector.storefronts.bigcommerce.hook import BigCommerceHook
from ml_connector.storefronts.bigcommerce.normalise import (
    customer_from_bigcommerce,
    needs_transactions,
    order_from_bigcommerce,
    refund_from_bigcommerce,
)
from ml_connector.storefronts.bigcommerce.webhooks import ensure_webhooks, is_replay, verify_webhook

from sandbox.common.server import Request, SimServer, json_response

TOKEN, SECRET = "bc-sandbox-token", "bc-sandbox-secret"
SINCE, UNTIL = dt.datetime(2000, 1, 1, tzinfo=dt.UTC), dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _fault(base: str, **rule: Any) -> None:
    requests.post(f"{base}/_sandbox/faults", json=rule, timeout=5).raise_for_status()


def _counters(base: str) -> dict[str, int]:
    return requests.get(f"{base}/_sandbox/counters", timeout=5).json()["counters"]


@pytest.fixture(scope="module")
def extracted(module_hook: BigCommerceHook) -> dict[str, Any]:
    """All orders with their transactions, and all refunds, read once through a hook."""
    hook = module_hook
    orders = [o for page in hook.iter_orders(SINCE, UNTIL) for o in page]
    txns = hook.fetch_transactions([o["id"] for o in orders if needs_transactions(o)])
    refunds = [r for page in hook.iter_refunds(SINCE, UNTIL) for r in page]
    return {"orders": orders, "transactions": txns, "refunds": refunds}


def test_every_order_is_read_once(extracted: dict[str, Any], sim: Any) -> None:
    ids = [o["id"] for o in extracted["orders"]]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(o.id for o in sim.store.sorted_orders())


def test_pagination_stops_on_short_page_and_on_204(hook: BigCommerceHook, base: str, sim: Any) -> None:
    total = len(sim.store.sorted_orders())
    requests.post(f"{base}/_sandbox/counters/reset", timeout=5)
    assert sum(len(p) for p in hook.iter_orders(SINCE, UNTIL, limit=50)) == total
    expected_calls = total // 50 + 1  # full pages, then a short page or a 204
    assert _counters(base)["GET /v2/orders"] == expected_calls
    empty_window = list(hook.iter_orders(dt.datetime(1990, 1, 1, tzinfo=dt.UTC), dt.datetime(1990, 1, 2, tzinfo=dt.UTC)))
    assert empty_window == []


def test_window_is_half_open(hook: BigCommerceHook, sim: Any) -> None:
    orders = sim.store.sorted_orders()
    pivot = sorted(o.date_modified for o in orders)[len(orders) // 2]
    before = {o["id"] for p in hook.iter_orders(SINCE, pivot) for o in p}
    after = {o["id"] for p in hook.iter_orders(pivot, UNTIL) for o in p}
    assert not before & after
    assert len(before | after) == len(orders)


def test_capped_consignments_fall_back_to_products(extracted: dict[str, Any], sim: Any) -> None:
    big = {o.id: len(o.lines) for o in sim.store.sorted_orders() if len(o.lines) > 50}
    assert big, "the simulator should produce orders with more than 50 lines"
    for raw in extracted["orders"]:
        if raw["id"] in big:
            order = order_from_bigcommerce(raw, extracted["transactions"].get(raw["id"], []), store_id="sandbox1")
            assert len(order.lines) == big[raw["id"]]


def test_normalised_orders_add_up(extracted: dict[str, Any]) -> None:
    kinds: set[str] = set()
    for raw in extracted["orders"]:
        order = order_from_bigcommerce(raw, extracted["transactions"].get(raw["id"], []), store_id="sandbox1")
        lines = sum((ln.total for ln in order.lines), ZERO)
        identity = lines + order.shipping + order.handling + order.wrapping - order.discount_total + order.tax_total
        assert identity == order.total, f"order {order.order_id}: {identity} != {order.total}"
        if order.status in (OrderStatus.PAID, OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED):
            assert order.captured == order.total, f"order {order.order_id}: captured {order.captured} != {order.total}"
            assert order.captured_at is not None
        methods = {p.method for p in order.payments if p.ok}
        kinds |= {order.status.value}
        kinds |= {"guest"} if order.is_guest else set()
        kinds |= {"foreign"} if order.currency != order.base_currency else set()
        kinds |= {"gift_certificate"} if PaymentMethod.GIFT_CERTIFICATE in methods else set()
        kinds |= {"store_credit"} if PaymentMethod.STORE_CREDIT in methods else set()
        kinds |= {"coupon"} if any(d.kind == "coupon" for d in order.discounts) else set()
        if order.gift_certificate_amount:
            assert sum(p.amount for p in order.payments
                       if p.ok and p.event is PaymentEvent.CAPTURE
                       and p.method is PaymentMethod.GIFT_CERTIFICATE) == order.gift_certificate_amount
    expected = {"paid", "unpaid", "cancelled", "guest", "foreign", "gift_certificate", "store_credit", "coupon"}
    assert expected <= kinds, f"kinds not seen: {expected - kinds}"


def test_normalised_refunds_add_up(extracted: dict[str, Any]) -> None:
    by_id = {o["id"]: o for o in extracted["orders"]}
    assert extracted["refunds"]
    for raw in extracted["refunds"]:
        refund = refund_from_bigcommerce(raw, by_id[raw["order_id"]], store_id="sandbox1")
        parts = sum((ln.amount for ln in refund.lines), ZERO) + refund.shipping + refund.handling + refund.wrapping
        assert parts + refund.tax + refund.other == refund.total
        assert sum((p.amount for p in refund.payments), ZERO) == refund.total
        assert abs(refund.other) == ZERO or any(i["item_type"] == "ORDER" for i in raw["items"]), raw


def test_customers(hook: BigCommerceHook) -> None:
    customers = [customer_from_bigcommerce(c, store_id="sandbox1") for p in hook.iter_customers(SINCE) for c in p]
    assert customers and all(c.email for c in customers)
    assert any(c.addresses for c in customers)


def test_transient_faults_are_retried(hook: BigCommerceHook, base: str, audit: MemoryAudit) -> None:
    _fault(base, kind="status", path="/v2/orders$", status=429, count=1,
           headers={"X-Rate-Limit-Time-Reset-Ms": "50", "X-Rate-Limit-Requests-Left": "0"})
    _fault(base, kind="status", path="/v2/orders$", status=429, count=1)  # platform load: no headers
    _fault(base, kind="status", path="/v2/orders$", status=503, count=1)
    _fault(base, kind="reset", path="/transactions$", count=1)
    _fault(base, kind="timeout", path="/transactions$", count=1, seconds=4)
    orders = next(hook.iter_orders(SINCE, UNTIL, limit=5))
    settled = [o["id"] for o in orders if needs_transactions(o)][:1]
    hook.fetch_transactions(settled)
    statuses = [e.status for e in audit.exchanges]
    assert statuses[:4] == [429, 429, 503, 200]
    assert any(e.error and "Timeout" in e.error for e in audit.exchanges)
    assert any(e.error and "ConnectionError" in e.error for e in audit.exchanges)


def test_exhausted_retries_raise_transient(hook: BigCommerceHook, base: str) -> None:
    _fault(base, kind="status", path="/v2/orders$", status=500)
    with pytest.raises(errors.TransientError, match="gave up after 4 attempts"):
        list(hook.iter_orders(SINCE, UNTIL))


def test_rejected_token_and_unknown_store(base: str, make_hook: Any) -> None:
    bad = make_hook(base, token="not-the-token", audit=(audit := MemoryAudit()))
    with pytest.raises(errors.AuthenticationError, match="rejected"):
        list(bad.iter_orders(SINCE, UNTIL))
    ok, message = bad.test_connection()
    assert not ok and "rejected" in message and "not-the-token" not in message
    assert all("not-the-token" not in repr(e) for e in audit.exchanges)
    ok, message = make_hook(base, store_hash="nosuchstore").test_connection()
    assert not ok and "nosuchstore" in message and "404" in message


def test_test_connection_names_the_store(hook: BigCommerceHook) -> None:
    ok, message = hook.test_connection()
    assert ok and message.startswith("Connected to store '") and "sandbox1" in message


def test_test_connection_reports_unreachable_host(make_hook: Any) -> None:
    ok, message = make_hook("http://127.0.0.1:9").test_connection()
    assert not ok and "Cannot connect" in message


def test_token_never_reaches_the_audit_trail(hook: BigCommerceHook, audit: MemoryAudit) -> None:
    next(hook.iter_orders(SINCE, UNTIL, limit=5))
    hook.list_hooks()
    assert audit.exchanges
    for exchange in audit.exchanges:
        assert TOKEN not in repr(exchange) and SECRET not in repr(exchange)


def test_catalog_lookup_and_partial_batch(hook: BigCommerceHook, sim: Any) -> None:
    products = hook.find_products_by_sku(["HW-1001", "GD-1001", "MISSING-1"])
    assert "HW-1001" in products and "MISSING-1" not in products
    good = products["HW-1001"]
    results = hook.update_products([{"id": good["id"], "price": 12.5}, {"id": 99_999_999, "price": 1.0}])
    assert [r.ok for r in results] == [True, False]
    assert results[1].error and "99999999" not in (results[0].error or "")
    variant_skus = sorted(v.sku for v in sim.store.variants.values())[-3:]
    variants = hook.find_variants_by_sku(variant_skus)
    assert sorted(variants) == sorted(s.upper() for s in variant_skus)
    outcome = hook.update_variants([{"id": v["id"], "price": 3.0} for v in variants.values()])
    assert [r.ok for r in outcome] == [True] * 3


class Receiver(SimServer):
    """Collects webhook deliveries."""

    name = "receiver"

    def setup_routes(self) -> None:
        self.deliveries: list[Request] = []
        self.arrived = threading.Event()

        def take(req: Request) -> Any:
            self.deliveries.append(req)
            self.arrived.set()
            return json_response(200, {})

        self.add_route("POST", "/hook", take)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(port=0)
    r.start()
    yield r
    r.stop()


def test_webhooks_are_registered_repaired_and_verified(hook: BigCommerceHook, base: str, receiver: Receiver) -> None:
    dest = f"{receiver.base_url}/hook"
    header = {"X-ML-Connector-Secret": "hdr-secret"}
    changes = ensure_webhooks(hook, dest, ["store/order/*"], header)
    assert changes == ["created hook for store/order/*"]
    created = next(h for h in hook.list_hooks() if h["destination"] == dest)
    hook.update_hook(created["id"], is_active=False)
    assert ensure_webhooks(hook, dest, ["store/order/*"], header) == [f"reactivated hook {created['id']} (store/order/*)"]
    assert ensure_webhooks(hook, dest, ["store/order/*"], header) == []

    requests.post(f"{base}/_sandbox/orders", json={}, timeout=10).raise_for_status()
    assert receiver.arrived.wait(15), "no webhook delivered"
    delivery = receiver.deliveries[0]
    event = verify_webhook(delivery.headers, delivery.body, client_secret=SECRET, header_secret="hdr-secret")
    assert event.scope.startswith("store/order/") and event.object_id
    seen: set[str] = set()
    assert not is_replay(event, seen)
    assert is_replay(verify_webhook(delivery.headers, delivery.body, client_secret=SECRET, header_secret="hdr-secret"),
                     seen)
    with pytest.raises(Exception, match="bad signature"):
        verify_webhook(delivery.headers, delivery.body + b" ", client_secret=SECRET, header_secret="hdr-secret")
    with pytest.raises(Exception, match="bad signature"):
        verify_webhook(delivery.headers, delivery.body, client_secret="wrong", header_secret="hdr-secret")
