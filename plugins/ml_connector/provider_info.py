"""Provider metadata (entry point ``apache_airflow_provider``): connection types and their form fields.

Airflow 3.2+ reads connection forms declaratively from here (``conn-fields``,
``ui-field-behaviour``); each storefront and ERP contributes its own through its descriptor
(``ml_connector.systems``), so this module names no system.
"""

from __future__ import annotations

from typing import Any


def get_provider_info() -> dict[str, Any]:
    from ml_connector import __version__
    from ml_connector.systems import connection_types

    return {
        "package-name": "ml-connector",
        "name": "ml-connector",
        "description": "Storefront (BigCommerce, WooCommerce, Shopify) to Oracle ERP (PeopleSoft, Fusion, JD Edwards) connectors",
        "versions": [__version__],
        "connection-types": connection_types(),
    }
