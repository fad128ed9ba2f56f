"""The lifecycle table, reconciled: a correct ledger ties exactly, a broken one names its order.

Each situation writes the store as it is *now* and the ledger the lifecycle table prescribes,
line by line (the arithmetic is in the comments), then breaks the ledger once: a journal
missing, or posted with other amounts. Days: DAY1 sale, DAY2 and DAY3 later changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace as dataclass_replace

from ml_connector.core.daily import summarise_daily
from ml_connector.core.model import Journal, JournalKind, OrderStatus, Payment, PaymentEvent, PaymentMethod
from ml_connector.core.reconcile import (
    COLLECTED,
    FEES,
    GIFT_CERTIFICATES,
    OWED,
    REFUNDS,
    RETURNS,
    SALES,
    FindingKind,
    Reconciliation,
)

from tests.reconcile.recon_factories import (
    CLEARING_STRIPE as STRIPE,
)
from tests.reconcile.recon_factories import (
    DAY1,
    DAY2,
    DAY3,
    FEE_REVENUE,
    GIFT_LIABILITY,
    PAIR,
    REFUNDS_PAYABLE,
    SHIPPING,
    D,
    World,
    at,
    capture,
    journal,
    order,
    refund,
)
from tests.reconcile.recon_factories import (
    DISCOUNTS as DISCOUNT,
)
from tests.reconcile.recon_factories import (
    REVENUE_HARDWARE as HW,
)
from tests.reconcile.recon_factories import (
    REVENUE_TOOLS as TL,
)
from tests.reconcile.recon_factories import (
    TAX as TAX_PAYABLE,
)

Lines = list[tuple[str, str, str]]


def sale(order_id: str, day: dt.date, lines: Lines) -> Journal:
    return journal(f"{PAIR}:order:{order_id}:sale", JournalKind.SALE, day, [("order", order_id)], lines)


def adjustment(order_id: str, number: int, day: dt.date, lines: Lines) -> Journal:
    key = f"{PAIR}:order:{order_id}:adjustment:{number}"
    return journal(key, JournalKind.ADJUSTMENT, day, [("order", order_id)], lines)


def refunded(refund_id: str, order_id: str, day: dt.date, lines: Lines) -> Journal:
    key = f"{PAIR}:refund:{refund_id}:refund"
    return journal(key, JournalKind.REFUND, day, [("refund", refund_id), ("order", order_id)], lines)


def ties(world: World) -> Reconciliation:
    recon = world.reconcile()
    assert recon.findings == [], [f.message for f in recon.findings]
    assert recon.variances == [] and recon.ok
    return recon


def flagged(recon: Reconciliation, order_id: str, day: dt.date) -> list[str]:
    """The broken ledger fails, every unexplained variance names the order, one of them on ``day``."""
    assert not recon.ok
    unexplained = [f for f in recon.findings if not f.explained]
    assert unexplained, [f.message for f in recon.findings]
    assert all(order_id in f.order_ids for f in unexplained), [(f.order_ids, f.message) for f in unexplained]
    assert day in {f.day for f in unexplained}, [(f.day, f.message) for f in unexplained]
    assert recon.unexplained and all(order_id in r.order_ids for r in recon.unexplained)
    return [f.message for f in unexplained]


def cell(recon: Reconciliation, day: dt.date, measure: str) -> tuple[D, D, D]:
    [found] = [r for r in recon.rows if (r.day, r.measure) == (day, measure)]
    return found.store, found.state, found.erp


# -- edited after posting ------------------------------------------------------------------------


def edited() -> World:
    """Order 300 sold 40.00 + 3.20 tax on day 1; on day 2 a 20.00 line is added, 1.60 tax, the 21.60 captured."""
    store = order(
        "300", DAY1, [("1", "HW-1", "40.00"), ("2", "TL-1", "20.00")], tax="4.80", changed=DAY2,
        payments=(capture("p1", "43.20", DAY1), capture("p2", "21.60", DAY2)),
    )  # fmt: skip
    return World.of(
        [store],
        [],
        [
            sale("300", DAY1, [("clearing", STRIPE, "43.20"), ("revenue", HW, "-40.00"), ("tax_payable", TAX_PAYABLE, "-3.20")]),
            # Adjustment = the sale as it is now - the sale: Dr 21.60 / Cr 20.00 / Cr 1.60.
            adjustment("300", 1, DAY2, [("clearing", STRIPE, "21.60"), ("revenue", TL, "-20.00"), ("tax_payable", TAX_PAYABLE, "-1.60")]),
        ],
    )  # fmt: skip


def test_an_order_edited_after_posting_ties_on_the_ledgers_days():
    recon = ties(edited())
    # The store knows only the order as it is now; the ledger's days are its days.
    assert cell(recon, DAY1, SALES) == (D("40.00"), D("40.00"), D("40.00"))
    assert cell(recon, DAY2, SALES) == (D("20.00"), D("20.00"), D("20.00"))

    missing = edited().without(f"{PAIR}:order:300:adjustment:1").reconcile()
    flagged(missing, "300", DAY2)
    assert cell(missing, DAY2, SALES)[:2] == (D("20.00"), D("0"))  # reported on the change day

    wrong = edited().posting(
        adjustment("300", 1, DAY2, [("clearing", STRIPE, "21.60"), ("revenue", TL, "-21.60")])  # tax booked as sales
    )
    messages = flagged(wrong.reconcile(), "300", DAY2)
    assert any("sales store 20.00 vs journal 21.60" in m for m in messages)


# -- cancelled --------------------------------------------------------------------------------


def cancelled_before_capture(status: str = "superseded") -> World:
    """Order 301: authorised on day 1, cancelled on day 2 (authorization voided); its draft was withdrawn."""
    auth = Payment("a1", PaymentEvent.AUTHORIZATION, PaymentMethod.CARD, "stripe", D("21.60"), "USD", at(DAY1))
    void = Payment("v1", PaymentEvent.VOID, PaymentMethod.CARD, "stripe", D("21.60"), "USD", at(DAY2), reference_id="a1")
    store = order("301", DAY1, [("1", "HW-1", "20.00")], tax="1.60", status=OrderStatus.CANCELLED,
                  payments=(auth, void), changed=DAY2)  # fmt: skip
    draft = sale("301", DAY1, [("clearing", STRIPE, "21.60"), ("revenue", HW, "-20.00"), ("tax_payable", TAX_PAYABLE, "-1.60")])
    world = World.of([store], [], [draft])
    world.state[draft.key][1] = status
    if status == "superseded":
        world.erp.clear()
    return world


def test_an_order_cancelled_before_capture_contributes_nothing():
    recon = ties(cancelled_before_capture())
    assert recon.rows == []

    posted = cancelled_before_capture("posted").reconcile()  # the withdrawn draft reached the ERP after all
    messages = flagged(posted, "301", DAY1)
    assert any("cancelled in the store and moves no money" in m for m in messages)
    assert {f.kind for f in posted.findings} == {FindingKind.NO_STORE_RECORD}


def cancelled_after_capture() -> World:
    """Order 302: 50.00 - 5.00 coupon + 10.00 shipping + 4.40 tax = 59.40 captured day 1, cancelled day 2."""
    store = order("302", DAY1, [("1", "HW-1", "50.00")], shipping="10.00", tax="4.40", discount="5.00",
                  status=OrderStatus.CANCELLED, changed=DAY2)  # fmt: skip
    return World.of(
        [store],
        [],
        [
            sale("302", DAY1, [("clearing", STRIPE, "59.40"), ("discount", DISCOUNT, "5.00"), ("revenue", HW, "-50.00"),
                               ("shipping_revenue", SHIPPING, "-10.00"), ("tax_payable", TAX_PAYABLE, "-4.40")]),
            # Cancelling is not refunding: the sale comes off, the 59.40 held is owed.
            adjustment("302", 1, DAY2, [("revenue", HW, "50.00"), ("discount", DISCOUNT, "-5.00"),
                                        ("shipping_revenue", SHIPPING, "10.00"), ("tax_payable", TAX_PAYABLE, "4.40"),
                                        ("refunds_payable", REFUNDS_PAYABLE, "-59.40")]),
        ],
    )  # fmt: skip


def test_an_order_cancelled_after_capture_owes_its_cash():
    recon = ties(cancelled_after_capture())
    assert cell(recon, DAY2, OWED) == (D("59.40"), D("59.40"), D("59.40"))
    assert cell(recon, DAY2, RETURNS) == (D("59.40"), D("59.40"), D("59.40"))  # 50 - 5 + 10 + 4.40 taken back
    assert cell(recon, DAY1, COLLECTED) == (D("59.40"), D("59.40"), D("59.40"))

    missing = cancelled_after_capture().without(f"{PAIR}:order:302:adjustment:1").reconcile()
    flagged(missing, "302", DAY2)
    assert cell(missing, DAY2, OWED)[:2] == (D("59.40"), D("0"))

    refunded_instead = cancelled_after_capture().posting(  # the cash sent back instead of owed
        adjustment("302", 1, DAY2, [("revenue", HW, "50.00"), ("discount", DISCOUNT, "-5.00"),
                                    ("shipping_revenue", SHIPPING, "10.00"), ("tax_payable", TAX_PAYABLE, "4.40"),
                                    ("clearing", STRIPE, "-59.40")])
    )  # fmt: skip
    flagged(refunded_instead.reconcile(), "302", DAY2)


def cancelled_after_partial_refund() -> World:
    """Order 303: 50.00 + 30.00 + 6.40 tax = 86.40; day 2 the 30.00 line + 2.40 tax refunded; day 3 cancelled."""
    store = order("303", DAY1, [("1", "HW-1", "50.00"), ("2", "TL-1", "30.00")], tax="6.40",
                  status=OrderStatus.CANCELLED, changed=DAY3)  # fmt: skip
    return World.of(
        [store],
        [refund("R303", "303", DAY2, line=("2", "30.00"), tax="2.40")],
        [
            sale("303", DAY1, [("clearing", STRIPE, "86.40"), ("revenue", HW, "-50.00"), ("revenue", TL, "-30.00"),
                               ("tax_payable", TAX_PAYABLE, "-6.40")]),
            refunded("R303", "303", DAY2, [("revenue", TL, "30.00"), ("tax_payable", TAX_PAYABLE, "2.40"),
                                           ("clearing", STRIPE, "-32.40")]),
            # What the refund did not offset comes off; owed = captured 86.40 - refunded 32.40 = 54.00.
            adjustment("303", 1, DAY3, [("revenue", HW, "50.00"), ("tax_payable", TAX_PAYABLE, "4.00"),
                                        ("refunds_payable", REFUNDS_PAYABLE, "-54.00")]),
        ],
    )  # fmt: skip


def test_an_order_cancelled_after_a_partial_refund_owes_the_rest():
    recon = ties(cancelled_after_partial_refund())
    assert cell(recon, DAY2, REFUNDS) == (D("32.40"), D("32.40"), D("32.40"))
    assert cell(recon, DAY3, OWED) == (D("54.00"), D("54.00"), D("54.00"))

    missing = cancelled_after_partial_refund().without(f"{PAIR}:refund:R303:refund").reconcile()
    flagged(missing, "303", DAY3)  # a cancelled order's difference is on its latest day
    assert "R303" in {i for f in missing.findings for i in f.refund_ids}

    owes_too_much = cancelled_after_partial_refund().posting(  # the refund forgotten by the cancel
        adjustment("303", 1, DAY3, [("revenue", HW, "80.00"), ("tax_payable", TAX_PAYABLE, "6.40"),
                                    ("refunds_payable", REFUNDS_PAYABLE, "-86.40")])
    )  # fmt: skip
    flagged(owes_too_much.reconcile(), "303", DAY3)


def cancelled_after_full_refund() -> World:
    """Order 304: 20.00 + 1.60 tax refunded in full on day 2, cancelled on day 3: nothing left to adjust."""
    store = order("304", DAY1, [("1", "HW-1", "20.00")], tax="1.60", status=OrderStatus.CANCELLED, changed=DAY3)
    return World.of(
        [store],
        [refund("R304", "304", DAY2, line=("1", "20.00"), tax="1.60")],
        [
            sale("304", DAY1, [("clearing", STRIPE, "21.60"), ("revenue", HW, "-20.00"), ("tax_payable", TAX_PAYABLE, "-1.60")]),
            refunded("R304", "304", DAY2, [("revenue", HW, "20.00"), ("tax_payable", TAX_PAYABLE, "1.60"), ("clearing", STRIPE, "-21.60")]),
        ],
    )  # fmt: skip


def test_an_order_cancelled_after_a_full_refund_owes_nothing():
    ties(cancelled_after_full_refund())

    ignores_the_refund = adjustment("304", 1, DAY3, [("revenue", HW, "20.00"), ("tax_payable", TAX_PAYABLE, "1.60"),
                                                     ("refunds_payable", REFUNDS_PAYABLE, "-21.60")])  # fmt: skip
    recon = cancelled_after_full_refund().adding(ignores_the_refund).reconcile()
    flagged(recon, "304", DAY3)
    assert cell(recon, DAY3, OWED)[:2] == (D("0"), D("21.60"))  # nothing is owed: the refunds paid it all

    flagged(cancelled_after_full_refund().without(f"{PAIR}:refund:R304:refund").reconcile(), "304", DAY3)


def refund_after_cancel() -> World:
    """Order 305: 30.00 + 2.40 tax; cancelled day 2 (owed 32.40); refunded day 3, settling what was owed."""
    store = order("305", DAY1, [("1", "HW-1", "30.00")], tax="2.40", status=OrderStatus.CANCELLED, changed=DAY3)
    return World.of(
        [store],
        [refund("R305", "305", DAY3, line=("1", "30.00"), tax="2.40")],
        [
            sale("305", DAY1, [("clearing", STRIPE, "32.40"), ("revenue", HW, "-30.00"), ("tax_payable", TAX_PAYABLE, "-2.40")]),
            adjustment("305", 1, DAY2, [("revenue", HW, "30.00"), ("tax_payable", TAX_PAYABLE, "2.40"),
                                        ("refunds_payable", REFUNDS_PAYABLE, "-32.40")]),
            refunded("R305", "305", DAY3, [("refunds_payable", REFUNDS_PAYABLE, "32.40"), ("clearing", STRIPE, "-32.40")]),
        ],
    )  # fmt: skip


def test_a_refund_after_a_cancel_settles_refunds_payable():
    recon = ties(refund_after_cancel())
    assert cell(recon, DAY3, OWED) == (D("-32.40"), D("-32.40"), D("-32.40"))
    assert cell(recon, DAY3, REFUNDS) == (D("32.40"), D("32.40"), D("32.40"))

    as_if_standing = refund_after_cancel().posting(  # the refund takes the sale off a second time
        refunded("R305", "305", DAY3, [("revenue", HW, "30.00"), ("tax_payable", TAX_PAYABLE, "2.40"),
                                       ("clearing", STRIPE, "-32.40")])
    )  # fmt: skip
    flagged(as_if_standing.reconcile(), "305", DAY3)
    flagged(refund_after_cancel().without(f"{PAIR}:refund:R305:refund").reconcile(), "305", DAY3)


def restored() -> World:
    """Order 306: 25.00 + 2.00 tax; cancelled day 2, restored to paid day 3: the sale is booked again."""
    store = order("306", DAY1, [("1", "HW-1", "25.00")], tax="2.00", changed=DAY3)
    return World.of(
        [store],
        [],
        [
            sale("306", DAY1, [("clearing", STRIPE, "27.00"), ("revenue", HW, "-25.00"), ("tax_payable", TAX_PAYABLE, "-2.00")]),
            adjustment("306", 1, DAY2, [("revenue", HW, "25.00"), ("tax_payable", TAX_PAYABLE, "2.00"),
                                        ("refunds_payable", REFUNDS_PAYABLE, "-27.00")]),
            adjustment("306", 2, DAY3, [("refunds_payable", REFUNDS_PAYABLE, "27.00"), ("revenue", HW, "-25.00"),
                                        ("tax_payable", TAX_PAYABLE, "-2.00")]),
        ],
    )  # fmt: skip


def test_a_restored_order_stands_again():
    recon = ties(restored())
    assert cell(recon, DAY3, SALES) == (D("25.00"), D("25.00"), D("25.00"))

    missing = restored().without(f"{PAIR}:order:306:adjustment:2").reconcile()
    flagged(missing, "306", DAY3)
    assert cell(missing, DAY3, OWED)[:2] == (D("-27.00"), D("0"))  # the payable the restore did not clear


def test_an_archived_order_is_an_ordinary_order():
    def archived() -> World:
        store = order("307", DAY1, [("1", "HW-1", "15.00")], tax="1.20", archived=True, changed=DAY2)
        lines = [("clearing", STRIPE, "16.20"), ("revenue", HW, "-15.00"), ("tax_payable", TAX_PAYABLE, "-1.20")]
        return World.of([store], [], [sale("307", DAY1, lines)])

    ties(archived())
    wrong = archived().posting(
        sale("307", DAY1, [("clearing", STRIPE, "16.20"), ("revenue", HW, "-16.00"), ("tax_payable", TAX_PAYABLE, "-0.20")])
    )
    flagged(wrong.reconcile(), "307", DAY2)  # the order's latest day: archiving changed it
    flagged(archived().without(f"{PAIR}:order:307:sale").reconcile(), "307", DAY2)


def test_a_certificate_printed_on_a_cancelled_order_without_a_payment_owes_nothing():
    # Some storefronts print a certificate or store credit amount on the order with no payment
    # record. On a cancelled order that is no evidence of a charge: nothing is held, nothing owed.
    def world(journals: list) -> World:
        store = dataclass_replace(
            order("314", DAY1, [("1", "HW-1", "25.00")], payments=(), status=OrderStatus.CANCELLED, changed=DAY2),
            gift_certificate_amount=D("25.00"),
        )
        return World.of([store], [], journals)

    ties(world([]))
    cash = [("gift_certificate_liability", GIFT_LIABILITY, "25.00"), ("refunds_payable", REFUNDS_PAYABLE, "-25.00")]
    flagged(world([sale("314", DAY1, cash)]).reconcile(), "314", DAY1)


# -- what was sold ------------------------------------------------------------------------------


def certificate_sold() -> World:
    """Order 308: a 50.00 gift certificate and 20.00 of hardware + 1.60 tax = 71.60."""
    store = order("308", DAY1, [("1", "HW-1", "20.00")], certificates=(("2", "50.00"),), tax="1.60")
    return World.of(
        [store],
        [],
        [sale("308", DAY1, [("clearing", STRIPE, "71.60"), ("gift_certificate_liability", GIFT_LIABILITY, "-50.00"),
                            ("revenue", HW, "-20.00"), ("tax_payable", TAX_PAYABLE, "-1.60")])],
    )  # fmt: skip


def test_a_gift_certificate_sold_is_a_liability_not_revenue():
    recon = ties(certificate_sold())
    assert cell(recon, DAY1, GIFT_CERTIFICATES) == (D("50.00"), D("50.00"), D("50.00"))
    assert cell(recon, DAY1, SALES) == (D("20.00"), D("20.00"), D("20.00"))

    as_revenue = certificate_sold().posting(
        sale("308", DAY1, [("clearing", STRIPE, "71.60"), ("revenue", HW, "-70.00"), ("tax_payable", TAX_PAYABLE, "-1.60")])
    )
    recon = as_revenue.reconcile()
    flagged(recon, "308", DAY1)
    assert {m for f in recon.findings for m in f.measures} == {SALES, GIFT_CERTIFICATES}


def test_a_cancelled_gift_certificate_sale_leaves_only_the_cash_owed():
    def world() -> World:
        store = order("312", DAY1, [], certificates=(("1", "25.00"),), status=OrderStatus.CANCELLED, changed=DAY2)
        return World.of(
            [store],
            [],
            [
                sale("312", DAY1, [("clearing", STRIPE, "25.00"), ("gift_certificate_liability", GIFT_LIABILITY, "-25.00")]),
                adjustment("312", 1, DAY2, [("gift_certificate_liability", GIFT_LIABILITY, "25.00"),
                                            ("refunds_payable", REFUNDS_PAYABLE, "-25.00")]),
            ],
        )  # fmt: skip

    ties(world())
    flagged(world().without(f"{PAIR}:order:312:adjustment:1").reconcile(), "312", DAY2)


def fees_charged() -> World:
    """Order 309: 40.00 + 5.00 insurance fee + tax 3.20 + 0.40 on the fee = 48.60; the fee refunded on day 2."""
    store = order("309", DAY1, [("1", "HW-1", "40.00")], fees=(("Insurance", "5.00"),), tax="3.60")
    return World.of(
        [store],
        [refund("R309", "309", DAY2, fees="5.00", tax="0.40")],
        [
            sale("309", DAY1, [("clearing", STRIPE, "48.60"), ("revenue", HW, "-40.00"), ("fee_revenue", FEE_REVENUE, "-5.00"),
                               ("tax_payable", TAX_PAYABLE, "-3.60")]),
            refunded("R309", "309", DAY2, [("fee_revenue", FEE_REVENUE, "5.00"), ("tax_payable", TAX_PAYABLE, "0.40"),
                                           ("clearing", STRIPE, "-5.40")]),
        ],
    )  # fmt: skip


def test_order_fees_are_fee_revenue_and_their_refund_returns_them():
    recon = ties(fees_charged())
    assert cell(recon, DAY1, FEES) == (D("5.00"), D("5.00"), D("5.00"))
    assert cell(recon, DAY2, RETURNS) == (D("5.40"), D("5.40"), D("5.40"))

    as_revenue = fees_charged().posting(
        sale("309", DAY1, [("clearing", STRIPE, "48.60"), ("revenue", HW, "-45.00"), ("tax_payable", TAX_PAYABLE, "-3.60")])
    )
    recon = as_revenue.reconcile()
    flagged(recon, "309", DAY1)  # the sale's own difference on the sale's day, the refund's untouched
    assert all(f.day == DAY1 for f in recon.findings)
    missing = fees_charged().without(f"{PAIR}:refund:R309:refund").reconcile()
    flagged(missing, "309", DAY2)
    assert cell(missing, DAY2, REFUNDS)[:2] == (D("5.40"), D("0"))


def discounted_then_refunded() -> World:
    """Order 310: 60.00 + 40.00, a 10.00 coupon (4.00 of it on the 40.00 line), tax 7.20 = 97.20.

    The store refunds lines at their net price: day 2 the 40.00 line (36.00 + 2.88 tax), day 3
    the 60.00 line (54.00 + 4.32 tax). The ledger debits revenue at gross and credits the
    discount share back, so a fully refunded order ends with revenue and discounts at zero.
    """
    store = order("310", DAY1, [("1", "HW-1", "60.00"), ("2", "TL-1", "40.00")], tax="7.20", discount="10.00",
                  status=OrderStatus.REFUNDED, changed=DAY3)  # fmt: skip
    return World.of(
        [store],
        [refund("R310", "310", DAY2, line=("2", "36.00"), tax="2.88"), refund("R311", "310", DAY3, line=("1", "54.00"), tax="4.32")],
        [
            sale("310", DAY1, [("clearing", STRIPE, "97.20"), ("discount", DISCOUNT, "10.00"), ("revenue", HW, "-60.00"),
                               ("revenue", TL, "-40.00"), ("tax_payable", TAX_PAYABLE, "-7.20")]),
            refunded("R310", "310", DAY2, [("revenue", TL, "40.00"), ("discount", DISCOUNT, "-4.00"),
                                           ("tax_payable", TAX_PAYABLE, "2.88"), ("clearing", STRIPE, "-38.88")]),
            refunded("R311", "310", DAY3, [("revenue", HW, "60.00"), ("discount", DISCOUNT, "-6.00"),
                                           ("tax_payable", TAX_PAYABLE, "4.32"), ("clearing", STRIPE, "-58.32")]),
        ],
    )  # fmt: skip


def test_discounts_given_and_later_refunded_tie_at_gross():
    recon = ties(discounted_then_refunded())
    assert cell(recon, DAY2, RETURNS) == (D("38.88"), D("38.88"), D("38.88"))  # 40.00 - 4.00 + 2.88
    assert cell(recon, DAY2, REFUNDS) == (D("38.88"), D("38.88"), D("38.88"))

    missing = discounted_then_refunded().without(f"{PAIR}:refund:R311:refund").reconcile()
    flagged(missing, "310", DAY3)
    assert [f.refund_ids for f in missing.findings] == [("R311",)]
    assert cell(missing, DAY3, REFUNDS)[:2] == (D("58.32"), D("0"))

    short = discounted_then_refunded().posting(  # 1.00 less tax given back than the store refunded
        refunded("R310", "310", DAY2, [("revenue", TL, "40.00"), ("discount", DISCOUNT, "-4.00"),
                                       ("tax_payable", TAX_PAYABLE, "1.88"), ("clearing", STRIPE, "-37.88")])
    )  # fmt: skip
    recon = short.reconcile()
    flagged(recon, "310", DAY2)
    assert {f.day for f in recon.findings} == {DAY2}


# -- daily granularity --------------------------------------------------------------------------


def merged(*worlds: World) -> World:
    return World.of(
        [o for w in worlds for o in w.orders],
        [r for w in worlds for r in w.refunds],
        [entry[0] for w in worlds for entry in w.state.values()],
    )


def summarised(world: World, *, open_day: dt.date | None = None) -> World:
    """The same ledger under ``granularity: daily``: journals kept as detail, one summary per day posted.

    Details dated ``open_day`` wait (status ``detail``): the day has not ended yet.
    """
    details = [entry[0] for entry in world.state.values()]
    closed = [j for j in details if j.posting_date != open_day]
    world.state = {j.key: [j, "summarised" if j in closed else "detail", None] for j in details}
    world.erp = {}
    for summary in summarise_daily(closed, PAIR):
        world.adding(summary, f"DLY{summary.posting_date:%m%d}")
    return world


def daily_store() -> World:
    return summarised(merged(edited(), cancelled_after_capture(), discounted_then_refunded()))


def test_daily_summaries_reconcile_against_their_order_level_detail():
    recon = ties(daily_store())
    assert [d.journal_key for d in recon.documents] == [f"{PAIR}:daily:store1:USD:{day}:1" for day in (DAY1, DAY2, DAY3)]
    assert cell(recon, DAY2, OWED) == (D("59.40"), D("59.40"), D("59.40"))
    assert cell(recon, DAY2, RETURNS) == (D("98.28"), D("98.28"), D("98.28"))  # cancel 302 59.40 + refund R310 38.88


def test_a_daily_summary_missing_a_detail_names_its_order():
    world = daily_store()
    [day2] = [j for j, status, _ in world.state.values() if j.kind is JournalKind.DAILY and j.posting_date == DAY2]
    details = [j for j, status, _ in world.state.values() if status == "summarised" and j.posting_date == DAY2]
    [short] = summarise_daily([j for j in details if j.key != f"{PAIR}:order:302:adjustment:1"], PAIR)
    recon = world.posting(dataclass_replace(short, key=day2.key)).reconcile()

    flagged(recon, "302", DAY2)
    [finding] = recon.findings
    assert finding.kind is FindingKind.SUMMARY_MISMATCH and finding.order_ids == ("302",)
    assert dict(finding.differences)[OWED] == D("59.40")  # the detail holds it, the summary does not


def test_a_detail_missing_behind_its_daily_summary_names_its_order():
    world = daily_store()
    del world.state[f"{PAIR}:order:302:adjustment:1"]  # the summary has it, state lost it

    recon = world.reconcile()

    flagged(recon, "302", DAY2)
    assert {f.kind for f in recon.findings} == {FindingKind.STORE_JOURNAL_MISMATCH, FindingKind.SUMMARY_MISMATCH}


def test_details_of_a_day_not_yet_summarised_are_pending():
    recon = summarised(merged(edited(), discounted_then_refunded()), open_day=DAY3).reconcile()

    assert recon.ok and recon.unexplained == []
    [pending] = recon.findings
    assert pending.kind is FindingKind.PENDING and pending.explained and pending.day == DAY3
    assert pending.refund_ids == ("R311",)
    store, state, erp = cell(recon, DAY3, REFUNDS)
    assert (store, state, erp) == (D("58.32"), D("0"), D("0"))


def test_a_numbered_delta_summary_holds_what_reached_a_summarised_day_late():
    world = summarised(merged(edited(), cancelled_after_capture()))
    late = order("313", DAY1, [("1", "HW-1", "10.00")], tax="0.80")
    late_sale = sale("313", DAY1, [("clearing", STRIPE, "10.80"), ("revenue", HW, "-10.00"), ("tax_payable", TAX_PAYABLE, "-0.80")])
    world.orders.append(late)
    world.state[late_sale.key] = [late_sale, "summarised", None]
    [delta] = summarise_daily([late_sale], PAIR, lambda store, currency, day: 2)
    world.adding(delta, "DLY0301B")

    recon = ties(world)
    assert f"{PAIR}:daily:store1:USD:{DAY1}:2" in {d.journal_key for d in recon.documents}
    assert cell(recon, DAY1, SALES) == (D("100.00"), D("100.00"), D("100.00"))  # 40 (300) + 50 (302) + 10 (313), gross

    world.erp.pop("DLY0301B")  # the delta summary never reached the ERP
    flagged(world.reconcile(), "313", DAY1)


# -- documents the ledger should not hold -------------------------------------------------------


def test_a_journal_posted_twice_names_its_order():
    world = World()
    world.erp["ECS0000100-2"] = [dataclass_replace(line, document_id="ECS0000100-2") for line in world.erp["ECS0000100"]]

    recon = world.reconcile()

    flagged(recon, "100", DAY1)
    [finding] = recon.findings
    assert finding.kind is FindingKind.ERP_ONLY and "posted twice" in finding.message
    assert finding.journal_keys == (f"{PAIR}:order:100:sale",)
    [problem] = recon.document_problems
    assert problem.document_id == "ECS0000100-2" and problem.order_ids == ("100",)


def test_a_sale_booked_twice_by_the_connector_names_its_order():
    world = World()
    twice = journal(f"{PAIR}:order:101:adjustment:1", JournalKind.ADJUSTMENT, DAY2, [("order", "101")],
                    [(ln.role, ln.dim_map["ACCOUNT"], str(ln.amount)) for ln in world.sale101.lines])  # fmt: skip

    recon = world.adding(twice).reconcile()

    flagged(recon, "101", DAY2)
    assert cell(recon, DAY2, SALES)[:2] == (D("0"), D("20.00"))


def test_a_document_posted_outside_the_connector_names_the_order_it_references():
    world = World()
    manual = journal("MANUAL", JournalKind.SALE, DAY2, [("order", "101")],
                     [("revenue", HW, "5.00"), ("clearing", STRIPE, "-5.00")])  # fmt: skip
    world.erp["MANUAL0002"] = [dataclass_replace(line, document_id="MANUAL0002") for line in _lines(manual)]

    recon = world.reconcile()

    flagged(recon, "101", DAY2)
    [finding] = recon.findings
    assert finding.kind is FindingKind.ERP_ONLY and "outside the connector" in finding.message


def _lines(source: Journal) -> list:
    from tests.reconcile.recon_factories import erp_lines_for

    return erp_lines_for(source, "MANUAL0002")


def test_a_sale_before_the_period_cancelled_in_it_ties_on_the_cancel_day():
    recon = cancelled_after_capture().reconcile(period=(DAY2, DAY3))
    assert recon.ok and recon.findings == []
    assert {r.day for r in recon.rows} == {DAY2}
    assert cell(recon, DAY2, OWED) == (D("59.40"), D("59.40"), D("59.40"))

    missing = cancelled_after_capture().without(f"{PAIR}:order:302:adjustment:1").reconcile(period=(DAY2, DAY3))
    flagged(missing, "302", DAY2)
    untouched = cancelled_after_capture().without(f"{PAIR}:order:302:adjustment:1").reconcile(period=(DAY3, DAY3))
    assert untouched.rows == []  # nothing of the order's life falls on day 3
