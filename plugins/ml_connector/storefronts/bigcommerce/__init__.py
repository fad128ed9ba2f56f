"""BigCommerce storefront: hook (transport), normalisation to canonical records, webhook verification.

Modules are imported by name (``hook``, ``normalise``, ``webhooks``, ``connection``); this package
imports nothing itself, so reading the connection form does not pull Airflow or requests in.
"""
