"""The shipped pipeline's ledger, reconciled by the shipped task: every lifecycle scenario ties.

Each scenario of the lifecycle catalogue (``tests/lifecycle/test_scenarios.py``, one per row of
the lifecycle table) is played through transform and load on SQLite, per order and daily, then
``run_reconcile`` compares the store, state and the ledger's read-back. A correct ledger has no
unexplained variance; the same ledger without one of its documents fails, naming the order.
This ties the reconciliation (independent store figures) to the planner (journals), both ways.
"""

from __future__ import annotations

import csv
import datetime as dt
import inspect
from pathlib import Path
from typing import Any

import pytest
from ml_connector.core.mapping import Mapping
from ml_connector.core.reconcile import ErpLine
from ml_connector.report import report_stem
from ml_connector.tasks.reconcile import UnexplainedVariance, run_reconcile

from tests.lifecycle import test_scenarios as catalogue
from tests.lifecycle.harness import PAIR, Ledger, Scenario

SCENARIOS = sorted(
    name
    for name, function in vars(catalogue).items()
    if name.startswith("test_") and callable(function) and "scenario" in inspect.signature(function).parameters
)
DAYS = ["2026-09-01", "2026-12-31"]  # every event of the catalogue, in any store time zone


class ReadBackLedger(Ledger):
    """The harness's ERP, reporting what it holds the way an ERP read-back does."""

    def read_back(self, hook: Any, mapping: Mapping, date_from: dt.date, date_to: dt.date) -> list[ErpLine]:
        return [
            ErpLine(key, journal.posting_date, line.dims, line.amount, line.currency, line.reference,
                    line.base_amount, journal.base_currency)
            for key, journal in self.documents.items()
            if date_from <= journal.posting_date <= date_to
            for line in journal.lines
        ]  # fmt: skip


def played(tmp_path: Path, name: str, granularity: str) -> Scenario:
    scenario = Scenario(tmp_path, granularity=granularity, report_path=(tmp_path / "reports").as_uri())
    scenario.ledger = ReadBackLedger()
    getattr(catalogue, name)(scenario)
    return scenario


def unexplained_orders(tmp_path: Path) -> set[str]:
    stem = report_stem(PAIR, (dt.date.fromisoformat(DAYS[0]), dt.date.fromisoformat(DAYS[1])))
    with (tmp_path / "reports" / f"{stem}_detail.csv").open(encoding="utf-8", newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["section"] in ("finding", "document") and r["explained"] == "no"]
    return {order_id for r in rows for order_id in r["order_ids"].split()}


def test_the_catalogue_is_found():
    assert len(SCENARIOS) >= 20, SCENARIOS


@pytest.mark.parametrize("granularity", ["order", "daily"])
@pytest.mark.parametrize("name", SCENARIOS)
def test_every_lifecycle_scenario_reconciles(tmp_path: Path, name: str, granularity: str) -> None:
    scenario = played(tmp_path, name, granularity)

    summary = run_reconcile(scenario.runtime(), days=DAYS)

    assert summary["unexplained"] == 0, summary
    if not scenario.ledger.documents:
        return
    key, removed = scenario.ledger.documents.popitem()  # the ERP lost its last document
    with pytest.raises(UnexplainedVariance):
        run_reconcile(scenario.runtime(), days=DAYS)
    orders = {ref.id for ref in removed.sources if ref.object == "order"}
    assert orders & unexplained_orders(tmp_path), (key, orders)


@pytest.mark.parametrize("granularity", ["order", "daily"])
def test_a_period_holding_only_the_cancel_reconciles_the_orders_whole_life(tmp_path: Path, granularity: str) -> None:
    # Sold 2026-10-03, cancelled 2026-10-07: the 10-07 report needs the 10-03 sale to see the order tie.
    scenario = played(tmp_path, "test_cancel_after_capture_moves_the_cash_to_refunds_payable", granularity)

    summary = run_reconcile(scenario.runtime(), days=["2026-10-07"])

    assert summary["unexplained"] == 0 and summary["period"] == ["2026-10-07", "2026-10-07"], summary
    with open(summary["csv"].removeprefix("file://"), encoding="utf-8", newline="") as handle:
        owed = next(r for r in csv.DictReader(handle) if r["measure"] == "owed")
    assert (owed["store"], owed["state"], owed["erp"]) == ("111.25", "111.25", "111.25")
