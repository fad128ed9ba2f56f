"""Money and timestamps survive a round trip exactly on both backends."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from ml_connector.state.types import Money, Rate, UTCDateTime
from sqlalchemy import Column, Engine, Integer, MetaData, Table, insert, select
from sqlalchemy.exc import StatementError

_meta = MetaData()
probe = Table(
    "type_probe",
    _meta,
    Column("id", Integer, primary_key=True),
    Column("amount", Money()),
    Column("rate", Rate()),
    Column("at", UTCDateTime()),
)


@pytest.fixture
def probe_engine(engine: Engine) -> Engine:
    _meta.create_all(engine)
    return engine


def _round_trip(engine: Engine, **values: Any) -> Any:
    with engine.begin() as conn:
        new_id = conn.execute(insert(probe).values(**values).returning(probe.c.id)).scalar_one()
    with engine.connect() as conn:
        return conn.execute(select(probe).where(probe.c.id == new_id)).one()


@pytest.mark.parametrize(
    "amount",
    [
        Decimal("0.1") + Decimal("0.2"),
        Decimal("-1234567.8901"),
        Decimal("99999999999999999999.9999"),  # 24 integer digits would be REAL garbage in SQLite
        Decimal("0.0001"),
        Decimal("0"),
        Decimal("12"),
    ],
)
def test_money_round_trips_exactly_as_decimal(probe_engine: Engine, amount: Decimal) -> None:
    row = _round_trip(probe_engine, amount=amount)
    assert isinstance(row.amount, Decimal)
    assert row.amount == amount
    assert row.amount == amount.quantize(Decimal("0.0001"))


def test_sum_of_many_cents_stays_exact(probe_engine: Engine) -> None:
    cents = [Decimal("0.10"), Decimal("0.20"), Decimal("0.70")] * 100
    with probe_engine.begin() as conn:
        conn.execute(insert(probe), [{"amount": c} for c in cents])
    with probe_engine.connect() as conn:
        stored = list(conn.execute(select(probe.c.amount)).scalars())
    assert sum(stored, Decimal(0)) == Decimal("100.00")


def test_money_refuses_floats_and_silent_rounding(probe_engine: Engine) -> None:
    with pytest.raises(StatementError, match="floats lose money"):
        _round_trip(probe_engine, amount=0.3)
    with pytest.raises(StatementError, match="more than 4 decimal places"):
        _round_trip(probe_engine, amount=Decimal("1.00005"))


def test_rates_round_beyond_eighteen_places(probe_engine: Engine) -> None:
    assert _round_trip(probe_engine, rate=Decimal("1.083412345678")).rate == Decimal("1.083412345678")
    row = _round_trip(probe_engine, rate=Decimal(1) / Decimal(3))
    assert row.rate == Decimal("0.333333333333333333")


def test_timestamps_come_back_aware_utc(probe_engine: Engine) -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    moment = dt.datetime(2025, 6, 30, 23, 30, 15, 123456, tzinfo=paris)
    row = _round_trip(probe_engine, at=moment)
    assert row.at == moment
    assert row.at.utcoffset() == dt.timedelta(0)
    assert row.at == dt.datetime(2025, 6, 30, 21, 30, 15, 123456, tzinfo=dt.UTC)


def test_naive_timestamps_are_rejected(probe_engine: Engine) -> None:
    with pytest.raises(StatementError, match="naive timestamp"):
        _round_trip(probe_engine, at=dt.datetime(2025, 1, 1, 12, 0))  # noqa: DTZ001
