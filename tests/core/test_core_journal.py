"""journal.py / rules.py / daily.py: the accounting of sales, refunds, reversals and daily summaries."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal as D

import pytest
from core_factories import (
    CAPTURED,
    PAIR,
    bc_mapping,
    by_account,
    capture,
    line,
    order,
    refund,
    simple_order,
)
from ml_connector.core.daily import summarise_daily
from ml_connector.core.journal import build_refund, build_reversal, build_sale
from ml_connector.core.mapping import Mapping
from ml_connector.core.model import (
    JournalKind,
    OrderStatus,
    Payment,
    PaymentEvent,
    PaymentMethod,
    RefundPayment,
    SourceRef,
)
from ml_connector.core.rules import NotPostable, NotSettled
from ml_connector.errors import NeedsMapping, NeedsReview, ParkedError
from ml_connector.settings import include_dir
from ml_connector.systems import erp_schemas

MAPPING = bc_mapping()
WEB = ("OPERATING_UNIT", "WEB")
STRIPE = (("ACCOUNT", "101100"), WEB)
HARDWARE = (("ACCOUNT", "400100"), WEB, ("PRODUCT", "HARDWR"))
SHIPPING = (("ACCOUNT", "410100"), WEB)
STATE_TAX = (("ACCOUNT", "220100"), WEB)
COUNTY_TAX = (("ACCOUNT", "220200"), WEB)
ROUNDING = (("ACCOUNT", "799900"), WEB)


def summary(journal) -> list[tuple[str, tuple, str, str]]:
    return [(ln.role, ln.dims, str(ln.amount), str(ln.base_amount)) for ln in journal.lines]


def test_sale_debits_clearing_and_credits_revenue_shipping_and_tax() -> None:
    journal = build_sale(simple_order(), MAPPING, PAIR)
    assert summary(journal) == [
        ("clearing", STRIPE, "111.25", "111.25"),
        ("revenue", HARDWARE, "-100.00", "-100.00"),
        ("shipping_revenue", SHIPPING, "-5.00", "-5.00"),
        ("tax_payable", STATE_TAX, "-6.25", "-6.25"),
    ]
    assert journal.is_balanced and journal.kind is JournalKind.SALE
    assert journal.key == "bigcommerce_to_peoplesoft:order:100:sale"
    assert journal.description == "BC order 100 sale"
    assert journal.posting_date == dt.date(2026, 10, 3)
    assert journal.sources == (SourceRef("bigcommerce", "order", "100"),)
    assert dict(journal.header) == MAPPING.header
    assert (journal.currency, journal.base_currency, journal.fx_rate) == ("USD", "USD", D(1))
    assert [ln.description for ln in journal.lines] == ["Clearing stripe", "Sales", "Shipping", "Tax State Tax"]
    assert {ln.reference for ln in journal.lines} == {"100"}


def test_posting_date_is_the_capture_day_in_the_store_timezone() -> None:
    late = capture("111.25", at=dt.datetime(2026, 10, 4, 3, 30, tzinfo=dt.UTC))  # 22:30 on the 3rd in Chicago
    base = simple_order()
    journal = build_sale(dataclasses.replace(base, payments=(late,)), MAPPING, PAIR)
    assert journal.posting_date == dt.date(2026, 10, 3)
    text = (include_dir() / "mappings" / f"{PAIR}.yaml").read_text().replace("posting_date: capture", "posting_date: created")
    by_created = Mapping.parse(text.encode(), source="created.yaml", schemas=erp_schemas())
    assert build_sale(base, by_created, PAIR).posting_date == dt.date(2026, 10, 2)


def test_gift_certificates_store_credit_and_voids() -> None:
    payments = (
        Payment("a0", PaymentEvent.AUTHORIZATION, PaymentMethod.CARD, "braintree", D("80"), "USD", CAPTURED),
        Payment("v0", PaymentEvent.VOID, PaymentMethod.CARD, "braintree", D("80"), "USD", CAPTURED, reference_id="a0"),
        capture("50.00", gateway="braintree", payment_id="c1"),
        Payment("v1", PaymentEvent.VOID, PaymentMethod.CARD, "braintree", D("50"), "USD", CAPTURED, reference_id="c1"),
        capture("81.25", gateway="paypalexpress", payment_id="c2"),
        Payment("f1", PaymentEvent.CAPTURE, PaymentMethod.CARD, "stripe", D("111.25"), "USD", CAPTURED, ok=False),
        capture("20.00", gateway="giftcertificate", method=PaymentMethod.GIFT_CERTIFICATE, payment_id="g1"),
        capture("10.00", gateway="storecredit", method=PaymentMethod.STORE_CREDIT, payment_id="s1"),
    )
    journal = build_sale(dataclasses.replace(simple_order(), payments=payments), MAPPING, PAIR)
    debits = [(ln.role, ln.dims[0][1], str(ln.amount)) for ln in journal.lines if ln.amount > 0]
    assert debits == [
        ("clearing", "101120", "81.25"),
        ("gift_certificate_liability", "240100", "20.00"),
        ("store_credit_liability", "240200", "10.00"),
    ]
    assert journal.is_balanced


def test_gift_certificate_reported_only_on_the_order_still_debits_the_liability() -> None:
    sale = order(
        lines=(line("1", "100.00"),), total="100.00", payments=(capture("70.00"),), gift_certificate_amount="30.00"
    )
    journal = build_sale(sale, MAPPING, PAIR)
    assert [(ln.role, str(ln.amount)) for ln in journal.lines if ln.amount > 0] == [
        ("clearing", "70.00"), ("gift_certificate_liability", "30.00"),
    ]  # fmt: skip


def test_line_and_order_discounts_are_contra_revenue() -> None:
    sale = order(lines=(line("1", "100.00", discount="10.00"),), discounts=("5.00",), total="85.00")
    journal = build_sale(sale, MAPPING, PAIR)
    assert ("discount", (("ACCOUNT", "450100"), WEB), "15.00", "15.00") in summary(journal)
    assert journal.is_balanced


def test_rounding_residual_goes_to_the_rounding_account() -> None:
    lines = (line("1", "33.3333", category="Hardware"), line("2", "33.3333", category="Tools"),
             line("3", "33.3334", category="Garden"))  # fmt: skip
    journal = build_sale(order(lines=lines, total="100.00"), MAPPING, PAIR)
    assert [str(ln.amount) for ln in journal.lines] == ["100.00", "-33.33", "-33.33", "-33.33", "-0.01"]
    assert journal.lines[-1].role == "rounding" and journal.lines[-1].dims == ROUNDING
    assert journal.is_balanced


def test_amounts_that_do_not_add_up_need_review_with_the_figures() -> None:
    sale = dataclasses.replace(simple_order(), shipping=D("15.00"))
    with pytest.raises(NeedsReview) as caught:
        build_sale(sale, MAPPING, PAIR)
    assert caught.value.reason == (
        "order 100: items 100.00 - discounts 0 + shipping 15.00 + handling 0 + wrapping 0 + fees 0 + tax 6.25 = 121.25,"
        " but the order total is 111.25 USD"
    )


def test_under_captured_order_is_not_settled_and_over_captured_needs_review() -> None:
    with pytest.raises(NotSettled) as caught:
        build_sale(dataclasses.replace(simple_order(), payments=(capture("50.00"),)), MAPPING, PAIR)
    assert caught.value.status == "not_settled" and isinstance(caught.value, ParkedError)
    assert caught.value.reason == "order 100 is not settled: captured 50.00 of 111.25 USD"
    with pytest.raises(NotSettled):
        build_sale(dataclasses.replace(simple_order(), payments=()), MAPPING, PAIR)
    with pytest.raises(NeedsReview, match=r"^order 100: captured 120.00 USD is more than the order total 111.25$"):
        build_sale(dataclasses.replace(simple_order(), payments=(capture("120.00"),)), MAPPING, PAIR)


@pytest.mark.parametrize("status", [OrderStatus.UNPAID, OrderStatus.CANCELLED, OrderStatus.DELETED])
def test_only_postable_statuses_build_a_sale(status: OrderStatus) -> None:
    with pytest.raises(NotPostable, match=f"order 100 has status {status.value}") as caught:
        build_sale(dataclasses.replace(simple_order(), status=status), MAPPING, PAIR)
    assert caught.value.status == "skipped"


def test_unmapped_sku_parks_the_order_with_the_precise_reason() -> None:
    sale = order(lines=(line("1", "10.00", sku="ZZ-9", category="Lawn"),), total="10.00")
    with pytest.raises(NeedsMapping) as caught:
        build_sale(sale, MAPPING, PAIR)
    assert caught.value.reason == (
        "no revenue mapping for SKU 'ZZ-9' (category 'Lawn') in order 100: add roles.revenue.by_sku.ZZ-9"
        " or roles.revenue.by_category.Lawn to include/mappings/bigcommerce_to_peoplesoft.yaml"
    )


def test_foreign_currency_posts_base_amounts_with_a_base_only_rounding_line() -> None:
    lines = (line("1", "10.01", category="Hardware"), line("2", "10.01", category="Tools"))
    sale = order(lines=lines, total="20.02", currency="EUR", base_currency="USD", fx_rate="1.0835")
    journal = build_sale(sale, MAPPING, PAIR)
    assert [(ln.role, str(ln.amount), str(ln.base_amount)) for ln in journal.lines] == [
        ("clearing", "20.02", "21.69"),
        ("revenue", "-10.01", "-10.85"),
        ("revenue", "-10.01", "-10.85"),
        ("rounding", "0.00", "0.01"),
    ]
    assert journal.is_balanced and (journal.currency, journal.base_currency, journal.fx_rate) == ("EUR", "USD", D("1.0835"))


def test_zero_and_three_decimal_currencies() -> None:
    jpy = order(lines=(line("1", "1000"),), taxes=(("VAT", "100"),), total="1100", currency="JPY",
                base_currency="USD", fx_rate="0.0067")  # fmt: skip
    journal = build_sale(jpy, MAPPING, PAIR)
    assert [(str(ln.amount), str(ln.base_amount)) for ln in journal.lines] == [
        ("1100", "7.37"), ("-1000", "-6.70"), ("-100", "-0.67"),
    ]  # fmt: skip
    kwd = order(lines=(line("1", "1.2345"), line("2", "1.2345", category="Tools")), total="2.469", currency="KWD",
                base_currency="USD", fx_rate="3.25")  # fmt: skip
    journal = build_sale(kwd, MAPPING, PAIR)
    assert [str(ln.amount) for ln in journal.lines] == ["2.469", "-1.235", "-1.235", "0.001"]
    assert journal.is_balanced


def test_order_whose_store_base_is_not_the_ledger_base_needs_review() -> None:
    sale = order(lines=(line("1", "10.00"),), total="10.00", currency="EUR")
    with pytest.raises(NeedsReview, match="order 100 is in EUR with a rate to EUR, but the ledger base currency"):
        build_sale(sale, MAPPING, PAIR)


def taxed_order():
    return order(lines=(line("1", "100.00"),), shipping="5.00", taxes=(("State Tax", "4.00"), ("County Tax", "2.25")),
                 total="111.25")  # fmt: skip


def test_refund_offsets_items_shipping_and_tax_pro_rata_in_its_own_period() -> None:
    ret = refund(total="108.00", lines=(("1", "100.00"),), shipping="5.00", tax="3.00")
    journal = build_refund(ret, taxed_order(), [], MAPPING, PAIR)
    assert summary(journal) == [
        ("revenue", HARDWARE, "100.00", "100.00"),  # mapped from the order line's SKU and category
        ("shipping_revenue", SHIPPING, "5.00", "5.00"),
        ("tax_payable", STATE_TAX, "1.92", "1.92"),
        ("tax_payable", COUNTY_TAX, "1.08", "1.08"),
        ("clearing", STRIPE, "-108.00", "-108.00"),
    ]
    assert journal.kind is JournalKind.REFUND and journal.is_balanced
    assert journal.key == "bigcommerce_to_peoplesoft:refund:R1:refund"
    assert journal.posting_date == dt.date(2026, 11, 5)
    assert journal.description == "BC refund R1"
    assert journal.sources == (SourceRef("bigcommerce", "refund", "R1"), SourceRef("bigcommerce", "order", "100"))


def test_refund_above_captured_never_builds_a_journal() -> None:
    earlier = [refund(refund_id="R1", total="100.00", other="100.00")]
    this = refund(refund_id="R2", total="20.00", other="20.00")
    with pytest.raises(NeedsReview) as caught:
        build_refund(this, simple_order(), earlier, MAPPING, PAIR)
    assert caught.value.reason == (
        "refund R2 exceeds captured: captured 111.25, earlier refunds 100.00, this refund 20.00 (order 100)"
    )
    with pytest.raises(NeedsReview, match=r"captured 111.25, earlier refunds 0, this refund 111.26 \(order 100\)$"):
        build_refund(refund(total="111.26", other="111.26"), simple_order(), [], MAPPING, PAIR)  # not even a cent
    # the same refund listed among the "earlier" ones (a replay) is not counted twice
    journal = build_refund(earlier[0], simple_order(), earlier, MAPPING, PAIR)
    assert [(ln.role, str(ln.amount)) for ln in journal.lines] == [("refund_adjustment", "100.00"), ("clearing", "-100.00")]


def test_refund_whose_parts_do_not_add_up_needs_review() -> None:
    with pytest.raises(NeedsReview, match=r"^refund R1 \(order 100\): items 10.00 \+ shipping 0 .* = 10.00, but the refund total is 12.00 USD$"):
        build_refund(refund(total="12.00", lines=(("1", "10.00"),)), simple_order(), [], MAPPING, PAIR)
    with pytest.raises(NeedsReview, match=r"payments 11.00 do not match the refund total 12.00 USD"):
        build_refund(refund(total="12.00", other="12.00", payments=(("stripe", "11.00"),)), simple_order(), [], MAPPING, PAIR)


def test_refund_without_payment_detail_returns_to_the_order_tenders_and_store_credit_is_a_liability() -> None:
    sale = dataclasses.replace(simple_order(), payments=(capture("100.00"), capture("11.25", gateway="braintree", payment_id="p2")))
    journal = build_refund(refund(total="10.00", other="10.00", payments=()), sale, [], MAPPING, PAIR)
    assert [(ln.dims[0][1], str(ln.amount)) for ln in journal.lines] == [("460100", "10.00"), ("101100", "-8.99"), ("101110", "-1.01")]
    credit = dataclasses.replace(
        refund(total="10.00", other="10.00"), payments=(RefundPayment("storecredit", PaymentMethod.STORE_CREDIT, D("10.00")),)
    )
    journal = build_refund(credit, sale, [], MAPPING, PAIR)
    assert [(ln.role, str(ln.amount)) for ln in journal.lines][-1] == ("store_credit_liability", "-10.00")


def test_reversal_negates_every_line() -> None:
    original = build_sale(simple_order(), MAPPING, PAIR)
    reversal = build_reversal(original, dt.date(2026, 10, 20), "cancelled")
    assert reversal.kind is JournalKind.REVERSAL
    assert reversal.key == "bigcommerce_to_peoplesoft:order:100:reversal"
    assert reversal.posting_date == dt.date(2026, 10, 20)
    assert len(reversal.description) <= 30 and reversal.description.startswith("REV BC order 100")
    assert reversal.is_balanced and by_account([original, reversal]) == {}
    assert [ln.amount for ln in reversal.lines] == [-ln.amount for ln in original.lines]
    with pytest.raises(ValueError, match="a reason is required"):
        build_reversal(original, dt.date(2026, 10, 20), " ")


def test_daily_summary_equals_the_per_order_journals_by_account() -> None:
    sales = [build_sale(simple_order(str(n)), MAPPING, PAIR) for n in range(100, 104)]
    late = dataclasses.replace(simple_order("104"), payments=(capture("111.25", at=CAPTURED + dt.timedelta(days=1)),))
    eur = order(order_id="105", lines=(line("1", "10.01"),), total="10.01", currency="EUR", base_currency="USD", fx_rate="1.0835")
    refunds = [build_refund(refund(total="10.00", lines=(("1", "10.00"),), at=CAPTURED), simple_order(), [], MAPPING, PAIR)]
    journals = [*sales, build_sale(late, MAPPING, PAIR), build_sale(eur, MAPPING, PAIR), *refunds]
    daily = summarise_daily(journals, PAIR)
    assert [(j.currency, j.posting_date.isoformat(), len(j.sources)) for j in daily] == [
        ("EUR", "2026-10-03", 1), ("USD", "2026-10-03", 5), ("USD", "2026-10-04", 1),
    ]  # fmt: skip
    assert by_account(daily) == by_account(journals)
    assert by_account(daily, base=True) == by_account(journals, base=True)
    assert all(j.is_balanced and j.kind is JournalKind.DAILY for j in daily)
    usd = daily[1]
    assert usd.description == "BC daily 2026-10-03 USD"
    assert usd.key.startswith("bigcommerce_to_peoplesoft:daily:store1:USD:2026-10-03:")
    assert SourceRef("bigcommerce", "refund", "R1") in usd.sources
    assert summarise_daily(list(reversed(journals)), PAIR)[1].key == usd.key  # order-independent
    # The key depends on the day and its summary number, never on which orders were present.
    assert summarise_daily([journals[0], *journals[2:]], PAIR)[1].key == usd.key == f"{PAIR}:daily:store1:USD:2026-10-03:1"
    second = summarise_daily(journals, PAIR, lambda store, currency, day: 2)[1]
    assert second.key.endswith(":2026-10-03:2") and second.description == "BC daily 2026-10-03 USD 2"
    with pytest.raises(ValueError, match="belongs to pair"):
        summarise_daily(journals, "woocommerce_to_peoplesoft")
