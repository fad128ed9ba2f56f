"""The ledger a controller expects, computed from the BigCommerce simulator's raw store and the mapping YAML.

Deliberately independent of the connector: no normaliser, no journal builder, no mapping class.
It reads ``sim.store`` (the numbers the store itself keeps, not the JSON the hook reads) and the
pair's mapping file with ``yaml.safe_load``, and applies the accounting rules of DESIGN §4 itself:

* a settled order debits what each tender captured (card/wallet gateways on their clearing
  account, gift certificates and store credit on their liability accounts) and credits revenue per
  line (by SKU, category or SKU family), shipping, handling, gift wrapping and tax per jurisdiction;
  discounts are contra-revenue (debits);
* a refund reverses what it returned: items (tax excluded) on revenue or the charge they refund,
  goodwill amounts on the refund adjustment account, its tax split over the order's jurisdictions
  in proportion to the order's tax (the last jurisdiction takes the rounding cent), and credits
  the tenders that paid it back;
* base-currency (USD) amounts are the transaction amounts divided by the store's exchange rate,
  rounded half-up to the cent per ChartField combination, the residual on the rounding account.

A document whose role has no mapping rule is expected to be parked (``needs_mapping``), not posted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import yaml

from sandbox.bigcommerce.model import CAPTURED_STATUSES, Order, Refund
from sandbox.bigcommerce.store import Store

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
BASE_CURRENCY = "USD"
CHANNEL = "1"  # the simulator sells on the default channel only

Combination = tuple[tuple[str, str], ...]  # sorted (ChartField, value) pairs
DocumentId = tuple[str, str]  # ("sale" | "refund", source id)
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
    """One expected journal: amounts per combination in its own currency, and the USD view."""

    kind: str
    source_id: str
    currency: str
    exchange_rate: Decimal  # store default (USD) -> transactional, as the store keeps it
    amounts: dict[Combination, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))

    @property
    def id(self) -> DocumentId:
        return (self.kind, self.source_id)

    def add(self, dims: Combination, amount: Decimal) -> None:
        self.amounts[dims] += amount

    def base_amounts(self, rounding: Combination) -> dict[Combination, Decimal]:
        base = {dims: (amount / self.exchange_rate).quantize(CENT, rounding=ROUND_HALF_UP)
                for dims, amount in self.amounts.items() if amount}
        residual = -sum(base.values(), ZERO)
        if residual:
            base[rounding] = base.get(rounding, ZERO) + residual
        return base


@dataclass
class ExpectedLedger:
    posted: dict[DocumentId, Document]
    parked: dict[DocumentId, str]  # document -> why it cannot be posted
    rounding: Combination

    def foreign_balance(self) -> dict[tuple[Combination, str], Decimal]:
        totals: dict[tuple[Combination, str], Decimal] = defaultdict(lambda: ZERO)
        for doc in self.posted.values():
            for dims, amount in doc.amounts.items():
                totals[(dims, doc.currency)] += amount
        return {key: amount for key, amount in totals.items() if amount}

    def base_balance(self) -> dict[Combination, Decimal]:
        totals: dict[Combination, Decimal] = defaultdict(lambda: ZERO)
        for doc in self.posted.values():
            for dims, amount in doc.base_amounts(self.rounding).items():
                totals[dims] += amount
        return {key: amount for key, amount in totals.items() if amount}


def _tender_role(method: str) -> str:
    return LIABILITY_BY_METHOD.get(method, "clearing")


def _sale(order: Order, rules: MappingRules, skus: Mapping[str, str]) -> Document:
    doc = Document("sale", str(order.id), order.currency, order.exchange_rate)
    for txn in order.transactions:
        if txn.captures_money:
            role = _tender_role(txn.method)
            doc.add(rules.resolve(role, gateway=txn.gateway if role == "clearing" else None), txn.amount)
    for line in order.lines:
        selectors = {"sku": line.sku, "category": skus.get(line.sku), "channel": CHANNEL}
        doc.add(rules.resolve("revenue", **selectors), -line.total_ex_tax)
        if line.discount:
            doc.add(rules.resolve("discount", **selectors), line.discount)
    manual = order.discount_amount + order.coupon_discount - sum((ln.discount for ln in order.lines), ZERO)
    if manual:  # discounts the store did not allocate to lines (none in the generated data)
        doc.add(rules.resolve("discount", channel=CHANNEL), manual)
    for role, amount in (("shipping_revenue", order.shipping_ex_tax), ("handling_revenue", order.handling_ex_tax),
                         ("wrapping_revenue", order.wrapping_ex_tax)):
        if amount:
            doc.add(rules.resolve(role, channel=CHANNEL), -amount)
    for tax in order.taxes:
        if tax.amount:
            doc.add(rules.resolve("tax_payable", name=tax.name), -tax.amount)
    return doc


def _tax_by_name(order: Order) -> dict[str, Decimal]:
    by_name: dict[str, Decimal] = {}
    for tax in order.taxes:
        by_name[tax.name] = by_name.get(tax.name, ZERO) + tax.amount
    return by_name


def _split(total: Decimal, weights: dict[str, Decimal]) -> dict[str, Decimal]:
    """``total`` pro rata to ``weights`` in cents; the last name takes what rounding left."""
    names, weight_sum = list(weights), sum(weights.values(), ZERO)
    if not names or not weight_sum:
        return {"": total} if total else {}
    shares = {n: (total * weights[n] / weight_sum).quantize(CENT, rounding=ROUND_HALF_UP) for n in names[:-1]}
    shares[names[-1]] = total - sum(shares.values(), ZERO)
    return shares


def _refund(refund: Refund, order: Order, rules: MappingRules, skus: Mapping[str, str]) -> Document:
    doc = Document("refund", str(refund.id), order.currency, order.exchange_rate)
    lines = {line.id: line for line in order.lines}
    for item in refund.items:
        net = item.amount - item.tax
        if item.item_type == "PRODUCT":
            sku = lines[item.item_id].sku
            doc.add(rules.resolve("revenue", sku=sku, category=skus.get(sku), channel=CHANNEL), net)
        elif item.item_type in CHARGE_ROLES:
            doc.add(rules.resolve(CHARGE_ROLES[item.item_type], channel=CHANNEL), net)
        else:  # ORDER: a goodwill amount that returns no particular item
            doc.add(rules.resolve("refund_adjustment", channel=CHANNEL), net)
    for name, share in _split(refund.total_tax, _tax_by_name(order)).items():
        if share:
            doc.add(rules.resolve("tax_payable", name=name or None), share)
    for payment in refund.payments:
        role = LIABILITY_BY_PROVIDER.get(payment.provider_id, "clearing")
        doc.add(rules.resolve(role, gateway=payment.provider_id if role == "clearing" else None), -payment.amount)
    return doc


def _categories(store: Store) -> dict[str, str]:
    names = {c.id: c.name for c in store.data.categories}
    return {v.sku: names[p.category_id] for p in store.products.values() for v in p.variants}


def _collect(documents: Iterable[tuple[DocumentId, Any]], posted: dict[DocumentId, Document],
             parked: dict[DocumentId, str]) -> None:
    for doc_id, build in documents:
        try:
            doc = build()
        except Unmapped as exc:
            parked[doc_id] = str(exc)
            continue
        imbalance = sum(doc.amounts.values(), ZERO)
        if imbalance:
            raise AssertionError(f"the test's own computation of {doc_id} does not balance: {imbalance}")
        posted[doc_id] = doc


def expected_ledger(store: Store, mapping_path: Path) -> ExpectedLedger:
    """Every settled order's sale and every refund, as the mapping file says they must post."""
    rules = MappingRules(mapping_path)
    skus = _categories(store)
    posted: dict[DocumentId, Document] = {}
    parked: dict[DocumentId, str] = {}
    with store.lock:
        orders = store.sorted_orders()
        settled = [o for o in orders if o.status_id in CAPTURED_STATUSES and o.captured]
        _collect(((("sale", str(o.id)), lambda o=o: _sale(o, rules, skus)) for o in settled), posted, parked)
        refunds = [(r, o) for o in orders for r in o.refunds]
        _collect(((("refund", str(r.id)), lambda r=r, o=o: _refund(r, o, rules, skus)) for r, o in refunds),
                 posted, parked)
    return ExpectedLedger(posted, parked, rules.resolve("rounding"))
