"""The live store: indexes for fast paging, queries, and the mutations the control API drives.

Reads and writes take ``lock`` briefly; nothing sleeps while holding it. Orders are indexed by
id and by (date_modified, id) so a 10,000-order store pages by modified date with a bisect
rather than a sort per request. Every live change to an order returns an ``Outcome`` (what
happened: events, status move, new transactions) that the server turns into webhooks.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.bigcommerce import edits, payments
from sandbox.bigcommerce.bodies import (
    Conflict,
    InvalidRequest,
    optional_amount,
    parse_bool,
    parse_fees,
    parse_gift_certificates,
    parse_money,
    reject_unknown,
)
from sandbox.bigcommerce.data import (
    CURRENCY_IDS,
    DEFAULT_NOW,
    Dataset,
    LinePick,
    OrderBuilder,
    OrderOptions,
    build_customer,
    generate,
    line_count,
    pick_lines,
    random_options,
)
from sandbox.bigcommerce.model import (
    CAPTURED_STATUSES,
    PAID_STATUSES,
    ZERO,
    Customer,
    Order,
    Product,
    Refund,
    Transaction,
    Variant,
    cents,
)
from sandbox.bigcommerce.refunds import RefundRejected, apply_refund, full_refund_items

__all__ = ["Clock", "Conflict", "InvalidRequest", "Outcome", "Store"]

Clock = Callable[[], dt.datetime]
Event = tuple[str, dict[str, Any]]  # a webhook scope and the data it adds to {"type": "order", "id": ...}
CANCELLED, AWAITING_PAYMENT, AWAITING_FULFILLMENT = 5, 7, 11


@dataclass
class Outcome:
    """What one live change did to an order, in the order the server announces it."""

    order: Order
    previous_status: int
    when: dt.datetime
    events: list[Event] = field(default_factory=list)
    transactions: list[Transaction] = field(default_factory=list)

    @property
    def status_changed(self) -> bool:
        return self.order.status_id != self.previous_status

    @property
    def changed(self) -> bool:
        return bool(self.events or self.transactions or self.status_changed)


class Store:
    """In-memory BigCommerce store built from a seeded ``Dataset``."""

    def __init__(self, data: Dataset, clock: Clock | None = None) -> None:
        self.lock = threading.RLock()
        self.data = data
        self._started = time.monotonic()
        self._clock = clock
        self.live_rng = random.Random(f"{data.seed}:live")
        self.builder = OrderBuilder(data.seq)
        self.orders: dict[int, Order] = {o.id: o for o in data.orders}
        self._by_modified: list[tuple[dt.datetime, int]] = sorted((o.date_modified, o.id) for o in data.orders)
        self.customers: dict[int, Customer] = {c.id: c for c in data.customers}
        self.products: dict[int, Product] = {p.id: p for p in data.products}
        self.variants: dict[int, Variant] = {v.id: v for p in data.products for v in p.variants}

    @classmethod
    def generate(cls, seed: int = 0, orders: int = 100, customers: int | None = None, refund_rate: float = 0.1,
                 now: dt.datetime = DEFAULT_NOW, clock: Clock | None = None) -> Store:
        return cls(generate(seed, orders, customers, refund_rate, now), clock)

    # -- time ----------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        """Live changes happen after all seeded data: real time, or anchor + elapsed if later."""
        if self._clock:
            return self._clock()
        elapsed = dt.timedelta(seconds=time.monotonic() - self._started)
        return max(dt.datetime.now(dt.UTC), self.data.now + elapsed).replace(microsecond=0)

    # -- orders --------------------------------------------------------------------------
    def sorted_orders(self) -> list[Order]:
        return [self.orders[i] for i in sorted(self.orders)]

    def orders_modified_between(self, lo: dt.datetime | None, hi: dt.datetime | None) -> list[Order]:
        """Orders with lo <= date_modified <= hi (both inclusive), in (date_modified, id) order."""
        keys = self._by_modified
        start = bisect.bisect_left(keys, (lo, -1)) if lo else 0
        end = bisect.bisect_right(keys, (hi, 1 << 62)) if hi else len(keys)
        return [self.orders[oid] for _, oid in keys[start:end]]

    def _touch(self, order: Order, when: dt.datetime, *, new: bool = False) -> None:
        if not new:
            self._by_modified.remove((order.date_modified, order.id))
        order.date_modified = max(order.date_modified, when)
        bisect.insort(self._by_modified, (order.date_modified, order.id))

    def order(self, order_id: int) -> Order:
        found = self.orders.get(order_id)
        if found is None:
            raise KeyError(order_id)
        return found

    def _picks(self, raw_lines: Any, *, allow_empty: bool = False) -> list[LinePick]:
        if not isinstance(raw_lines, list) or not all(isinstance(raw, Mapping) for raw in raw_lines):
            raise InvalidRequest("lines must be a list of {sku, quantity} objects")
        by_sku = {v.sku.lower(): (self.products[v.product_id], v) for v in self.variants.values()}
        picks = []
        for index, raw in enumerate(raw_lines):
            sku = str(raw.get("sku", "")).lower()
            if sku not in by_sku:
                raise InvalidRequest(f"lines[{index}].sku {raw.get('sku')!r} is not in the catalog")
            quantity = raw.get("quantity", 1)
            if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
                raise InvalidRequest(f"lines[{index}].quantity must be a positive integer, got {quantity!r}")
            product, variant = by_sku[sku]
            picks.append(LinePick(product, variant, quantity))
        if not picks and not allow_empty:
            raise InvalidRequest("lines must not be empty")
        return picks

    def create_order(self, spec: Mapping[str, Any]) -> Order:
        """A new order (generated where ``spec`` is silent); status defaults to Awaiting Fulfillment,
        or Awaiting Payment with the card only authorized when ``authorize_only`` is true."""
        with self.lock:
            rng = self.live_rng
            authorize_only = parse_bool(spec.get("authorize_only", False), "authorize_only")
            status = spec.get("status_id", AWAITING_PAYMENT if authorize_only else AWAITING_FULFILLMENT)
            status = edits.parse_status(status)
            if authorize_only and status != AWAITING_PAYMENT:
                raise InvalidRequest(f"authorize_only needs status_id {AWAITING_PAYMENT} (Awaiting Payment), got {status}")
            opts = random_options(rng, list(self.customers.values()), status)
            opts.authorize_only = authorize_only
            if "customer_id" in spec:
                cid = spec["customer_id"]
                if cid and cid not in self.customers:
                    raise InvalidRequest(f"customer_id {cid!r} does not exist")
                opts.customer = self.customers[cid] if cid else None
            if "currency" in spec:
                if spec["currency"] not in CURRENCY_IDS:
                    raise InvalidRequest(f"currency must be one of {sorted(CURRENCY_IDS)}, got {spec['currency']!r}")
                opts.currency = spec["currency"]
            if "gateway" in spec:
                opts.gateway = str(spec["gateway"])
            if spec.get("plain", False) or "lines" in spec:  # explicit orders stay easy to predict
                opts.coupon, opts.manual_discount, opts.gift_certificate, opts.store_credit = None, ZERO, ZERO, ZERO
                opts.wrap_first_line, opts.failed_attempt = False, False
            self._extras(spec, opts)
            lines = spec.get("lines")
            picks = (self._picks(lines, allow_empty=bool(opts.gift_certificates)) if lines is not None
                     else pick_lines(rng, self.data.products, line_count(rng)))
            if not picks:  # nothing to ship: a gift-certificate-only order is delivered by email
                opts.shipping = ("Free Shipping", ZERO)
            when = self.now()
            order = self.builder.build(rng, self.data.seq.next("order"), when, picks, opts)
            self.orders[order.id] = order
            self.data.orders.append(order)
            self._touch(order, when, new=True)
            return order

    def _extras(self, spec: Mapping[str, Any], opts: OrderOptions) -> None:
        """Fees, gift certificates sold, and gift certificate / store credit redeemed (order currency)."""
        currency = opts.currency
        if "fees" in spec:
            opts.fees = parse_fees(spec["fees"], currency)
            for index, fee in enumerate(opts.fees):
                if fee.id is not None:
                    raise InvalidRequest(f"fees[{index}].id is only accepted when editing an order")
        if "gift_certificates" in spec:
            opts.gift_certificates = parse_gift_certificates(spec["gift_certificates"], currency)
        gift = optional_amount(spec, "pay_with_gift_certificate", currency)
        credit = optional_amount(spec, "pay_with_store_credit", currency)
        if credit is not None and opts.customer is None:
            raise InvalidRequest("pay_with_store_credit needs a customer_id: guests have no store credit")
        opts.gift_certificate = opts.gift_certificate if gift is None else gift
        opts.store_credit = opts.store_credit if credit is None else credit

    # -- order lifecycle -----------------------------------------------------------------
    @contextmanager
    def _changing(self, order_id: int, *events: Event) -> Iterator[Outcome]:
        """Lock, record what the change does (new transactions, status), then re-index the order.

        The body validates before it mutates: an exception leaves the order as it was.
        """
        with self.lock:
            order = self.order(order_id)
            seen = {t.id for t in order.transactions}
            indexed_at = order.date_modified
            outcome = Outcome(order, order.status_id, self.now(), list(events))
            yield outcome
            outcome.transactions = [t for t in order.transactions if t.id not in seen]
            if outcome.changed:
                order.date_modified = indexed_at  # the index holds the old key; _touch moves it
                self._touch(order, outcome.when)

    def _apply_status(self, order: Order, status: int, when: dt.datetime) -> None:
        """Cancelling releases open authorizations (captured money stays); becoming paid settles."""
        previous = order.status_id
        if status == CANCELLED and previous != CANCELLED:
            payments.void_authorizations(self.builder, order, when)
        if status in CAPTURED_STATUSES and (previous not in CAPTURED_STATUSES or order.captured == ZERO):
            payments.settle(self.builder, order, when)
        order.status_id = status

    def edit_order(self, order_id: int, body: Mapping[str, Any]) -> Outcome:
        """Status, lines, shipping, billing address and fees; only ``capture_difference`` moves money."""
        if not isinstance(body, Mapping):
            raise InvalidRequest("the body must be a JSON object")
        reject_unknown(body, edits.EDIT_FIELDS, "PUT /_sandbox/orders/{id}")
        with self._changing(order_id, ("store/order/updated", {})) as outcome:
            order = outcome.order
            plan = edits.parse_edit(body, order, self._picks)
            if plan.changes_contents:
                before = order.total_inc_tax
                edits.commit(order, edits.edited_copy(order, plan, self.data.seq))
                raised = order.total_inc_tax - before
                if plan.capture_difference and raised > ZERO and order.captured > ZERO:
                    payments.charge(self.builder, order, raised, outcome.when)
            if plan.status_id is not None:
                self._apply_status(order, plan.status_id, outcome.when)
        return outcome

    def set_status(self, order_id: int, status_id: int) -> tuple[Order, int]:
        """Change the status (capturing payment when an unpaid order becomes paid); returns the old one."""
        outcome = self.edit_order(order_id, {"status_id": status_id})
        return outcome.order, outcome.previous_status

    def cancel(self, order_id: int) -> Outcome:
        """Status Cancelled: open authorizations are voided, captured money is NOT refunded."""
        with self._changing(order_id, ("store/order/updated", {})) as outcome:
            if outcome.order.status_id == CANCELLED:
                raise Conflict(f"order {order_id} is already cancelled")
            self._apply_status(outcome.order, CANCELLED, outcome.when)
        return outcome

    def set_archived(self, order_id: int, archived: bool) -> Outcome:
        """Archive (``is_deleted``) or restore; idempotent, and no money moves either way."""
        with self._changing(order_id) as outcome:
            if outcome.order.is_deleted != archived:
                outcome.order.is_deleted = archived
                outcome.events.append(("store/order/archived" if archived else "store/order/updated", {}))
        return outcome

    def capture(self, order_id: int, body: Mapping[str, Any]) -> Outcome:
        """Capture ``amount`` (default all) of the open authorization; fully captured -> Awaiting Fulfillment."""
        with self._changing(order_id) as outcome:
            order = outcome.order
            amount = None if body.get("amount") is None else parse_money(body["amount"], "amount", order.currency)
            payments.capture(self.builder, order, amount, outcome.when)
            paid = order.authorized_open == ZERO and order.captured >= order.total_inc_tax
            if paid and order.status_id not in CAPTURED_STATUSES:
                order.status_id = AWAITING_FULFILLMENT
        return outcome

    def void_capture(self, order_id: int) -> Outcome:
        """Void the latest capture (money returned); a paid order no longer fully paid awaits payment."""
        with self._changing(order_id) as outcome:
            order = outcome.order
            payments.void_latest_capture(self.builder, order, outcome.when)
            if order.status_id in PAID_STATUSES and order.captured < order.total_inc_tax:
                order.status_id = AWAITING_PAYMENT
        return outcome

    def void_authorization(self, order_id: int) -> Outcome:
        """The v3 ``payment_actions/void``: release the open authorization; the status is kept."""
        with self._changing(order_id) as outcome:
            if not payments.void_authorizations(self.builder, outcome.order, outcome.when):
                raise payments.PaymentRejected(f"order {order_id} has no open authorization to void")
        return outcome

    def refund_order(self, order_id: int, body: Mapping[str, Any]) -> tuple[Refund, Outcome]:
        """Refund items (or everything still refundable when ``items`` is absent)."""
        with self._changing(order_id) as outcome:
            order = outcome.order
            items = body.get("items")
            if items is None and "amount" in body:
                items = [{"item_type": "ORDER", "item_id": order.id, "amount": body["amount"]}]
            elif items is None:
                items = full_refund_items(order)
            if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
                raise RefundRejected("items must be a list of objects")
            refund = apply_refund(order, items, outcome.when, self.data.seq, str(body.get("reason", "")))
            outcome.events += [("store/order/refund/created", {"refund": {"refund_id": refund.id}}),
                               ("store/order/updated", {})]
        return refund, outcome

    def refund(self, order_id: int, body: Mapping[str, Any]) -> tuple[Refund, int]:
        """``refund_order`` for callers that only need the refund and the status before it."""
        refund, outcome = self.refund_order(order_id, body)
        return refund, outcome.previous_status

    def refunds(self) -> list[Refund]:
        return sorted((r for o in self.orders.values() for r in o.refunds), key=lambda r: r.id)

    # -- customers -----------------------------------------------------------------------
    def create_customer(self, spec: Mapping[str, Any]) -> Customer:
        with self.lock:
            when = self.now()
            customer = build_customer(self.live_rng, self.data.seq, when, when)
            for name in ("first_name", "last_name", "email", "company", "phone"):
                if name in spec:
                    setattr(customer, name, str(spec[name]))
            self.customers[customer.id] = customer
            self.data.customers.append(customer)
            return customer

    def update_customer(self, customer_id: int, spec: Mapping[str, Any]) -> Customer:
        with self.lock:
            customer = self.customers.get(customer_id)
            if customer is None:
                raise KeyError(customer_id)
            for name in ("first_name", "last_name", "email", "company", "phone"):
                if name in spec:
                    setattr(customer, name, str(spec[name]))
            customer.date_modified = self.now()
            return customer

    # -- catalog -------------------------------------------------------------------------
    def sku_owner(self, sku: str) -> tuple[str, int] | None:
        """Who holds a SKU (case-insensitive across products and variants)."""
        key = sku.lower()
        for product in self.products.values():
            if product.sku.lower() == key:
                return ("product", product.id)
        for variant in self.variants.values():
            if variant.sku.lower() == key:
                return ("variant", variant.id)
        return None

    def update_product(self, item: Mapping[str, Any]) -> Product:
        """Apply one batch item; raises InvalidRequest naming the field. Validates before changing."""
        pid = item.get("id")
        product = self.products.get(pid) if isinstance(pid, int) else None
        if product is None:
            raise InvalidRequest(f"id: product {pid!r} does not exist")
        changes = _prices(item, ("price", "cost_price", "sale_price", "retail_price"), nullable=False)
        if "name" in item:
            if not isinstance(item["name"], str) or not 1 <= len(item["name"]) <= 250:
                raise InvalidRequest("name: must be 1 to 250 characters")
            changes["name"] = item["name"]
        if "sku" in item:
            changes["sku"] = self._check_sku(item["sku"], self._same_item(product))
        for name in ("inventory_level",):
            if name in item:
                changes[name] = _count(item[name], name)
        if "is_visible" in item:
            changes["is_visible"] = bool(item["is_visible"])
        with self.lock:
            for name, value in changes.items():
                setattr(product, name, value)
            product.date_modified = self.now()
            if not product.has_options and product.variants:
                base = product.variants[0]
                base.sku, base.date_modified = product.sku, product.date_modified
        return product

    def validate_variant(self, item: Mapping[str, Any]) -> tuple[Variant, dict[str, Any]]:
        vid = item.get("id")
        variant = self.variants.get(vid) if isinstance(vid, int) else None
        if variant is None:
            raise InvalidRequest(f"id: variant {vid!r} does not exist (creating variants is not simulated)")
        changes: dict[str, Any] = _prices(item, ("price", "cost_price", "sale_price", "retail_price"), nullable=True)
        if "sku" in item:
            owner_product = self.products[variant.product_id]
            allowed = {("variant", variant.id)} | ({("product", owner_product.id)} if not owner_product.has_options else set())
            changes["sku"] = self._check_sku(item["sku"], allowed)
        if "inventory_level" in item:
            changes["inventory_level"] = _count(item["inventory_level"], "inventory_level")
        return variant, changes

    def apply_variant(self, variant: Variant, changes: Mapping[str, Any]) -> None:
        with self.lock:
            for name, value in changes.items():
                setattr(variant, name, value)
            variant.date_modified = self.now()

    def _check_sku(self, sku: Any, allowed: set[tuple[str, int]]) -> str:
        """SKUs are unique regardless of case; a product shares its SKU only with its base variant."""
        if not isinstance(sku, str) or len(sku) > 255:
            raise InvalidRequest("sku: must be a string of at most 255 characters")
        owner = self.sku_owner(sku)
        if owner and owner not in allowed:
            raise InvalidRequest(f"sku: {sku!r} is already used by {owner[0]} {owner[1]}")
        return sku

    def _same_item(self, product: Product) -> set[tuple[str, int]]:
        base = {("variant", product.variants[0].id)} if product.variants and not product.has_options else set()
        return {("product", product.id)} | base


def _prices(item: Mapping[str, Any], names: Iterable[str], *, nullable: bool) -> dict[str, Decimal | None]:
    changes: dict[str, Decimal | None] = {}
    for name in names:
        if name not in item:
            continue
        raw = item[name]
        if raw is None and nullable:
            changes[name] = None
            continue
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise InvalidRequest(f"{name}: must be a number, got {raw!r}")
        try:
            value = Decimal(str(raw))
        except InvalidOperation as exc:
            raise InvalidRequest(f"{name}: must be a number, got {raw!r}") from exc
        if value < 0:
            raise InvalidRequest(f"{name}: must be greater than or equal to 0, got {raw}")
        changes[name] = cents(value)
    return changes


def _count(raw: Any, name: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise InvalidRequest(f"{name}: must be a non-negative integer, got {raw!r}")
    return raw
