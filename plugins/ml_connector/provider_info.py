"""Provider metadata (entry point ``apache_airflow_provider``): connection types and their form fields.

Airflow 3.2+ reads connection forms declaratively from here (``conn-fields``,
``ui-field-behaviour``); each storefront and ERP package contributes its own entry.
"""

from __future__ import annotations

from typing import Any


def _connection_types() -> list[dict[str, Any]]:
    from ml_connector.connection_types import CONNECTION_TYPES

    return list(CONNECTION_TYPES)


def get_provider_info() -> dict[str, Any]:
    from ml_connector import __version__

    return {
        "package-name": "ml-connector",
        "name": "ml-connector",
        "description": "Storefront (BigCommerce, WooCommerce, Shopify) to Oracle ERP (PeopleSoft, Fusion, JD Edwards) connectors",
        "versions": [__version__],
        "connection-types": _connection_types(),
    }
