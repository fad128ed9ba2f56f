"""Model -> JSON shapes of the public contract (orders v2, orders v3, customers v3, catalog v3).

v2 money is a 4-decimal string and v2 dates are RFC 2822 in UTC; v3 money is a JSON number
(rendered from the Decimal, exact at the currency's minor unit) and v3 dates are ISO 8601. Field names and types follow
the OpenAPI files under ``shared/specs/bigcommerce``; contract tests validate them.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

from sandbox.bigcommerce.data import CURRENCY_IDS, FEE_TAX_CLASS_ID, NON_TAXABLE_CLASS_ID, STORE_CURRENCY
from sandbox.bigcommerce.model import (
    STATUS_NAMES,
    ZERO,
    Customer,
    Fee,
    Order,
    OrderLine,
    PostalAddress,
    Product,
    Refund,
    TaxLine,
    Transaction,
    Variant,
)

LINE_ITEM_CAP = 50
LINE_ITEM_WARNING = (
    "Not all line items of this consignment are returned with this response, only 50 are included. "
    "Please use the /v2/orders/{order_id}/products endpoint to fetch all line items."
)
_PAYMENT_STATUS = {0: "", 1: "pending", 4: "refunded", 5: "void", 6: "declined", 7: "pending", 14: "partially refunded"}


def money4(value: Decimal) -> str:
    return f"{value:.4f}"


def number(value: Decimal) -> float | int:
    """A JSON number for v3 money; cent values round-trip exactly through ``float`` repr."""
    return float(value)


def rfc2822(moment: dt.datetime) -> str:
    return format_datetime(moment.astimezone(dt.UTC))


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def iso_z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def link(api: str, path: str) -> dict[str, str]:
    return {"url": f"{api}{path}", "resource": path}


# -- v2 ------------------------------------------------------------------------------------
def _address(a: PostalAddress) -> dict[str, Any]:
    return {
        "first_name": a.first_name, "last_name": a.last_name, "company": a.company, "street_1": a.street_1,
        "street_2": "", "city": a.city, "state": a.state, "zip": a.zip, "country": a.country,
        "country_iso2": a.country_iso2, "phone": a.phone, "email": a.email, "form_fields": [],
    }


def payment_status(order: Order) -> str:
    """From the status, refined by the money: an open authorization is ``authorized``, and a
    cancelled order that kept captured money is still ``captured`` (cancelling refunds nothing)."""
    if order.status_id in (1, 7) and order.authorized_open:
        return "authorized"
    if order.status_id == 5 and order.captured:
        return "captured"
    return _PAYMENT_STATUS.get(order.status_id, "captured")


def order_v2(order: Order, api: str, *, line_items: bool = False, fees: bool = False) -> dict[str, Any]:
    """One order; ``api`` is the v2 base URL used in resource links. ``fees`` is ``include=fees``."""
    rate = f"{order.exchange_rate:.10f}"
    status = order.status_id
    body: dict[str, Any] = {
        "id": order.id,
        "customer_id": order.customer_id,
        "date_created": rfc2822(order.date_created),
        "date_modified": rfc2822(order.date_modified),
        "date_shipped": rfc2822(order.date_modified) if status in (2, 10) else "",
        "status_id": status,
        "status": STATUS_NAMES[status],
        "custom_status": STATUS_NAMES[status],
        "subtotal_ex_tax": money4(order.subtotal_ex_tax),
        "subtotal_inc_tax": money4(order.subtotal_ex_tax + order.subtotal_tax),
        "subtotal_tax": money4(order.subtotal_tax),
        "base_shipping_cost": money4(order.shipping_ex_tax),
        "shipping_cost_ex_tax": money4(order.shipping_ex_tax),
        "shipping_cost_inc_tax": money4(order.shipping_ex_tax + order.shipping_tax),
        "shipping_cost_tax": money4(order.shipping_tax),
        "shipping_cost_tax_class_id": 2,
        "base_handling_cost": money4(order.handling_ex_tax),
        "handling_cost_ex_tax": money4(order.handling_ex_tax),
        "handling_cost_inc_tax": money4(order.handling_ex_tax + order.handling_tax),
        "handling_cost_tax": money4(order.handling_tax),
        "handling_cost_tax_class_id": 2,
        "base_wrapping_cost": money4(order.wrapping_ex_tax),
        "wrapping_cost_ex_tax": money4(order.wrapping_ex_tax),
        "wrapping_cost_inc_tax": money4(order.wrapping_ex_tax + order.wrapping_tax),
        "wrapping_cost_tax": money4(order.wrapping_tax),
        "wrapping_cost_tax_class_id": 3,
        "total_ex_tax": money4(order.total_ex_tax),
        "total_inc_tax": money4(order.total_inc_tax),
        "total_tax": money4(order.total_tax),
        "is_tax_inclusive_pricing": False,
        "items_total": order.items_total,
        "items_shipped": order.items_total if status in (2, 10) else 0,
        "payment_method": order.payment_method,
        "payment_provider_id": next((t.gateway_transaction_id for t in order.transactions
                                     if t.captures_money and t.gateway == order.gateway), ""),
        "payment_status": payment_status(order),
        "refunded_amount": money4(ZERO),  # the spec: "always returns 0"; refunds live in v3
        "order_is_digital": bool(order.lines) and all(line.is_gift_certificate for line in order.lines),
        "store_credit_amount": money4(order.store_credit_amount),
        "gift_certificate_amount": money4(order.gift_certificate_amount),
        "ip_address": order.ip_address,
        "ip_address_v6": "",
        "geoip_country": "United States",
        "geoip_country_iso2": "US",
        "currency_id": CURRENCY_IDS[order.currency],
        "currency_code": order.currency,
        "currency_exchange_rate": rate,
        "default_currency_id": CURRENCY_IDS[order.currency],
        "default_currency_code": order.currency,
        "store_default_currency_code": STORE_CURRENCY,
        "store_default_to_transactional_exchange_rate": rate,
        "staff_notes": "",
        "customer_message": order.customer_message,
        "discount_amount": money4(order.discount_amount),
        "coupon_discount": money4(order.coupon_discount),
        "shipping_address_count": 1,
        "is_deleted": order.is_deleted,
        "ebay_order_id": "0",
        "cart_id": order.cart_id,
        "billing_address": _address(order.billing),
        "is_email_opt_in": False,
        "order_source": "www",
        "channel_id": 1,
        "external_source": None,
        "external_id": None,
        "external_merchant_id": None,
        "tax_provider_id": "BasicTaxProvider",
        "customer_locale": "en",
        "external_order_id": "",
        "products": link(api, f"/orders/{order.id}/products"),
        "shipping_addresses": link(api, f"/orders/{order.id}/shipping_addresses"),
        "coupons": link(api, f"/orders/{order.id}/coupons"),
    }
    if line_items:
        body["consignments"] = consignments(order, api)
    if fees:
        body["fees"] = [fee(f) for f in order.fees]
    return body


def consignments(order: Order, api: str) -> dict[str, Any]:
    """``include=consignments.line_items`` with ``consignment_structure=object``: one shipping
    consignment for the goods, one email consignment per gift certificate recipient."""
    goods = [line for line in order.lines if not line.is_gift_certificate]
    shipping = shipping_address(order, api)
    shipping["line_items"] = [order_product(line, order) for line in goods[:LINE_ITEM_CAP]]
    if len(goods) > LINE_ITEM_CAP:
        shipping["__warning__"] = {"message": LINE_ITEM_WARNING}
    by_recipient: dict[str, list[dict[str, Any]]] = {}
    for line in order.lines:
        if line.is_gift_certificate:
            by_recipient.setdefault(line.recipient_email, []).append(order_product(line, order))
    return {"pickups": [], "shipping": [shipping] if goods else [], "downloads": [], "email": {
        "gift_certificates": [{"recipient_email": email, "line_items": items} for email, items in by_recipient.items()],
    }}


def fee(item: Fee) -> dict[str, Any]:
    """``orderFees_Resp``: costs as 4-dp strings like every other v2 amount."""
    return {
        "id": item.id, "type": "custom_fee", "display_name_customer": item.name, "display_name_merchant": item.name,
        "source": "v2", "base_cost": money4(item.cost_ex_tax), "cost_ex_tax": money4(item.cost_ex_tax),
        "cost_inc_tax": money4(item.cost_inc_tax), "cost_tax": money4(item.cost_tax),
        "tax_class_id": FEE_TAX_CLASS_ID if item.taxable else NON_TAXABLE_CLASS_ID,
    }


def order_product(line: OrderLine, order: Order) -> dict[str, Any]:
    unit_tax = (line.total_tax / line.quantity).quantize(Decimal("0.0001"))
    discounts = []
    if line.discount:
        discounts.append({"id": "coupon" if order.coupons else "manual-discount", "amount": money4(line.discount),
                          "name": order.coupons[0].code if order.coupons else "Manual Discount",
                          "code": order.coupons[0].code if order.coupons else None, "target": "order"})
    digital = line.is_gift_certificate
    return {
        "id": line.id, "order_id": order.id, "product_id": line.product_id, "variant_id": line.variant_id,
        "order_address_id": order.address_id, "name": line.name, "name_customer": line.name,
        "name_merchant": line.name, "sku": line.sku, "upc": "", "type": line.type,
        "base_price": money4(line.price_ex_tax), "price_ex_tax": money4(line.price_ex_tax),
        "price_inc_tax": money4(line.price_ex_tax + unit_tax), "price_tax": money4(unit_tax),
        "base_total": money4(line.total_ex_tax), "total_ex_tax": money4(line.total_ex_tax),
        "total_inc_tax": money4(line.total_inc_tax), "total_tax": money4(line.total_tax),
        "discounted_total_inc_tax": money4(line.discounted_total_inc_tax),
        "quantity": line.quantity, "base_cost_price": money4(ZERO), "cost_price_inc_tax": money4(ZERO),
        "cost_price_ex_tax": money4(ZERO), "cost_price_tax": money4(ZERO),
        "weight": "0.0000" if digital else "1.0000",
        "width": "0.0000", "height": "0.0000", "depth": "0.0000",
        "is_refunded": line.quantity_refunded >= line.quantity, "quantity_refunded": line.quantity_refunded,
        "refund_amount": money4(line.refund_amount), "return_id": 0, "wrapping_id": 1 if line.wrapping_ex_tax else 0,
        "wrapping_name": "Gift Wrap" if line.wrapping_ex_tax else None,
        "base_wrapping_cost": money4(line.wrapping_ex_tax), "wrapping_cost_ex_tax": money4(line.wrapping_ex_tax),
        "wrapping_cost_inc_tax": money4(line.wrapping_ex_tax + line.wrapping_tax),
        "wrapping_cost_tax": money4(line.wrapping_tax), "wrapping_message": "",
        "quantity_shipped": line.quantity if order.status_id in (2, 10) and not digital else 0,
        "event_name": None, "event_date": None, "fixed_shipping_cost": money4(ZERO), "ebay_item_id": "",
        "ebay_transaction_id": "", "option_set_id": None, "parent_order_product_id": None,
        "is_bundled_product": False, "bin_picking_number": "", "external_id": None, "brand": "",
        "applied_discounts": discounts, "product_options": [], "configurable_fields": [],
        "gift_certificate_id": line.id if digital else None,  # the sim issues one certificate per line
    }


def shipping_address(order: Order, api: str) -> dict[str, Any]:
    address = _address(order.shipping)
    return {
        "id": order.address_id, "order_id": order.id, **address,
        "items_total": order.items_total, "items_shipped": order.items_total if order.status_id in (2, 10) else 0,
        "shipping_method": order.shipping_method, "base_cost": money4(order.shipping_ex_tax),
        "cost_ex_tax": money4(order.shipping_ex_tax), "cost_inc_tax": money4(order.shipping_ex_tax + order.shipping_tax),
        "cost_tax": money4(order.shipping_tax), "cost_tax_class_id": 2,
        "base_handling_cost": money4(order.handling_ex_tax), "handling_cost_ex_tax": money4(order.handling_ex_tax),
        "handling_cost_inc_tax": money4(order.handling_ex_tax + order.handling_tax),
        "handling_cost_tax": money4(order.handling_tax), "handling_cost_tax_class_id": 2,
        "shipping_zone_id": 1, "shipping_zone_name": "United States",
        "shipping_quotes": link(api, f"/orders/{order.id}/shipping_addresses/{order.address_id}/shipping_quotes"),
    }


def tax_line(tax: TaxLine, order: Order, details: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": tax.id, "order_id": order.id, "order_address_id": order.address_id, "sales_tax_id": str(tax.priority + 1),
        "tax_class_id": 0, "name": tax.name, "class": "Automatic Tax", "rate": f"{tax.rate:.4f}",
        "priority": tax.priority, "priority_amount": money4(tax.amount), "line_amount": money4(tax.amount),
    }
    if details:
        body["order_product_id"] = str(tax.order_product_id) if tax.order_product_id is not None else ""
        body["line_item_type"] = tax.line_item_type
    return body


def coupon(order: Order) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "coupon_id": c.coupon_id, "order_id": order.id, "code": c.code, "amount": number(c.amount),
         "type": c.type, "discount": number(c.discount)}
        for c in order.coupons
    ]


def order_count(orders: list[Order]) -> dict[str, Any]:
    counts = {sid: 0 for sid in STATUS_NAMES}
    for order in orders:
        counts[order.status_id] += 1
    statuses = [
        {"id": sid, "name": name, "system_label": name, "custom_label": name, "system_description": name,
         "count": counts[sid], "sort_order": index}
        for index, (sid, name) in enumerate(STATUS_NAMES.items())
    ]
    return {"statuses": statuses, "count": len(orders)}


# -- v3 ------------------------------------------------------------------------------------
def pagination(total: int, page: int, limit: int, count: int) -> dict[str, Any]:
    pages = math.ceil(total / limit) if limit else 0
    links: dict[str, str] = {"current": f"?page={page}&limit={limit}"}
    if page > 1:
        links["previous"] = f"?page={page - 1}&limit={limit}"
    if page < pages:
        links["next"] = f"?page={page + 1}&limit={limit}"
    return {"total": total, "count": count, "per_page": limit, "current_page": page, "total_pages": pages,
            "links": links}


def transaction(txn: Transaction) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": txn.id, "order_id": str(txn.order_id), "event": txn.event, "method": txn.method,
        "amount": number(txn.amount), "currency": txn.currency, "gateway": txn.gateway,
        "gateway_transaction_id": txn.gateway_transaction_id, "payment_method_id": txn.payment_method_id,
        "date_created": iso(txn.date_created), "test": txn.gateway == "testgateway", "status": txn.status,
        "fraud_review": False, "offline": None, "custom": None,
        "payment_instrument_token": None, "provider_instrument_token": None, "provider_customer_id": None,
        "gift_certificate": None, "store_credit": None,
    }
    if txn.reference_transaction_id is not None:
        body["reference_transaction_id"] = txn.reference_transaction_id
    if txn.method == "credit_card":
        body["avs_result"] = {"code": "Y", "message": "Street and postal code match", "street_match": "Y",
                              "postal_match": "Y"}
        body["cvv_result"] = {"code": "M", "message": "CVV matches"}
        body["credit_card"] = {"card_type": "visa", "card_iin": "424242", "card_last4": txn.card_last4 or "4242",
                               "card_expiry_month": 12, "card_expiry_year": 2030}
    elif txn.method == "gift_certificate":
        body["gift_certificate"] = {"code": txn.gift_certificate_code, "original_balance": number(txn.amount),
                                    "starting_balance": number(txn.amount), "remaining_balance": 0.0,
                                    "status": "active"}
    elif txn.method == "store_credit":
        body["store_credit"] = {"remaining_balance": 0.0}
    return body


_TXN_RESULTS = {"authorization": ("authorized", "Authorized"), "capture": ("captured", "Captured"),
                "purchase": ("captured", "Captured"), "refund": ("refunded", "Refunded"),
                "void": ("voided", "Voided"), "pending": ("pending", "Pending")}


def transaction_event(txn: Transaction) -> dict[str, Any]:
    """``store/order/transaction/*`` data, as in DOC-WH-EVENTS: ids as strings, the platform id is
    the v3 transaction id (``/v3/orders/{id}/transactions``), the provider id the gateway's."""
    code, message = _TXN_RESULTS.get(txn.event, (txn.event, txn.event.title()))
    ok = txn.status == "ok"
    return {
        "type": "transaction", "order_id": str(txn.order_id), "transaction_id": str(txn.id),
        "transaction_status": "complete" if ok else "failed", "transaction_type": txn.event,
        "result": {"code": code if ok else "error", "message": message if ok else "Declined",
                   "type": "success" if ok else "error"},
        "platform_transaction_id": str(txn.id), "provider_transaction_id": txn.gateway_transaction_id,
    }


def refund(item: Refund) -> dict[str, Any]:
    items = []
    for it in item.items:
        row: dict[str, Any] = {"item_type": it.item_type, "item_id": it.item_id, "reason": item.reason}
        if it.quantity is not None:
            row["quantity"] = it.quantity
        if it.requested_amount is not None:
            row["requested_amount"] = number(it.requested_amount)
        items.append(row)
    return {
        "id": item.id, "order_id": item.order_id, "user_id": 0, "created": iso(item.created), "reason": item.reason,
        "total_amount": number(item.total_amount), "total_tax": number(item.total_tax),
        "uses_merchant_override_values": False, "items": items,
        "payments": [
            {"id": p.id, "provider_id": p.provider_id, "amount": number(p.amount), "offline": p.offline,
             "is_declined": False, "declined_message": "", "transaction_id": p.transaction_id}
            for p in item.payments
        ],
    }


def customer(c: Customer, includes: set[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": c.id, "email": c.email, "first_name": c.first_name, "last_name": c.last_name, "company": c.company,
        "phone": c.phone, "registration_ip_address": "", "notes": "", "tax_exempt_category": "",
        "customer_group_id": c.customer_group_id, "date_created": iso_z(c.date_created),
        "date_modified": iso_z(c.date_modified), "address_count": len(c.addresses), "attribute_count": 0,
        "authentication": {"force_password_reset": False},
        "accepts_product_review_abandoned_cart_emails": False, "origin_channel_id": 1, "channel_ids": None,
    }
    if body["channel_ids"] is None:
        del body["channel_ids"]
    if "addresses" in includes:
        body["addresses"] = [
            {"id": a.id, "customer_id": a.customer_id, "first_name": a.first_name, "last_name": a.last_name,
             "company": a.company, "address1": a.address1, "address2": "", "city": a.city,
             "state_or_province": a.state_or_province, "postal_code": a.postal_code, "country_code": a.country_code,
             "country": a.country, "phone": a.phone, "address_type": a.address_type}
            for a in c.addresses
        ]
    if "storecredit" in includes:
        body["store_credit_amounts"] = [{"amount": number(c.store_credit)}]
    return body


def variant(v: Variant, product: Product) -> dict[str, Any]:
    def opt(value: Decimal | None) -> float | None:
        return None if value is None else number(value)

    body = {
        "id": v.id, "product_id": v.product_id, "sku": v.sku, "sku_id": v.id,
        "price": opt(v.price), "calculated_price": number(product.unit_price(v)),
        "sale_price": opt(v.sale_price), "retail_price": opt(v.retail_price), "cost_price": opt(v.cost_price),
        "is_free_shipping": False, "purchasing_disabled": False,
        "purchasing_disabled_message": "", "upc": "", "inventory_level": v.inventory_level,
        "inventory_warning_level": 0, "bin_picking_number": "",
        "option_values": [] if not v.option_label else [
            {"id": v.id * 10, "label": v.option_label.split(": ", 1)[1], "option_id": v.product_id * 10,
             "option_display_name": v.option_label.split(": ", 1)[0]}
        ],
    }
    # The spec declares these non-nullable numbers; an inherited value is left out rather than null.
    return {key: value for key, value in body.items() if value is not None}


def product(p: Product, includes: set[str]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": p.id, "name": p.name, "type": "physical", "sku": p.sku, "description": f"<p>{p.name}</p>",
        "weight": number(p.weight), "width": 0, "depth": 0, "height": 0, "price": number(p.price),
        "cost_price": number(p.cost_price), "retail_price": number(p.retail_price), "sale_price": number(p.sale_price),
        "map_price": 0, "tax_class_id": 0, "product_tax_code": "", "calculated_price": number(p.sale_price or p.price),
        "categories": [p.category_id], "brand_id": 0, "option_set_id": None, "option_set_display": "right",
        "inventory_level": p.inventory_level, "inventory_warning_level": 0,
        "inventory_tracking": "variant" if p.has_options else "product", "reviews_rating_sum": 0,
        "reviews_count": 0, "total_sold": 0, "fixed_cost_shipping_price": 0, "is_free_shipping": False,
        "is_visible": p.is_visible, "is_featured": False, "related_products": [-1], "warranty": "",
        "bin_picking_number": "", "layout_file": "product.html", "upc": "", "mpn": "", "gtin": "",
        "date_last_imported": "", "search_keywords": "", "availability": "available", "availability_description": "",
        "gift_wrapping_options_type": "any", "gift_wrapping_options_list": [], "sort_order": 0, "condition": "New",
        "is_condition_shown": False, "order_quantity_minimum": 0, "order_quantity_maximum": 0, "page_title": "",
        "meta_keywords": [], "meta_description": "", "view_count": 0, "preorder_release_date": None,
        "preorder_message": "", "is_preorder_only": False, "is_price_hidden": False, "price_hidden_label": "",
        "custom_url": {"url": f"/{p.sku.lower()}/", "is_customized": False},
        "base_variant_id": None if p.has_options else (p.variants[0].id if p.variants else None),
        "open_graph_type": "product", "open_graph_title": "", "open_graph_description": "",
        "open_graph_use_meta_description": True, "open_graph_use_product_name": True, "open_graph_use_image": True,
        "date_created": iso(p.date_created), "date_modified": iso(p.date_modified),
    }
    for key in ("option_set_id", "base_variant_id"):
        if body[key] is None:
            del body[key]
    if "variants" in includes:
        body["variants"] = [variant(v, p) for v in p.variants]
    return body
