"""The ``bigcommerce`` connection type as the provider entry point declares it (Airflow 3.2+ form).

Fields: login = API account client ID, password = access token (``X-Auth-Token``); everything
else lives in ``extra`` as plain keys (``conn-fields``). ``host`` is hidden too: the API base URL
is its own field with the public gateway as default, so there is one place to point at a sandbox.
"""

from __future__ import annotations

from typing import Any

DEFAULT_API_BASE_URL = "https://api.bigcommerce.com"

CONNECTION_TYPE: dict[str, Any] = {
    "connection-type": "bigcommerce",
    "hook-class-name": "ml_connector.storefronts.bigcommerce.hook.BigCommerceHook",
    "hook-name": "BigCommerce",
    "ui-field-behaviour": {
        "hidden-fields": ["schema", "port", "host"],
        "relabeling": {"login": "Client ID", "password": "Access token"},
        "placeholders": {"login": "API account client ID", "password": "X-Auth-Token of the API account"},
    },
    "conn-fields": {
        "store_hash": {
            "label": "Store hash",
            "description": "The hash in https://api.bigcommerce.com/stores/{store_hash}/",
            "schema": {"type": "string", "minLength": 1},
        },
        "client_secret": {
            "label": "Client secret",
            "description": "API account client secret: the key of Standard Webhooks signatures",
            "schema": {"type": ["string", "null"], "format": "password"},
        },
        "api_base_url": {
            "label": "API base URL",
            "schema": {"type": "string", "default": DEFAULT_API_BASE_URL},
        },
        "webhook_header_secret": {
            "label": "Webhook header secret",
            "description": "Value of the secret custom header registered with every webhook",
            "schema": {"type": ["string", "null"], "format": "password"},
        },
        "accept_bc_signature": {
            "label": "Accept X-BC-Signature",
            "description": "Also accept an HMAC of the body in X-BC-Signature (not documented by BigCommerce)",
            "schema": {"type": "boolean", "default": False},
        },
        "tax_detail": {
            "label": "Tax by jurisdiction",
            "description": "Read each taxed order's tax rows (one more API call per taxed order) so tax payable "
            "is booked by jurisdiction; off = tax lines named by what they apply to",
            "schema": {"type": "boolean", "default": True},
        },
        "ca_bundle": {
            "label": "CA bundle path",
            "description": "PEM file to verify TLS against instead of the system store",
            "schema": {"type": ["string", "null"]},
        },
        "concurrency": {
            "label": "Concurrent requests",
            "schema": {"type": "integer", "default": 4, "minimum": 1, "maximum": 32},
        },
        "timezone": {
            "label": "Store timezone",
            "description": "IANA name (e.g. America/Chicago): posting days are days in this zone."
            " Empty = the mapping's timezone",
            "schema": {"type": ["string", "null"]},
        },
    },
}
