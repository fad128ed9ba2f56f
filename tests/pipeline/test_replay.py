"""The load step against the PeopleSoft simulator, on SQLite and PostgreSQL: replays finish, every
journal is attempted once per run, the ERP key is fixed at the first attempt (DESIGN §5), and a
dry run leaves the store's webhooks alone.

``run_load`` is called directly (as the Airflow task does) so that each test can count the
ERP calls; the DAG-level replay test at the end runs the whole pair with ``dag.test()``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from ml_connector.config import Webhooks, pipeline
from ml_connector.core.model import Journal, JournalKind
from ml_connector.errors import ExternalError
from ml_connector.http import RetryPolicy
from ml_connector.state.db import get_engine
from ml_connector.state.store import StateStore, open_store
from ml_connector.tasks.load import LoadFailed, run_load
from ml_connector.tasks.runtime import Params, Runtime
from ml_connector.tasks.webhook_health import run_webhook_health

from sandbox.bigcommerce.server import BigCommerceSim
from sandbox.peoplesoft.server import PeopleSoftSim
from tests.peoplesoft.factories import BU, COMBINATION_RULES, make_journal
from tests.pipeline.conftest import PAIR, connection_env

PS_CONN = "AIRFLOW_CONN_PEOPLESOFT_DEFAULT"
EVERY_SOAP_CALL = {"method": "POST", "path": "PSFT_EP$"}


@dataclass
class Calls:
    """What ``post_journal`` was asked, journal by journal, across runs."""

    keys: Counter[str] = field(default_factory=Counter)
    document_ids: list[str | None] = field(default_factory=list)
    fail: set[str] = field(default_factory=set)  # keys whose post fails (a broken journal)


@dataclass
class Loader:
    ps: PeopleSoftSim
    store: StateStore
    calls: Calls
    runtime: Callable[..., Runtime]

    def save(self, *journals: Journal) -> list[str]:
        self.store.save_journals(PAIR, journals)
        return [j.key for j in journals]

    def load(self, params: Params | None = None, *, load_batch: int = 3, worker: str = "w") -> dict[str, Any]:
        return run_load(self.runtime(load_batch), params or Params(), worker=worker)

    def statuses(self, keys: list[str]) -> list[str | None]:
        return [self.store.journal_status(PAIR, key) for key in keys]

    def fault(self, **rule: Any) -> None:
        requests.post(f"{self.ps.base_url}/_sandbox/faults", json={**EVERY_SOAP_CALL, **rule}, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.ps.base_url}/_sandbox/faults", timeout=10).raise_for_status()

    def set_ps_extra(self, monkeypatch: pytest.MonkeyPatch, **extra: Any) -> None:
        """Change the PeopleSoft connection's extra (what an operator does in the Airflow UI)."""
        conn = json.loads(connection_env("http://127.0.0.1:9", self.ps.base_url)[PS_CONN])
        conn["extra"].update(extra)
        monkeypatch.setenv(PS_CONN, json.dumps(conn))


def sales(*order_ids: str) -> list[Journal]:
    return [make_journal(order_id) for order_id in order_ids]


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries still happen, without waiting: these tests count calls, not seconds."""
    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt, rng=None: 0.0)


@pytest.fixture
def loader(state_url: str, monkeypatch: pytest.MonkeyPatch, no_backoff: None) -> Iterator[Loader]:
    ps = PeopleSoftSim(port=0)
    ps.start()
    ps.load_combinations(BU, COMBINATION_RULES)
    calls = Calls()

    def runtime(load_batch: int) -> Runtime:
        rt = Runtime.open(pipeline(PAIR).model_copy(update={"load_batch": load_batch}))
        real_post = type(rt.erp).post_journal

        def counted(hook: Any, journal: Journal, **kwargs: Any) -> Any:
            calls.keys[journal.key] += 1
            calls.document_ids.append(kwargs.get("document_id"))
            if journal.key in calls.fail:
                raise ExternalError("peoplesoft", f"{journal.key} refused (injected by the test)")
            return real_post(rt.erp, hook, journal, **kwargs)

        monkeypatch.setattr(rt.erp, "post_journal", counted)
        return rt

    try:
        result = Loader(ps, open_store(state_url), calls, runtime)
        result.set_ps_extra(monkeypatch)
        yield result
    finally:
        ps.stop()


# -- replay --------------------------------------------------------------------------------------


def test_replay_of_journal_keys_posts_each_once_in_batches(loader: Loader) -> None:
    keys = loader.save(*sales("501", "502", "503", "504", "505"))
    summary = loader.load(Params(journal_keys=tuple(keys)), load_batch=3)
    assert loader.statuses(keys) == ["posted"] * 5, summary
    assert loader.calls.keys == Counter(dict.fromkeys(keys, 1))
    assert len(loader.ps.journals) == 5


def test_replay_of_posted_journals_confirms_them_and_links_each_posting(loader: Loader) -> None:
    keys = loader.save(*sales("511", "512", "513", "514", "515"))
    loader.load()
    summary = loader.load(Params(journal_keys=tuple(keys)), load_batch=2)
    assert summary["counts"] == {"already_present": 5}, summary
    assert loader.statuses(keys) == ["posted"] * 5
    assert loader.calls.keys == Counter(dict.fromkeys(keys, 2))
    for key in keys:
        first, replayed = loader.store.postings_for(key, PAIR)
        assert (replayed.replay_of, replayed.erp_document_id) == (first.id, first.erp_document_id)
    assert len(loader.ps.journals) == 5


def test_replay_by_order_and_refund_ids_takes_every_journal_of_those_records(loader: Loader) -> None:
    refund = make_journal("521", kind=JournalKind.REFUND)
    keys = loader.save(*sales("521", "522", "523", "524"), refund)
    params = Params(order_ids=("521", "522", "523"), refund_ids=("521",))
    loader.load(params, load_batch=2)
    wanted = [keys[0], keys[1], keys[2], refund.key]
    assert loader.calls.keys == Counter(dict.fromkeys(wanted, 1))
    assert loader.statuses(keys) == ["posted", "posted", "posted", "ready", "posted"]


def test_replay_failed_after_an_outage_posts_every_failed_journal(loader: Loader) -> None:
    keys = loader.save(*sales("531", "532", "533", "534", "535"))
    loader.fault(kind="status", status=503)
    with pytest.raises(LoadFailed, match="5 journal"):
        loader.load()
    assert loader.statuses(keys) == ["failed"] * 5
    loader.clear_faults()
    summary = loader.load(Params(replay_failed=True), load_batch=2)
    assert loader.statuses(keys) == ["posted"] * 5, summary
    assert loader.calls.keys == Counter(dict.fromkeys(keys, 2))
    assert len(loader.ps.journals) == 5


def test_replay_reports_keys_it_cannot_take(loader: Loader) -> None:
    keys = loader.save(*sales("541"))
    summary = loader.load(Params(journal_keys=(*keys, "bc:sale:nope")))
    assert summary["counts"] == {"posted": 1, "skipped": 1}
    assert summary["skipped"] == ["bc:sale:nope (unknown key)"]


# -- a normal run ------------------------------------------------------------------------------


def test_normal_run_retries_every_failed_journal_and_the_fresh_ones(loader: Loader) -> None:
    """More failed journals than one batch: a clear after an outage retries all of them."""
    failed = loader.save(*sales("551", "552", "553", "554", "555"))
    loader.fault(kind="status", status=503)
    with pytest.raises(LoadFailed):
        loader.load()
    loader.clear_faults()
    fresh = loader.save(*sales("556", "557"))
    summary = loader.load(load_batch=2)
    assert loader.statuses(failed + fresh) == ["posted"] * 7, summary
    assert loader.calls.keys == Counter({**dict.fromkeys(failed, 2), **dict.fromkeys(fresh, 1)})
    assert len(loader.ps.journals) == 7


def test_a_journal_failing_in_this_try_waits_for_the_next_try(loader: Loader) -> None:
    keys = loader.save(*sales("561", "562", "563"))
    loader.calls.fail.add(keys[0])
    with pytest.raises(LoadFailed, match="1 journal"):
        loader.load(load_batch=1)
    assert loader.statuses(keys) == ["failed", "posted", "posted"]
    assert loader.calls.keys == Counter(dict.fromkeys(keys, 1))
    loader.calls.fail.clear()
    loader.load(load_batch=1)
    assert loader.statuses(keys) == ["posted"] * 3
    assert loader.calls.keys == Counter({keys[0]: 2, keys[1]: 1, keys[2]: 1})


# -- the ERP key is fixed at the first attempt -----------------------------------------------------


def test_document_id_is_stored_before_the_first_send_and_reused_after_a_prefix_change(
    loader: Loader, monkeypatch: pytest.MonkeyPatch
) -> None:
    (key,) = loader.save(make_journal("571"))
    # PeopleSoft commits the Create but the answer is lost, and every call after it fails too.
    loader.fault(kind="reset_after", count=1)
    loader.fault(kind="reset")
    with pytest.raises(LoadFailed):
        loader.load()
    assert [j["JOURNAL_ID"] for j in loader.ps.journals] == ["ECS0000571"]
    assert loader.store.stored_journal(key, PAIR).erp_document_id == "ECS0000571"
    loader.clear_faults()
    loader.set_ps_extra(monkeypatch, journal_id_prefix="XY")  # the operator changes the prefix
    summary = loader.load()
    assert summary["counts"] == {"already_present": 1}, summary
    assert [j["JOURNAL_ID"] for j in loader.ps.journals] == ["ECS0000571"]
    assert loader.calls.document_ids == ["ECS0000571", "ECS0000571"]
    assert loader.store.stored_journal(key, PAIR).status == "posted"


def test_a_new_journal_takes_the_prefix_of_its_first_attempt(loader: Loader, monkeypatch: pytest.MonkeyPatch) -> None:
    loader.set_ps_extra(monkeypatch, journal_id_prefix="XY")
    (key,) = loader.save(make_journal("581"))
    loader.load()
    assert [j["JOURNAL_ID"] for j in loader.ps.journals] == ["XYS0000581"]
    assert loader.store.stored_journal(key, PAIR).erp_document_id == "XYS0000581"


# -- dry run: the store's webhooks are not touched -----------------------------------------------


@pytest.fixture
def bigcommerce(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[BigCommerceSim]:
    bc = BigCommerceSim(port=0, seed=3, orders=1, allow_http_destinations=True, quota=100_000)
    bc_url = bc.start()
    for name, value in connection_env(bc_url, "http://127.0.0.1:9").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ML_CONNECTOR_STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    try:
        yield bc
    finally:
        bc.stop()


def _webhook_runtime() -> Runtime:
    hooks = Webhooks(destination="http://127.0.0.1:9/ml-connector/webhooks/bigcommerce/bigcommerce_default")
    return Runtime.open(pipeline(PAIR).model_copy(update={"webhooks": hooks}))


def _registered(bc: BigCommerceSim) -> list[tuple[str, bool]]:
    return sorted((h.scope, h.is_active) for h in bc.hooks.listing())


def test_dry_run_reports_webhook_repairs_without_making_them(bigcommerce: BigCommerceSim) -> None:
    dry = run_webhook_health(_webhook_runtime(), dry_run=True)
    assert dry == {"dry_run": True, "would_change": ["created hook for store/order/*", "created hook for store/customer/*"]}
    assert _registered(bigcommerce) == []

    assert len(run_webhook_health(_webhook_runtime())["changes"]) == 2
    first = min(h.id for h in bigcommerce.hooks.listing())
    bigcommerce.hooks.deactivate(first)
    before = _registered(bigcommerce)
    dry = run_webhook_health(_webhook_runtime(), dry_run=True)
    assert dry["would_change"] == [f"reactivated hook {first} (store/order/*)"]
    assert _registered(bigcommerce) == before
    assert run_webhook_health(_webhook_runtime())["changes"] == dry["would_change"]


# -- the whole pair --------------------------------------------------------------------------------


@pytest.mark.slow
def test_dag_replay_of_more_journals_than_one_batch(airflow_db: None, sandbox: Any, state_url: str,
                                                    fast_retries: Path) -> None:
    from tests.pipeline.test_dag_e2e import run

    config = fast_retries / "pipelines" / f"{PAIR}.yaml"  # read once per process: set before the first run
    config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "load_batch": 3}))
    dr, states = run()
    assert dr.state == "success", states
    store = StateStore(get_engine(state_url))
    keys = store.journal_keys_with_status(PAIR, ("posted",))[:5]
    assert len(keys) == 5
    before = len(sandbox.ps_journals())
    dr, states = run({"journal_ids": keys})
    assert dr.state == "success", states
    assert [store.journal_status(PAIR, key) for key in keys] == ["posted"] * 5
    for key in keys:
        first, replayed = store.postings_for(key, PAIR)
        assert replayed.replay_of == first.id and replayed.status == "already_present"
    assert len(sandbox.ps_journals()) == before
