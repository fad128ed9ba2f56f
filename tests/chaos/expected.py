"""The ledger a controller expects, computed from the BigCommerce simulator's raw store and the mapping YAML.

Deliberately independent of the connector: no normaliser, no journal builder, no mapping class.
It reads ``sim.store`` as it stands at the end (the numbers the store itself keeps, not the JSON
the hook reads) and the pair's mapping file with ``yaml.safe_load``, and applies the lifecycle
table of the README ("The order lifecycle in the ledger") itself. The ledger holds, per order,
*the sale that stands and the money that moved*, whatever path the order took to get there:

* **paid or (partially) refunded** (status 2, 3, 8, 9, 10, 11, 4, 14) with money captured: the
  sale as the order is now, and every refund.

  - Sale: each tender debited with what it captured net of voided captures (card / wallet
    gateways on their clearing account, gift certificates and store credit on their liability);
    goods credited to revenue per line (by SKU, category or SKU family), a gift certificate sold
    to ``gift_certificate_liability``; each line's discount debited to ``discount``; shipping,
    handling and wrapping credited; each fee credited to ``fee_revenue`` (by its name); tax
    credited per name.
  - Refund: a PRODUCT item returning net amount ``A`` (tax excluded) of a line whose net is
    ``T - d`` (``T`` its total ex tax, ``d`` its discount) debits the line's account at gross,
    ``A + round(A * d / (T - d))``, and credits that share back to ``discount``; a gift
    certificate line debits the liability; SHIPPING / HANDLING / GIFT_WRAPPING debit their
    charge, FEE its fee's ``fee_revenue``, ORDER (goodwill) ``refund_adjustment``; the refund's
    tax is split over the order's tax names in proportion to the order's tax (the last name
    takes the rounding); each refund payment credits its tender.

* **cancelled** (status 5) with money captured: no revenue, discount, charge, fee or tax at all.
  A cash document debits each tender with what it captured net of voids and credits
  ``refunds_payable`` with all of it; each refund debits ``refunds_payable`` with what it paid
  back and credits its tenders. Net: ``refunds_payable`` holds captured - refunded.

* **unpaid** (or cancelled before any capture): nothing.

Archived orders (``is_deleted``) are ordinary orders: archiving moves no money.

Every amount is at the currency's minor unit (cents; whole yen; fils), rounded half-up where a
share is computed. Base-currency (USD) amounts are each journal line's amount divided by the
order's exchange rate, rounded half-up to the cent; a line is one account and what it holds (a
gateway, a tax name, a fee name: see ``Line``); each document's residual goes to ``rounding``.

The comparison is per ChartField combination over all documents: the connector reaches the same
net through sale, refund and adjustment journals whose individual content depends on when it
looked. A document whose accounts the mapping does not cover is expected to be parked
(``needs_mapping``), not posted: a whole order when its sale (or cash) side is not covered, with
its refunds; a single refund otherwise.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml

from sandbox.bigcommerce.model import CAPTURED_STATUSES, Order, OrderLine, Refund, quantum
from sandbox.bigcommerce.store import Store

CENT = Decimal("0.01")
ZERO = Decimal("0")
BASE_CURRENCY = "USD"
CHANNEL = "1"  # the simulator sells on the default channel only
CANCELLED = 5

Combination = tuple[tuple[str, str], ...]  # sorted (ChartField, value) pairs
DocumentId = tuple[str, str]  # ("sale" | "refund", source id); a cancelled order's cash document is its "sale"
Line = tuple[str, ...]  # what one journal line holds on its account: ("clearing", "stripe"), ("tax", "VAT")...
LIABILITY_BY_METHOD = {"gift_certificate": "gift_certificate_liability", "store_credit": "store_credit_liability"}
LIABILITY_BY_PROVIDER = {"giftcertificate": "gift_certificate_liability", "storecredit": "store_credit_liability"}
CHARGE_ROLES = {"SHIPPING": "shipping_revenue", "HANDLING": "handling_revenue", "GIFT_WRAPPING": "wrapping_revenue"}


class Unmapped(Exception):
    """No rule of the mapping file fits: the connector must park the document, not post it."""


class MappingRules:
    """The mapping YAML read literally: ``defaults`` merged in, first matching selector wins."""

    PRECEDENCE = ("by_sku", "by_category", "by_sku_prefix", "by_channel", "by_gateway", "by_name")

    def __init__(self, path: Path) -> None:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        self.defaults: dict[str, str] = {k: str(v) for k, v in (raw.get("defaults") or {}).items()}
        self.roles: dict[str, dict[str, Any]] = raw["roles"]

    def _dims(self, values: Mapping[str, Any]) -> Combination:
        return tuple(sorted({**self.defaults, **{k: str(v) for k, v in values.items()}}.items()))

    def resolve(self, role: str, **offered: str | None) -> Combination:
        rule = self.roles.get(role)
        if rule is None:
            raise Unmapped(f"no role {role}")
        if not any(key.startswith("by_") or key == "default" for key in rule):
            return self._dims(rule)  # a flat rule: the same dims whatever the record
        for selector in self.PRECEDENCE:
            table = rule.get(selector)
            value = offered.get("sku" if selector == "by_sku_prefix" else selector.removeprefix("by_"))
            if table is None or value is None:
                continue
            if selector == "by_sku_prefix":
                prefixes = [p for p in table if value.startswith(p)]
                if prefixes:
                    return self._dims(table[max(prefixes, key=len)])
            elif value in table:
                return self._dims(table[value])
        if "default" in rule:
            return self._dims(rule["default"])
        raise Unmapped(f"no {role} rule for {offered}")


@dataclass
class Document:
    """One expected document: amounts per (combination, line) in its own currency, and the USD view."""

    kind: str  # sale | cash | refund
    source_id: str
    order_id: str
    currency: str
    exchange_rate: Decimal  # store default (USD) -> transactional, as the store keeps it
    lines: dict[tuple[Combination, Line], Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    @property
    def id(self) -> DocumentId:
        return ("refund" if self.kind == "refund" else "sale", self.source_id)

    def add(self, dims: Combination, line: Line, amount: Decimal) -> None:
        self.lines[(dims, line)] += amount

    def amounts(self) -> dict[Combination, Decimal]:
        out: dict[Combination, Decimal] = defaultdict(lambda: ZERO)
        for (dims, _), amount in self.lines.items():
            out[dims] += amount
        return out

    def base_amounts(self, rounding: Combination) -> dict[Combination, Decimal]:
        """Each line converted and rounded on its own; the document's residual on ``rounding``."""
        base: dict[Combination, Decimal] = defaultdict(lambda: ZERO)
        for (dims, _), amount in self.lines.items():
            if amount:
                base[dims] += (amount / self.exchange_rate).quantize(CENT, rounding=ROUND_HALF_UP)
        residual = -sum(base.values(), ZERO)
        if residual:
            base[rounding] += residual
        return base


@dataclass
class ExpectedLedger:
    documents: dict[DocumentId, Document]  # what must be posted (each sale / cash / refund document)
    parked: dict[DocumentId, str]  # document -> why it cannot be posted
    rounding: Combination

    def foreign_balance(self, documents: Mapping[DocumentId, Document] | None = None) -> dict[tuple[Combination, str], Decimal]:
        totals: dict[tuple[Combination, str], Decimal] = defaultdict(lambda: ZERO)
        for doc in (self.documents if documents is None else documents).values():
            for dims, amount in doc.amounts().items():
                totals[(dims, doc.currency)] += amount
        return {key: amount for key, amount in totals.items() if amount}

    def base_balance(self) -> dict[Combination, Decimal]:
        totals: dict[Combination, Decimal] = defaultdict(lambda: ZERO)
        for doc in self.documents.values():
            for dims, amount in doc.base_amounts(self.rounding).items():
                totals[dims] += amount
        return {key: amount for key, amount in totals.items() if amount}

    def by_order(self) -> dict[str, dict[tuple[Combination, str], Decimal]]:
        """Each order's net (all its documents), for telling which orders a difference comes from."""
        docs: dict[str, dict[DocumentId, Document]] = defaultdict(dict)
        for doc_id, doc in self.documents.items():
            docs[doc.order_id][doc_id] = doc
        return {order_id: self.foreign_balance(group) for order_id, group in docs.items()}


def _tender(txn_method: str) -> str:
    return LIABILITY_BY_METHOD.get(txn_method, "clearing")


def _captures(order: Order, doc: Document, rules: MappingRules) -> Decimal:
    """Debit each tender with what it captured, net of voided captures; returns the total."""
    total = ZERO
    for txn in order.live_captures():
        role = _tender(txn.method)
        if role == "clearing":
            doc.add(rules.resolve(role, gateway=txn.gateway), ("clearing", txn.gateway), txn.amount)
        else:
            doc.add(rules.resolve(role), (role, "tender"), txn.amount)
        total += txn.amount
    return total


def _selectors(line: OrderLine, skus: Mapping[str, str]) -> dict[str, str | None]:
    return {"sku": line.sku, "category": skus.get(line.sku), "channel": CHANNEL}


def _line_account(line: OrderLine, rules: MappingRules, skus: Mapping[str, str]) -> tuple[Combination, Line]:
    """Goods go to revenue; a gift certificate sold is owed to its holder."""
    if line.is_gift_certificate:
        return rules.resolve("gift_certificate_liability"), ("gift certificates sold",)
    return rules.resolve("revenue", **_selectors(line, skus)), ("revenue",)


def _sale(order: Order, rules: MappingRules, skus: Mapping[str, str]) -> Document:
    doc = Document("sale", str(order.id), str(order.id), order.currency, order.exchange_rate)
    _captures(order, doc, rules)
    for line in order.lines:
        doc.add(*_line_account(line, rules, skus), -line.total_ex_tax)
        if line.discount:
            doc.add(rules.resolve("discount", **_selectors(line, skus)), ("discount",), line.discount)
    manual = order.discount_amount + order.coupon_discount - sum((ln.discount for ln in order.lines), ZERO)
    if manual:  # discounts the store did not allocate to lines (none in the generated data)
        doc.add(rules.resolve("discount", channel=CHANNEL), ("discount",), manual)
    for role, amount in (("shipping_revenue", order.shipping_ex_tax), ("handling_revenue", order.handling_ex_tax),
                         ("wrapping_revenue", order.wrapping_ex_tax)):
        if amount:
            doc.add(rules.resolve(role, channel=CHANNEL), (role,), -amount)
    for fee in order.fees:
        if fee.cost_ex_tax:
            doc.add(rules.resolve("fee_revenue", name=fee.name, channel=CHANNEL), ("fee", fee.name), -fee.cost_ex_tax)
    for tax in order.taxes:
        if tax.amount:
            doc.add(rules.resolve("tax_payable", name=tax.name), ("tax", tax.name), -tax.amount)
    return doc


def _cash(order: Order, rules: MappingRules) -> Document:
    """A cancelled order: the money still held is owed to the shopper (refunds payable)."""
    doc = Document("cash", str(order.id), str(order.id), order.currency, order.exchange_rate)
    held = _captures(order, doc, rules)
    doc.add(rules.resolve("refunds_payable"), ("refunds payable",), -held)
    return doc


def _tax_by_name(order: Order) -> dict[str, Decimal]:
    """The order's tax per name, in the order the names first appear; names with no tax carry no share."""
    by_name: dict[str, Decimal] = {}
    for tax in order.taxes:
        by_name[tax.name] = by_name.get(tax.name, ZERO) + tax.amount
    return {name: amount for name, amount in by_name.items() if amount}


def _split(total: Decimal, weights: dict[str, Decimal], unit: Decimal) -> dict[str, Decimal]:
    """``total`` pro rata to ``weights`` in ``unit``s; the last name takes what rounding left."""
    names, weight_sum = list(weights), sum(weights.values(), ZERO)
    if not names or not weight_sum:
        return {"": total} if total else {}
    shares = {n: (total * weights[n] / weight_sum).quantize(unit, rounding=ROUND_HALF_UP) for n in names[:-1]}
    shares[names[-1]] = total - sum(shares.values(), ZERO)
    return shares


def _gross_up(net: Decimal, line: OrderLine, unit: Decimal) -> Decimal:
    """The discount share of ``net`` refunded on ``line``: round(A * d / (T - d))."""
    line_net = line.total_ex_tax - line.discount
    if not line.discount or line_net <= 0:
        return ZERO
    return (net * line.discount / line_net).quantize(unit, rounding=ROUND_HALF_UP)


def _refund_items(refund: Refund, order: Order, doc: Document, rules: MappingRules, skus: Mapping[str, str]) -> None:
    """The sale side of a refund while the sale stands: what it gives back, at gross."""
    unit = quantum(order.currency)
    for item in refund.items:
        net = item.amount - item.tax
        if item.item_type == "PRODUCT":
            line = order.line(item.item_id)
            assert line is not None, f"refund {refund.id}: order {order.id} has no line {item.item_id}"
            share = _gross_up(net, line, unit)
            doc.add(*_line_account(line, rules, skus), net + share)
            if share:
                doc.add(rules.resolve("discount", **_selectors(line, skus)), ("discount",), -share)
        elif item.item_type == "FEE":
            fee = order.fee(item.item_id)
            assert fee is not None, f"refund {refund.id}: order {order.id} has no fee {item.item_id}"
            doc.add(rules.resolve("fee_revenue", name=fee.name, channel=CHANNEL), ("fee", fee.name), net)
        elif item.item_type in CHARGE_ROLES:
            role = CHARGE_ROLES[item.item_type]
            doc.add(rules.resolve(role, channel=CHANNEL), (role,), net)
        else:  # ORDER: a goodwill amount that returns no particular item
            doc.add(rules.resolve("refund_adjustment", channel=CHANNEL), ("refund adjustment",), net)
    for name, share in _split(refund.total_tax, _tax_by_name(order), unit).items():
        if share:
            doc.add(rules.resolve("tax_payable", name=name or None), ("tax", name), share)


def _refund(refund: Refund, order: Order, rules: MappingRules, skus: Mapping[str, str]) -> Document:
    doc = Document("refund", str(refund.id), str(order.id), order.currency, order.exchange_rate)
    if order.status_id == CANCELLED:  # the sale is off the ledger: the refund settles what is owed
        doc.add(rules.resolve("refunds_payable"), ("refunds payable",), refund.total_amount)
    else:
        _refund_items(refund, order, doc, rules, skus)
    for payment in refund.payments:
        role = LIABILITY_BY_PROVIDER.get(payment.provider_id, "clearing")
        if role == "clearing":
            doc.add(rules.resolve(role, gateway=payment.provider_id), ("clearing", payment.provider_id), -payment.amount)
        else:
            doc.add(rules.resolve(role), (role, "tender"), -payment.amount)
    return doc


def _categories(store: Store) -> dict[str, str]:
    names = {c.id: c.name for c in store.data.categories}
    return {v.sku: names[p.category_id] for p in store.products.values() for v in p.variants}


def _balanced(doc: Document) -> Document:
    imbalance = sum(doc.amounts().values(), ZERO)
    if imbalance:
        raise AssertionError(f"the test's own computation of {doc.kind} {doc.source_id} does not balance: {imbalance}")
    return doc


def order_documents(order: Order, rules: MappingRules, skus: Mapping[str, str],
                    posted: dict[DocumentId, Document], parked: dict[DocumentId, str]) -> None:
    """The documents one order stands for now (see the module docstring), or why they are parked."""
    if order.live_captures() == [] or (order.status_id not in CAPTURED_STATUSES and order.status_id != CANCELLED):
        return  # unpaid, or cancelled before any capture: nothing
    refund_ids = [("refund", str(r.id)) for r in order.refunds]
    try:
        first = _balanced(_sale(order, rules, skus) if order.status_id != CANCELLED else _cash(order, rules))
    except Unmapped as exc:
        parked[("sale", str(order.id))] = str(exc)
        parked.update({doc_id: f"waits for order {order.id}: {exc}" for doc_id in refund_ids})
        return
    posted[first.id] = first
    for refund in order.refunds:
        try:
            doc = _balanced(_refund(refund, order, rules, skus))
        except Unmapped as exc:
            parked[("refund", str(refund.id))] = str(exc)
            continue
        posted[doc.id] = doc


def expected_ledger(store: Store, mapping_path: Path) -> ExpectedLedger:
    """Every order's documents as the mapping file says they must post, from the store as it is now."""
    rules = MappingRules(mapping_path)
    skus = _categories(store)
    posted: dict[DocumentId, Document] = {}
    parked: dict[DocumentId, str] = {}
    with store.lock:
        for order in store.sorted_orders():
            order_documents(order, rules, skus, posted, parked)
    return ExpectedLedger(posted, parked, rules.resolve("rounding"))


def order_of(store: Store) -> dict[DocumentId, str]:
    """Which order each document belongs to (a refund journal names only its refund)."""
    with store.lock:
        out: dict[DocumentId, str] = {("sale", str(o.id)): str(o.id) for o in store.orders.values()}
        out |= {("refund", str(r.id)): str(o.id) for o in store.orders.values() for r in o.refunds}
    return out
