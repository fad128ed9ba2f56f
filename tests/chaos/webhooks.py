"""Live store activity during the run, and its webhooks delivered late, out of order and twice.

New orders and refunds made now are newer than ``now - settle_lag``, so the first runs can only
learn about them from webhooks. The deliveries are signed like the store signs them (Standard
Webhooks with the app's client secret, plus the custom header secret set at registration) and
posted into the real receiver app, which writes the connector's inbox.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

import requests
from fastapi.testclient import TestClient
from ml_connector.webhooks.app import Inbox, Waker, create_app

from sandbox.bigcommerce.server import BigCommerceSim
from sandbox.bigcommerce.webhooks import sign

Event = tuple[str, dict[str, Any]]  # (scope, data) as the store emits it


@dataclass
class LiveActivity:
    """What happened in the store while the connector ran, as webhook events in time order."""

    order_events: list[Event] = field(default_factory=list)
    refund_events: list[Event] = field(default_factory=list)


def _control(bc: BigCommerceSim, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = requests.request(method, f"{bc.base_url}/_sandbox/{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json()


def _order_event(scope: str, order_id: int, **extra: Any) -> Event:
    return scope, {"type": "order", "id": order_id, **extra}


UNMAPPED_GATEWAY = "chaospay"  # no clearing account in the mapping: its documents must be parked


def create_live_activity(bc: BigCommerceSim, rng: random.Random, new_orders: int = 12) -> LiveActivity:
    """New paid orders (two paid only later, the last through an unmapped gateway), full and
    partial refunds of some, and refunds of older orders."""
    live = LiveActivity()
    created: list[int] = []
    for index in range(new_orders):
        late_payment = index < 2
        spec: dict[str, Any] = {"status_id": 7 if late_payment else 11}
        if index == new_orders - 1:
            spec |= {"gateway": UNMAPPED_GATEWAY, "plain": True}
        order = _control(bc, "POST", "orders", spec)
        created.append(int(order["id"]))
        live.order_events.append(_order_event("store/order/created", order["id"]))
        if late_payment:
            _control(bc, "PUT", f"orders/{order['id']}", {"status_id": 11})
            live.order_events.append(_order_event("store/order/statusUpdated", order["id"], status={
                "previous_status_id": 7, "new_status_id": 11}))
    with bc.store.lock:
        older = [o.id for o in bc.store.sorted_orders() if o.status_id in (2, 10) and not o.refunds]
    for order_id in [*created[::3], created[-1], *rng.sample(older, 3)]:
        refund = _control(bc, "POST", f"orders/{order_id}/refunds", _refund_body(bc, order_id, rng))["data"]
        live.refund_events.append(_order_event("store/order/refund/created", order_id,
                                               refund={"refund_id": refund["id"]}))
        live.order_events.append(_order_event("store/order/updated", order_id))
    return live


def _refund_body(bc: BigCommerceSim, order_id: int, rng: random.Random) -> dict[str, Any]:
    """Everything (empty body) or one unit of one line."""
    if rng.random() < 0.5:
        return {"reason": "chaos: full refund"}
    with bc.store.lock:
        line = rng.choice(bc.store.order(order_id).lines)
    return {"reason": "chaos: one unit", "items": [{"item_type": "PRODUCT", "item_id": line.id, "quantity": 1}]}


class WebhookSender:
    """Posts signed deliveries into the receiver app; remembers each answer."""

    _ids = itertools.count(1)

    def __init__(self, bc: BigCommerceSim, client_secret: str, header_name: str, header_secret: str) -> None:
        self._bc, self._client_secret = bc, client_secret
        self._header = {header_name: header_secret}
        self._client = TestClient(create_app(inbox=Inbox(), waker=Waker(lambda uri, extra: None, interval=0.0)))
        self.answers: list[tuple[str, int, dict[str, Any]]] = []

    def deliver(self, event: Event, delivery_id: str) -> dict[str, Any]:
        scope, data = event
        now = int(time.time())
        body = self._bc.webhooks.payload(scope, data, now)
        headers = {**self._header, "Content-Type": "application/json", "webhook-id": delivery_id,
                   "webhook-timestamp": str(now), "webhook-signature": sign(self._client_secret, delivery_id, now, body)}
        response = self._client.post("/webhooks/bigcommerce/bigcommerce_default", content=body, headers=headers)
        answer = response.json()
        self.answers.append((delivery_id, response.status_code, answer))
        return answer

    def deliver_out_of_order_twice(self, events: list[Event]) -> None:
        """Newest first, and every delivery retried once with the same id (as the store retries)."""
        for event in reversed(events):
            delivery_id = f"msg_chaos_{next(self._ids)}"
            self.deliver(event, delivery_id)
            self.deliver(event, delivery_id)

    def duplicate_flags(self) -> dict[str, list[bool]]:
        """Per delivery id, the receiver's ``duplicate`` answer to each attempt, in order."""
        flags: dict[str, list[bool]] = {}
        for delivery_id, _, answer in self.answers:
            flags.setdefault(delivery_id, []).append(bool(answer.get("duplicate")))
        return flags

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *_: object) -> None:
        self._client.close()
