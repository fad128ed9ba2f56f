"""Hourly: make sure the store still sends us webhooks.

Platforms disable hooks quietly (BigCommerce after ~48 h of failed deliveries or 90 days
idle). This lists the registered hooks and re-activates, re-creates or corrects them, and
says what it changed. Polling backfills whatever was missed meanwhile.
"""

from __future__ import annotations

import logging
from typing import Any

from ml_connector.tasks.runtime import Runtime

log = logging.getLogger("ml_connector.webhooks")


def run_webhook_health(rt: Runtime) -> dict[str, Any]:
    cfg = rt.config.webhooks
    if not cfg.enabled:
        return {"skipped": "webhooks disabled in the pipeline config"}
    if not cfg.destination:
        log.warning("webhooks.destination is empty in include/pipelines/%s.yaml: nothing to ensure", rt.pair)
        return {"skipped": "no destination configured"}
    hook = rt.storefront_hook()
    changes = rt.storefront.ensure_webhooks(hook, cfg.destination, cfg.scopes, cfg.header_name)
    rt.close()
    for change in changes:
        log.info("webhook repair: %s", change)
    if not changes:
        log.info("webhooks healthy for %s", cfg.destination)
    return {"changes": changes}
