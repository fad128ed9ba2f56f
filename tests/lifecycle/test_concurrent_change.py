"""An order the store changes while transform is planning it is planned again, never lost.

Transform reads a record, plans it, saves journals and only then marks the record. An extract
running at the same time may store a newer version in between; marking the version that was read
as processed would hide the newer one for good. The mark is refused and the record stays
``changed`` for the pair, so the next run plans the newer version.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from ml_connector.core.model import OrderStatus, Payment, PaymentEvent, PaymentMethod

from tests.core.core_factories import CAPTURED, capture, simple_order
from tests.lifecycle.harness import Scenario

SALE_TOTAL = "111.25"
EDITED = CAPTURED + dt.timedelta(days=2)


def _change_during_the_next_transform(scenario: Scenario, monkeypatch: pytest.MonkeyPatch, **changes: Any) -> None:
    """The concurrent extract: it stores a new version of order 100 after transform read the order."""
    real_save = scenario.store.save_journals

    def save_then_extract_runs(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(scenario.store, "save_journals", real_save)  # once
        result = real_save(*args, **kwargs)
        scenario.change("100", EDITED, **changes)
        return result

    monkeypatch.setattr(scenario.store, "save_journals", save_then_extract_runs)


def test_a_change_stored_while_transform_ran_stays_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = Scenario(tmp_path)
    scenario.put_order(simple_order())
    scenario.run()
    assert scenario.status("order", "100")[0] == "processed"

    scenario.change("100", CAPTURED + dt.timedelta(hours=1))  # an edit that changes nothing posted
    assert scenario.status("order", "100")[0] == "changed"
    void = Payment("v1", PaymentEvent.VOID, PaymentMethod.CARD, "stripe", capture(SALE_TOTAL).amount, "USD", EDITED,
                   reference_id="p1")  # fmt: skip
    _change_during_the_next_transform(
        scenario, monkeypatch, status=OrderStatus.CANCELLED, payments=(capture(SALE_TOTAL), void)
    )
    scenario.run()
    assert scenario.status("order", "100") == ("changed", None), "the cancellation must not be marked processed"
    assert scenario.ledger.kinds() == ["sale"]

    scenario.run()  # the next run plans the version it missed
    assert scenario.status("order", "100")[0] == "processed"
    assert scenario.ledger.by_account() == {}, "the cancelled sale is reversed"


def test_a_new_order_changed_while_transform_ran_is_planned_again(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = Scenario(tmp_path)
    scenario.put_order(dataclasses.replace(simple_order(), status=OrderStatus.UNPAID, payments=()))
    _change_during_the_next_transform(scenario, monkeypatch, status=OrderStatus.PAID, payments=(capture(SALE_TOTAL),))
    scenario.run()
    assert scenario.status("order", "100")[0] == "new", "never processed at the version now stored"
    assert scenario.ledger.by_account() == {}
    scenario.run()
    assert scenario.status("order", "100")[0] == "processed"
    assert scenario.ledger.kinds() == ["sale"]
