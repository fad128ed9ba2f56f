"""Several pairs and several stores in one state database (issue 10), on SQLite and PostgreSQL.

- two pairs reading the same BigCommerce store (the real ``bigcommerce_to_peoplesoft`` and a
  second pair with the same store, ERP and mapping) each transform every order exactly once and
  each drain every webhook event once, although the second pair's extract finds every record
  already stored and unchanged;
- two stores whose order ids are the same (both simulators number orders from 100) keep their
  own records, and each store's pair posts its own store's orders.

The tasks are called as the DAG's tasks call them, against the simulators.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from ml_connector.config import PipelineConfig, pipeline
from ml_connector.state.schema import journals
from ml_connector.state.store import StateStore, open_store
from ml_connector.tasks.extract import run_extract
from ml_connector.tasks.load import run_load
from ml_connector.tasks.runtime import Params, Runtime
from ml_connector.tasks.transform import run_transform
from sqlalchemy import select

from sandbox.bigcommerce.server import BigCommerceSim
from tests.pipeline.conftest import BC_SECRET, PAIR, STORE_HASH, Sandbox, connection_env
from tests.pipeline.test_dag_e2e import PAID, SINCE, posted_refs

pytestmark = pytest.mark.slow

SAME_STORE_PAIR = "bigcommerce_to_peoplesoft_second"  # same store, ERP and mapping as PAIR
OTHER_STORE_PAIR = "bigcommerce_eu_to_peoplesoft"
OTHER_CONN, OTHER_HASH = "bigcommerce_eu", "sandboxeu"
SECOND_ERP = "peoplesoft_second"
PARKED = ("needs_mapping", "needs_review")


def _config(pair: str, storefront: str = "bigcommerce_default", erp: str = "peoplesoft_default") -> PipelineConfig:
    base = pipeline(PAIR)
    return base.model_copy(update={
        "pair": pair,
        "storefront": base.storefront.model_copy(update={"conn_id": storefront}),
        "erp": base.erp.model_copy(update={"conn_id": erp}),
    })  # fmt: skip


@pytest.fixture
def second_ledger(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> str:
    """The same PeopleSoft under its own JOURNAL_ID prefix, as the connection form asks of each
    pair sharing a business unit (otherwise both pairs' ``ECS0000100`` are one document)."""
    conn = json.loads(connection_env(sandbox.bc_url, sandbox.ps_url)["AIRFLOW_CONN_PEOPLESOFT_DEFAULT"])
    conn["extra"]["journal_id_prefix"] = "E2"
    monkeypatch.setenv(f"AIRFLOW_CONN_{SECOND_ERP.upper()}", json.dumps(conn))
    return SECOND_ERP


@dataclass
class Pair:
    config: PipelineConfig
    state_url: str

    @property
    def name(self) -> str:
        return self.config.pair

    def runtime(self) -> Runtime:
        return Runtime(config=self.config, store=open_store(self.state_url), run_id=f"{self.name}_run")

    def extract(self, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        return run_extract(self.runtime(), Params.from_context({**SINCE, **(conf or {})}))

    def transform(self) -> dict[str, Any]:
        return run_transform(self.runtime(), Params())

    def load(self) -> dict[str, Any]:
        return run_load(self.runtime(), Params(), worker=f"{self.name}/w")

    def run(self, conf: dict[str, Any] | None = None) -> dict[str, Any]:
        """extract, transform, load: what one DAG run does up to reconciliation."""
        extracted = self.extract(conf)
        transformed = self.transform()
        self.load()
        return {"extract": extracted, "transform": transformed}


def _sale_journals(store: StateStore, pair: str) -> Counter[str]:
    """How many sale journals the pair holds per order id."""
    with store.engine.connect() as conn:
        keys = conn.execute(select(journals.c.key).where(journals.c.pair == pair)).scalars().all()
    return Counter(key.split(":")[2] for key in keys if key.endswith(":sale") and ":order:" in key)


def _parked_orders(store: StateStore, pair: str, shop: str) -> set[str]:
    return {r.source_id for r in store.parked_records(pair, "bigcommerce", "order", store=shop)}


def _paid(sim: BigCommerceSim) -> set[str]:
    return {str(o.id) for o in sim.store.orders.values() if o.status_id in PAID}


def _order_work(summary: dict[str, Any]) -> dict[str, int]:
    return {k: v for k, v in summary["counts"].items() if k.startswith("order:")}


def test_two_pairs_on_one_store_each_transform_every_order_once(
    airflow_db: None, sandbox: Sandbox, second_ledger: str, state_url: str
) -> None:
    first, second = Pair(_config(PAIR), state_url), Pair(_config(SAME_STORE_PAIR, erp=second_ledger), state_url)
    store = open_store(state_url)
    events = sorted(_paid(sandbox.bc))[:3]
    for n, order_id in enumerate(events):  # the receiver writes each verified delivery once
        store.add_webhook_event("bigcommerce", "bigcommerce_default", f"d-{n}", "store/order/updated", "order",
                                order_id, {"id": int(order_id)})  # fmt: skip

    one = first.run()
    two = second.run()
    assert two["extract"]["orders"]["new"] == 0 and two["extract"]["orders"]["changed"] == 0, (
        "the second pair finds every order already stored: only per-pair status lets it see them"
    )
    assert one["extract"]["webhook_events"] == two["extract"]["webhook_events"] == len(events)
    assert sum(_order_work(one["transform"]).values()) == sum(_order_work(two["transform"]).values()) > 0

    paid = _paid(sandbox.bc)
    for pair in (first, second):
        sales = _sale_journals(store, pair.name)
        assert set(sales.values()) == {1}, f"{pair.name}: an order planned twice: {sales}"
        assert set(sales) == paid - _parked_orders(store, pair.name, STORE_HASH), pair.name
    assert _parked_orders(store, PAIR, STORE_HASH) == _parked_orders(store, SAME_STORE_PAIR, STORE_HASH)
    refs = posted_refs(sandbox)
    assert {refs[o] for o in _sale_journals(store, PAIR)} == {2}, "in PeopleSoft once per pair"

    for pair in (first, second):  # nothing changed in the store: nothing to do, for either pair
        again = pair.run()
        assert again["extract"]["webhook_events"] == 0, pair.name
        assert _order_work(again["transform"]) == {}, pair.name
        assert again["transform"]["journals"] == 0, pair.name

    # A refund in the store: each pair extracts it (the second finds it stored), plans and posts it once.
    order_id = sorted(_sale_journals(store, PAIR))[0]
    refund_id = str(sandbox.bc_control_post(f"orders/{order_id}/refunds", {})["data"]["id"])
    until = {"until": (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).isoformat()}
    for pair in (first, second):
        again = pair.run(until)
        assert again["transform"]["counts"].get("refund:processed") == 1, (pair.name, again["transform"])
        assert len(store.journal_keys_for_source(pair.name, "bigcommerce", "refund", refund_id)) == 1, pair.name
    assert posted_refs(sandbox)[refund_id] == 2, "the refund is in PeopleSoft once per pair"


@pytest.fixture
def other_store(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[BigCommerceSim]:
    """A second BigCommerce store whose orders carry the same ids (100, 101, ...) with other content."""
    sim = BigCommerceSim(port=0, seed=12, orders=60, store_hash=OTHER_HASH, allow_http_destinations=True,
                         quota=100_000, window_ms=30_000)  # fmt: skip
    url = sim.start()
    monkeypatch.setenv(f"AIRFLOW_CONN_{OTHER_CONN.upper()}", json.dumps({
        "conn_type": "bigcommerce", "login": "bc-sandbox-client", "password": "bc-sandbox-token",
        "extra": {"store_hash": OTHER_HASH, "client_secret": BC_SECRET, "api_base_url": url, "concurrency": 4},
    }))  # fmt: skip
    try:
        yield sim
    finally:
        sim.stop()


def test_two_stores_with_the_same_order_ids_do_not_collide(
    airflow_db: None, sandbox: Sandbox, other_store: BigCommerceSim, second_ledger: str, state_url: str
) -> None:
    ours = Pair(_config(PAIR), state_url)
    theirs = Pair(_config(OTHER_STORE_PAIR, OTHER_CONN, second_ledger), state_url)
    shared_ids = set(map(str, sandbox.bc.store.orders)) & set(map(str, other_store.store.orders))
    assert len(shared_ids) == 60, "the scenario needs the same order ids in both stores"
    assert _paid(sandbox.bc) != _paid(other_store), "and different orders behind them"

    first = ours.run()
    second = theirs.run()
    assert second["extract"]["orders"]["new"] == len(other_store.store.orders), "another store's orders are new"
    assert first["extract"]["orders"]["new"] == len(sandbox.bc.store.orders)

    store = open_store(state_url)
    for sim, shop in ((sandbox.bc, STORE_HASH), (other_store, OTHER_HASH)):
        kept = {r.source_id: r.payload["order"] for r in store.records("bigcommerce", "order", store=shop)}
        assert set(kept) == set(map(str, sim.store.orders)), shop
        for order_id, payload in kept.items():
            assert str(payload["status_id"]) == str(sim.store.orders[int(order_id)].status_id), (shop, order_id)
    for pair, sim, shop in ((ours, sandbox.bc, STORE_HASH), (theirs, other_store, OTHER_HASH)):
        sales = _sale_journals(store, pair.name)
        assert set(sales.values()) == {1}, pair.name
        assert set(sales) == _paid(sim) - _parked_orders(store, pair.name, shop), pair.name
        for order_id in sales:
            stored = store.load_journal(f"{pair.name}:order:{order_id}:sale", pair=pair.name)
            assert stored.store_id == shop, "each pair's journals are built from its own store's order"
