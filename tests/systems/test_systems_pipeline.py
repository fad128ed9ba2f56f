"""Loading a pipeline file checks it against the installed systems and against its mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from ml_connector.config import load_pipeline
from ml_connector.errors import ConfigError
from ml_connector.settings import include_dir

SHIPPED = include_dir() / "pipelines" / "bigcommerce_to_peoplesoft.yaml"
MAPPINGS = include_dir() / "mappings"


def pipeline_file(tmp_path: Path, **changes: Any) -> Path:
    """The shipped pipeline with ``changes`` (a value of None removes the key); written to tmp_path."""
    raw = yaml.safe_load(SHIPPED.read_text())
    for key, value in changes.items():
        target, _, leaf = key.rpartition(".")
        node = raw[target] if target else raw
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_shipped_pipeline_loads() -> None:
    config = load_pipeline(SHIPPED)
    assert (config.storefront.type, config.erp.type) == ("bigcommerce", "peoplesoft")


def test_a_mapping_for_another_erp_and_pair_is_refused_naming_both_files(tmp_path: Path) -> None:
    path = pipeline_file(tmp_path, mapping=str(MAPPINGS / "bigcommerce_to_fusion.yaml"))
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    assert str(caught.value).splitlines() == [
        f"{path}: erp.type is 'peoplesoft' but its mapping include/mappings/bigcommerce_to_fusion.yaml has erp: 'fusion'",
        f"{path}: pair is 'bigcommerce_to_peoplesoft' but its mapping include/mappings/bigcommerce_to_fusion.yaml"
        " has pair: 'bigcommerce_to_fusion'",
    ]


def test_a_mapping_for_another_pair_on_the_same_erp_is_refused(tmp_path: Path) -> None:
    path = pipeline_file(tmp_path, mapping="shopify_to_peoplesoft.yaml")
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path)
    assert str(caught.value) == (
        f"{path}: pair is 'bigcommerce_to_peoplesoft' but its mapping include/mappings/shopify_to_peoplesoft.yaml"
        " has pair: 'shopify_to_peoplesoft'"
    )


def test_an_unknown_system_lists_the_installed_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_pipeline(pipeline_file(tmp_path, **{"storefront.type": "magento"}))
    assert (caught.value.key_path, caught.value.got) == ("storefront.type", "magento")
    assert "expected one of the installed storefronts: bigcommerce" in str(caught.value)
    with pytest.raises(
        ConfigError,
        match=r"erp\.type: expected one of the installed ERPs: fusion, jde, peoplesoft, got 'sap'",
    ):
        load_pipeline(pipeline_file(tmp_path, **{"erp.type": "sap"}))


def test_an_erp_without_adapter_is_refused_before_its_mapping_is_read(tmp_path: Path) -> None:
    path = pipeline_file(tmp_path, **{"erp.type": "fusion", "mapping": "bigcommerce_to_fusion.yaml"})
    with pytest.raises(
        ConfigError,
        match=r"erp\.type: expected an ERP with an adapter \(fusion is described but not built yet\)",
    ):
        load_pipeline(path)


def test_webhook_scopes_and_header_default_to_the_storefront_descriptor(tmp_path: Path) -> None:
    config = load_pipeline(pipeline_file(tmp_path, **{"webhooks.scopes": None, "webhooks.header_name": None}))
    assert (config.webhooks.scopes, config.webhooks.header_name) == (None, None)
    wanted = config.webhook_registration
    assert wanted.scopes == ("store/order/*", "store/customer/*")
    assert wanted.header_name == "X-ML-Connector-Secret"
    own = load_pipeline(
        pipeline_file(tmp_path, **{"webhooks.scopes": ["store/order/*"], "webhooks.header_name": "X-Ours"})
    )
    assert (own.webhook_registration.scopes, own.webhook_registration.header_name) == (
        ("store/order/*",),
        "X-Ours",
    )


def test_customer_sync_is_skipped_when_a_side_keeps_no_customers() -> None:
    from ml_connector.config import Endpoint
    from ml_connector.tasks.customers import run_customers
    from ml_connector.tasks.runtime import Params, Runtime

    config = load_pipeline(SHIPPED).model_copy(update={"erp": Endpoint(type="jde", conn_id="jde_default")})
    rt = Runtime(config=config, store=None)  # type: ignore[arg-type] - never reached
    assert run_customers(rt, Params()) == {
        "skipped": "no customer sync: erp jde cannot take part (no customers capability)"
    }
