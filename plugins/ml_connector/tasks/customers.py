"""Step 4: new and changed shoppers go to the ERP customer master, idempotently.

Guests never become customers of their own: orders without a customer post against the
ERP's configured generic customer. A customer the ERP refuses is parked with the reason.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from ml_connector.audit import correlate
from ml_connector.errors import AuthenticationError, ConnectorError, NormalisationError, ValidationRejected
from ml_connector.state.records import RecordMark
from ml_connector.systems import Capability
from ml_connector.tasks.runtime import Params, Runtime

log = logging.getLogger("ml_connector.customers")

STATUSES = ("new", "changed", "failed")


class CustomersFailed(ConnectorError):
    """Some customers could not be sent; they are tried again on the next try."""


def run_customers(rt: Runtime, params: Params) -> dict[str, Any]:
    if params.dry_run:
        return {"dry_run": True}
    lacking = rt.lacking(Capability.CUSTOMERS)
    if lacking:
        return {"skipped": f"no customer sync: {' and '.join(lacking)} cannot take part (no customers capability)"}
    system = rt.storefront.system
    rows = list(rt.store.records(system, "customer", statuses=STATUSES, store=rt.store_id, pair=rt.pair))
    counts: Counter[str] = Counter()
    if not rows:
        return {"counts": {}}
    hook = rt.erp_hook()
    store_id = rt.store_id
    updates: list[RecordMark] = []
    errors: list[str] = []
    for row in rows:
        try:
            customer = rt.storefront.customer(row.payload, store_id)
            with correlate(f"customer:{row.source_id}"):
                outcome = rt.erp.upsert_customer(hook, customer)
        except AuthenticationError:
            rt.store.mark_records(rt.pair, system, "customer", updates, store=store_id)
            rt.close()
            raise
        except (NormalisationError, ValidationRejected) as exc:
            updates.append((row.source_id, row.version, "needs_review", str(exc)))
            counts["needs_review"] += 1
            continue
        except Exception as exc:  # transient after retries: next try
            updates.append((row.source_id, row.version, "failed", f"{type(exc).__name__}: {exc}"))
            counts["failed"] += 1
            errors.append(f"customer {row.source_id}: {exc}")
            continue
        rt.store.set_customer_sync(rt.pair, row.source_id, outcome.customer_id, row.content_hash, outcome.status)
        updates.append((row.source_id, row.version, "processed", None))
        counts[outcome.status] += 1
    rt.store.mark_records(rt.pair, system, "customer", updates, store=store_id)
    rt.close()
    summary = {"counts": dict(counts), "errors": errors[:10]}
    log.info("customers %s: %s", rt.pair, summary)
    if counts.get("failed"):
        raise CustomersFailed(f"{counts['failed']} customer(s) failed: {errors[:5]}")
    return summary
