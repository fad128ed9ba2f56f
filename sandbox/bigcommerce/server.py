"""BigCommerce REST simulator: orders v2, transactions/refunds v3, customers, catalog, hooks.

Behaves like the public contract (``shared/reference/bigcommerce.md``): ``X-Auth-Token`` on every
store request, v2 bare arrays with 204 at the end, v3 ``{data, meta}``, the two error shapes,
per-store rate limiting with ``X-Rate-Limit-*`` headers, and signed webhooks with retries.
The ``/_sandbox/`` control API seeds, mutates and inspects the store for tests and demos; every
order change it (or a write endpoint) makes is announced with the webhooks BigCommerce fires.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import threading
import zlib
import zoneinfo
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from sandbox.bigcommerce import render
from sandbox.bigcommerce.bodies import parse_bool
from sandbox.bigcommerce.data import DEFAULT_NOW
from sandbox.bigcommerce.model import quantum
from sandbox.bigcommerce.queries import BadQuery, includes, int_list, integer, moment, paging, str_list
from sandbox.bigcommerce.ratelimit import FixedWindowLimiter, Verdict
from sandbox.bigcommerce.refunds import RefundRejected
from sandbox.bigcommerce.store import Clock, Conflict, InvalidRequest, Outcome, Store
from sandbox.bigcommerce.webhooks import HookRegistry, HookValidationError, WebhookDispatcher
from sandbox.common.server import Request, Response, SimServer, empty, json_response

ERROR_DOCS = "https://developer.bigcommerce.com/api-docs/getting-started/api-status-codes"
SORT_FIELDS = ("id", "customer_id", "date_created", "date_modified", "status_id", "channel_id", "external_id")
_ORDER_SORT_ATTRS = ("id", "customer_id", "date_created", "date_modified", "status_id")
# What PUT /v2/orders/{id} accepts here; any other field is refused with a 400 naming it.
V2_PUT_FIELDS = frozenset({"is_deleted", "status_id", "billing_address"})
PRODUCT_BATCH_MAX = 10
VARIANT_BATCH_MAX = 50


def v2_error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return json_response(status, [{"status": status, "message": message}], headers)


def v3_error(status: int, title: str, errors: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"status": status, "title": title, "type": ERROR_DOCS}
    if errors is not None:
        body["errors"] = errors
    return json_response(status, body)


def _is_v2(req: Request) -> bool:
    return "/v2/" in req.path or req.path.endswith("/v2")


def _control_error(status: int, message: str) -> Response:
    return json_response(status, {"error": message})


class BigCommerceSim(SimServer):
    """One simulated store; ``start()`` returns the base URL, the API is at ``/stores/{hash}/v2|v3``."""

    name = "bigcommerce"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, seed: int = 0, orders: int = 100,
                 customers: int | None = None, refund_rate: float = 0.1, store_hash: str = "sandbox1",
                 access_token: str = "bc-sandbox-token", client_id: str = "bc-sandbox-client",
                 client_secret: str = "bc-sandbox-secret", latency_ms: float = 0.0, quota: int = 150,
                 window_ms: int = 30000, allow_http_destinations: bool = False, now: dt.datetime = DEFAULT_NOW,
                 clock: Clock | None = None, timezone: str = "America/Chicago", retry_factor: float = 1.0,
                 delivery_timeout_s: float = 10.0, hook_deactivate_after: float = 172800.0,
                 sign_bc_signature: bool = False, webhook_workers: int = 4) -> None:
        self.store_hash, self.access_token, self.client_id = store_hash, access_token, client_id
        self.store_id = str(1_000_000 + zlib.crc32(store_hash.encode()) % 9_000_000)
        self.timezone = zoneinfo.ZoneInfo(timezone)
        self._now, self._clock = now, clock
        self.store = Store.generate(seed, orders, customers, refund_rate, now, clock)
        self.limiter = FixedWindowLimiter(quota, window_ms)
        self.hooks = HookRegistry(client_id, store_hash, allow_http=allow_http_destinations)
        self.webhooks = WebhookDispatcher(
            self.hooks, store_hash=store_hash, store_id=self.store_id, client_secret=client_secret,
            retry_factor=retry_factor, timeout_s=delivery_timeout_s, deactivate_after_s=hook_deactivate_after,
            sign_bc_signature=sign_bc_signature, workers=webhook_workers,
        )
        self._verdict = threading.local()
        super().__init__(host, port, latency_ms=latency_ms, seed=seed)

    # -- cross-cutting: auth, rate limit, headers, errors --------------------------------
    def authenticate(self, req: Request, endpoint: str) -> Response | None:
        self._verdict.value = None
        if req.params.get("store_hash") != self.store_hash:
            message = "The requested resource was not found."
            return v2_error(404, message) if _is_v2(req) else v3_error(404, message)
        if req.header("X-Auth-Token") != self.access_token:
            if _is_v2(req):
                return v2_error(401, "You are not authorized to access this resource. Check your X-Auth-Token.")
            return v3_error(401, "Unauthorized: missing or invalid X-Auth-Token", {})
        return None

    def before_request(self, req: Request, endpoint: str) -> Response | None:
        verdict = self.limiter.consume(self.store_hash)
        self._verdict.value = verdict
        if not verdict.allowed:
            with self.lock:
                self.counters["rate_limited"] += 1
            message = "You have exceeded the rate limit for this store; retry after the window resets."
            return v2_error(429, message) if _is_v2(req) else v3_error(429, message)
        if req.method in ("POST", "PUT") and not (req.header("Content-Type") or "").lower().startswith(
            "application/json"
        ):
            message = "The request must have a Content-Type of application/json."
            return v2_error(415, message) if _is_v2(req) else v3_error(415, message)
        return None

    def decorate(self, req: Request, endpoint: str, resp: Response) -> Response:
        verdict: Verdict | None = getattr(self._verdict, "value", None)
        resp.headers.update((verdict or self.limiter.peek(self.store_hash)).headers())
        return resp

    def not_found(self, req: Request) -> Response:
        if req.path.startswith("/stores/"):
            message = f"No such endpoint: {req.method} {req.path}"
            return v2_error(404, message) if _is_v2(req) else v3_error(404, message)
        return super().not_found(req)

    def counter_snapshot(self) -> dict[str, Any]:
        snapshot = super().counter_snapshot()
        snapshot["rate_limited"] = self.limiter.rate_limited
        return snapshot

    def stop(self) -> None:
        super().stop()
        self.webhooks.stop()

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/stores/{self.store_hash}"

    def _emit(self, scope: str, data: dict[str, Any]) -> None:
        self.webhooks.emit(scope, data, int(self.store.now().timestamp()))

    def _announce(self, outcome: Outcome) -> None:
        """The webhooks one order change fires: its own events, ``store/order/updated`` whenever the
        order changed, ``statusUpdated`` when the status moved, one ``transaction/created`` per new
        transaction."""
        order_id = outcome.order.id
        events = list(outcome.events)
        if outcome.status_changed and not any(scope == "store/order/updated" for scope, _ in events):
            events.append(("store/order/updated", {}))
        for scope, extra in events:
            self._emit(scope, {"type": "order", "id": order_id, **extra})
        if outcome.status_changed:
            self._emit("store/order/statusUpdated", {"type": "order", "id": order_id, "status": {
                "previous_status_id": outcome.previous_status, "new_status_id": outcome.order.status_id}})
        for txn in outcome.transactions:
            self._emit("store/order/transaction/created", render.transaction_event(txn))

    # -- routes --------------------------------------------------------------------------
    def setup_routes(self) -> None:
        s = "/stores/{store_hash}"
        guarded = self._guard
        for method, path, handler in (
            ("GET", "/v2/store", self.v2_store),
            ("GET", "/v2/order_statuses", self.v2_order_statuses),
            ("GET", "/v2/orders/count", self.v2_order_count),
            ("GET", "/v2/orders", self.v2_orders),
            ("GET", "/v2/orders/{order_id}", self.v2_order),
            ("PUT", "/v2/orders/{order_id}", self.v2_update_order),
            ("DELETE", "/v2/orders/{order_id}", self.v2_archive_order),
            ("GET", "/v2/orders/{order_id}/fees", self.v2_fees),
            ("GET", "/v2/orders/{order_id}/products", self.v2_products),
            ("GET", "/v2/orders/{order_id}/coupons", self.v2_coupons),
            ("GET", "/v2/orders/{order_id}/taxes", self.v2_taxes),
            ("GET", "/v2/orders/{order_id}/shipping_addresses", self.v2_shipping_addresses),
            ("GET", "/v3/orders/payment_actions/refunds", self.v3_all_refunds),
            ("GET", "/v3/orders/payment_actions/refunds/{refund_id}", self.v3_refund),
            ("GET", "/v3/orders/{order_id}/transactions", self.v3_transactions),
            ("GET", "/v3/orders/{order_id}/payment_actions/refunds", self.v3_order_refunds),
            ("POST", "/v3/orders/{order_id}/payment_actions/capture", self.v3_capture),
            ("POST", "/v3/orders/{order_id}/payment_actions/void", self.v3_void),
            ("GET", "/v3/customers", self.v3_customers),
            ("GET", "/v3/catalog/products", self.v3_products),
            ("PUT", "/v3/catalog/products", self.v3_put_products),
            ("GET", "/v3/catalog/products/{product_id}", self.v3_product),
            ("GET", "/v3/catalog/variants", self.v3_variants),
            ("PUT", "/v3/catalog/variants", self.v3_put_variants),
            ("GET", "/v3/hooks", self.v3_hooks),
            ("POST", "/v3/hooks", self.v3_create_hook),
            ("GET", "/v3/hooks/{hook_id}", self.v3_hook),
            ("PUT", "/v3/hooks/{hook_id}", self.v3_update_hook),
            ("DELETE", "/v3/hooks/{hook_id}", self.v3_delete_hook),
        ):
            self.add_route(method, s + path, guarded(handler), f"{method} {path}")
        for method, path, handler in (
            ("POST", "/_sandbox/seed", self.ctl_seed),
            ("GET", "/_sandbox/state", self.ctl_state),
            ("POST", "/_sandbox/orders", self.ctl_create_order),
            ("PUT", "/_sandbox/orders/{order_id}", self.ctl_update_order),
            ("POST", "/_sandbox/orders/{order_id}/cancel", self.ctl_cancel),
            ("POST", "/_sandbox/orders/{order_id}/archive", self.ctl_archive),
            ("POST", "/_sandbox/orders/{order_id}/restore", self.ctl_restore),
            ("POST", "/_sandbox/orders/{order_id}/capture", self.ctl_capture),
            ("POST", "/_sandbox/orders/{order_id}/void", self.ctl_void),
            ("POST", "/_sandbox/orders/{order_id}/refunds", self.ctl_refund),
            ("POST", "/_sandbox/customers", self.ctl_create_customer),
            ("PUT", "/_sandbox/customers/{customer_id}", self.ctl_update_customer),
            ("POST", "/_sandbox/ratelimit", self.ctl_ratelimit),
            ("POST", "/_sandbox/hooks/{hook_id}/deactivate", self.ctl_deactivate_hook),
            ("GET", "/_sandbox/deliveries", self.ctl_deliveries),
        ):
            self.add_route(method, path, self._control_guard(handler))

    @staticmethod
    def _guard(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Bad query values become 400 in the API's own error shape; bad JSON bodies 400 too."""

        def wrapped(req: Request) -> Response:
            try:
                return handler(req)
            except BadQuery as exc:
                return v2_error(400, str(exc)) if _is_v2(req) else v3_error(400, str(exc))
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return v2_error(400, f"invalid JSON body: {exc}") if _is_v2(req) else v3_error(
                    400, "The request body is not valid JSON", {"body": str(exc)})

        return wrapped

    @staticmethod
    def _control_guard(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        """Bad fields 400 (the message names the field), refused by the order's state 422, unknown 404."""

        def wrapped(req: Request) -> Response:
            try:
                return handler(req)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                return _control_error(400, f"invalid JSON body: {exc}")
            except InvalidRequest as exc:
                return _control_error(400, str(exc))
            except (Conflict, RefundRejected, ValueError, TypeError) as exc:
                return _control_error(422, str(exc))
            except KeyError as exc:
                return _control_error(404, f"not found: {exc}")

        return wrapped

    # -- v2 ------------------------------------------------------------------------------
    @property
    def v2_api(self) -> str:
        return f"{self.api_base}/v2"

    def v2_store(self, req: Request) -> Response:
        anchor = self.store.data.now
        offset = self.timezone.utcoffset(anchor.replace(tzinfo=None)) or dt.timedelta(0)
        dst = self.timezone.dst(anchor.replace(tzinfo=None)) or dt.timedelta(0)
        return json_response(200, {
            "id": self.store_hash, "store_id": int(self.store_id), "domain": f"{self.store_hash}.example.com",
            "secure_URL": f"https://{self.store_hash}.example.com", "control_panel_base_url":
            f"https://store-{self.store_hash}.mybigcommerce.com", "status": "live",
            "name": "ML Connector Sandbox Store", "first_name": "Sandbox", "last_name": "Owner",
            "address": "1 Sandbox Way, Austin, TX 78701", "country": "United States", "country_code": "US",
            "phone": "555-010-0100", "admin_email": "owner@example.com", "order_email": "orders@example.com",
            "favicon_url": "", "timezone": {
                "name": str(self.timezone.key), "raw_offset": int((offset - dst).total_seconds()),
                "dst_offset": int(offset.total_seconds()), "dst_correction": bool(dst),
                "date_format": {"display": "M jS Y", "export": "M jS Y", "extended_display": "M jS Y @ g:i A"},
            },
            "language": "en", "currency": "USD", "currency_symbol": "$", "decimal_separator": ".",
            "thousands_separator": ",", "decimal_places": 2, "currency_symbol_location": "left",
            "weight_units": "LBS", "dimension_units": "Inches", "dimension_decimal_places": "2",
            "dimension_decimal_token": ".", "dimension_thousands_token": ",", "plan_name": "Plus",
            "plan_level": "Plus", "plan_is_trial": False, "industry": "Hardware", "logo": [],
            "is_price_entered_with_tax": False, "default_channel_id": 1, "default_site_id": 1,
            "active_comparison_modules": [], "features": {"stencil_enabled": True, "sitewidehttps_enabled": True,
                                                          "facebook_catalog_id": "", "checkout_type": "optimized",
                                                          "wishlists_enabled": True, "multi_storefront_enabled": True},
        })

    def v2_order_statuses(self, req: Request) -> Response:
        counts = render.order_count([])
        return json_response(200, [{"id": s["id"], "name": s["name"], "system_label": s["system_label"],
                                    "custom_label": s["custom_label"], "system_description": s["system_description"],
                                    "order": s["sort_order"]} for s in counts["statuses"]])

    def _filtered_orders(self, req: Request) -> list[Any]:
        lo, hi = moment(req, "min_date_modified"), moment(req, "max_date_modified")
        with self.store.lock:
            candidates = (self.store.orders_modified_between(lo, hi) if lo or hi else self.store.sorted_orders())
        archived = _flag(req, "is_deleted")
        checks: list[Callable[[Any], bool]] = [lambda o: o.is_deleted == archived]
        for name, attr, cmp in (("min_id", "id", 1), ("max_id", "id", -1)):
            value = integer(req, name)
            if value is not None:
                checks.append(lambda o, v=value, a=attr, c=cmp: (getattr(o, a) - v) * c >= 0)
        for name in ("customer_id", "status_id", "channel_id"):
            value = integer(req, name)
            if value is not None:
                attr = name
                checks.append(lambda o, v=value, a=attr: (getattr(o, a) if a != "channel_id" else 1) == v)
        created_lo, created_hi = moment(req, "min_date_created"), moment(req, "max_date_created")
        if created_lo:
            checks.append(lambda o: o.date_created >= created_lo)
        if created_hi:
            checks.append(lambda o: o.date_created <= created_hi)
        for name, sign in (("min_total", 1), ("max_total", -1)):
            raw = req.arg(name)
            if raw:
                try:
                    bound = Decimal(raw)
                except ArithmeticError as exc:
                    raise BadQuery(f"query parameter {name!r} must be a number, got {raw!r}") from exc
                checks.append(lambda o, b=bound, s=sign: (o.total_inc_tax - b) * s >= 0)
        for name, getter in (("email", lambda o: o.billing.email), ("cart_id", lambda o: o.cart_id),
                             ("payment_method", lambda o: o.payment_method)):
            raw = req.arg(name)
            if raw:
                checks.append(lambda o, v=raw, g=getter: g(o) == v)
        chosen = [o for o in candidates if all(check(o) for check in checks)]
        sort = req.arg("sort") or "id:asc"
        field, _, direction = sort.partition(":")
        if field not in SORT_FIELDS or direction not in ("", "asc", "desc"):
            raise BadQuery(f"query parameter 'sort' must be one of {SORT_FIELDS} with :asc or :desc, got {sort!r}")
        if not (field == "date_modified" and (lo or hi)):  # the modified index is already in that order
            chosen.sort(key=lambda o: (getattr(o, field), o.id) if field in _ORDER_SORT_ATTRS else (o.id,))
        if direction == "desc":
            chosen.reverse()
        return chosen

    def v2_orders(self, req: Request) -> Response:
        page, limit = paging(req)
        orders = self._filtered_orders(req)
        window = orders[(page - 1) * limit: page * limit]
        if not window:
            return empty(204)
        wanted = includes(req)
        with self.store.lock:
            body = [self._order_body(o, wanted) for o in window]
        return json_response(200, body)

    def v2_order_count(self, req: Request) -> Response:
        return json_response(200, render.order_count(self._filtered_orders(req)))

    def _v2_order(self, req: Request) -> Any:
        try:
            order_id = int(req.params["order_id"])
        except ValueError:
            return None
        return self.store.orders.get(order_id)

    def _order_body(self, order: Any, wanted: set[str]) -> dict[str, Any]:
        return render.order_v2(order, self.v2_api, line_items="consignments.line_items" in wanted,
                               fees="fees" in wanted)

    def v2_order(self, req: Request) -> Response:
        """Archived orders stay readable by id, with ``is_deleted: true``."""
        order = self._v2_order(req)
        if order is None:
            return v2_error(404, "The requested resource was not found.")
        with self.store.lock:
            return json_response(200, self._order_body(order, includes(req)))

    def v2_fees(self, req: Request) -> Response:
        """The spec's ``orderFees_Resp`` is an object; its example wraps the list as ``{"fees": [...]}``."""
        order = self._v2_order(req)
        if order is None:
            return v2_error(404, "The requested resource was not found.")
        with self.store.lock:
            return json_response(200, {"fees": [render.fee(f) for f in order.fees]})

    def v2_archive_order(self, req: Request) -> Response:
        """``DELETE /v2/orders/{id}`` archives (``is_deleted``): 204, no body, no money moves."""
        order = self._v2_order(req)
        if order is None:
            return v2_error(404, "The requested resource was not found.")
        self._announce(self.store.set_archived(order.id, True))
        return empty(204)

    def v2_update_order(self, req: Request) -> Response:
        """``PUT /v2/orders/{id}``: ``is_deleted`` (archive / restore), ``status_id`` and ``billing_address``."""
        order = self._v2_order(req)
        if order is None:
            return v2_error(404, "The requested resource was not found.")
        body = req.json()
        try:
            if not isinstance(body, dict) or not body:
                raise InvalidRequest("The request body must be a non-empty JSON object.")
            unknown = sorted(set(body) - V2_PUT_FIELDS)
            if unknown:
                raise InvalidRequest(f"The field '{unknown[0]}' is not supported by this simulator's "
                                     f"PUT /orders/{{id}} (supported: {sorted(V2_PUT_FIELDS)}).")
            archived = parse_bool(body["is_deleted"], "is_deleted") if "is_deleted" in body else None
            changes = {k: v for k, v in body.items() if k != "is_deleted"}
            outcomes = [self.store.edit_order(order.id, changes)] if changes else []
        except InvalidRequest as exc:
            return v2_error(400, str(exc))
        except Conflict as exc:
            return v2_error(422, str(exc))
        if archived is not None:
            outcomes.append(self.store.set_archived(order.id, archived))
        for outcome in outcomes:
            self._announce(outcome)
        with self.store.lock:
            return json_response(200, self._order_body(order, set()))

    def _v2_page(self, req: Request, rows: Callable[[Any], list[dict[str, Any]]]) -> Response:
        order = self._v2_order(req)
        if order is None:
            return v2_error(404, "The requested resource was not found.")
        page, limit = paging(req)
        with self.store.lock:
            window = rows(order)[(page - 1) * limit: page * limit]
        return json_response(200, window) if window else empty(204)

    def v2_products(self, req: Request) -> Response:
        return self._v2_page(req, lambda o: [render.order_product(line, o) for line in o.lines])

    def v2_coupons(self, req: Request) -> Response:
        return self._v2_page(req, render.coupon)

    def v2_taxes(self, req: Request) -> Response:
        details = (req.arg("details") or "").lower() == "true"
        return self._v2_page(req, lambda o: [render.tax_line(t, o, details) for t in o.taxes])

    def v2_shipping_addresses(self, req: Request) -> Response:
        return self._v2_page(req, lambda o: [render.shipping_address(o, self.v2_api)])

    # -- v3 orders -----------------------------------------------------------------------
    @staticmethod
    def _v3_page(rows: list[dict[str, Any]], page: int, limit: int) -> Response:
        window = rows[(page - 1) * limit: page * limit]
        return json_response(200, {"data": window, "meta": {"pagination": render.pagination(len(rows), page, limit,
                                                                                             len(window))}})

    def v3_transactions(self, req: Request) -> Response:
        order = self._v2_order(req)
        if order is None:
            return v3_error(404, f"Order {req.params['order_id']} not found")
        with self.store.lock:
            rows = [render.transaction(t) for t in sorted(order.transactions, key=lambda t: t.id)]
        if not rows:
            return empty(204)
        return json_response(200, {"data": rows, "meta": {"pagination": render.pagination(len(rows), 1, len(rows),
                                                                                          len(rows))}})

    def _payment_action(self, req: Request, action: Callable[[int], Outcome]) -> Response:
        """v3 capture / void: synchronous here (BigCommerce schedules them); 201 with an empty object."""
        order = self._v2_order(req)
        if order is None:
            return v3_error(404, f"Order {req.params['order_id']} not found")
        try:
            self._announce(action(order.id))
        except Conflict as exc:
            return v3_error(422, str(exc))
        return json_response(201, {})

    def v3_capture(self, req: Request) -> Response:
        return self._payment_action(req, lambda order_id: self.store.capture(order_id, {}))

    def v3_void(self, req: Request) -> Response:
        return self._payment_action(req, self.store.void_authorization)

    def v3_all_refunds(self, req: Request) -> Response:
        page, limit = paging(req)
        order_ids, ids = int_list(req, "order_id:in"), int_list(req, "id:in")
        lo, hi = moment(req, "created:min"), moment(req, "created:max")
        txn = req.arg("transaction_id")
        with self.store.lock:
            rows = [
                render.refund(r) for r in self.store.refunds()
                if (order_ids is None or r.order_id in order_ids) and (ids is None or r.id in ids)
                and (lo is None or r.created >= lo) and (hi is None or r.created <= hi)
                and (txn is None or any(p.transaction_id == txn for p in r.payments))
            ]
        return self._v3_page(rows, page, limit)

    def v3_refund(self, req: Request) -> Response:
        try:
            refund_id = int(req.params["refund_id"])
        except ValueError:
            return v3_error(404, f"Refund {req.params['refund_id']} not found")
        with self.store.lock:
            found = next((r for r in self.store.refunds() if r.id == refund_id), None)
            if found is None:
                return v3_error(404, f"Refund {refund_id} not found")
            return json_response(200, {"data": render.refund(found), "meta": {}})

    def v3_order_refunds(self, req: Request) -> Response:
        order = self._v2_order(req)
        if order is None:
            return v3_error(404, f"Order {req.params['order_id']} not found")
        with self.store.lock:
            rows = [render.refund(r) for r in sorted(order.refunds, key=lambda r: r.id)]
        return json_response(200, {"data": rows, "meta": {}})

    # -- v3 customers --------------------------------------------------------------------
    def v3_customers(self, req: Request) -> Response:
        page, limit = paging(req)
        ids, emails = int_list(req, "id:in"), str_list(req, "email:in")
        bounds = {name: moment(req, name) for name in ("date_modified:min", "date_modified:max", "date_created:min",
                                                       "date_created:max")}
        sort = req.arg("sort") or "id:asc"
        wanted = includes(req)
        with self.store.lock:
            chosen = [
                c for c in self.store.customers.values()
                if (ids is None or c.id in ids) and (emails is None or c.email in emails)
                and _within(c.date_modified, bounds["date_modified:min"], bounds["date_modified:max"])
                and _within(c.date_created, bounds["date_created:min"], bounds["date_created:max"])
            ]
            field, _, direction = sort.partition(":")
            if field not in ("id", "date_created", "date_modified", "last_name"):
                return v3_error(422, f"sort must be date_created, date_modified or last_name, got {sort!r}")
            chosen.sort(key=lambda c: (getattr(c, field), c.id), reverse=direction == "desc")
            rows = [render.customer(c, wanted) for c in chosen]
        return self._v3_page(rows, page, limit)

    # -- v3 catalog ----------------------------------------------------------------------
    def v3_products(self, req: Request) -> Response:
        page, limit = paging(req)
        ids = int_list(req, "id:in") or ({integer(req, "id")} if req.arg("id") else None)
        skus = {s.lower() for s in (str_list(req, "sku:in") or set())} | (
            {req.arg("sku", "").lower()} if req.arg("sku") else set())
        lo, hi = moment(req, "date_modified:min"), moment(req, "date_modified:max")
        wanted = includes(req)
        with self.store.lock:
            rows = [
                render.product(p, wanted) for p in sorted(self.store.products.values(), key=lambda p: p.id)
                if (ids is None or p.id in ids) and (not skus or p.sku.lower() in skus) and _within(p.date_modified, lo, hi)
            ]
        return self._v3_page(rows, page, limit)

    def v3_product(self, req: Request) -> Response:
        try:
            product = self.store.products.get(int(req.params["product_id"]))
        except ValueError:
            product = None
        if product is None:
            return v3_error(404, f"Product {req.params['product_id']} not found")
        with self.store.lock:
            return json_response(200, {"data": render.product(product, includes(req)), "meta": {}})

    def v3_variants(self, req: Request) -> Response:
        page, limit = paging(req)
        product_ids = int_list(req, "product_id:in")
        skus = {s.lower() for s in (str_list(req, "sku:in") or set())} | (
            {req.arg("sku", "").lower()} if req.arg("sku") else set())
        vid = integer(req, "id")
        with self.store.lock:
            rows = [
                render.variant(v, self.store.products[v.product_id])
                for v in sorted(self.store.variants.values(), key=lambda v: v.id)
                if (product_ids is None or v.product_id in product_ids) and (not skus or v.sku.lower() in skus)
                and (vid is None or v.id == vid)
            ]
        return self._v3_page(rows, page, limit)

    def v3_put_products(self, req: Request) -> Response:
        items = req.json()
        if not isinstance(items, list) or not items:
            return v3_error(422, "The request body must be a non-empty array of products", {"body": "array expected"})
        if len(items) > PRODUCT_BATCH_MAX:
            return v3_error(413, f"The maximum number of items allowed in the array is {PRODUCT_BATCH_MAX}")
        updated, errors = [], {}
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise InvalidRequest("item must be an object")
                updated.append(self.store.update_product(item))
            except InvalidRequest as exc:
                errors[str(index)] = str(exc)
        for product in updated:
            self._emit("store/product/updated", {"type": "product", "id": product.id})
        with self.store.lock:
            data = [render.product(p, set()) for p in updated]
        if not errors:
            return json_response(200, {"data": data, "meta": {}})
        problem = {"status": 422, "title": "Some products could not be updated", "type": ERROR_DOCS, "errors": errors}
        if not updated:
            return json_response(422, {"code": 422, **problem})
        return json_response(207, {"data": data, "errors": problem, "meta": {}})

    def v3_put_variants(self, req: Request) -> Response:
        items = req.json()
        if not isinstance(items, list) or not items:
            return v3_error(422, "The request body must be a non-empty array of variants", {"body": "array expected"})
        if len(items) > VARIANT_BATCH_MAX:
            return v3_error(413, "The request payload is too large. The maximum items allowed in the array is "
                                 f"{VARIANT_BATCH_MAX}")
        planned, batch_errors = [], []
        for index, item in enumerate(items):
            try:
                if not isinstance(item, dict):
                    raise InvalidRequest("item must be an object")
                planned.append(self.store.validate_variant(item))
            except InvalidRequest as exc:
                field = str(exc).split(":", 1)[0]
                batch_errors.append({"status": 422, "title": str(exc), "type": ERROR_DOCS,
                                     "instance": f"/{index}", "errors": {field: str(exc)}})
        if batch_errors:  # the variant batch is all-or-nothing
            return json_response(422, {"batch_errors": batch_errors})
        for variant, changes in planned:
            self.store.apply_variant(variant, changes)
            self._emit("store/sku/updated", {"type": "sku", "id": variant.id,
                                              "sku": {"product_id": variant.product_id, "variant_id": variant.id}})
        with self.store.lock:
            data = [render.variant(v, self.store.products[v.product_id]) for v, _ in planned]
        return json_response(200, {"data": data, "meta": {}})

    # -- v3 hooks ------------------------------------------------------------------------
    def v3_hooks(self, req: Request) -> Response:
        page, limit = paging(req)
        raw_active = req.arg("is_active")
        if raw_active not in (None, "", "true", "false"):
            raise BadQuery(f"query parameter 'is_active' must be true or false, got {raw_active!r}")
        hooks = self.hooks.listing(is_active=None if raw_active in (None, "") else raw_active == "true",
                                   scope=req.arg("scope") or None, destination=req.arg("destination") or None)
        return self._v3_page([h.to_json() for h in hooks], page, limit)

    def _hook_id(self, req: Request) -> int | None:
        try:
            hook_id = int(req.params["hook_id"])
        except ValueError:
            return None
        return hook_id if hook_id in self.hooks.hooks else None

    def v3_create_hook(self, req: Request) -> Response:
        try:
            hook = self.hooks.create(req.json())
        except HookValidationError as exc:
            return v3_error(422, exc.title, exc.errors)
        return json_response(200, {"data": hook.to_json(), "meta": {}})

    def v3_hook(self, req: Request) -> Response:
        hook_id = self._hook_id(req)
        if hook_id is None:
            return v3_error(404, f"Webhook {req.params['hook_id']} not found")
        return json_response(200, {"data": self.hooks.hooks[hook_id].to_json(), "meta": {}})

    def v3_update_hook(self, req: Request) -> Response:
        hook_id = self._hook_id(req)
        if hook_id is None:
            return v3_error(404, f"Webhook {req.params['hook_id']} not found")
        try:
            hook = self.hooks.update(hook_id, req.json())
        except HookValidationError as exc:
            return v3_error(422, exc.title, exc.errors)
        return json_response(200, {"data": hook.to_json(), "meta": {}})

    def v3_delete_hook(self, req: Request) -> Response:
        hook_id = self._hook_id(req)
        if hook_id is None:
            return v3_error(404, f"Webhook {req.params['hook_id']} not found")
        return json_response(200, {"data": self.hooks.delete(hook_id).to_json(), "meta": {}})

    # -- control API ---------------------------------------------------------------------
    def ctl_seed(self, req: Request) -> Response:
        body = req.json() or {}
        current = self.store.data
        store = Store.generate(
            int(body.get("seed", current.seed)), int(body.get("orders", len(current.orders))),
            body.get("customers"), float(body.get("refund_rate", current.refund_rate)), self._now, self._clock,
        )
        self.store = store
        return json_response(200, {"ok": True, "orders": len(store.orders), "customers": len(store.customers)})

    def ctl_state(self, req: Request) -> Response:
        with self.store.lock:
            data = self.store.data
            state = {
                "now": data.now, "seed": data.seed, "orders": [dataclasses.asdict(o) for o in self.store.sorted_orders()],
                "customers": [dataclasses.asdict(c) for c in data.customers],
                "products": [dataclasses.asdict(p) for p in data.products],
                "categories": [dataclasses.asdict(c) for c in data.categories],
            }
            for raw, order in zip(state["orders"], self.store.sorted_orders(), strict=True):
                raw.update(subtotal_ex_tax=order.subtotal_ex_tax, total_ex_tax=order.total_ex_tax,
                           total_tax=order.total_tax, total_inc_tax=order.total_inc_tax, captured=order.captured,
                           refunded=order.refunded, coupon_discount=order.coupon_discount,
                           fees_ex_tax=order.fees_ex_tax, fees_tax=order.fees_tax,
                           authorized_open=order.authorized_open, minor_unit=str(quantum(order.currency)))
        state["hooks"] = [h.to_json() for h in self.hooks.listing()]
        return Response(200, json.dumps(state, default=_raw_json, separators=(",", ":")).encode(),
                        {"Content-Type": "application/json"})

    def ctl_create_order(self, req: Request) -> Response:
        order = self.store.create_order(_object_body(req))
        self._emit("store/order/created", {"type": "order", "id": order.id})
        self._emit("store/order/statusUpdated", {"type": "order", "id": order.id, "status": {
            "previous_status_id": 0, "new_status_id": order.status_id}})
        with self.store.lock:
            return json_response(201, render.order_v2(order, self.v2_api, line_items=True, fees=True))

    def _order_changed(self, outcome: Outcome) -> Response:
        """Announce the change, answer with the order as ``GET /v2/orders/{id}?include=...`` shows it."""
        self._announce(outcome)
        with self.store.lock:
            return json_response(200, render.order_v2(outcome.order, self.v2_api, line_items=True, fees=True))

    def _transactions_made(self, outcome: Outcome) -> Response:
        """Announce the change, answer 201 with the new transactions as v3 renders them."""
        self._announce(outcome)
        with self.store.lock:
            return json_response(201, {"data": [render.transaction(t) for t in outcome.transactions], "meta": {}})

    def ctl_update_order(self, req: Request) -> Response:
        return self._order_changed(self.store.edit_order(int(req.params["order_id"]), _object_body(req)))

    def ctl_cancel(self, req: Request) -> Response:
        return self._order_changed(self.store.cancel(int(req.params["order_id"])))

    def ctl_archive(self, req: Request) -> Response:
        return self._order_changed(self.store.set_archived(int(req.params["order_id"]), True))

    def ctl_restore(self, req: Request) -> Response:
        return self._order_changed(self.store.set_archived(int(req.params["order_id"]), False))

    def ctl_capture(self, req: Request) -> Response:
        return self._transactions_made(self.store.capture(int(req.params["order_id"]), _object_body(req)))

    def ctl_void(self, req: Request) -> Response:
        return self._transactions_made(self.store.void_capture(int(req.params["order_id"])))

    def ctl_refund(self, req: Request) -> Response:
        refund, outcome = self.store.refund_order(int(req.params["order_id"]), _object_body(req))
        self._announce(outcome)
        with self.store.lock:
            return json_response(201, {"data": render.refund(refund), "meta": {}})

    def ctl_create_customer(self, req: Request) -> Response:
        customer = self.store.create_customer(req.json() or {})
        self._emit("store/customer/created", {"type": "customer", "id": customer.id})
        return json_response(201, {"data": render.customer(customer, {"addresses"})})

    def ctl_update_customer(self, req: Request) -> Response:
        customer = self.store.update_customer(int(req.params["customer_id"]), req.json() or {})
        self._emit("store/customer/updated", {"type": "customer", "id": customer.id})
        return json_response(200, {"data": render.customer(customer, {"addresses"})})

    def ctl_ratelimit(self, req: Request) -> Response:
        body = req.json() or {}
        self.limiter.configure(int(body.get("quota", self.limiter.quota)),
                               int(body.get("window_ms", self.limiter.window_ms)))
        return json_response(200, {"quota": self.limiter.quota, "window_ms": self.limiter.window_ms})

    def ctl_deactivate_hook(self, req: Request) -> Response:
        return json_response(200, {"data": self.hooks.deactivate(int(req.params["hook_id"])).to_json()})

    def ctl_deliveries(self, req: Request) -> Response:
        return json_response(200, {"deliveries": self.webhooks.snapshot(), "pending": self.webhooks.pending()})


def _object_body(req: Request) -> dict[str, Any]:
    """A control-API body: a JSON object, or nothing (an empty object)."""
    body = req.json() or {}
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body


def _flag(req: Request, name: str) -> bool:
    """A boolean query parameter; absent means false."""
    raw = (req.arg(name) or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise BadQuery(f"query parameter {name!r} must be true or false, got {req.arg(name)!r}")
    return raw in ("true", "1")


def _within(value: dt.datetime, lo: dt.datetime | None, hi: dt.datetime | None) -> bool:
    return (lo is None or value >= lo) and (hi is None or value <= hi)


def _raw_json(value: Any) -> Any:
    """``/_sandbox/state`` keeps money exact (strings) and times ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, Iterable):
        return list(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
