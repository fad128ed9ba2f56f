"""BigCommerce storefront: hook (transport), normalisation to canonical records, webhook verification.

``SYSTEM`` describes it to the rest of the package (entry point ``ml_connector.systems``). Modules
are imported by name (``hook``, ``normalise``, ``webhooks``, ``adapter``); this package imports only
the connection form and the webhook constants, so reading the descriptor does not pull Airflow or
requests in.
"""

from __future__ import annotations

from ml_connector.storefronts.bigcommerce.connection import CONNECTION_TYPE
from ml_connector.storefronts.bigcommerce.webhooks import DEFAULT_SCOPES, DEFAULT_SECRET_HEADER
from ml_connector.systems import Capability, SystemDescriptor, WebhookDefaults, lazy

SYSTEM = SystemDescriptor(
    name="bigcommerce",
    kind="storefront",
    adapter_factory=lazy(f"{__name__}.adapter:ADAPTER"),
    connection_type=CONNECTION_TYPE,
    webhooks=WebhookDefaults(scopes=DEFAULT_SCOPES, header_name=DEFAULT_SECRET_HEADER),
    # Refunds are their own v3 resource and webhook scope; the catalog flow is not built yet.
    capabilities=frozenset({Capability.JOURNALS, Capability.CUSTOMERS}),
)
