"""A stored JOURNAL_ID wins over the one the connection's prefix would give now (DESIGN §5)."""

from __future__ import annotations

from collections.abc import Callable

from ml_connector.erps.peoplesoft.adapter import ADAPTER
from ml_connector.erps.peoplesoft.hook import PeopleSoftHook
from ml_connector.erps.peoplesoft.poster import post_journal

from sandbox.peoplesoft.server import PeopleSoftSim
from tests.peoplesoft.factories import make_journal


def _ids(sim: PeopleSoftSim, order_id: str) -> list[str]:
    return [j["JOURNAL_ID"] for j in sim.journals if j["JOURNAL_ID"].endswith(order_id)]


def test_poster_uses_the_stored_journal_id_whatever_the_prefix(sim: PeopleSoftSim, hook: PeopleSoftHook) -> None:
    journal = make_journal("601")
    first = post_journal(hook, journal, prefix="EC", sleep=lambda _: None)
    again = post_journal(hook, journal, prefix="XY", journal_id=first.journal_id, sleep=lambda _: None)
    assert (first.journal_id, again.status, again.journal_id) == ("ECS0000601", "already_present", "ECS0000601")
    assert _ids(sim, "601") == ["ECS0000601"]


def test_adapter_passes_the_document_id_through(sim: PeopleSoftSim, make_hook: Callable[..., PeopleSoftHook]) -> None:
    journal = make_journal("602")
    hook = make_hook(sim.base_url, journal_id_prefix="XY")  # the prefix changed after the first attempt
    assert ADAPTER.document_id(hook, journal) == "XYS0000602"
    outcome = ADAPTER.post_journal(hook, journal, lookup_first=True, document_id="ECS0000602")
    assert (outcome.status, outcome.document_id) == ("posted", "ECS0000602")
    assert _ids(sim, "602") == ["ECS0000602"]
    hook.close()
