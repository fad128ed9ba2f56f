"""money.py and keys.py: minor units, half-up rounding, deterministic keys and hashes."""

from __future__ import annotations

import dataclasses
from decimal import Decimal as D

import pytest
from core_factories import bc_mapping, simple_order
from ml_connector.core.journal import build_sale
from ml_connector.core.keys import content_hash, journal_key, short_hash
from ml_connector.core.money import exponent, minor_unit, quantize, to_base


@pytest.mark.parametrize(
    ("currency", "unit"),
    [("USD", "0.01"), ("EUR", "0.01"), ("JPY", "1"), ("KRW", "1"), ("CLP", "1"), ("VND", "1"), ("ISK", "1"),
     ("KWD", "0.001"), ("BHD", "0.001"), ("OMR", "0.001"), ("JOD", "0.001"), ("TND", "0.001"),
     ("LYD", "0.001"), ("IQD", "0.001"), ("XYZ", "0.01")],
)  # fmt: skip
def test_minor_unit(currency: str, unit: str) -> None:
    assert minor_unit(currency) == D(unit)
    assert str(minor_unit(currency)) == unit
    assert exponent(currency.lower()) == exponent(currency)


def test_quantize_rounds_half_up_whatever_the_context() -> None:
    assert quantize(D("0.005"), "USD") == D("0.01")
    assert quantize(D("0.015"), "USD") == D("0.02")
    assert quantize(D("0.025"), "USD") == D("0.03")  # banker's rounding would give 0.02
    assert quantize(D("-0.025"), "USD") == D("-0.03")
    assert quantize(D("2.5"), "JPY") == D("3")
    assert quantize(D("1.0005"), "KWD") == D("1.001")
    assert str(quantize(D("7"), "KWD")) == "7.000"


def test_to_base_converts_and_rounds_in_the_base_currency() -> None:
    assert to_base(D("100"), D("0.0067"), "USD") == D("0.67")
    assert to_base(D("10.00"), D("1.08375"), "USD") == D("10.84")
    assert to_base(D("10.00"), D("0.3077"), "KWD") == D("3.077")


def test_journal_key_is_readable_and_rejects_empty_parts() -> None:
    assert journal_key("bigcommerce_to_peoplesoft", "order", "100", "sale") == "bigcommerce_to_peoplesoft:order:100:sale"
    with pytest.raises(ValueError, match="source_id is empty"):
        journal_key("p", "order", "", "sale")


def test_short_hash_is_deterministic_and_uses_the_alphabet() -> None:
    first = short_hash("order:100", 10)
    assert first == short_hash("order:100", 10)
    assert len(first) == 10 and set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert short_hash("order:101", 10) != first
    assert set(short_hash("x", 40, alphabet="01")) <= {"0", "1"}
    assert short_hash("order:100", 4) == first[:4]


def test_content_hash_tracks_money_not_cosmetics() -> None:
    journal = build_sale(simple_order(), bc_mapping(), "bigcommerce_to_peoplesoft")
    same = dataclasses.replace(journal, key="other", description="renamed")
    assert content_hash(same) == content_hash(journal)
    first = journal.lines[0]
    rescaled = dataclasses.replace(first, amount=D(f"{first.amount}00"))  # 111.2500 is 111.25
    assert content_hash(dataclasses.replace(journal, lines=(rescaled, *journal.lines[1:]))) == content_hash(journal)
    moved = dataclasses.replace(first, amount=first.amount + D("0.01"))
    assert content_hash(dataclasses.replace(journal, lines=(moved, *journal.lines[1:]))) != content_hash(journal)
    later = dataclasses.replace(journal, posting_date=journal.posting_date.replace(day=4))
    assert content_hash(later) != content_hash(journal)
    assert len(content_hash(journal)) == 64
    assert content_hash({"a": D("1.0"), "b": [1, 2]}) == content_hash({"b": [1, 2], "a": D("1")})
