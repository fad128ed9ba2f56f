"""Canonical records for the PeopleSoft tests: balanced journals on the combinations the sim is loaded with."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from ml_connector.core.model import Address, Customer, Journal, JournalKind, JournalLine, SourceRef

BU = "US001"
HEADER = (("BUSINESS_UNIT", BU), ("LEDGER_GROUP", "ACTUALS"), ("LEDGER", "ACTUALS"), ("SOURCE", "ECM"), ("RT_TYPE", "CRRNT"))
# Accounts used by make_journal, with the ChartFields each line carries.
COMBINATION_RULES = [
    {"ACCOUNT": "110100", "DEPTID": "*"},
    {"ACCOUNT": "400100", "DEPTID": "*", "PRODUCT": "*"},
    {"ACCOUNT": "210500"},
]


def line(account: str, amount: str, *, ref: str = "1234", **dims: str) -> JournalLine:
    value = Decimal(amount)
    return JournalLine(role="x", dims=(("ACCOUNT", account), *dims.items()), amount=value, base_amount=value,
                       currency="USD", description=f"line {account}", reference=ref)


def make_journal(order_id: str = "1234", *, lines: int = 3, kind: JournalKind = JournalKind.SALE,
                 day: dt.date = dt.date(2026, 10, 3), scale: str = "1") -> Journal:
    """A balanced journal: one clearing debit, revenue and tax credits (``lines`` >= 3)."""
    k = Decimal(scale)
    revenue_lines = lines - 2
    credits = [line("400100", str(-Decimal("10.00") * k), ref=order_id, DEPTID="SALES", PRODUCT="WEB")
               for _ in range(revenue_lines)]
    tax = line("210500", str(-Decimal("1.25") * k), ref=order_id)
    total = -sum((ln.amount for ln in (*credits, tax)), Decimal(0))
    debit = line("110100", str(total), ref=order_id, DEPTID="TREAS")
    sign = -1 if kind is JournalKind.REFUND else 1
    all_lines = tuple(
        JournalLine(ln.role, ln.dims, ln.amount * sign, ln.base_amount * sign, ln.currency, ln.description, ln.reference)
        for ln in (debit, *credits, tax)
    )
    return Journal(pair="bigcommerce_to_peoplesoft", key=f"bc:{kind}:{order_id}", kind=kind, store_id="store1",
                   currency="USD", base_currency="USD", fx_rate=Decimal("1"), posting_date=day,
                   description=f"BigCommerce order {order_id}", lines=all_lines,
                   sources=(SourceRef("bigcommerce", "order" if kind is not JournalKind.REFUND else "refund", order_id),),
                   header=HEADER)


def make_customer(customer_id: str = "42", **changes: object) -> Customer:
    base = dict(source="bigcommerce", store_id="store1", customer_id=customer_id, email="Jane.Doe@example.com",
                first_name="Jane", last_name="Doe", phone="+1 555 0100",
                addresses=(Address(line1="1 Main St", city="Springfield", state="IL", postal_code="62701", country="US"),))
    base.update(changes)
    return Customer(**base)  # type: ignore[arg-type]
