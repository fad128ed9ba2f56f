"""systems.py: every system is found through its entry point, and only through it."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Iterator
from importlib.metadata import EntryPoint, entry_points

import pytest
from ml_connector import systems
from ml_connector.core.mapping import ErpSchema, Mapping, MappingErrors
from ml_connector.erps.base import erp_adapter
from ml_connector.provider_info import get_provider_info
from ml_connector.settings import REPO_ROOT
from ml_connector.storefronts.base import storefront_adapter
from ml_connector.systems import (
    Capability,
    RegistryError,
    SystemDescriptor,
    SystemUnavailable,
    UnknownSystem,
    registry,
)

SCHEMA = ErpSchema(
    line_fields={"ACCOUNT": 10}, line_required=("ACCOUNT",), header_fields={}, header_required=()
)


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    registry.cache_clear()
    yield
    registry.cache_clear()


def test_the_installed_entry_points_are_the_ones_pyproject_declares() -> None:
    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["entry-points"][
        systems.ENTRY_POINT_GROUP
    ]
    installed = {point.name: point.value for point in entry_points(group=systems.ENTRY_POINT_GROUP)}
    assert installed == declared, "pyproject.toml changed since the install: pip install -e . again"


def test_each_system_is_its_own_folder() -> None:
    assert {name: s.kind for name, s in registry().items()} == {
        "bigcommerce": "storefront", "fusion": "erp", "jde": "erp", "peoplesoft": "erp",
    }  # fmt: skip
    for point in entry_points(group=systems.ENTRY_POINT_GROUP):
        described = registry()[point.name]
        assert point.value == f"ml_connector.{described.kind}s.{point.name}:SYSTEM"
        if described.connection_type is not None:
            assert described.connection_type["hook-class-name"].startswith(
                f"ml_connector.{described.kind}s.{point.name}."
            )


def test_adapters_come_from_their_descriptor() -> None:
    assert storefront_adapter("bigcommerce").system == "bigcommerce"
    assert erp_adapter("peoplesoft").system == "peoplesoft"
    assert storefront_adapter("bigcommerce") is storefront_adapter("bigcommerce")  # built once


@pytest.mark.parametrize(
    ("lookup", "name", "message"),
    [
        (storefront_adapter, "magento", "unknown storefront 'magento'; known: bigcommerce"),
        (storefront_adapter, "peoplesoft", "unknown storefront 'peoplesoft'; known: bigcommerce"),
        (erp_adapter, "sap", "unknown ERP 'sap'; known: fusion, jde, peoplesoft"),
    ],
)
def test_unknown_names_list_the_known_ones(lookup, name: str, message: str) -> None:
    with pytest.raises(UnknownSystem) as caught:
        lookup(name)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)  # the webhook receiver answers 404 on ValueError


def test_a_described_erp_without_adapter_says_so() -> None:
    fusion = registry()["fusion"]
    assert fusion.erp_schema is not None and not fusion.can(Capability.JOURNALS)
    with pytest.raises(SystemUnavailable, match=r"^erp 'fusion' has no adapter yet \(capabilities: none\)$"):
        erp_adapter("fusion")


def test_provider_info_gathers_the_connection_forms_from_the_descriptors() -> None:
    forms = get_provider_info()["connection-types"]
    assert [f["connection-type"] for f in forms] == ["bigcommerce", "peoplesoft"]
    assert forms == [dict(s.connection_type) for s in registry().values() if s.connection_type]


def test_mappings_are_checked_against_the_installed_erps() -> None:
    assert set(systems.erp_schemas()) == {"fusion", "jde", "peoplesoft"}
    with pytest.raises(MappingErrors) as caught:
        Mapping.parse(b"pair: x\nerp: sap\n", source="x.yaml", schemas=systems.erp_schemas())
    assert "x.yaml: erp: expected one of fusion, jde, peoplesoft, got 'sap'" in str(caught.value).splitlines()


def test_reading_the_descriptors_pulls_in_no_transport() -> None:
    code = (
        "import sys; from ml_connector.systems import registry, connection_types; registry(); connection_types(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'airflow', 'zeep', 'requests', 'sqlalchemy', 'pydantic'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"kind": "erp"}, "an ERP needs an erp_schema and only an ERP has one"),
        ({"kind": "storefront", "erp_schema": SCHEMA}, "an ERP needs an erp_schema and only an ERP has one"),
        (
            {"kind": "storefront", "capabilities": frozenset({Capability.JOURNALS})},
            "the journals capability and an adapter go together",
        ),
        (
            {"kind": "erp", "erp_schema": SCHEMA, "webhooks": systems.WebhookDefaults((), "X")},
            "only a storefront has webhook defaults",
        ),
    ],
)
def test_a_descriptor_that_contradicts_itself_is_refused(fields: dict, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        SystemDescriptor(name="x", **fields)


def _points(*pairs: tuple[str, str]) -> list[EntryPoint]:
    return [EntryPoint(name, value, systems.ENTRY_POINT_GROUP) for name, value in pairs]


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([], "no 'ml_connector.systems' entry points: is the ml-connector distribution installed"),
        (
            [("jde", "ml_connector.erps.jde:SYSTEM"), ("jde", "ml_connector.erps.fusion:SYSTEM")],
            "system 'jde' is claimed by ml_connector.erps.jde:SYSTEM and ml_connector.erps.fusion:SYSTEM",
        ),
        ([("fusion", "ml_connector.erps.jde:SYSTEM")], "is not the SystemDescriptor of 'fusion'"),
        ([("jde", "ml_connector.erps.jde:JOURNAL_SCHEMA")], "is not the SystemDescriptor of 'jde'"),
    ],
)
def test_entry_points_that_do_not_add_up_are_refused(
    fresh_registry: None, monkeypatch: pytest.MonkeyPatch, points: list[tuple[str, str]], message: str
) -> None:
    monkeypatch.setattr(systems, "entry_points", lambda group: _points(*points))
    with pytest.raises(RegistryError, match=message):
        registry()


def test_the_same_distribution_seen_twice_counts_once(
    fresh_registry: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    twice = [("jde", "ml_connector.erps.jde:SYSTEM")] * 2
    monkeypatch.setattr(systems, "entry_points", lambda group: _points(*twice))
    assert list(registry()) == ["jde"]
