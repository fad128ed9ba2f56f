"""Store vs state vs ERP: clean periods tie out exactly; every variance names its records and says why."""

from __future__ import annotations

import datetime as dt

import pytest
from ml_connector.core.model import JournalKind, OrderStatus, Payment, PaymentEvent
from ml_connector.core.reconcile import (
    COLLECTED,
    DISCOUNTS,
    GIFT_CERTIFICATES,
    OWED,
    REFUNDS,
    RETURNS,
    ROUNDING,
    SALES,
    SHIPPING,
    TAX,
    ErpLine,
    FindingKind,
    ParkedRecord,
    Reconciliation,
    reconcile,
)

from tests.reconcile.recon_factories import (
    CLEARING_BRAINTREE,
    CLEARING_STRIPE,
    DAY1,
    DAY2,
    DAY3,
    GIFT_LIABILITY,
    PAIR,
    PERIOD,
    REVENUE_HARDWARE,
    D,
    World,
    at,
    erp_lines_for,
    journal,
    order,
    posting_day,
)


def row(recon: Reconciliation, day: dt.date, measure: str, currency: str = "USD"):
    matches = [r for r in recon.rows if (r.day, r.currency, r.measure) == (day, currency, measure)]
    assert len(matches) == 1, f"expected one row for {day} {currency} {measure}, got {matches}"
    return matches[0]


def test_clean_period_has_no_variances_and_the_figures_are_the_stores():
    recon = World().reconcile()

    assert recon.variances == []
    assert recon.unexplained == []
    assert recon.findings == []
    assert recon.ok
    expected_day1 = {SALES: "100.00", DISCOUNTS: "5.00", SHIPPING: "10.00", TAX: "8.40", COLLECTED: "113.40"}
    for measure, amount in expected_day1.items():
        cell = row(recon, DAY1, measure)
        assert (cell.store, cell.state, cell.erp) == (D(amount), D(amount), D(amount)), measure
    refunds = row(recon, DAY2, REFUNDS)
    assert (refunds.store, refunds.state, refunds.erp) == (D("54.25"), D("54.25"), D("54.25"))
    assert row(recon, DAY1, ROUNDING).store == 0
    # The unpaid (102) and cancelled (103) orders are not store revenue.
    assert row(recon, DAY1, SALES).store == D("100.00")
    assert [(d.journal_key, d.problem) for d in recon.documents] == [
        (f"{PAIR}:order:100:sale", None),
        (f"{PAIR}:order:101:sale", None),
        (f"{PAIR}:refund:7:refund", None),
    ]
    assert recon.summary().startswith("0 variances, 0 unexplained")


def test_a_posted_journal_missing_in_the_erp_is_an_unexplained_variance_naming_the_order():
    world = World()
    del world.erp["ECS0000101"]

    recon = world.reconcile()

    sales = row(recon, DAY1, SALES)
    assert (sales.store, sales.state, sales.erp) == (D("100.00"), D("100.00"), D("80.00"))
    assert sales.variance_state_erp == D("20.00")
    assert sales.variance_store_state == 0
    assert not sales.explained
    assert sales.order_ids == ["101"]
    assert "ECS0000101" in sales.explanation and "no such document" in sales.explanation
    assert sales in recon.unexplained
    assert {r.measure for r in recon.unexplained} == {SALES, TAX, COLLECTED}
    [finding] = recon.findings
    assert finding.kind is FindingKind.MISSING_IN_ERP and finding.order_ids == ("101",)
    [problem] = recon.document_problems
    assert problem.document_id == "ECS0000101" and "missing in the ERP" in problem.problem
    assert problem.order_ids == ("101",)
    assert not recon.ok


def test_a_parked_needs_mapping_order_is_an_explained_variance_with_its_reason():
    world = World()
    world.orders.append(order("104", DAY2, [("1", "ZZ-9", "12.00")], tax="0.96"))
    reason = "no revenue mapping for SKU 'ZZ-9' (category 'Garden') in order 104"
    world.parked = [ParkedRecord("order", "104", "needs_mapping", reason, DAY2, D("12.96"), "USD")]

    recon = world.reconcile()

    sales = row(recon, DAY2, SALES)
    assert (sales.store, sales.state, sales.erp) == (D("12.00"), D("0"), D("0"))
    assert sales.variance_store_state == D("12.00")
    assert sales.explained
    assert sales.order_ids == ["104"]
    assert "needs_mapping" in sales.explanation and reason in sales.explanation
    assert sales in recon.variances
    assert recon.unexplained == []
    assert recon.ok
    assert [f.kind for f in recon.findings] == [FindingKind.PARKED]
    assert recon.parked == world.parked


def test_a_settled_order_without_journal_and_not_parked_is_unexplained():
    world = World()
    world.orders.append(order("105", DAY2, [("1", "HW-9", "40.00")]))

    recon = world.reconcile()

    [finding] = recon.findings
    assert finding.kind is FindingKind.NOT_JOURNALLED and not finding.explained
    assert finding.order_ids == ("105",)
    assert row(recon, DAY2, SALES) in recon.unexplained


def test_an_erp_amount_mismatch_is_flagged_per_measure_and_per_document():
    world = World()
    # The ERP holds a balanced but different document for order 100: 1.00 less revenue and clearing.
    world.erp["ECS0000100"] = erp_lines_for(world.sale100, "ECS0000100", A400100="-49.00", A101100="90.80")

    recon = world.reconcile()

    sales = row(recon, DAY1, SALES)
    assert sales.variance_state_erp == D("1.00") and sales.variance_store_state == 0
    assert not sales.explained and sales.order_ids == ["100"]
    assert "ECS0000100" in sales.explanation
    [finding] = recon.findings
    assert finding.kind is FindingKind.ERP_MISMATCH
    assert dict(finding.differences) == {SALES: D("1.00"), COLLECTED: D("1.00")}
    [problem] = recon.document_problems
    assert problem.state_debit == D("96.80") and problem.erp_debit == D("95.80")
    assert "total debits differ" in problem.problem
    assert not recon.ok


def test_same_totals_on_different_accounts_fail_the_per_document_check():
    world = World()
    # Hardware and Tools revenue swapped in the ERP: every measure still agrees.
    world.erp["ECS0000100"] = erp_lines_for(world.sale100, "ECS0000100", A400100="-30.00", A400200="-50.00")

    recon = world.reconcile()

    assert recon.variances == []
    [problem] = recon.document_problems
    assert "lines differ" in problem.problem and not problem.explained
    assert not recon.ok


def test_built_but_not_posted_journals_are_explained_as_pending():
    world = World()
    world.state[world.sale101.key][1:] = ["failed", None]
    del world.erp["ECS0000101"]

    recon = world.reconcile()

    [finding] = recon.findings
    assert finding.kind is FindingKind.PENDING and finding.explained
    assert "failed" in finding.message and finding.order_ids == ("101",)
    assert row(recon, DAY1, SALES).explained
    assert recon.unexplained == [] and recon.ok
    assert recon.document_problems == []


def test_an_erp_document_the_connector_did_not_build_is_unexplained():
    world = World()
    manual = [
        ErpLine(
            "MANUAL0001",
            DAY2,
            (("ACCOUNT", REVENUE_HARDWARE), ("OPERATING_UNIT", "WEB")),
            D("-25.00"),
            "USD",
            "adj",
        ),
        ErpLine("MANUAL0001", DAY2, (("ACCOUNT", "999999"),), D("25.00"), "USD", "adj"),
    ]

    recon = world.reconcile(erp_lines=[*world.erp_lines(), *manual])

    kinds = {f.kind for f in recon.findings}
    assert kinds == {FindingKind.ERP_ONLY}
    assert row(recon, DAY2, SALES).erp == D("25.00")
    assert row(recon, DAY2, SALES) in recon.unexplained
    assert "MANUAL0001" in row(recon, DAY2, SALES).explanation
    assert row(recon, DAY2, "unclassified").erp == D("25.00")
    [problem] = recon.document_problems
    assert problem.journal_key is None and problem.document_id == "MANUAL0001"


def test_a_journal_that_disagrees_with_the_store_is_unexplained():
    world = World()
    world.orders[0] = order(
        "100",
        DAY1,
        [("1", "HW-1", "51.00"), ("2", "TL-1", "30.00")],
        shipping="9.00",
        tax="6.80",
        discount="5.00",
    )

    recon = world.reconcile()

    [finding] = recon.findings
    assert finding.kind is FindingKind.STORE_JOURNAL_MISMATCH and finding.order_ids == ("100",)
    assert dict(finding.differences) == {SALES: D("1.00"), SHIPPING: D("-1.00")}
    assert {r.measure for r in recon.unexplained} == {SALES, SHIPPING}


def test_differences_that_net_to_zero_are_still_reported():
    world = World()
    # Two orders whose journals misstate sales by +1 and -1: the day's totals agree.
    world.orders[0] = order(
        "100",
        DAY1,
        [("1", "HW-1", "51.00"), ("2", "TL-1", "30.00")],
        shipping="9.00",
        tax="6.80",
        discount="5.00",
    )
    world.orders[1] = order(
        "101",
        DAY1,
        [("1", "HW-2", "19.00")],
        tax="1.60",
        shipping="1.00",
        payments=world.orders[1].payments,
    )

    recon = world.reconcile()

    sales = row(recon, DAY1, SALES)
    assert sales.variance_store_state == 0 and sales.variance_state_erp == 0
    assert sales.is_variance and not sales.explained
    assert sales.order_ids == ["100", "101"]
    assert not recon.ok


def test_collected_is_broken_down_by_gateway_through_clearing_accounts():
    world = World()
    accounts = {
        "stripe": (("ACCOUNT", CLEARING_STRIPE), ("OPERATING_UNIT", "WEB")),
        "braintree": (("OPERATING_UNIT", "WEB"), ("ACCOUNT", CLEARING_BRAINTREE)),  # order does not matter
        "giftcertificate": (("ACCOUNT", GIFT_LIABILITY), ("OPERATING_UNIT", "WEB")),
    }

    recon = world.reconcile(gateway_accounts=accounts)

    assert recon.variances == []
    for label, amount in (("stripe", "91.80"), ("braintree", "11.60"), ("gift_certificate", "10.00")):
        cell = row(recon, DAY1, f"{COLLECTED}:{label}")
        assert (cell.store, cell.state, cell.erp) == (D(amount), D(amount), D(amount)), label


def test_an_unknown_clearing_account_shows_up_by_gateway():
    world = World()
    accounts = {"stripe": (("ACCOUNT", CLEARING_STRIPE), ("OPERATING_UNIT", "WEB"))}

    recon = world.reconcile(gateway_accounts=accounts)

    cell = row(recon, DAY1, f"{COLLECTED}:unmapped clearing account")
    assert cell.state == D("11.60") and cell.store == 0
    assert row(recon, DAY1, f"{COLLECTED}:braintree").store == D("11.60")
    assert cell in recon.unexplained


def cancelled_101_reversed_in_full(world: World, *, payments) -> None:
    """Order 101 cancelled on day 3, its sale taken off by a full reversal (journals saved before adjustments)."""
    world.orders[1] = order(
        "101", DAY1, [("1", "HW-2", "20.00")], tax="1.60", status=OrderStatus.CANCELLED, payments=payments, changed=DAY3
    )
    reversal = journal(
        f"{PAIR}:order:101:reversal",
        JournalKind.REVERSAL,
        DAY3,
        [("order", "101")],
        [(ln.role, ln.dim_map["ACCOUNT"], str(-ln.amount)) for ln in world.sale101.lines],
    )
    world.state[reversal.key] = [reversal, "posted", "ECV0000101"]
    world.erp["ECV0000101"] = erp_lines_for(reversal, "ECV0000101")


def test_a_reversed_sale_of_a_cancelled_order_whose_captures_were_voided_is_explained():
    # Lifecycle table: a cancelled order keeps the cash it still holds (owed, refunds payable).
    # Here both captures were voided, so the money went back and a full reversal is exact.
    world = World()
    voids = tuple(
        Payment(f"v{p.payment_id}", PaymentEvent.VOID, p.method, p.gateway, p.amount, "USD", at(DAY3), reference_id=p.payment_id)
        for p in world.orders[1].payments
    )
    cancelled_101_reversed_in_full(world, payments=(*world.orders[1].payments, *voids))

    recon = world.reconcile()

    assert recon.findings == [] and recon.unexplained == [] and recon.ok
    returns = row(recon, DAY3, RETURNS)  # the store column follows the ledger's days
    assert (returns.store, returns.state, returns.erp) == (D("21.60"), D("21.60"), D("21.60"))


def test_a_full_reversal_of_a_cancelled_order_that_still_holds_the_cash_is_unexplained():
    # Before the lifecycle table a reversal explained a cancelled order; now the cash it still
    # holds is owed to the shopper: a reversal that sends it back (refunds, certificates) is wrong.
    world = World()
    cancelled_101_reversed_in_full(world, payments=world.orders[1].payments)

    recon = world.reconcile()

    [finding] = recon.findings
    assert finding.kind is FindingKind.STORE_JOURNAL_MISMATCH and finding.order_ids == ("101",)
    assert finding.day == DAY3 and "owed in refunds payable" in finding.message
    assert dict(finding.differences) == {OWED: D("21.60"), REFUNDS: D("-11.60"), GIFT_CERTIFICATES: D("-10.00")}
    assert row(recon, DAY3, OWED) in recon.unexplained
    assert not recon.ok


def test_only_the_period_is_reconciled():
    world = World()

    recon = world.reconcile(period=(DAY2, DAY2))

    assert {r.day for r in recon.rows} == {DAY2}
    assert recon.variances == []
    assert [d.journal_key for d in recon.documents] == [f"{PAIR}:refund:7:refund"]
    with pytest.raises(ValueError, match="after it ends"):
        world.reconcile(period=(DAY3, DAY1))


def test_a_journal_dated_outside_the_period_is_named_not_reported_missing():
    world = World()
    late = DAY3 + dt.timedelta(days=5)
    moved = journal(
        world.sale101.key, JournalKind.SALE, late, [("order", "101")],
        [(ln.role, ln.dim_map["ACCOUNT"], str(ln.amount)) for ln in world.sale101.lines],
    )  # fmt: skip
    world.state[moved.key] = [moved, "posted", "ECS0000101"]
    world.erp["ECS0000101"] = erp_lines_for(moved, "ECS0000101")

    recon = world.reconcile()

    [finding] = recon.findings
    assert finding.kind is FindingKind.STORE_JOURNAL_MISMATCH
    assert str(late) in finding.message and finding.order_ids == ("101",)
    assert all(f.kind is not FindingKind.ERP_ONLY for f in recon.findings)


def test_thousands_of_orders_reconcile_cleanly():
    # Volume correctness only (speed is a benchmark matter: see the report for timings).
    orders, journals, erp = [], [], []
    for number in range(3_000):
        oid = str(10_000 + number)
        day = DAY1 + dt.timedelta(days=number % 3)
        sale = order(oid, day, [("1", "HW", "10.00"), ("2", "TL", "5.50")], tax="1.24", shipping="2.00")
        orders.append(sale)
        built = journal(
            f"{PAIR}:order:{oid}:sale", JournalKind.SALE, day, [("order", oid)],
            [("clearing", CLEARING_STRIPE, "18.74"), ("revenue", REVENUE_HARDWARE, "-15.50"),
             ("shipping_revenue", "420000", "-2.00"), ("tax_payable", "230100", "-1.24")],
        )  # fmt: skip
        journals.append((built, "posted", f"D{oid}"))
        erp.extend(erp_lines_for(built, f"D{oid}"))

    recon = reconcile(
        orders=orders,
        refunds=[],
        journals=journals,
        erp_lines=erp,
        parked=[],
        posting_day=posting_day,
        period=PERIOD,
    )

    assert recon.ok and recon.variances == []
    assert sum(r.store for r in recon.rows if r.measure == SALES) == D("46500.00")
    assert len(recon.documents) == 3_000


def test_journals_from_the_real_builder_reconcile_cleanly():
    from ml_connector import mappings as mappings_module
    from ml_connector.core import journal as journal_module
    from ml_connector.settings import include_dir

    mapping = mappings_module.load_mapping(include_dir() / "mappings" / f"{PAIR}.yaml")
    world = World()
    world.orders = [
        order(
            "200",
            DAY1,
            [("1", "HW-1", "50.00")],
            shipping="10.00",
            tax="4.80",
            discount="5.00",
            category="Hardware",
        )
    ]
    sale = journal_module.build_sale(world.orders[0], mapping, PAIR)
    world.refunds = []
    world.state = {sale.key: [sale, "posted", "ECS0000200"]}
    world.erp = {"ECS0000200": erp_lines_for(sale, "ECS0000200")}

    def day_in_mapping_zone(record):
        return journal_module.posting_day(record.captured_at or record.created_at, mapping)

    recon = world.reconcile(posting_day=day_in_mapping_zone)

    assert recon.variances == [], [f.message for f in recon.findings]
    assert recon.ok


def test_erp_lines_on_an_account_shared_by_two_roles_are_classified_by_the_matching_journal_line():
    world = World()
    # Discounts booked as contra-revenue on the Hardware revenue account itself.
    shared = journal(
        world.sale100.key,
        JournalKind.SALE,
        DAY1,
        [("order", "100")],
        [
            ("clearing", CLEARING_STRIPE, "91.80"),
            ("discount", REVENUE_HARDWARE, "5.00"),
            ("revenue", REVENUE_HARDWARE, "-50.00"),
            ("revenue", "400200", "-30.00"),
            ("shipping_revenue", "420000", "-10.00"),
            ("tax_payable", "230100", "-6.80"),
        ],
    )
    world.state[shared.key] = [shared, "posted", "ECS0000100"]
    world.erp["ECS0000100"] = erp_lines_for(shared, "ECS0000100")

    recon = world.reconcile()

    assert recon.variances == [] and recon.ok
    assert row(recon, DAY1, DISCOUNTS).erp == D("5.00")
