"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no exact decimal and no time zones: money would silently become a float and
timestamps would come back naive. These types make both backends return exact ``Decimal``
and aware UTC ``datetime`` values, and refuse inputs that would lose information.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

# Surrogate keys: BIGINT on PostgreSQL, INTEGER (the rowid alias, so it autoincrements) on SQLite.
Id = BigInteger().with_variant(Integer(), "sqlite")

# JSON documents: JSONB on PostgreSQL, JSON text on SQLite.
Document = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC timestamps in and out; naive inputs are a bug and raise."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected an aware datetime, got {type(value).__name__} {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive timestamp {value!r}: the state store only accepts aware datetimes")
        value = value.astimezone(dt.UTC)
        # SQLite keeps no offset: store naive UTC text (fixed width, so it also orders correctly).
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(precision, scale) on PostgreSQL, canonical decimal text on SQLite.

    ``strict`` (money): a value with more decimal places than ``scale`` raises instead of being
    rounded, because silently rounding a ledger amount hides a bug upstream. Non-strict columns
    (rates) round half-even to ``scale``. Floats are always refused.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int, scale: int, *, strict: bool = True) -> None:
        super().__init__(precision, scale, asdecimal=True)
        self.precision, self.scale, self.strict = precision, scale, strict
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(self.precision + 2))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Decimal | str | None:
        if value is None:
            return None
        if isinstance(value, float) or not isinstance(value, Decimal | int):
            raise TypeError(f"expected Decimal, got {type(value).__name__} {value!r} (floats lose money)")
        try:
            quantized = Decimal(value).quantize(self._quantum)
        except InvalidOperation as exc:
            raise ValueError(f"{value!r} does not fit NUMERIC({self.precision},{self.scale})") from exc
        if self.strict and quantized != value:
            raise ValueError(f"{value!r} has more than {self.scale} decimal places; refusing to round it")
        if len(quantized.as_tuple().digits) > self.precision:
            raise ValueError(f"{value!r} does not fit NUMERIC({self.precision},{self.scale})")
        return format(quantized, "f") if dialect.name == "sqlite" else quantized

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value) if isinstance(value, str) else Decimal(str(value)).quantize(self._quantum)


def Money() -> ExactDecimal:  # noqa: N802 - reads like a type in table definitions
    """Amounts: 24 integer digits and 4 decimals, never rounded."""
    return ExactDecimal(28, 4)


def Rate() -> ExactDecimal:  # noqa: N802
    """Exchange rates: 18 decimals (more than any storefront sends), rounded half-even beyond that."""
    return ExactDecimal(38, 18, strict=False)
