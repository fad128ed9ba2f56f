"""Daily granularity: each day posts once; whatever reaches a posted day later is a numbered delta."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path

from ml_connector.core.model import JournalKind, OrderStatus, SourceRef

from tests.core.core_factories import CAPTURED, capture, simple_order
from tests.lifecycle.harness import Scenario
from tests.lifecycle.test_scenarios import CANCELLED, SALE

D = Decimal
PREFIX = "bigcommerce_to_peoplesoft:daily:store1:USD:"


def summaries(s: Scenario) -> dict[str, list[SourceRef]]:
    return {j.key: list(j.sources) for j in s.ledger.of_kind(JournalKind.DAILY)}


def test_a_changed_order_posts_a_delta_never_its_sale_again(tmp_path: Path) -> None:
    s = Scenario(tmp_path, granularity="daily")
    s.put_order(simple_order("100"))
    s.put_order(simple_order("101"))
    s.run()
    assert list(summaries(s)) == [PREFIX + "2026-10-03:1"]
    # Order 100 is cancelled on 10-07 and a new order of 10-03 arrives late, in the same run.
    s.change("100", CANCELLED, status=OrderStatus.CANCELLED)
    s.put_order(simple_order("102"))
    s.run()
    keys = summaries(s)
    assert sorted(keys) == [PREFIX + "2026-10-03:1", PREFIX + "2026-10-03:2", PREFIX + "2026-10-07:1"]
    # 10-03 #2 holds only the late order; no source sits in two summaries of a day.
    assert [ref.id for ref in keys[PREFIX + "2026-10-03:2"]] == ["102"]
    per_day = Counter((key.rsplit(":", 2)[-2], ref) for key, refs in keys.items() for ref in refs)
    assert max(per_day.values()) == 1
    # Net: 101 and 102 stand (2 x SALE); 100's cash is held and owed.
    expected = {account: 2 * amount for account, amount in SALE.items()}
    expected["101100"] += D("111.25")
    expected["210500"] = D("-111.25")
    assert s.ledger.by_account() == expected
    s.run()  # run again: nothing new
    assert len(summaries(s)) == 3


def test_a_changed_order_alone_is_not_lost(tmp_path: Path) -> None:
    s = Scenario(tmp_path, granularity="daily", adjustment_date="original")
    s.put_order(simple_order("100"))
    s.run()
    s.change("100", CANCELLED, status=OrderStatus.CANCELLED)
    s.run()
    # adjustment_date: original dates the delta on the sale's day: 10-03 #2.
    assert sorted(summaries(s)) == [PREFIX + "2026-10-03:1", PREFIX + "2026-10-03:2"]
    assert s.ledger.by_account() == {"101100": D("111.25"), "210500": D("-111.25")}


def test_an_open_day_waits_until_it_has_ended(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    today = dataclasses.replace(simple_order("100"), created_at=now, updated_at=now, payments=(capture("111.25", at=now),))
    s = Scenario(tmp_path, granularity="daily")
    s.put_order(today)
    s.run()
    assert summaries(s) == {}
    assert "detail" in s.journal_statuses().values()
    eager = Scenario(tmp_path / "eager", granularity="daily", daily_open_day="include")
    eager.put_order(today)
    eager.run()
    assert len(summaries(eager)) == 1 and eager.ledger.by_account() == SALE


def test_a_daily_key_does_not_depend_on_the_orders_present(tmp_path: Path) -> None:
    one, two = Scenario(tmp_path / "a", granularity="daily"), Scenario(tmp_path / "b", granularity="daily")
    one.put_order(simple_order("100"))
    two.put_order(simple_order("100"))
    two.put_order(simple_order("101"))
    one.run()
    two.run()
    assert list(summaries(one)) == list(summaries(two)) == [PREFIX + "2026-10-03:1"]
    assert CAPTURED.date().isoformat() == "2026-10-03"
