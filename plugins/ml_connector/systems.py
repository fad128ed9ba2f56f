"""Every storefront and ERP describes itself in one descriptor, found through entry points.

A system folder (``storefronts/<name>/`` or ``erps/<name>/``) exports ``SYSTEM``, and the
distribution lists it under the ``ml_connector.systems`` entry-point group. Everything that
used to keep a hand-written list of systems (adapters, connection types, ERP field schemas)
asks this registry instead, so adding a system is its folder plus one entry-point line
(DESIGN §2). Descriptors are cheap to import: the adapter is built on first use only, so
reading connection forms or checking a mapping does not pull in transports.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.metadata import entry_points
from typing import Any, Literal

from ml_connector.core.mapping import ErpSchema
from ml_connector.errors import ConnectorError

ENTRY_POINT_GROUP = "ml_connector.systems"

SystemKind = Literal["storefront", "erp"]
KINDS: tuple[SystemKind, ...] = ("storefront", "erp")


class Capability(StrEnum):
    """What a system can take part in; the pipeline asks before it relies on one."""

    JOURNALS = "journals"  # storefront: yields orders and refunds; ERP: posts journals (it has an adapter)
    CUSTOMERS = "customers"  # storefront: yields shoppers; ERP: keeps a customer master
    BATCH_POSTING = "batch_posting"  # ERP: submits a file of documents and polls a job (Fusion)
    CATALOG_SOURCE = "catalog_source"  # ERP: items and prices flow out of it
    CATALOG_TARGET = "catalog_target"  # storefront: items and prices flow into it
    REFUNDS_INSIDE_ORDERS = "refunds_inside_orders"  # storefront: refunds arrive only as part of their order


@dataclass(frozen=True)
class WebhookDefaults:
    """What a storefront's webhooks are registered with unless the pipeline says otherwise."""

    scopes: tuple[str, ...]
    header_name: str  # the secret custom header sent with every delivery


class UnknownSystem(ConnectorError, ValueError):
    """No installed system of that name and kind; the message lists the ones there are."""


class SystemUnavailable(ConnectorError):
    """The system is described but cannot do what was asked (no adapter yet, a capability missing)."""


class RegistryError(ConnectorError):
    """The entry points do not add up: nothing installed, a clash, or not a descriptor."""


@dataclass(frozen=True)
class SystemDescriptor:
    """One storefront or ERP: what the rest of the package may know about it.

    :param name: the system's name in pipeline files, mappings and webhook URLs (``erp.type``).
    :param kind: ``storefront`` or ``erp``.
    :param adapter_factory: returns the adapter (imports the heavy modules on first call);
        ``None`` while the system is described but not implemented.
    :param connection_type: the Airflow connection form (provider metadata), if it has one yet.
    :param erp_schema: ERPs only: the journal fields a mapping may set, with their lengths.
    :param webhooks: storefronts only: scopes and secret header name registered by default.
    :param capabilities: what it takes part in (``Capability``).
    """

    name: str
    kind: SystemKind
    adapter_factory: Callable[[], Any] | None = field(default=None, repr=False)
    connection_type: Mapping[str, Any] | None = field(default=None, repr=False)
    erp_schema: ErpSchema | None = None
    webhooks: WebhookDefaults | None = None
    capabilities: frozenset[Capability] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        problems = []
        if self.kind not in KINDS:
            problems.append(f"kind must be one of {', '.join(KINDS)}")
        if (self.kind == "erp") != (self.erp_schema is not None):
            problems.append("an ERP needs an erp_schema and only an ERP has one")
        if self.webhooks is not None and self.kind != "storefront":
            problems.append("only a storefront has webhook defaults")
        if (Capability.JOURNALS in self.capabilities) != (self.adapter_factory is not None):
            problems.append("the journals capability and an adapter go together")
        if problems:
            raise ValueError(f"system {self.name!r}: " + "; ".join(problems))

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def adapter(self) -> Any:
        """The system's adapter (``StorefrontAdapter`` / ``ErpAdapter``), built on first use."""
        if self.adapter_factory is None:
            has = ", ".join(sorted(self.capabilities)) or "none"
            raise SystemUnavailable(f"{self.kind} {self.name!r} has no adapter yet (capabilities: {has})")
        return self.adapter_factory()


def lazy(reference: str) -> Callable[[], Any]:
    """A factory for ``"package.module:ATTRIBUTE"`` that imports the module on its first call only."""
    module, _, attribute = reference.partition(":")

    @functools.cache
    def load() -> Any:
        return getattr(importlib.import_module(module), attribute)

    return load


@functools.cache
def registry() -> dict[str, SystemDescriptor]:
    """Every installed system by name, read once per process from the entry points."""
    found: dict[str, SystemDescriptor] = {}
    origin: dict[str, str] = {}
    for point in entry_points(group=ENTRY_POINT_GROUP):
        if point.name in found and origin[point.name] == point.value:
            continue  # the same distribution seen twice on sys.path
        if point.name in found:
            raise RegistryError(f"system {point.name!r} is claimed by {origin[point.name]} and {point.value}")
        descriptor = point.load()
        if not isinstance(descriptor, SystemDescriptor) or descriptor.name != point.name:
            raise RegistryError(
                f"entry point {point.name} = {point.value} is not the SystemDescriptor of {point.name!r}"
            )
        found[point.name], origin[point.name] = descriptor, point.value
    if not found:
        raise RegistryError(
            f"no {ENTRY_POINT_GROUP!r} entry points: is the ml-connector distribution installed (pip install -e .)?"
        )
    return dict(sorted(found.items()))


def systems(kind: SystemKind) -> list[SystemDescriptor]:
    """The installed systems of ``kind``, by name."""
    return [s for s in registry().values() if s.kind == kind]


def system(name: str, kind: SystemKind) -> SystemDescriptor:
    """The descriptor of ``name``; ``UnknownSystem`` lists the known ones of that kind."""
    found = registry().get(name)
    if found is None or found.kind != kind:
        known = ", ".join(s.name for s in systems(kind)) or "none"
        label = "ERP" if kind == "erp" else kind
        raise UnknownSystem(f"unknown {label} {name!r}; known: {known}")
    return found


def erp_schemas() -> dict[str, ErpSchema]:
    """ERP name -> the fields its mappings may set (what ``Mapping.parse`` checks against)."""
    return {s.name: s.erp_schema for s in systems("erp") if s.erp_schema is not None}


def connection_types() -> list[dict[str, Any]]:
    """The Airflow connection forms of every system that has one (for the provider entry point)."""
    return [dict(s.connection_type) for s in registry().values() if s.connection_type is not None]
