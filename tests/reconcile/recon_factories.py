"""Small, explicit canonical fixtures for the reconciliation tests.

Journals are written out line by line (not built by core.journal) so the expected figures are
visible in the test and a bug in the builder cannot hide a bug in the reconciliation.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ml_connector.core.model import (
    Discount,
    Fee,
    Journal,
    JournalKind,
    JournalLine,
    LineKind,
    Order,
    OrderLine,
    OrderStatus,
    Payment,
    PaymentEvent,
    PaymentMethod,
    Refund,
    RefundLine,
    RefundPayment,
    SourceRef,
    TaxLine,
)
from ml_connector.core.reconcile import ErpLine

PAIR = "bigcommerce_to_peoplesoft"
DAY1 = dt.date(2024, 3, 1)
DAY2 = dt.date(2024, 3, 2)
DAY3 = dt.date(2024, 3, 3)
PERIOD = (DAY1, DAY3)

CLEARING_STRIPE = "101100"
CLEARING_BRAINTREE = "101110"
GIFT_LIABILITY = "240100"
REVENUE_HARDWARE = "400100"
REVENUE_TOOLS = "400200"
DISCOUNTS = "410900"
SHIPPING = "420000"
TAX = "230100"
FEE_REVENUE = "430000"
REFUNDS_PAYABLE = "210500"


def D(text: str) -> Decimal:
    return Decimal(text)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def posting_day(record: Order | Refund) -> dt.date | None:
    """The tests' store timezone is UTC: capture day (else order day) for orders, creation day for refunds."""
    if isinstance(record, Refund):
        return record.created_at.date()
    return (record.captured_at or record.created_at).date()


def change_day(record: Order) -> dt.date:
    """The day the order last changed in the store (UTC)."""
    return record.updated_at.date()


def capture(
    payment_id: str, amount: str, day: dt.date, *, gateway: str = "stripe", method=PaymentMethod.CARD
):
    return Payment(payment_id, PaymentEvent.CAPTURE, method, gateway, D(amount), "USD", at(day))


def order(
    order_id: str,
    day: dt.date,
    lines: list[tuple[str, str, str]],  # (line id, sku, total ex tax)
    *,
    payments: tuple[Payment, ...] | None = None,
    shipping: str = "0",
    tax: str = "0",
    discount: str = "0",
    status: OrderStatus = OrderStatus.PAID,
    category: str | None = None,
    certificates: tuple[tuple[str, str], ...] = (),  # (line id, total) of gift certificates sold
    fees: tuple[tuple[str, str], ...] = (),  # (name, amount ex tax)
    changed: dt.date | None = None,  # the day of the last change in the store (default: the order day)
    archived: bool = False,
) -> Order:
    order_lines = tuple(
        OrderLine(lid, sku, sku, 1, D(total), D(total), category=category) for lid, sku, total in lines
    ) + tuple(
        OrderLine(lid, "GC", "Gift certificate", 1, D(total), D(total), kind=LineKind.GIFT_CERTIFICATE)
        for lid, total in certificates
    )
    order_fees = tuple(Fee(f"f{n}", name, D(amount)) for n, (name, amount) in enumerate(fees, 1))
    total = (
        sum((ln.total for ln in order_lines), D("0"))
        + sum((fee.amount for fee in order_fees), D("0"))
        - D(discount)
        + D(shipping)
        + D(tax)
    )
    return Order(
        source="bigcommerce",
        store_id="store1",
        order_id=order_id,
        status=status,
        currency="USD",
        created_at=at(day, 9),
        updated_at=at(changed or day, 13),
        lines=order_lines,
        total=total,
        shipping=D(shipping),
        taxes=(TaxLine("State Tax", D(tax)),) if D(tax) else (),
        discounts=(Discount("SPRING", D(discount)),) if D(discount) else (),
        payments=payments if payments is not None else (capture(f"p{order_id}", str(total), day),),
        fees=order_fees,
        archived=archived,
    )


def refund(
    refund_id: str,
    order_id: str,
    day: dt.date,
    *,
    line: tuple[str, str] | None = None,  # (order line id, amount ex tax: what the store refunded)
    tax: str = "0",
    fees: str = "0",
    gateway="stripe",
) -> Refund:
    lines = (RefundLine(line[0], "SKU", 1, D(line[1])),) if line else ()
    total = sum((ln.amount for ln in lines), D("0")) + D(fees) + D(tax)
    return Refund(
        source="bigcommerce",
        store_id="store1",
        refund_id=refund_id,
        order_id=order_id,
        currency="USD",
        created_at=at(day),
        total=total,
        lines=lines,
        tax=D(tax),
        fees=D(fees),
        payments=(RefundPayment(gateway, PaymentMethod.CARD, total),),
    )


def journal(
    key: str,
    kind: JournalKind,
    day: dt.date,
    sources: list[tuple[str, str]],  # (object, id)
    lines: list[tuple[str, str, str]],  # (role, ACCOUNT, signed amount: debit +)
) -> Journal:
    reference = sources[0][1]
    journal_lines = tuple(
        JournalLine(
            role,
            (("ACCOUNT", account), ("OPERATING_UNIT", "WEB")),
            D(amount),
            D(amount),
            "USD",
            role,
            reference,
        )
        for role, account, amount in lines
    )
    result = Journal(
        pair=PAIR,
        key=key,
        kind=kind,
        store_id="store1",
        currency="USD",
        base_currency="USD",
        fx_rate=D("1"),
        posting_date=day,
        description=f"BC {key}",
        lines=journal_lines,
        sources=tuple(SourceRef("bigcommerce", obj, sid) for obj, sid in sources),
    )
    assert result.is_balanced, f"fixture journal {key} does not balance"
    return result


def erp_lines_for(source: Journal, document_id: str, **changes: str) -> list[ErpLine]:
    """What the ERP read-back returns for a faithfully posted journal; ``changes`` = {ACCOUNT: new amount}."""
    lines = []
    for line in source.lines:
        account = line.dim_map["ACCOUNT"]
        amount = D(changes[f"A{account}"]) if f"A{account}" in changes else line.amount
        lines.append(
            ErpLine(
                document_id=document_id,
                posting_date=source.posting_date,
                dims=line.dims,
                amount=amount,
                currency=line.currency,
                reference=line.reference,
                base_amount=amount,
                base_currency="USD",
            )
        )
    return lines


class World:
    """A clean period: two sales on day 1 (one part gift certificate), one refund on day 2.

    Order 100: Hardware 50.00 + Tools 30.00, coupon 5.00, shipping 10.00, tax 6.80 = 91.80 (stripe).
    Order 101: Hardware 20.00, tax 1.60 = 21.60 paid 10.00 gift certificate + 11.60 braintree.
    Refund 7 of order 100: the Hardware line 50.00 + tax 4.25 = 54.25 back to stripe.
    Plus an unpaid order and a cancelled one, which must not show up anywhere.
    """

    def __init__(self) -> None:
        self.orders = [
            order(
                "100",
                DAY1,
                [("1", "HW-1", "50.00"), ("2", "TL-1", "30.00")],
                shipping="10.00",
                tax="6.80",
                discount="5.00",
            ),
            order(
                "101",
                DAY1,
                [("1", "HW-2", "20.00")],
                tax="1.60",
                payments=(
                    capture(
                        "g101",
                        "10.00",
                        DAY1,
                        gateway="giftcertificate",
                        method=PaymentMethod.GIFT_CERTIFICATE,
                    ),
                    capture("c101", "11.60", DAY1, gateway="braintree"),
                ),
            ),
            order("102", DAY1, [("1", "HW-3", "15.00")], payments=(), status=OrderStatus.UNPAID),
            order("103", DAY2, [("1", "HW-4", "12.00")], payments=(), status=OrderStatus.CANCELLED),
        ]
        self.refunds = [refund("7", "100", DAY2, line=("1", "50.00"), tax="4.25")]
        self.sale100 = journal(
            f"{PAIR}:order:100:sale",
            JournalKind.SALE,
            DAY1,
            [("order", "100")],
            [
                ("clearing", CLEARING_STRIPE, "91.80"),
                ("discount", DISCOUNTS, "5.00"),
                ("revenue", REVENUE_HARDWARE, "-50.00"),
                ("revenue", REVENUE_TOOLS, "-30.00"),
                ("shipping_revenue", SHIPPING, "-10.00"),
                ("tax_payable", TAX, "-6.80"),
            ],
        )
        self.sale101 = journal(
            f"{PAIR}:order:101:sale",
            JournalKind.SALE,
            DAY1,
            [("order", "101")],
            [
                ("gift_certificate_liability", GIFT_LIABILITY, "10.00"),
                ("clearing", CLEARING_BRAINTREE, "11.60"),
                ("revenue", REVENUE_HARDWARE, "-20.00"),
                ("tax_payable", TAX, "-1.60"),
            ],
        )
        self.refund7 = journal(
            f"{PAIR}:refund:7:refund",
            JournalKind.REFUND,
            DAY2,
            [("refund", "7"), ("order", "100")],
            [
                ("revenue", REVENUE_HARDWARE, "50.00"),
                ("tax_payable", TAX, "4.25"),
                ("clearing", CLEARING_STRIPE, "-54.25"),
            ],
        )
        self.state = {
            self.sale100.key: [self.sale100, "posted", "ECS0000100"],
            self.sale101.key: [self.sale101, "posted", "ECS0000101"],
            self.refund7.key: [self.refund7, "posted", "ECR0000007"],
        }
        self.erp = {
            "ECS0000100": erp_lines_for(self.sale100, "ECS0000100"),
            "ECS0000101": erp_lines_for(self.sale101, "ECS0000101"),
            "ECR0000007": erp_lines_for(self.refund7, "ECR0000007"),
        }
        self.parked = []

    @classmethod
    def of(cls, orders: list[Order], refunds: list[Refund], journals: list[Journal]) -> World:
        """A store and a correct ledger: every journal posted, the ERP holding exactly those documents."""
        world = cls()
        world.orders, world.refunds, world.parked = list(orders), list(refunds), []
        world.state = {j.key: [j, "posted", f"DOC{n:04d}"] for n, j in enumerate(journals, 1)}
        world.erp = {doc: erp_lines_for(j, doc) for j, _, doc in world.state.values()}
        return world

    def adding(self, extra: Journal, document_id: str = "EXTRA0001") -> World:
        """The same store with one more journal posted (a duplicate, or one the store does not call for)."""
        self.state[extra.key] = [extra, "posted", document_id]
        self.erp[document_id] = erp_lines_for(extra, document_id)
        return self

    def without(self, key: str) -> World:
        """The same store with one journal missing from state and the ERP (never built)."""
        _, _, document_id = self.state.pop(key)
        self.erp.pop(document_id, None)
        return self

    def posting(self, replacement: Journal) -> World:
        """The same store with one journal built (and posted) with other content."""
        _, status, document_id = self.state[replacement.key]
        self.state[replacement.key] = [replacement, status, document_id]
        self.erp[document_id] = erp_lines_for(replacement, document_id)
        return self

    def journals(self):
        return [tuple(entry) for entry in self.state.values()]

    def erp_lines(self):
        return [line for lines in self.erp.values() for line in lines]

    def reconcile(self, **overrides):
        from ml_connector.core.reconcile import reconcile

        arguments = dict(
            orders=self.orders,
            refunds=self.refunds,
            journals=self.journals(),
            erp_lines=self.erp_lines(),
            parked=self.parked,
            posting_day=posting_day,
            period=PERIOD,
            change_day=change_day,
        )
        arguments.update(overrides)
        return reconcile(**arguments)
