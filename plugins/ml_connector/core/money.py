"""Currency precision: every posted amount is rounded to its currency's ISO 4217 minor unit.

Rounding is ROUND_HALF_UP (the commercial convention ledgers expect), applied through
``Decimal.quantize`` with an explicit rounding mode so the ambient decimal context never matters.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

DEFAULT_EXPONENT = 2

# ISO 4217 currencies whose minor unit is not 1/100 (list one, current codes).
_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        (
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG",
            "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}  # fmt: skip


def exponent(currency: str) -> int:
    """Number of decimal places of ``currency`` (2 for codes not listed as different)."""
    return _EXPONENTS.get(currency.upper(), DEFAULT_EXPONENT)


@lru_cache(maxsize=256)
def minor_unit(currency: str) -> Decimal:
    """The smallest amount of ``currency``: Decimal('0.01') for USD, Decimal('1') for JPY."""
    return Decimal(1).scaleb(-exponent(currency))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Round ``amount`` half-up to the minor unit of ``currency``."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def to_base(amount: Decimal, fx_rate: Decimal, base_currency: str) -> Decimal:
    """Convert a transaction amount to the ledger base currency (base = amount x rate), rounded."""
    return quantize(amount * fx_rate, base_currency)
