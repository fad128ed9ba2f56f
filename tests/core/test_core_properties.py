"""Property tests (hypothesis): balance, rounding bounds, refund limits and daily totals hold for any order."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from core_factories import CAPTURED, PAIR, bc_mapping, by_account, capture, order
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ml_connector.core.daily import summarise_daily
from ml_connector.core.journal import build_refund, build_sale
from ml_connector.core.model import Journal, Order, OrderLine, Refund, RefundLine, RefundPayment
from ml_connector.core.money import exponent, minor_unit, quantize
from ml_connector.errors import NeedsReview

MAPPING = bc_mapping()
CATEGORIES = ("Hardware", "Tools", "Garden", "Apparel", "Kitchen")
GATEWAYS = ("stripe", "braintree", "paypalexpress", "authorizenet", "squarev2")
TAX_NAMES = ("State Tax", "County Tax", "VAT", "City Tax")
RATES = {"USD": st.just(D(1)), "JPY": st.just(D("0.0067")), "KWD": st.just(D("3.2512")),
         "EUR": st.decimals(D("0.5"), D("2"), places=6)}  # fmt: skip
PROPERTY_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def raw_amounts(currency: str, max_units: int = 100_000):
    """Amounts with two more decimals than the currency has, so that rounding is exercised."""
    scale = D(1).scaleb(-(exponent(currency) + 2))
    return st.integers(0, max_units * 100).map(lambda n: n * scale)


def split(total: D, weights: list[int], currency: str) -> list[D]:
    quantum = minor_unit(currency)
    parts = [quantize(total * w / sum(weights), currency) for w in weights[:-1]]
    parts.append(total - sum(parts, D(0)))
    return [p for p in parts if p >= quantum] or [total]


@st.composite
def orders(draw, currency: str | None = None, order_id: str = "100") -> Order:
    currency = currency or draw(st.sampled_from(sorted(RATES)))
    rate = draw(RATES[currency])
    amount = raw_amounts(currency)
    quantum = minor_unit(currency)
    lines = []
    for index in range(draw(st.integers(1, 6))):
        total = draw(amount) + quantum * 100  # no empty lines
        discount = draw(st.one_of(st.just(D(0)), raw_amounts(currency, 10)))
        lines.append(OrderLine(str(index + 1), f"SKU-{index}", "item", 1, total, total, discount=min(discount, total),
                               category=draw(st.sampled_from(CATEGORIES))))  # fmt: skip
    shipping, handling, wrapping = draw(amount), draw(st.sampled_from([D(0), quantum * 250])), draw(amount)
    taxes = draw(st.lists(st.tuples(st.sampled_from(TAX_NAMES), raw_amounts(currency, 500)), max_size=3))
    coupons = draw(st.lists(raw_amounts(currency, 5), max_size=2))
    total = (sum((ln.total - ln.discount for ln in lines), D(0)) - sum(coupons, D(0)) + shipping + handling + wrapping
             + sum((a for _, a in taxes), D(0)))  # fmt: skip
    settled = quantize(total, currency)
    weights = draw(st.lists(st.integers(1, 10), min_size=1, max_size=3))
    payments = tuple(
        capture(str(part), gateway=GATEWAYS[i], payment_id=f"p{i}", currency=currency, at=CAPTURED + dt.timedelta(hours=i * 9))
        for i, part in enumerate(split(settled, weights, currency))
    )
    built = order(order_id=order_id, lines=(), total=str(total), payments=payments, currency=currency,
                  base_currency="USD", fx_rate=str(rate), taxes=tuple((n, str(a)) for n, a in taxes),
                  discounts=tuple(str(c) for c in coupons), shipping=str(shipping))  # fmt: skip
    return Order(**{**{f: getattr(built, f) for f in built.__dataclass_fields__},
                    "lines": tuple(lines), "handling": handling, "wrapping": wrapping})  # fmt: skip


def assert_exact_and_balanced(journal: Journal) -> None:
    quantum, base_quantum = minor_unit(journal.currency), minor_unit(journal.base_currency)
    assert journal.is_balanced
    for ln in journal.lines:
        assert ln.amount == ln.amount.quantize(quantum) and ln.amount.as_tuple().exponent == -exponent(journal.currency)
        assert ln.base_amount == ln.base_amount.quantize(base_quantum)
    others = [ln for ln in journal.lines if ln.role != "rounding"]
    for ln in journal.lines:
        if ln.role == "rounding":
            assert abs(ln.amount) <= quantum * len(others)
            assert abs(ln.base_amount) <= base_quantum * len(others) + abs(ln.amount * journal.fx_rate) + base_quantum
    assert sum(1 for ln in journal.lines if ln.role == "rounding") <= 1


@PROPERTY_SETTINGS
@given(orders())
def test_every_sale_balances_to_the_minor_unit_in_both_currencies(sale: Order) -> None:
    journal = build_sale(sale, MAPPING, PAIR)
    assert_exact_and_balanced(journal)
    money_in = sum((ln.amount for ln in journal.lines if ln.role == "clearing"), D(0))
    assert money_in == quantize(sale.total, sale.currency)


@st.composite
def refund_cases(draw):
    sale = draw(orders())
    currency = sale.currency
    quantum = minor_unit(currency)
    units = st.integers(0, 50_000).map(lambda n: n * quantum)
    items = tuple(RefundLine(ln.line_id, ln.sku, 1, draw(units)) for ln in sale.lines[: draw(st.integers(0, 3))])
    shipping, tax, other = draw(units), draw(units), draw(units)
    total = sum((i.amount for i in items), D(0)) + shipping + tax + other
    earlier_total = draw(st.sampled_from([D(0), quantum * 1000, quantize(sale.total, currency)]))
    make = lambda rid, amount, **parts: Refund(  # noqa: E731
        source="bigcommerce", store_id="store1", refund_id=rid, order_id=sale.order_id, currency=currency,
        created_at=CAPTURED + dt.timedelta(days=9), total=amount, base_currency="USD", fx_rate=sale.fx_rate,
        payments=(RefundPayment("stripe", sale.payments[0].method, amount),), **parts,
    )  # fmt: skip
    this = make("R2", total, lines=items, shipping=shipping, tax=tax, other=other)
    earlier = [make("R1", earlier_total, other=earlier_total)] if earlier_total else []
    return sale, this, earlier


@PROPERTY_SETTINGS
@given(refund_cases())
def test_refunds_balance_and_never_exceed_what_was_captured(case) -> None:
    sale, this, earlier = case
    captured = quantize(sale.total, sale.currency)
    if this.total + sum((r.total for r in earlier), D(0)) > captured:
        with pytest.raises(NeedsReview, match=f"^refund R2 exceeds captured: captured {captured}"):
            build_refund(this, sale, earlier, MAPPING, PAIR)
        return
    if not this.total:
        return  # nothing refunded: nothing to post
    journal = build_refund(this, sale, earlier, MAPPING, PAIR)
    assert_exact_and_balanced(journal)
    # The money returned leaves the tender accounts; discounts credited back are not money.
    tenders = {"clearing", "gift_certificate_liability", "store_credit_liability"}
    assert -sum((ln.amount for ln in journal.lines if ln.role in tenders), D(0)) == this.total


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["USD", "EUR", "JPY"]), min_size=1, max_size=8).flatmap(
    lambda currencies: st.tuples(*(orders(c, order_id=str(i)) for i, c in enumerate(currencies)))
))  # fmt: skip
def test_daily_summaries_equal_the_sum_of_per_order_journals(sales: tuple[Order, ...]) -> None:
    journals = [build_sale(sale, MAPPING, PAIR) for sale in sales]
    daily = summarise_daily(journals, PAIR)
    assert by_account(daily) == by_account(journals)
    assert by_account(daily, base=True) == by_account(journals, base=True)
    assert all(j.is_balanced for j in daily)
    assert sorted(s.id for j in daily for s in j.sources) == sorted(s.order_id for s in sales)
    assert len({(j.currency, j.posting_date) for j in daily}) == len(daily)
