"""BigCommerce hook: the connection and the transport, nothing else.

Reads yield pages (never whole data sets) and cost as few API calls as the API allows:

* orders come 250 a page with their line items and fees embedded (``include=consignments.line_items,fees``:
  without ``fees`` an order's fees would be missing from its charges);
  ``/v2/orders/{id}/products`` is fetched only for an order whose consignment was capped
  (``__warning__``, on the order or on a consignment). Pages are walked by id (``min_id`` keyset over the default id-ascending order), not by page
  number, so an order modified while we page cannot shift a page and be skipped.
* transactions cost one call per settled order (capture dates and gateways exist nowhere else);
  ``fetch_transactions`` runs them ``concurrency`` at a time on one shared rate limiter.
* taxes and coupons are *not* fetched by default: tax is derived from the embedded line and
  order fields and ``coupon_discount`` carries the coupon total (see ``normalise``). Pass
  ``with_taxes`` / ``with_coupons`` to trade one extra call per taxed / discounted order for
  jurisdiction names and coupon codes.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import email.utils
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from airflow.sdk import BaseHook
from requests.adapters import HTTPAdapter

from ml_connector import errors
from ml_connector.audit import AuditSink, Redactor
from ml_connector.http import HeaderRateLimiter, PolicySession, RetryPolicy, error_detail, raise_for_status
from ml_connector.storefronts.bigcommerce.connection import DEFAULT_API_BASE_URL
from ml_connector.storefronts.bigcommerce.normalise import lines_capped

SYSTEM = "bigcommerce"
# One comma-separated ``include`` (the spec's style: form, explode: false), same on the list and the single GET.
ORDER_INCLUDE = {"include": "consignments.line_items,fees", "consignment_structure": "object"}
V2_PAGE_MAX = 250
PRODUCT_BATCH = 10
VARIANT_BATCH = 50
SKU_FILTER_BATCH = 50

T = TypeVar("T")


def _zone(where: str, value: object) -> str | None:
    """The connection's store time zone, checked now so a typo fails with the key that holds it."""
    if value in (None, ""):
        return None
    try:
        ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise errors.ConfigError(where, "extra.timezone", "an IANA time zone such as America/Chicago", value) from None
    return str(value)


@dataclass(frozen=True)
class BigCommerceSettings:
    """Everything a hook needs from its connection; secrets are kept out of ``repr``."""

    store_hash: str
    access_token: str = field(repr=False)
    client_id: str = ""
    client_secret: str | None = field(default=None, repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    webhook_header_secret: str | None = field(default=None, repr=False)
    accept_bc_signature: bool = False
    # Fetch /v2/orders/{id}/taxes so tax payable is booked by jurisdiction (State Tax, VAT...):
    # one more call per taxed order. Off: tax lines are named by what they apply to.
    tax_detail: bool = True
    verify: bool | str = True
    concurrency: int = 4
    # The store's IANA time zone: posting days are calendar days there. None = the mapping's.
    timezone: str | None = None
    connection_id: str | None = None

    @property
    def store_url(self) -> str:
        return f"{self.api_base_url.rstrip('/')}/stores/{self.store_hash}"


@dataclass(frozen=True)
class ItemResult:
    """Outcome of one item of a batch write: never dropped, failed items say why."""

    key: object  # the item's id (or sku when creating)
    ok: bool
    error: str | None = None
    data: dict[str, Any] | None = None


def iso_utc(value: dt.datetime) -> str:
    """ISO 8601 in UTC with an explicit offset (accepted by v2 and v3 date filters)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware datetime")
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def parse_api_date(value: str) -> dt.datetime | None:
    """RFC 2822 (v2) or ISO 8601 (v3) to aware UTC; None when unparsable (the normaliser decides)."""
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else None


def _in_window(raw: str | None, start: dt.datetime, end: dt.datetime) -> bool:
    """Half-open ``[start, end)``: the API's bounds are inclusive, ours are not (no double reads)."""
    when = parse_api_date(raw) if raw else None
    return when is None or start <= when < end


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _nonzero(value: Any) -> bool:
    try:
        return Decimal(str(value or "0")) != 0
    except InvalidOperation:
        return True  # let the normaliser report it


class BigCommerceHook(BaseHook):
    """Connection + transport for one BigCommerce store (``X-Auth-Token``, rate-limited, audited)."""

    conn_name_attr = "bigcommerce_conn_id"
    default_conn_name = "bigcommerce_default"
    conn_type = "bigcommerce"
    hook_name = "BigCommerce"

    def __init__(
        self,
        bigcommerce_conn_id: str = default_conn_name,
        *,
        audit: AuditSink | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | tuple[float, float] = (5, 60),
        settings: BigCommerceSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bigcommerce_conn_id = bigcommerce_conn_id
        self._audit = audit
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self._settings = settings
        self._session: PolicySession | None = None
        self.rate_limiter = HeaderRateLimiter()

    @classmethod
    def from_params(
        cls,
        store_hash: str,
        access_token: str,
        client_id: str = "",
        client_secret: str | None = None,
        api_base_url: str = DEFAULT_API_BASE_URL,
        *,
        audit: AuditSink | None = None,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        timeout: float | tuple[float, float] = (5, 60),
        verify: bool | str = True,
        timezone: str | None = None,
        webhook_header_secret: str | None = None,
        accept_bc_signature: bool = False,
    ) -> BigCommerceHook:
        """Build without an Airflow connection (tests, benchmarks, scripts)."""
        settings = BigCommerceSettings(
            store_hash=store_hash, access_token=access_token, client_id=client_id, client_secret=client_secret,
            api_base_url=api_base_url, webhook_header_secret=webhook_header_secret,
            accept_bc_signature=accept_bc_signature, verify=verify, concurrency=concurrency, timezone=timezone,
        )
        return cls(audit=audit, retry=retry, timeout=timeout, settings=settings)

    # -- connection ------------------------------------------------------------------------
    @property
    def settings(self) -> BigCommerceSettings:
        if self._settings is None:
            self._settings = self._settings_from_connection()
        return self._settings

    def _settings_from_connection(self) -> BigCommerceSettings:
        conn = self.get_connection(self.bigcommerce_conn_id)
        extra = conn.extra_dejson or {}
        where = f"connection {self.bigcommerce_conn_id!r}"
        if not extra.get("store_hash"):
            raise errors.ConfigError(where, "extra.store_hash", "the store hash of the BigCommerce store")
        if not conn.password:
            raise errors.ConfigError(where, "password", "the API account access token")
        try:
            concurrency = int(extra.get("concurrency") or 4)
        except (TypeError, ValueError):
            raise errors.ConfigError(where, "extra.concurrency", "an integer", extra.get("concurrency")) from None
        return BigCommerceSettings(
            store_hash=str(extra["store_hash"]),
            access_token=conn.password,
            client_id=conn.login or "",
            client_secret=extra.get("client_secret"),
            api_base_url=extra.get("api_base_url") or DEFAULT_API_BASE_URL,
            webhook_header_secret=extra.get("webhook_header_secret"),
            accept_bc_signature=bool(extra.get("accept_bc_signature", False)),
            tax_detail=bool(extra.get("tax_detail", True)),
            verify=extra.get("ca_bundle") or True,
            concurrency=max(1, concurrency),
            timezone=_zone(where, extra.get("timezone")),
            connection_id=self.bigcommerce_conn_id,
        )

    def _build_session(self, retry: RetryPolicy | None) -> PolicySession:
        s = self.settings
        session = PolicySession(
            SYSTEM,
            timeout=self._timeout,
            verify=s.verify,
            redactor=Redactor([s.access_token, s.client_secret, s.webhook_header_secret]),
            audit=self._audit,
            rate_limiter=self.rate_limiter,
            retry=retry,
            connection_id=s.connection_id or self.bigcommerce_conn_id,
        )
        session.headers.update(
            {"X-Auth-Token": s.access_token, "Accept": "application/json", "Content-Type": "application/json"}
        )
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(10, 2 * s.concurrency))
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def get_conn(self) -> PolicySession:
        if self._session is None:
            self._session = self._build_session(self._retry)
        return self._session

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    # -- low-level ---------------------------------------------------------------------------
    def _url(self, version: str, path: str) -> str:
        return f"{self.settings.store_url}/{version}/{path.lstrip('/')}"

    def _call(self, method: str, version: str, path: str, *, what: str, ok_404: bool = False,
              session: PolicySession | None = None, **kwargs: Any) -> requests.Response:
        response = (session or self.get_conn()).request(method, self._url(version, path), **kwargs)
        if ok_404 and response.status_code == 404:
            return response
        raise_for_status(response, SYSTEM, what=f"{what} (store {self.settings.store_hash})")
        return response

    def _get_json(self, version: str, path: str, *, what: str, params: dict[str, Any] | None = None) -> Any:
        response = self._call("GET", version, path, what=what, params=params)
        return None if response.status_code == 204 or not response.content else response.json()

    def _v2_pages(self, path: str, *, what: str, params: dict[str, Any] | None = None,
                  limit: int = V2_PAGE_MAX) -> Iterator[list[dict[str, Any]]]:
        """v2 collections: bare arrays, page numbers, 204 (or a short page) at the end."""
        page = 1
        while True:
            rows = self._get_json("v2", path, what=what, params={**(params or {}), "page": page, "limit": limit})
            if not rows:
                return
            yield rows
            if len(rows) < limit:
                return
            page += 1

    def _v3_pages(self, path: str, *, what: str, params: dict[str, Any] | None = None,
                  limit: int = V2_PAGE_MAX) -> Iterator[list[dict[str, Any]]]:
        """v3 collections: ``{data, meta.pagination}``; 204 or an empty ``data`` ends it too."""
        page = 1
        while True:
            body = self._get_json("v3", path, what=what, params={**(params or {}), "page": page, "limit": limit})
            rows = (body or {}).get("data") or []
            if rows:
                yield rows
            pagination = ((body or {}).get("meta") or {}).get("pagination") or {}
            total_pages = pagination.get("total_pages")
            if not rows or (total_pages is not None and page >= int(total_pages)) or (
                total_pages is None and len(rows) < limit
            ):
                return
            page += 1

    def _parallel(self, fn: Callable[[T], Any], items: Iterable[T]) -> list[Any]:
        """Run ``fn`` over ``items``, ``concurrency`` at a time, keeping the caller's audit correlation."""
        items = list(items)
        if len(items) <= 1 or self.settings.concurrency <= 1:
            return [fn(item) for item in items]
        ctx = contextvars.copy_context()
        with ThreadPoolExecutor(max_workers=self.settings.concurrency, thread_name_prefix="bigcommerce") as pool:
            return list(pool.map(lambda item: ctx.copy().run(fn, item), items))

    # -- orders ----------------------------------------------------------------------------
    def iter_orders(self, modified_from: dt.datetime, modified_to: dt.datetime, *, limit: int = V2_PAGE_MAX,
                    with_taxes: bool = False, with_coupons: bool = False) -> Iterator[list[dict[str, Any]]]:
        """Orders with ``modified_from <= date_modified < modified_to``, a page at a time, lines embedded."""
        if not 1 <= limit <= V2_PAGE_MAX:
            raise ValueError(f"limit must be 1..{V2_PAGE_MAX}, got {limit}")
        params: dict[str, Any] = {
            **ORDER_INCLUDE,
            "min_date_modified": iso_utc(modified_from),
            "max_date_modified": iso_utc(modified_to),
            "limit": limit,  # no ``sort``: id ascending is the default, and the spec's enum omits ":asc"
        }
        min_id = 1
        while True:
            rows = self._get_json("v2", "orders", what="list orders", params={**params, "min_id": min_id})
            if not rows:
                return
            page = [o for o in rows if _in_window(o.get("date_modified"), modified_from, modified_to)]
            if page:
                yield self._complete(page, with_taxes=with_taxes, with_coupons=with_coupons)
            if len(rows) < limit:
                return
            min_id = max(int(o["id"]) for o in rows) + 1

    def get_order(self, order_id: int | str, *, with_taxes: bool = False, with_coupons: bool = False) -> dict[str, Any]:
        """One order with the same embedding as ``iter_orders``; ``NotFound`` if it does not exist."""
        order = self._get_json("v2", f"orders/{int(order_id)}", what=f"get order {order_id}", params=ORDER_INCLUDE)
        return self._complete([order], with_taxes=with_taxes, with_coupons=with_coupons)[0]

    def _complete(self, orders: list[dict[str, Any]], *, with_taxes: bool, with_coupons: bool) -> list[dict[str, Any]]:
        """Fetch what the list could not embed, for the orders that need it only."""
        capped = [o for o in orders if lines_capped(o)]
        for order, products in zip(capped, self._parallel(self.get_order_products, [o["id"] for o in capped]), strict=True):
            order["products"] = products
        if with_taxes:
            taxed = [o for o in orders if _nonzero(o.get("total_tax"))]
            for order, taxes in zip(taxed, self._parallel(self.get_order_taxes, [o["id"] for o in taxed]), strict=True):
                order["taxes"] = taxes
        if with_coupons:
            discounted = [o for o in orders if _nonzero(o.get("coupon_discount"))]
            fetched = self._parallel(self.get_order_coupons, [o["id"] for o in discounted])
            for order, coupons in zip(discounted, fetched, strict=True):
                order["coupons"] = coupons
        return orders

    def get_order_products(self, order_id: int | str) -> list[dict[str, Any]]:
        return [p for page in self._v2_pages(f"orders/{int(order_id)}/products", what=f"order {order_id} products") for p in page]

    def get_order_taxes(self, order_id: int | str) -> list[dict[str, Any]]:
        return [t for page in self._v2_pages(f"orders/{int(order_id)}/taxes", what=f"order {order_id} taxes",
                                             params={"details": "true"}) for t in page]

    def get_order_coupons(self, order_id: int | str) -> list[dict[str, Any]]:
        return [c for page in self._v2_pages(f"orders/{int(order_id)}/coupons", what=f"order {order_id} coupons") for c in page]

    # -- transactions and refunds ------------------------------------------------------------
    def get_transactions(self, order_id: int | str) -> list[dict[str, Any]]:
        """All payment transactions of an order (``[]`` on 204: none yet)."""
        path = f"orders/{int(order_id)}/transactions"
        return [t for page in self._v3_pages(path, what=f"order {order_id} transactions") for t in page]

    def fetch_transactions(self, order_ids: Iterable[int | str]) -> dict[int, list[dict[str, Any]]]:
        """Transactions of many orders, ``concurrency`` at a time, sharing the store's rate limiter."""
        ids = [int(i) for i in order_ids]
        return dict(zip(ids, self._parallel(self.get_transactions, ids), strict=True))

    def iter_refunds(self, created_from: dt.datetime, created_to: dt.datetime, *,
                     limit: int = V2_PAGE_MAX) -> Iterator[list[dict[str, Any]]]:
        """Store-wide refunds with ``created_from <= created < created_to``, a page at a time."""
        params = {"created:min": iso_utc(created_from), "created:max": iso_utc(created_to)}
        for rows in self._v3_pages("orders/payment_actions/refunds", what="list refunds", params=params, limit=limit):
            page = [r for r in rows if _in_window(r.get("created"), created_from, created_to)]
            if page:
                yield page

    def get_refunds_by_id(self, refund_ids: Iterable[int | str]) -> list[dict[str, Any]]:
        """Refunds by id (what a ``store/order/refund/created`` webhook points at)."""
        ids = sorted({int(i) for i in refund_ids})
        found: list[dict[str, Any]] = []
        for chunk in _chunks(ids, SKU_FILTER_BATCH):
            params = {"id:in": ",".join(str(i) for i in chunk)}
            for rows in self._v3_pages("orders/payment_actions/refunds", what="get refunds", params=params):
                found.extend(rows)
        return found

    # -- customers ---------------------------------------------------------------------------
    def get_customers_by_id(self, customer_ids: Iterable[int | str]) -> list[dict[str, Any]]:
        """Customers by id, addresses included (what a customer webhook points at)."""
        ids = sorted({int(i) for i in customer_ids})
        found: list[dict[str, Any]] = []
        for chunk in _chunks(ids, SKU_FILTER_BATCH):
            params = {"id:in": ",".join(str(i) for i in chunk), "include": "addresses"}
            for rows in self._v3_pages("customers", what="get customers", params=params):
                found.extend(rows)
        return found

    def iter_customers(self, modified_from: dt.datetime, modified_to: dt.datetime | None = None, *,
                       limit: int = V2_PAGE_MAX) -> Iterator[list[dict[str, Any]]]:
        """Customers modified since ``modified_from`` (before ``modified_to`` if given), addresses included."""
        params: dict[str, Any] = {"date_modified:min": iso_utc(modified_from), "include": "addresses",
                                  "sort": "date_modified:asc"}
        if modified_to is not None:
            params["date_modified:max"] = iso_utc(modified_to)
        yield from self._v3_pages("customers", what="list customers", params=params, limit=limit)

    # -- store ---------------------------------------------------------------------------------
    def get_store_profile(self) -> dict[str, Any]:
        return self._get_json("v2", "store", what="read store profile") or {}

    def test_connection(self) -> tuple[bool, str]:
        """Read the store profile once (no retries) and say which store answered, or why none did."""
        try:
            s = self.settings
        except errors.ConnectorError as exc:
            return False, str(exc)
        session = self._build_session(RetryPolicy(max_attempts=1))
        try:
            response = self._call("GET", "v2", "store", what="read store profile", ok_404=True, session=session)
            if response.status_code == 404:
                return False, f"Store hash {s.store_hash!r} is unknown at {s.api_base_url} (HTTP 404)"
            profile = response.json()
            return True, f"Connected to store {profile.get('name', '?')!r} (hash {s.store_hash})"
        except errors.AuthenticationError as exc:
            return False, f"The access token was rejected for store hash {s.store_hash!r}: {exc}"
        except errors.TransientError as exc:
            return False, _describe_transport_failure(exc, s.api_base_url)
        except (errors.ExternalError, ValueError) as exc:
            return False, f"Unexpected answer from {s.api_base_url}: {exc}"
        finally:
            session.close()

    # -- catalog -----------------------------------------------------------------------------
    def find_products_by_sku(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Products whose main SKU is in ``skus`` (``sku:in``, 50 per call), keyed by upper-cased SKU."""
        wanted = sorted({s for s in skus if s})
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(wanted, SKU_FILTER_BATCH):
            for page in self._v3_pages("catalog/products", what="find products by sku",
                                       params={"sku:in": ",".join(chunk)}):
                found.update({str(p.get("sku", "")).upper(): p for p in page})
        return found

    def find_variants_by_sku(self, skus: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Variants by SKU; the variants endpoint filters one ``sku`` per call, so calls run in parallel."""
        wanted = sorted({s for s in skus if s})

        def one(sku: str) -> list[dict[str, Any]]:
            return [v for page in self._v3_pages("catalog/variants", what=f"find variant {sku}", params={"sku": sku})
                    for v in page]

        found: dict[str, dict[str, Any]] = {}
        for variants in self._parallel(one, wanted):
            found.update({str(v.get("sku", "")).upper(): v for v in variants})
        return found

    def update_products(self, items: Sequence[dict[str, Any]]) -> list[ItemResult]:
        """Batch-update products (10 per call); one result per item, failures with their reason."""
        return self._batch_update("catalog/products", items, PRODUCT_BATCH, what="update products")

    def update_variants(self, items: Sequence[dict[str, Any]]) -> list[ItemResult]:
        """Batch-update variants (50 per call); one result per item, failures with their reason."""
        return self._batch_update("catalog/variants", items, VARIANT_BATCH, what="update variants")

    def _batch_update(self, path: str, items: Sequence[dict[str, Any]], size: int, *, what: str) -> list[ItemResult]:
        results: list[ItemResult] = []
        for batch in _chunks(list(items), size):
            response = self.get_conn().request("PUT", self._url("v3", path), json=list(batch))
            results.extend(_batch_results(batch, response, what=what))
        return results

    # -- webhooks ------------------------------------------------------------------------------
    def list_hooks(self) -> list[dict[str, Any]]:
        return [h for page in self._v3_pages("hooks", what="list webhooks") for h in page]

    def create_hook(self, scope: str, destination: str, headers: dict[str, str] | None = None,
                    is_active: bool = True) -> dict[str, Any]:
        body = {"scope": scope, "destination": destination, "is_active": is_active, "headers": headers or {}}
        response = self._call("POST", "v3", "hooks", what=f"create webhook {scope}", json=body)
        return response.json()["data"]

    def update_hook(self, hook_id: int, **fields: Any) -> dict[str, Any]:
        allowed = {"scope", "destination", "is_active", "headers"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"update_hook: unknown fields {sorted(unknown)}; allowed {sorted(allowed)}")
        response = self._call("PUT", "v3", f"hooks/{int(hook_id)}", what=f"update webhook {hook_id}", json=fields)
        return response.json()["data"]


def _item_key(item: dict[str, Any]) -> object:
    return item.get("id", item.get("sku"))


def _batch_results(batch: Sequence[dict[str, Any]], response: requests.Response, *, what: str) -> list[ItemResult]:
    """Map a batch answer to per-item results: 200 all ok, 207 partial, 4xx the whole batch failed."""
    if response.status_code >= 500:
        raise errors.ExternalError(SYSTEM, f"{what}: HTTP {response.status_code}: {error_detail(response)}",
                                   status=response.status_code)
    body: Any = response.json() if response.content else {}
    if response.status_code in (200, 201, 207):
        returned = {r.get("id"): r for r in (body.get("data") or []) if isinstance(r, dict)}
        reason = error_detail(response) if response.status_code == 207 else "missing from the answer"
        out = []
        for item in batch:
            key = _item_key(item)
            if key in returned:
                out.append(ItemResult(key, True, data=returned[key]))
            else:
                out.append(ItemResult(key, False, error=f"{what}: HTTP {response.status_code}: {reason}"))
        return out
    reason = f"{what}: HTTP {response.status_code}: {error_detail(response)}"
    if isinstance(body, dict) and body.get("batch_errors"):
        reason += " " + "; ".join(str(e.get("title", e)) for e in body["batch_errors"] if isinstance(e, dict))
    return [ItemResult(_item_key(item), False, error=reason) for item in batch]


def _describe_transport_failure(exc: errors.TransientError, base_url: str) -> str:
    cause = exc.__cause__
    text = str(cause or exc)
    if isinstance(cause, requests.exceptions.SSLError):
        return f"TLS verification failed for {base_url}: check the certificate or the CA bundle ({type(cause).__name__})"
    if isinstance(cause, requests.Timeout):
        return f"{base_url} did not answer in time ({type(cause).__name__})"
    if isinstance(cause, requests.ConnectionError) and any(
        marker in text for marker in ("NameResolutionError", "Name or service not known", "nodename nor servname", "getaddrinfo")
    ):
        return f"Cannot resolve the host of {base_url} (DNS)"
    if isinstance(cause, requests.ConnectionError):
        return f"Cannot connect to {base_url}: {type(cause).__name__}"
    return f"{base_url} is unavailable: {exc}"
