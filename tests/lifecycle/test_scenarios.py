"""The lifecycle table, row by row: after the whole sequence, what the ledger holds per account.

Every expected figure is written by hand from the accounting (the arithmetic is in the
comments), never computed by the project's code. Each scenario runs in ``order`` and ``daily``
granularity: a daily summary must hold exactly what the order-level documents would.

Accounts of the shipped BigCommerce -> PeopleSoft mapping: 101100 clearing (stripe),
240100 gift certificates, 240200 store credit, 400100/HARDWR hardware revenue, 410100 shipping,
410400 fees, 220100 state tax, 450100 discounts, 210500 refunds payable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from ml_connector.core.model import (
    Fee,
    JournalKind,
    LineKind,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentEvent,
    PaymentMethod,
    TaxLine,
)

from tests.core.core_factories import CAPTURED, capture, line, order, refund, simple_order
from tests.lifecycle.harness import Scenario

D = Decimal
DAY = dt.timedelta(days=1)
EDITED = CAPTURED + 2 * DAY  # 2026-10-05
CANCELLED = CAPTURED + 4 * DAY  # 2026-10-07
REFUNDED = CAPTURED + 3 * DAY  # 2026-10-06
LATE = CAPTURED + 6 * DAY  # 2026-10-09

SALE = {"101100": D("111.25"), "220100": D("-6.25"), "400100/HARDWR": D("-100.00"), "410100": D("-5.00")}


@pytest.fixture(params=["order", "daily"])
def granularity(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def scenario(tmp_path: Path, granularity: str) -> Scenario:
    return Scenario(tmp_path, granularity=granularity)


def kinds(s: Scenario) -> list[str]:
    """Order-level documents (daily mode keeps them as detail; the ledger holds the summaries)."""
    statuses = s.journal_statuses()
    return sorted(key.split(":", 3)[3].split(":")[0] for key, st in statuses.items()
                  if ":daily:" not in key and st != "superseded")


def partial_refund(at: dt.datetime = REFUNDED) -> object:
    # 50.00 back: 47.06 of the hardware line and 2.94 of its tax.
    return refund(refund_id="R1", total="50.00", lines=(("1", "47.06"),), tax="2.94", at=at)


# -- a sale ------------------------------------------------------------------------------------


def test_paid_order_posts_its_sale(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    assert scenario.ledger.by_account() == SALE
    assert scenario.status("order", "100")[0] == "processed"


def test_an_order_not_yet_captured_waits(scenario: Scenario) -> None:
    scenario.put_order(dataclasses.replace(simple_order(), status=OrderStatus.UNPAID, payments=()))
    scenario.run()
    assert scenario.ledger.by_account() == {}
    assert scenario.status("order", "100")[0] == "skipped"
    half = capture("60.00")  # partially captured: the order waits for the rest
    scenario.change("100", CAPTURED, status=OrderStatus.PAID, payments=(half,))
    scenario.run()
    assert scenario.ledger.by_account() == {}
    assert scenario.status("order", "100")[0] == "not_settled"
    scenario.change("100", CAPTURED, payments=(half, capture("51.25", payment_id="p2")))
    scenario.run()
    assert scenario.ledger.by_account() == SALE


def test_cancelled_before_capture_posts_nothing(scenario: Scenario) -> None:
    scenario.put_order(dataclasses.replace(simple_order(), status=OrderStatus.UNPAID, payments=()))
    scenario.run()
    scenario.change("100", CANCELLED, status=OrderStatus.CANCELLED)
    scenario.run()
    assert scenario.ledger.by_account() == {}
    assert scenario.status("order", "100")[0] == "skipped"


def test_paid_then_cancelled_before_the_first_post_withdraws_the_draft(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.transform_only()
    void = Payment("v1", PaymentEvent.VOID, PaymentMethod.CARD, "stripe", D("111.25"), "USD", CANCELLED, reference_id="p1")
    scenario.change("100", CANCELLED, status=OrderStatus.CANCELLED, payments=(capture("111.25"), void))
    scenario.run()
    assert scenario.ledger.by_account() == {}
    if scenario.config.granularity == "order":
        assert "superseded" in scenario.journal_statuses().values()
    # daily: the closed day was already summarised (a detail is fixed once summarised), so the
    # cancel is an adjustment detail in the cancel day's summary; the net is the same.


# -- edits -------------------------------------------------------------------------------------


def test_edit_before_the_first_post_rebuilds_the_draft(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.transform_only()
    # The shopper's 100.00 line became 120.00: tax 7.50, total 132.50, all captured.
    scenario.change("100", CAPTURED, lines=(line("1", "120.00"),), taxes=(TaxLine("State Tax", D("7.50")),),
                    total=D("132.50"), payments=(capture("132.50"),))
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("132.50"), "220100": D("-7.50"), "400100/HARDWR": D("-120.00"),
                                            "410100": D("-5.00")}
    # daily: a detail is fixed once its (closed) day was summarised, so the edit is an adjustment.
    assert kinds(scenario) == (["sale"] if scenario.config.granularity == "order" else ["adjustment", "sale"])


def test_edit_after_posting_posts_the_delta_as_an_adjustment(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    # +20.00 of goods, +1.25 tax, the 21.25 difference captured: adjustment Dr 21.25 / Cr 20.00 / Cr 1.25.
    scenario.change("100", EDITED, lines=(line("1", "120.00"),), taxes=(TaxLine("State Tax", D("7.50")),),
                    total=D("132.50"), payments=(capture("111.25"), capture("21.25", payment_id="p2", at=EDITED)))
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("132.50"), "220100": D("-7.50"), "400100/HARDWR": D("-120.00"),
                                            "410100": D("-5.00")}
    assert kinds(scenario) == ["adjustment", "sale"]
    scenario.run()  # run twice: nothing new
    assert kinds(scenario) == ["adjustment", "sale"]


def test_edit_of_the_address_only_posts_nothing(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    scenario.change("100", EDITED, customer_email="new@example.com")
    scenario.run()
    assert scenario.ledger.by_account() == SALE
    assert kinds(scenario) == ["sale"]
    assert scenario.status("order", "100") == ("processed", "no ledger change")


def test_edit_raising_the_total_waits_for_the_capture(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    bigger = {"lines": (line("1", "120.00"),), "taxes": (TaxLine("State Tax", D("7.50")),), "total": D("132.50")}
    scenario.change("100", EDITED, **bigger)
    scenario.run()
    assert scenario.status("order", "100")[0] == "not_settled"
    assert scenario.ledger.by_account() == SALE
    scenario.change("100", EDITED + DAY, payments=(capture("111.25"), capture("21.25", payment_id="p2", at=EDITED)))
    scenario.run()
    assert scenario.ledger.by_account()["400100/HARDWR"] == D("-120.00")
    assert scenario.ledger.by_account()["101100"] == D("132.50")


# -- refunds -----------------------------------------------------------------------------------


def test_partial_refund(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.put_refund(partial_refund())
    scenario.run()
    # 111.25 - 50.00 = 61.25 held; revenue 100.00 - 47.06 = 52.94; tax 6.25 - 2.94 = 3.31.
    assert scenario.ledger.by_account() == {"101100": D("61.25"), "220100": D("-3.31"), "400100/HARDWR": D("-52.94"),
                                            "410100": D("-5.00")}


def test_full_refund_of_a_discounted_order_leaves_revenue_and_discount_at_zero(scenario: Scenario) -> None:
    # 100.00 of goods less a 10.00 coupon = 90.00 paid; the refund gives the 90.00 back.
    scenario.put_order(order(lines=(line("1", "100.00"),), discounts=("10.00",), total="90.00"))
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("90.00"), "400100/HARDWR": D("-100.00"), "450100": D("10.00")}
    scenario.put_refund(refund(total="90.00", lines=(("1", "90.00"),)))
    scenario.run()
    assert scenario.ledger.by_account() == {}


def test_half_refund_of_a_discounted_line_gives_back_half_of_each(scenario: Scenario) -> None:
    # 2 x 50.00 less 10% = 90.00; refunding one unit returns 45.00 = 50.00 revenue - 5.00 discount.
    scenario.put_order(order(lines=(line("1", "100.00"),), discounts=("10.00",), total="90.00"))
    scenario.put_refund(refund(total="45.00", lines=(("1", "45.00"),)))
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("45.00"), "400100/HARDWR": D("-50.00"), "450100": D("5.00")}


def test_refund_above_what_was_captured_is_parked(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.put_refund(refund(total="111.26", lines=(("1", "100.00"),), shipping="5.00", tax="6.26"))
    scenario.run()
    status, reason = scenario.status("refund", "R1")
    assert status == "needs_review" and "exceeds captured" in (reason or "")
    assert scenario.ledger.by_account() == SALE


# -- cancellations -----------------------------------------------------------------------------


def test_cancel_after_capture_moves_the_cash_to_refunds_payable(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    scenario.change("100", CANCELLED, status=OrderStatus.CANCELLED)
    scenario.run()
    # The sale no longer stands; the 111.25 captured is still held and owed to the shopper.
    assert scenario.ledger.by_account() == {"101100": D("111.25"), "210500": D("-111.25")}
    assert scenario.status("order", "100")[0] == "processed"


def test_worked_example_sale_partial_refund_cancel_late_refund(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    assert scenario.ledger.by_account() == SALE
    scenario.put_refund(partial_refund())
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("61.25"), "220100": D("-3.31"), "400100/HARDWR": D("-52.94"),
                                            "410100": D("-5.00")}
    scenario.change("100", CANCELLED, status=OrderStatus.CANCELLED)
    scenario.run()
    # Adjustment: Dr revenue 52.94, Dr shipping 5.00, Dr tax 3.31, Cr refunds payable 61.25.
    assert scenario.ledger.by_account() == {"101100": D("61.25"), "210500": D("-61.25")}
    scenario.put_refund(refund(refund_id="R2", total="61.25", lines=(("1", "52.94"),), shipping="5.00", tax="3.31",
                               at=LATE))
    scenario.run()
    # The late refund settles the payable: Dr 210500 61.25, Cr 101100 61.25. Nothing is left.
    assert scenario.ledger.by_account() == {}
    assert kinds(scenario) == ["adjustment", "refund", "refund", "sale"]


def test_cancel_after_a_full_refund_changes_nothing(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.put_refund(refund(total="111.25", lines=(("1", "100.00"),), shipping="5.00", tax="6.25"))
    scenario.run()
    assert scenario.ledger.by_account() == {}
    scenario.change("100", CANCELLED, status=OrderStatus.CANCELLED)
    scenario.run()
    assert scenario.ledger.by_account() == {}
    assert kinds(scenario) == ["refund", "sale"]


def test_refund_after_cancel_settles_refunds_payable(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    scenario.change("100", CANCELLED, status=OrderStatus.CANCELLED)
    scenario.run()
    scenario.put_refund(refund(total="111.25", lines=(("1", "100.00"),), shipping="5.00", tax="6.25", at=LATE))
    scenario.run()
    assert scenario.ledger.by_account() == {}
    refund_doc = next(j for j in scenario.ledger.documents.values() if j.kind is JournalKind.REFUND) \
        if scenario.config.granularity == "order" else None
    if refund_doc is not None:
        assert {ln.role for ln in refund_doc.lines} == {"refunds_payable", "clearing"}


def test_a_cancelled_order_marked_refunded_by_the_store_stays_cancelled(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.put_refund(refund(total="20.00", other="20.00"))  # 20.00 back as an amount, no item
    scenario.run()
    scenario.change("100", CANCELLED, status=OrderStatus.CANCELLED)
    scenario.run()
    # Cancel: revenue, shipping, tax and the 20.00 refund adjustment all reversed; 91.25 owed.
    assert scenario.ledger.by_account() == {"101100": D("91.25"), "210500": D("-91.25")}
    # The rest goes back, and the store now calls the order "Refunded": it is still not a sale.
    scenario.change("100", LATE, status=OrderStatus.REFUNDED)
    scenario.put_refund(refund(refund_id="R2", total="91.25", other="91.25", at=LATE))
    scenario.run()
    assert scenario.ledger.by_account() == {}


def test_a_second_refund_after_cancel_cannot_exceed_the_capture(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.put_refund(partial_refund())
    scenario.run()
    scenario.change("100", CANCELLED, status=OrderStatus.CANCELLED)
    scenario.put_refund(refund(refund_id="R2", total="61.26", lines=(("1", "52.95"),), shipping="5.00", tax="3.31",
                               at=LATE))
    scenario.run()
    assert scenario.status("refund", "R2")[0] == "needs_review"
    assert scenario.ledger.by_account() == {"101100": D("61.25"), "210500": D("-61.25")}


def test_restore_after_cancel_books_the_sale_again(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    scenario.change("100", CANCELLED, status=OrderStatus.CANCELLED)
    scenario.run()
    scenario.change("100", LATE, status=OrderStatus.PAID)
    scenario.run()
    assert scenario.ledger.by_account() == SALE
    assert kinds(scenario) == ["adjustment", "adjustment", "sale"]


# -- no money moved, or a person decides ----------------------------------------------------------


def test_archive_and_restore_change_nothing(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    scenario.change("100", EDITED, archived=True)
    scenario.run()
    assert scenario.status("order", "100")[1] == "no ledger change (archived in the store: no money moved)"
    scenario.change("100", LATE, archived=False)
    scenario.run()
    assert scenario.ledger.by_account() == SALE
    assert kinds(scenario) == ["sale"]


def test_hard_delete_after_posting_is_parked_for_review(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    scenario.change("100", EDITED, status=OrderStatus.DELETED)
    scenario.run()
    status, reason = scenario.status("order", "100")
    assert status == "needs_review" and "deleted after its sale was posted" in (reason or "")
    assert scenario.ledger.by_account() == SALE


def test_paid_order_back_to_unpaid_after_posting_is_parked_for_review(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    scenario.change("100", EDITED, status=OrderStatus.UNPAID)
    scenario.run()
    assert scenario.status("order", "100")[0] == "needs_review"
    assert scenario.ledger.by_account() == SALE


def test_capture_voided_after_posting_waits_then_a_cancel_reverses_everything(scenario: Scenario) -> None:
    scenario.put_order(simple_order())
    scenario.run()
    void = Payment("v1", PaymentEvent.VOID, PaymentMethod.CARD, "stripe", D("111.25"), "USD", EDITED, reference_id="p1")
    scenario.change("100", EDITED, payments=(capture("111.25"), void))
    scenario.run()
    assert scenario.status("order", "100")[0] == "not_settled"
    scenario.change("100", CANCELLED, status=OrderStatus.CANCELLED)
    scenario.run()
    assert scenario.ledger.by_account() == {}  # nothing held, nothing owed, no sale


# -- tenders, gift certificates, fees ----------------------------------------------------------------


def test_gift_certificate_sold_is_a_liability_not_revenue(scenario: Scenario) -> None:
    gift = OrderLine("2", "", "$50 Gift Certificate", 1, D("50.00"), D("50.00"), kind=LineKind.GIFT_CERTIFICATE)
    scenario.put_order(order(lines=(line("1", "100.00"), gift), total="150.00"))
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("150.00"), "240100": D("-50.00"), "400100/HARDWR": D("-100.00")}
    scenario.put_refund(refund(total="50.00", lines=(("2", "50.00"),)))  # the certificate is refunded
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("100.00"), "400100/HARDWR": D("-100.00")}


def test_gift_certificate_and_store_credit_redeemed_debit_their_liabilities(scenario: Scenario) -> None:
    paid = (
        capture("25.00", gateway="giftcertificate", method=PaymentMethod.GIFT_CERTIFICATE, payment_id="g1"),
        capture("20.00", gateway="storecredit", method=PaymentMethod.STORE_CREDIT, payment_id="s1"),
        capture("66.25", payment_id="p1"),
    )
    scenario.put_order(dataclasses.replace(simple_order(), payments=paid))
    scenario.run()
    # 25.00 + 20.00 + 66.25 = 111.25 of tenders; the sale side is unchanged.
    assert scenario.ledger.by_account() == {"101100": D("66.25"), "220100": D("-6.25"), "240100": D("25.00"),
                                            "240200": D("20.00"), "400100/HARDWR": D("-100.00"), "410100": D("-5.00")}


def test_fees_are_their_own_revenue_and_refund_back(scenario: Scenario) -> None:
    # 100.00 goods + 3.00 insurance fee + tax 6.25 + 0.19 on the fee = 109.44.
    taxes = (TaxLine("State Tax", D("6.25")), TaxLine("State Tax", D("0.19"), "fee"))
    fee = Fee("1", "Insurance", D("3.00"))
    scenario.put_order(dataclasses.replace(order(lines=(line("1", "100.00"),), total="109.44"), fees=(fee,),
                                           taxes=taxes))
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("109.44"), "220100": D("-6.44"), "400100/HARDWR": D("-100.00"),
                                            "410400": D("-3.00")}
    fee_back = dataclasses.replace(refund(total="3.19", tax="0.19"), fees=D("3.00"))
    scenario.put_refund(fee_back)
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("106.25"), "220100": D("-6.25"), "400100/HARDWR": D("-100.00")}


# -- currencies ----------------------------------------------------------------------------------


def test_foreign_currency_posts_the_base_amount_at_the_order_rate(scenario: Scenario) -> None:
    # 80.00 EUR at 1.10 USD/EUR = 88.00 USD; a 40.00 EUR refund at the same rate = 44.00 USD.
    eur = order(lines=(line("1", "80.00"),), total="80.00", currency="EUR", base_currency="USD", fx_rate="1.10")
    scenario.put_order(eur)
    scenario.put_refund(dataclasses.replace(refund(total="40.00", lines=(("1", "40.00"),), currency="EUR"),
                                            base_currency="USD", fx_rate=D("1.10")))
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("40.00"), "400100/HARDWR": D("-40.00")}
    assert scenario.ledger.by_account(base=True) == {"101100": D("44.00"), "400100/HARDWR": D("-44.00")}


def test_zero_decimal_currency(scenario: Scenario) -> None:
    # 12,345 JPY of goods + 1,235 tax = 13,580 JPY; refund 3,000 JPY (2,727 goods + 273 tax). Rate 0.0067 USD/JPY:
    # sale base 12,345 x 0.0067 = 82.71, 1,235 x 0.0067 = 8.27, 13,580 x 0.0067 = 90.99 (rounding 0.01 to 799900).
    jpy = order(lines=(line("1", "12345"),), taxes=(("State Tax", "1235"),), total="13580", currency="JPY",
                base_currency="USD", fx_rate="0.0067")
    scenario.put_order(jpy)
    scenario.put_refund(dataclasses.replace(
        refund(total="3000", lines=(("1", "2727"),), tax="273", currency="JPY"), base_currency="USD", fx_rate=D("0.0067")))
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("10580"), "220100": D("-962"), "400100/HARDWR": D("-9618")}
    net_base = scenario.ledger.by_account(base=True)
    assert sum(net_base.values()) == 0
    assert all(v == v.quantize(D("0.01")) for v in net_base.values())


def test_three_decimal_currency(scenario: Scenario) -> None:
    # 10.125 KWD of goods + 0.506 tax = 10.631 KWD; refund 5.316 KWD = 5.063 goods + 0.253 tax.
    kwd = order(lines=(line("1", "10.125"),), taxes=(("State Tax", "0.506"),), total="10.631", currency="KWD",
                base_currency="USD", fx_rate="3.25")
    scenario.put_order(kwd)
    scenario.put_refund(dataclasses.replace(
        refund(total="5.316", lines=(("1", "5.063"),), tax="0.253", currency="KWD"), base_currency="USD", fx_rate=D("3.25")))
    scenario.run()
    assert scenario.ledger.by_account() == {"101100": D("5.315"), "220100": D("-0.253"), "400100/HARDWR": D("-5.062")}


def test_a_gift_certificate_amount_on_a_cancelled_order_without_a_charge_moves_nothing(scenario: Scenario) -> None:
    # The store prints 25.00 of gift certificate on an order cancelled before payment, but no
    # transaction ever charged it: nothing moved, nothing is owed.
    unpaid = dataclasses.replace(simple_order(), status=OrderStatus.CANCELLED, payments=(),
                                 gift_certificate_amount=D("25.00"))
    scenario.put_order(unpaid)
    scenario.run()
    assert scenario.ledger.by_account() == {}
    assert scenario.status("order", "100")[0] == "skipped"
