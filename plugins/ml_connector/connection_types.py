"""Connection-type declarations, one per external system, gathered for the provider entry point.

Each storefront / ERP package declares ``CONNECTION_TYPE`` next to its hook; this module only
collects them so that ``provider_info`` stays free of per-system detail.
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = (
    "ml_connector.storefronts.bigcommerce.connection",
    "ml_connector.erps.peoplesoft.connection",
)


def _load() -> list[dict[str, Any]]:
    found = []
    for name in _MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if not exc.name or not name.startswith(exc.name):  # a missing dependency, not a missing module
                raise
            continue
        found.append(module.CONNECTION_TYPE)
    return found


CONNECTION_TYPES: list[dict[str, Any]] = _load()
