"""What every task of a pair needs, built once per task: config, state, mapping, adapters.

Task functions take a ``Runtime`` and plain parameters and return small summaries, so they
run the same under Airflow, in ``dag.test()`` and in unit tests without a scheduler.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from ml_connector.config import PipelineConfig
from ml_connector.core.mapping import Mapping
from ml_connector.erps.base import ErpAdapter, erp_adapter
from ml_connector.mappings import load_mapping
from ml_connector.state.db import get_engine, migrate, state_url
from ml_connector.state.store import StateAudit, StateStore
from ml_connector.storefronts.base import StorefrontAdapter, storefront_adapter
from ml_connector.systems import Capability, system

log = logging.getLogger("ml_connector")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def parse_instant(value: str | None, what: str) -> dt.datetime | None:
    """A DAG param timestamp: ISO 8601 with an offset (naive values are refused, not guessed)."""
    if value in (None, ""):
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"param {what}: expected an ISO 8601 timestamp with offset, got {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"param {what}: {value!r} has no UTC offset; add 'Z' or '+00:00'")
    return parsed.astimezone(dt.UTC)


@dataclass
class Params:
    """The DAG run's params, validated (see pipeline.py for the UI form)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None
    dry_run: bool = False
    granularity: str | None = None
    order_ids: tuple[str, ...] = ()
    refund_ids: tuple[str, ...] = ()
    journal_keys: tuple[str, ...] = ()
    replay_failed: bool = False

    @classmethod
    def from_context(cls, params: dict[str, Any] | None) -> Params:
        p = params or {}

        def ids(name: str) -> tuple[str, ...]:
            raw = p.get(name) or []
            if isinstance(raw, str):
                raw = [s for s in raw.replace(",", " ").split() if s]
            return tuple(str(x).strip() for x in raw if str(x).strip())

        return cls(
            since=parse_instant(p.get("since"), "since"),
            until=parse_instant(p.get("until"), "until"),
            dry_run=bool(p.get("dry_run", False)),
            granularity=p.get("granularity") or None,
            order_ids=ids("order_ids"),
            refund_ids=ids("refund_ids"),
            journal_keys=ids("journal_ids"),
            replay_failed=bool(p.get("replay_failed", False)),
        )

    @property
    def is_replay(self) -> bool:
        return bool(self.order_ids or self.refund_ids or self.journal_keys or self.replay_failed)


@dataclass
class Runtime:
    config: PipelineConfig
    store: StateStore
    run_id: str = "manual"
    try_number: int = 1
    _audit: StateAudit | None = field(default=None, repr=False)

    @classmethod
    def open(cls, config: PipelineConfig, *, run_id: str = "manual", try_number: int = 1) -> Runtime:
        engine = get_engine(state_url(config.state_conn_id))
        migrate(engine)
        return cls(config=config, store=StateStore(engine), run_id=run_id, try_number=try_number)

    @property
    def pair(self) -> str:
        return self.config.pair

    @functools.cached_property
    def mapping(self) -> Mapping:
        """The pair's mapping, its posting days in the store's zone when the connection names one."""
        mapping = load_mapping(self.config.mapping_path)
        zone = self.storefront.store_timezone(self.config.storefront.conn_id)
        return mapping.in_timezone(zone) if zone else mapping

    @functools.cached_property
    def storefront(self) -> StorefrontAdapter:
        return storefront_adapter(self.config.storefront.type)

    @functools.cached_property
    def store_id(self) -> str:
        """The storefront's store id (BigCommerce store hash): records are kept per store, shared by its pairs."""
        return self.storefront.store_id(self.config.storefront.conn_id)

    @functools.cached_property
    def erp(self) -> ErpAdapter:
        return erp_adapter(self.config.erp.type)

    def lacking(self, capability: Capability) -> list[str]:
        """The pair's systems (``"erp fusion"``) whose descriptor lacks ``capability``; empty = both have it."""
        ends = (("storefront", self.config.storefront.type), ("erp", self.config.erp.type))
        return [f"{kind} {name}" for kind, name in ends if not system(name, kind).can(capability)]

    @property
    def audit(self) -> StateAudit:
        if self._audit is None:
            self._audit = StateAudit(self.store)
        return self._audit

    def storefront_hook(self) -> Any:
        return self.storefront.hook(self.config.storefront.conn_id, audit=self.audit)

    def erp_hook(self) -> Any:
        return self.erp.hook(self.config.erp.conn_id, audit=self.audit)

    def close(self) -> None:
        if self._audit is not None:
            self._audit.flush()
