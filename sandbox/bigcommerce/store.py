"""The live store: indexes for fast paging, queries, and the mutations the control API drives.

Reads and writes take ``lock`` briefly; nothing sleeps while holding it. Orders are indexed by
id and by (date_modified, id) so a 10,000-order store pages by modified date with a bisect
rather than a sort per request.
"""

from __future__ import annotations

import bisect
import datetime as dt
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.bigcommerce.data import (
    CURRENCY_IDS,
    DEFAULT_NOW,
    Dataset,
    LinePick,
    OrderBuilder,
    build_customer,
    capture_payment,
    generate,
    line_count,
    pick_lines,
    random_options,
)
from sandbox.bigcommerce.model import (
    CAPTURED_STATUSES,
    STATUS_NAMES,
    ZERO,
    Customer,
    Order,
    Product,
    Refund,
    Variant,
    cents,
)
from sandbox.bigcommerce.refunds import RefundRejected, apply_refund, full_refund_items


class InvalidRequest(ValueError):
    """A control-API or write request that names something wrong; the message says what."""


Clock = Callable[[], dt.datetime]


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

    def _picks(self, raw_lines: Iterable[Mapping[str, Any]]) -> list[LinePick]:
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
        if not picks:
            raise InvalidRequest("lines must not be empty")
        return picks

    def create_order(self, spec: Mapping[str, Any]) -> Order:
        """A new order (generated where ``spec`` is silent); status defaults to Awaiting Fulfillment."""
        with self.lock:
            rng = self.live_rng
            status = spec.get("status_id", 11)
            if status not in STATUS_NAMES:
                raise InvalidRequest(f"status_id must be one of {sorted(STATUS_NAMES)}, got {status!r}")
            opts = random_options(rng, list(self.customers.values()), status)
            if "customer_id" in spec:
                cid = spec["customer_id"]
                if cid and cid not in self.customers:
                    raise InvalidRequest(f"customer_id {cid!r} does not exist")
                opts.customer = self.customers[cid] if cid else None
            if "currency" in spec:
                if spec["currency"] not in CURRENCY_IDS:
                    raise InvalidRequest(f"currency must be one of {sorted(CURRENCY_IDS)}")
                opts.currency = spec["currency"]
            if "gateway" in spec:
                opts.gateway = str(spec["gateway"])
            if spec.get("plain", False) or "lines" in spec:  # explicit orders stay easy to predict
                opts.coupon, opts.manual_discount, opts.gift_certificate, opts.store_credit = None, ZERO, ZERO, ZERO
                opts.wrap_first_line, opts.failed_attempt = False, False
            lines = spec.get("lines")
            picks = self._picks(lines) if lines is not None else pick_lines(rng, self.data.products, line_count(rng))
            when = self.now()
            order = self.builder.build(rng, self.data.seq.next("order"), when, picks, opts)
            self.orders[order.id] = order
            self.data.orders.append(order)
            self._touch(order, when, new=True)
            return order

    def set_status(self, order_id: int, status_id: int) -> tuple[Order, int]:
        """Change the status (capturing payment when an unpaid order becomes paid); returns the old one."""
        with self.lock:
            if status_id not in STATUS_NAMES:
                raise InvalidRequest(f"status_id must be one of {sorted(STATUS_NAMES)}, got {status_id!r}")
            order = self.order(order_id)
            previous = order.status_id
            when = self.now()
            if status_id in CAPTURED_STATUSES and order.captured == ZERO:
                capture_payment(self.builder, order, when)
            order.status_id = status_id
            self._touch(order, when)
            return order, previous

    def refund(self, order_id: int, body: Mapping[str, Any]) -> tuple[Refund, int]:
        """Refund items (or everything still refundable when ``items`` is absent); returns (refund, old status)."""
        with self.lock:
            order = self.order(order_id)
            previous = order.status_id
            items = body.get("items")
            if items is None and "amount" in body:
                items = [{"item_type": "ORDER", "item_id": order.id, "amount": body["amount"]}]
            elif items is None:
                items = full_refund_items(order)
            if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
                raise RefundRejected("items must be a list of objects")
            when = self.now()
            indexed_at = order.date_modified
            refund = apply_refund(order, items, when, self.data.seq, str(body.get("reason", "")))
            order.date_modified = indexed_at  # apply_refund moved it: let _touch re-index from the old key
            self._touch(order, when)
            return refund, previous

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
