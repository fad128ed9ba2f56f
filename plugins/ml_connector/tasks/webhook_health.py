"""Hourly: make sure the store still sends us webhooks.

Platforms disable hooks quietly (BigCommerce after ~48 h of failed deliveries or 90 days
idle). This lists the registered hooks and re-activates, re-creates or corrects them, and
says what it changed. Polling backfills whatever was missed meanwhile.

A dry run changes nothing in the store: the storefront's own repair logic runs against a
stand-in for its hook that lets reads through and only notes the writes, so the report says
exactly what a real run would do.
"""

from __future__ import annotations

import logging
from typing import Any

from ml_connector.errors import ConnectorError
from ml_connector.tasks.runtime import Runtime

log = logging.getLogger("ml_connector.webhooks")

# Hook methods by what they do to the store (the storefronts' webhook admin protocol).
_READS = ("list_", "get_", "find_", "fetch_")
_WRITES = ("create_", "update_", "delete_")


class DryRunRefused(ConnectorError):
    """A dry run met a hook method it cannot tell to be read-only, and did not call it."""


class _DryRunHook:
    """Passes reads and plain attributes to ``hook``; notes writes instead of sending them.

    Fail-safe: a method that is neither a known read nor a known write is refused, so a
    storefront whose hook grows a new way to change the store cannot write during a dry run.
    """

    def __init__(self, hook: Any) -> None:
        self._hook = hook
        self.writes: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._hook, name)
        if not callable(attr) or name.startswith(_READS):
            return attr
        if name.startswith(_WRITES):
            return lambda *args, **kwargs: self._note(name)
        raise DryRunRefused(f"dry run: {type(self._hook).__name__}.{name} may change the store; not called")

    def _note(self, name: str) -> dict[str, Any]:
        self.writes.append(name)  # the arguments may hold the header secret: never kept
        return {}


def run_webhook_health(rt: Runtime, *, dry_run: bool = False) -> dict[str, Any]:
    cfg = rt.config.webhooks
    if not cfg.enabled:
        return {"skipped": "webhooks disabled in the pipeline config"}
    if not cfg.destination:
        log.warning("webhooks.destination is empty in include/pipelines/%s.yaml: nothing to ensure", rt.pair)
        return {"skipped": "no destination configured"}
    hook = rt.storefront_hook()
    target = _DryRunHook(hook) if dry_run else hook
    wanted = rt.config.webhook_registration
    changes = rt.storefront.ensure_webhooks(target, cfg.destination, wanted.scopes, wanted.header_name)
    rt.close()
    verb = "dry run, would" if dry_run else "webhook repair:"
    for change in changes:
        log.info("%s %s", verb, change)
    if not changes:
        log.info("webhooks healthy for %s", cfg.destination)
    return {"dry_run": True, "would_change": changes} if dry_run else {"changes": changes}
