"""Reconciliation: store totals vs the connector's journals vs what the ERP reports posted.

Pure logic, no I/O. Three columns of figures per posting day, currency and measure:

* **store**: what the store says *now*, from canonical orders and refunds, never from a journal;
* **state**: the documents the connector built for the ERP: per-order journals, or the daily
  summaries under ``granularity: daily`` (their order-level detail is checked against them);
* **erp**: the ERP's read-back lines, classified through the state journal they belong to.

**An order's whole life first.** An order, its refunds and every order-level journal built from
them (sale, adjustments, refunds, reversals; the detail behind daily summaries) form a *group*.
The store knows how an order looks now, not how it looked on its sale day, so figures of an
edited, cancelled or restored order move between days. A group is therefore compared over its
whole life: the store's net figures (the lifecycle's "sale that stands and money that moved")
against the net of all its journals, whatever day each carries. When they agree the group is
explained and its per-day figures are the ledger's days. When they do not, the difference is
reported with its order ids on the group's latest day in the period, or on the order's or a
refund's own latest day when the difference is theirs alone (a standing order whose refunds
each have their own journal). Sale and refund journals must also carry the store's day for
them (a capture day, the refund day): a journal on another day is reported on both days.

Measures (all positive in their natural direction). Ledger lines are classified by role and
side only, never by journal kind, so per-order journals, daily summaries and ERP lines read alike:

================== ================================================ =========================================
measure            store (what the store says now)                  ledger lines
================== ================================================ =========================================
sales              goods lines of standing orders                   revenue credits
gift_certificates  certificates sold; refunds paid onto one         gift certificate liability credits
discounts          line + order discounts of standing orders        discount debits
shipping           shipping + handling + wrapping                   shipping/handling/wrapping revenue credits
fees               order fees                                       fee_revenue credits
tax                tax lines                                        tax_payable credits
returns            refunds' goods, charges, fees, tax, other;       debits to revenue, charges, fees, tax and
                   a cancel or an edit takes the sale back          refund_adjustment, less discount credits
refunds            money returned: refund payments                  clearing / store credit credits
collected          captures net of voids (and certificates / store  clearing / liability debits
                   credit the store records only on the order)
owed               cancelled orders: captured - refunded            refunds_payable, credit + (settled: -)
rounding           what makes the figures balance                   rounding, debit +
================== ================================================ =========================================

The whole-life check compares each order group per role family, net of sides (sales less
returns of goods, and so on): that is what the store can state. Unpaid orders (and cancelled
ones never paid) contribute nothing; a cancelled order contributes only its cash: collected,
and owed until refunded. Where the store cannot say how the ledger splits a figure, only the
net is checked: a refund's discount share (its gross-up on revenue) is not a store figure, so
when a refund returned discounted goods the ledger's discounts are taken and sales are checked
net of them; collected and refunds of a tender with a voided capture, gift certificates issued
and redeemed on an order that sold certificates, and refunds that name no payment are each
checked as one net.

``collected:<label>`` rows appear when ``gateway_accounts`` (gateway -> clearing dims, as the
mapping resolves them) is given: ledger lines carry no gateway, so clearing lines are matched by
their dims, and gateways sharing one clearing account are reported together (``braintree+stripe``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from functools import cached_property, lru_cache

from ml_connector.core.model import (
    POSTABLE_STATUSES,
    ZERO,
    Journal,
    JournalKind,
    LineKind,
    Order,
    OrderStatus,
    PaymentEvent,
    PaymentMethod,
    Refund,
)

Dims = tuple[tuple[str, str], ...]
SourceKey = tuple[str, str]  # (object, source id), e.g. ("order", "100")
DayCurrency = tuple[dt.date, str]
Figures = dict[str, Decimal]  # measure -> amount
Components = dict[str, Decimal]  # component (a measure, or a tender side "dr:<label>" / "cr:<label>") -> amount

SALES = "sales"
GIFT_CERTIFICATES = "gift_certificates"
DISCOUNTS = "discounts"
SHIPPING = "shipping"
FEES = "fees"
TAX = "tax"
RETURNS = "returns"
REFUNDS = "refunds"
COLLECTED = "collected"
OWED = "owed"
ROUNDING = "rounding"
REFUND_ADJUSTMENTS = "refund_adjustments"  # a check component only: shown within returns
UNCLASSIFIED = "unclassified"  # ERP lines whose account matches no role the connector uses
OTHER = "other:"  # prefix: a role the reconciliation does not know
BASE_MEASURES = (SALES, GIFT_CERTIFICATES, DISCOUNTS, SHIPPING, FEES, TAX, RETURNS, REFUNDS, COLLECTED, OWED, ROUNDING)

ROLE_MEASURE = {
    "revenue": SALES,
    "discount": DISCOUNTS,
    "shipping_revenue": SHIPPING,
    "handling_revenue": SHIPPING,
    "wrapping_revenue": SHIPPING,
    "fee_revenue": FEES,
    "tax_payable": TAX,
    "refunds_payable": OWED,
    "refund_adjustment": REFUND_ADJUSTMENTS,
    "rounding": ROUNDING,
}
CREDIT_MEASURES = frozenset({SALES, SHIPPING, FEES, TAX, OWED})  # positive when credited
TAKEN_BACK = frozenset({SALES, SHIPPING, FEES, TAX})  # debited only when a sale is refunded, cancelled or cut
GIFT_CERTIFICATE_ROLE = "gift_certificate_liability"
STORE_CREDIT_ROLE = "store_credit_liability"
TENDER_ROLES = frozenset({"clearing", GIFT_CERTIFICATE_ROLE, STORE_CREDIT_ROLE})
GIFT_CERTIFICATE = "gift_certificate"  # tender label of the gift certificate liability
STORE_CREDIT = "store_credit"
CLEARING = "clearing"  # tender label of every gateway when no gateway accounts are given
DEBIT, CREDIT = "dr:", "cr:"  # tender components: money in (debits), money out or liability credited

# Journal statuses in state (see state.store): what each means for the ERP column.
POSTED = "posted"
PENDING_STATUSES = frozenset({"ready", "claimed", "failed"})  # built, the load step will post them
HELD_STATUSES = frozenset({"needs_review", "dry_run"})  # built, deliberately not posted
IGNORED_STATUSES = frozenset({"superseded"})  # replaced by a newer version of the same key
# Order-level detail of a daily summary: ledger figures of its order, never an ERP document itself.
DETAIL_STATUSES = frozenset({"detail", "summarised"})
SUMMARISED = "summarised"
# Parked record statuses that explain a difference (anything else is unexplained).
EXPLAINING_PARKED_STATUSES = frozenset({"needs_mapping", "needs_review", "not_settled", "new", "changed"})


def collected_measure(label: str) -> str:
    """Row name for captures through one gateway (or liability) label."""
    return f"{COLLECTED}:{label}"


def _measure_rank(measure: str) -> tuple[int, str]:
    if measure in BASE_MEASURES:
        return BASE_MEASURES.index(measure), ""
    if measure.startswith(f"{COLLECTED}:"):
        return BASE_MEASURES.index(COLLECTED), measure
    return len(BASE_MEASURES), measure


@lru_cache(maxsize=65536)
def normalise_dims(dims: Dims) -> Dims:
    """Sorted, without blank values: the same account compares equal whichever side produced it.

    Cached: a period has few distinct accounts but many lines.
    """
    return tuple(sorted((name, value) for name, value in dims if value not in ("", None)))


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class ErpLine:
    """One journal line as the ERP reports it posted (e.g. PeopleSoft QAS read-back).

    ``dims`` use the mapping's field names (ACCOUNT, DEPTID... / SEGMENTn / OBJECT...);
    ``amount`` is in the transaction currency (debit +), ``base_amount`` in the ledger currency.
    """

    document_id: str
    posting_date: dt.date
    dims: Dims
    amount: Decimal
    currency: str
    reference: str = ""
    base_amount: Decimal | None = None
    base_currency: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.dims, tuple):  # lists from JSON / query rows: make them hashable
            object.__setattr__(self, "dims", tuple((str(name), str(value)) for name, value in self.dims))
        if not isinstance(self.amount, Decimal):
            raise TypeError(
                f"ERP line of document {self.document_id}: amount must be a Decimal, got {self.amount!r}"
            )


@dataclass(frozen=True, slots=True)
class ParkedRecord:
    """A source record that did not become a journal, with the reason recorded in state."""

    object: str  # order | refund
    source_id: str
    status: str  # needs_mapping | needs_review | not_settled | ...
    reason: str
    posting_day: dt.date | None = None
    amount: Decimal | None = None
    currency: str | None = None


StateJournal = tuple[Journal, str, str | None]  # (journal, status in state, ERP document id or None)


# --------------------------------------------------------------------------- outputs


class Check(StrEnum):
    STORE_STATE = "store_state"
    DETAIL_SUMMARY = "detail_summary"  # daily granularity: order-level detail vs the day's summaries
    STATE_ERP = "state_erp"


class FindingKind(StrEnum):
    PARKED = "parked"  # explained: the record is parked with a reason
    NOT_JOURNALLED = "not_journalled"  # unexplained: settled in the store, no journal, not parked
    NO_STORE_RECORD = "no_store_record"  # unexplained: journals without a store record that moves money
    REVERSED = "reversed"  # kept for reports of earlier versions (reversals now reconcile like adjustments)
    STORE_JOURNAL_MISMATCH = "store_journal_mismatch"  # unexplained
    SUMMARY_MISMATCH = "summary_mismatch"  # unexplained: a daily summary differs from its order-level detail
    PENDING = "pending"  # explained: built, not yet posted (ready / claimed / failed) or not yet summarised
    HELD = "held"  # explained: built and held back (needs_review / dry_run)
    MISSING_IN_ERP = "missing_in_erp"  # unexplained: state says posted, the ERP has no such document
    ERP_MISMATCH = "erp_mismatch"  # unexplained: the ERP document's amounts differ from the journal
    ERP_ONLY = "erp_only"  # unexplained: an ERP document the connector did not build


@dataclass(frozen=True, slots=True)
class Finding:
    """One attributed difference on one day: which records, how much per measure, and why."""

    check: Check
    kind: FindingKind
    day: dt.date
    currency: str
    explained: bool
    message: str
    differences: tuple[tuple[str, Decimal], ...]  # (measure, left - right), non-zero only
    order_ids: tuple[str, ...] = ()
    refund_ids: tuple[str, ...] = ()
    journal_keys: tuple[str, ...] = ()
    document_ids: tuple[str, ...] = ()

    @property
    def measures(self) -> frozenset[str]:
        return frozenset(measure for measure, _ in self.differences)


@dataclass(frozen=True, slots=True)
class ReconRow:
    day: dt.date
    currency: str
    measure: str
    store: Decimal
    state: Decimal
    erp: Decimal
    variance_store_state: Decimal  # store - state
    variance_state_erp: Decimal  # state - erp
    explained: bool
    explanation: str
    order_ids: list[str]
    refund_ids: list[str]

    @property
    def is_variance(self) -> bool:
        """Totals differ, or item-level differences were found (even if they net to zero)."""
        return bool(self.variance_store_state or self.variance_state_erp or self.explanation)


@dataclass(frozen=True, slots=True)
class DocumentCheck:
    """Per-document tie-out of a journal in state against the ERP (posted or found in the ERP)."""

    journal_key: str | None  # None: an ERP document the connector did not build
    document_id: str | None
    status: str | None
    posting_date: dt.date
    currency: str
    state_debit: Decimal | None
    erp_debit: Decimal | None
    problem: str | None  # None: the document ties out
    explained: bool
    order_ids: tuple[str, ...] = ()
    refund_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Reconciliation:
    period: tuple[dt.date, dt.date]
    rows: list[ReconRow]
    findings: list[Finding]
    documents: list[DocumentCheck]
    parked: list[ParkedRecord]

    @property
    def variances(self) -> list[ReconRow]:
        return [row for row in self.rows if row.is_variance]

    @property
    def unexplained(self) -> list[ReconRow]:
        """The variances that should fail the task."""
        return [row for row in self.rows if row.is_variance and not row.explained]

    @property
    def document_problems(self) -> list[DocumentCheck]:
        return [doc for doc in self.documents if doc.problem]

    @property
    def ok(self) -> bool:
        """No unexplained variance, document problem or finding (some differ on accounts only)."""
        return (
            not self.unexplained
            and all(doc.explained for doc in self.document_problems)
            and all(finding.explained for finding in self.findings)
        )

    def summary(self) -> str:
        unexplained_docs = sum(1 for doc in self.document_problems if not doc.explained)
        return (
            f"{len(self.variances)} variances, {len(self.unexplained)} unexplained; "
            f"{len(self.documents)} documents checked, {unexplained_docs} with unexplained problems; "
            f"{len(self.parked)} parked records"
        )


# --------------------------------------------------------------------------- figures


class _TenderLabels:
    """Names tenders: by gateway through clearing dims when given (journal lines carry no gateway)."""

    def __init__(self, gateway_accounts: Mapping[str, Iterable[tuple[str, str]]] | None) -> None:
        self.enabled = gateway_accounts is not None
        gateways_by_dims: dict[Dims, list[str]] = defaultdict(list)
        for gateway, dims in (gateway_accounts or {}).items():
            gateways_by_dims[normalise_dims(tuple(dims))].append(gateway)
        self._by_dims = {dims: "+".join(sorted(names)) for dims, names in gateways_by_dims.items()}
        self._by_gateway = {
            name: self._by_dims[dims] for dims, names in gateways_by_dims.items() for name in names
        }

    def for_payment(self, method: PaymentMethod, gateway: str) -> str:
        if method is PaymentMethod.GIFT_CERTIFICATE:
            return GIFT_CERTIFICATE
        if method is PaymentMethod.STORE_CREDIT:
            return STORE_CREDIT
        return self._by_gateway.get(gateway, gateway) if self.enabled else CLEARING

    def for_line(self, role: str, dims: Dims) -> str:
        if role == GIFT_CERTIFICATE_ROLE:
            return GIFT_CERTIFICATE
        if role == STORE_CREDIT_ROLE:
            return STORE_CREDIT
        return self._by_dims.get(dims, "unmapped clearing account") if self.enabled else CLEARING


def _add(into: dict[str, Decimal], key: str, amount: Decimal) -> None:
    if amount:
        into[key] = into.get(key, ZERO) + amount


def _accumulate(into: dict[str, Decimal], part: Mapping[str, Decimal]) -> dict[str, Decimal]:
    for key, amount in part.items():
        _add(into, key, amount)
    return into


def _sum(parts: Iterable[Mapping[str, Decimal]]) -> dict[str, Decimal]:
    total: dict[str, Decimal] = {}
    for part in parts:
        _accumulate(total, part)
    return total


def _minus(left: Mapping[str, Decimal], right: Mapping[str, Decimal]) -> dict[str, Decimal]:
    diff = {key: left.get(key, ZERO) - right.get(key, ZERO) for key in left.keys() | right.keys()}
    return {key: amount for key, amount in diff.items() if amount}


def _debit_sign(component: str) -> int:
    """+1 for components counted as debits, -1 for those counted as credits."""
    return -1 if component in CREDIT_MEASURES or component.startswith(CREDIT) else 1


def _component(role: str | None, dims: Dims, amount: Decimal, labels: _TenderLabels) -> tuple[str, Decimal]:
    """A signed line (debit +) as (component, amount in its natural direction)."""
    if role is None:
        return UNCLASSIFIED, abs(amount)  # an ERP line on an account no journal uses
    if role in TENDER_ROLES:
        label = labels.for_line(role, dims)
        return (DEBIT + label, amount) if amount > 0 else (CREDIT + label, -amount)
    measure = ROLE_MEASURE.get(role, OTHER + role)
    return measure, -amount if measure in CREDIT_MEASURES else amount


def _tender_figure(out: Figures, key: str, amount: Decimal, by_label: bool) -> None:
    """Tender debits are collected (by label), credits refunds, or certificates issued."""
    if key.startswith(DEBIT):
        _add(out, COLLECTED, amount)
        if by_label:
            _add(out, collected_measure(key.removeprefix(DEBIT)), amount)
    else:
        _add(out, GIFT_CERTIFICATES if key == CREDIT + GIFT_CERTIFICATE else REFUNDS, amount)


def _classified(lines: Iterable[tuple[str | None, Dims, Decimal]], labels: _TenderLabels) -> tuple[Components, Figures]:
    """Signed lines as check components (net) and as row measures (by side), in one pass.

    Rows: credits to revenue, charges, fees and tax are what was sold; their debits (net of the
    discounts credited back) are what was taken back, ``returns``: a refund or a cancel never
    nets a day's sales.
    """
    components: Components = {}
    figures: Figures = {}
    for role, dims, amount in lines:
        key, value = _component(role, dims, amount, labels)
        _add(components, key, value)
        if key.startswith((DEBIT, CREDIT)):
            _tender_figure(figures, key, value, labels.enabled)
        elif key in TAKEN_BACK and value < 0:
            _add(figures, RETURNS, -value)
        elif (key == DISCOUNTS and value < 0) or key == REFUND_ADJUSTMENTS:
            _add(figures, RETURNS, value)
        else:
            _add(figures, key, value)
    return components, figures


def _diff_figures(diff: Mapping[str, Decimal], by_label: bool, *, refund: bool) -> Figures:
    """Row measures of a difference: a refund's as its refund journal shows it (returns), else as a sale."""
    out: Figures = {}
    for key, amount in diff.items():
        if key.startswith((DEBIT, CREDIT)):
            _tender_figure(out, key, amount, by_label)
        elif key == REFUND_ADJUSTMENTS or (refund and key == DISCOUNTS):
            _add(out, RETURNS, amount)
        elif refund and key in TAKEN_BACK:
            _add(out, RETURNS, -amount)
        else:
            _add(out, key, amount)
    return out


def _differences(left: Figures, right: Figures) -> tuple[tuple[str, Decimal], ...]:
    return tuple(sorted(_minus(left, right).items(), key=lambda item: _measure_rank(item[0])))


def _describe(
    diffs: tuple[tuple[str, Decimal], ...], left: Figures, right: Figures, names: tuple[str, str]
) -> str:
    parts = [f"{m} {names[0]} {left.get(m, ZERO)} vs {names[1]} {right.get(m, ZERO)}" for m, _ in diffs]
    return "; ".join(parts)


# --------------------------------------------------------------------------- the store's side


@dataclass(slots=True)
class _Expected:
    """What the store says records must hold in the ledger over their whole life, as components.

    ``links`` are sets of components the store knows only by their net (their debit-signed
    sum): the ledger's split of them depends on its history. ``borrow_discounts``: a refund
    returned discounted goods, so the discount share is the ledger's (sales absorb the rest).
    """

    values: Components = field(default_factory=dict)
    links: list[frozenset[str]] = field(default_factory=list)
    borrow_discounts: bool = False

    def add(self, key: str, amount: Decimal) -> None:
        _add(self.values, key, amount)

    def link_tender(self, label: str) -> None:
        self.links.append(frozenset({DEBIT + label, CREDIT + label}))

    def balance(self) -> None:
        """Rounding: whatever makes the record's figures balance, as its journal's rounding line would."""
        self.values.pop(ROUNDING, None)
        _add(self.values, ROUNDING, -sum((_debit_sign(k) * v for k, v in self.values.items()), ZERO))

    @classmethod
    def total(cls, parts: Iterable[_Expected]) -> _Expected:
        out = cls()
        for part in parts:
            _accumulate(out.values, part.values)
            out.links.extend(part.links)
            out.borrow_discounts |= part.borrow_discounts
        return out

    def difference(self, ledger: Mapping[str, Decimal], *, can_borrow: bool) -> Components:
        """Store minus ledger, per component; a link whose net agrees contributes nothing."""
        values = dict(self.values)
        if self.borrow_discounts and can_borrow:
            shift = ledger.get(DISCOUNTS, ZERO) - values.get(DISCOUNTS, ZERO)
            _add(values, DISCOUNTS, shift)
            _add(values, SALES, shift)  # sales (credit) and discounts (debit) move together: the net holds
        diff = _minus(values, ledger)
        for linked in _merged(self.links):
            if not sum((_debit_sign(key) * diff.get(key, ZERO) for key in linked), ZERO):
                for key in linked:
                    diff.pop(key, None)
        return diff


def _merged(links: list[frozenset[str]]) -> list[set[str]]:
    """Overlapping links joined: a component known only by a net shares that net with all of them."""
    merged: list[set[str]] = []
    for link in links:
        overlapping = [group for group in merged if group & link]
        joined = set(link).union(*overlapping)
        merged = [group for group in merged if not group & link] + [joined]
    return merged


def _captures(order: Order, labels: _TenderLabels) -> tuple[dict[str, Decimal], set[str]]:
    """Money taken per tender label (captures net of voids of those captures), and the voided labels.

    A void that refers to no capture releases an authorization, not money. Gift certificate and
    store credit amounts the store reports only on the order count as their tender.
    """
    captures = {p.payment_id: p for p in order.payments if p.ok and p.event is PaymentEvent.CAPTURE}
    held: dict[str, Decimal] = {}
    for payment in captures.values():
        _add(held, labels.for_payment(payment.method, payment.gateway), payment.amount)
    voided: set[str] = set()
    for payment in order.payments:
        if payment.ok and payment.event is PaymentEvent.VOID and payment.reference_id in captures:
            captured = captures[payment.reference_id]
            label = labels.for_payment(captured.method, captured.gateway)
            _add(held, label, -payment.amount)
            voided.add(label)
    if order.status is OrderStatus.CANCELLED:
        return held, voided  # only payment records prove money moved for a cancelled order
    for method, amount in (
        (PaymentMethod.GIFT_CERTIFICATE, order.gift_certificate_amount),
        (PaymentMethod.STORE_CREDIT, order.store_credit_amount),
    ):
        if amount and not any(p.method is method for p in captures.values()):
            _add(held, labels.for_payment(method, method.value), amount)
    return held, voided


def _paid(order: Order) -> bool:
    """Money was taken: a capture, or (for an order that stands) a certificate / store credit the
    store reports only on the order."""
    if order.captured_at is not None:
        return True
    return order.status is not OrderStatus.CANCELLED and bool(order.gift_certificate_amount or order.store_credit_amount)


class _StoreSide:
    """The store's records and what each must hold in the ledger, following the lifecycle table."""

    def __init__(
        self,
        orders: Iterable[Order],
        refunds: Iterable[Refund],
        posting_day: Callable[[Order | Refund], dt.date | None],
        change_day: Callable[[Order], dt.date | None] | None,
        labels: _TenderLabels,
    ) -> None:
        self.orders = {order.order_id: order for order in orders}
        self.refunds = {refund.refund_id: refund for refund in refunds}
        self._paid = {order_id: _paid(order) for order_id, order in self.orders.items()}
        self.posting_day = posting_day
        self.change_day = change_day
        self.labels = labels
        # Orders the store calls refunded that were cancelled first (their ledger says so): a
        # refund status does not revive a cancelled sale (see core.lifecycle).
        self.cancelled_first: set[str] = set()

    def paid(self, order: Order) -> bool:
        known = self._paid.get(order.order_id)
        return _paid(order) if known is None else known

    def stands(self, order: Order | None) -> bool:
        return (
            order is not None and order.status in POSTABLE_STATUSES and self.paid(order)
            and order.order_id not in self.cancelled_first
        )

    def moves_money(self, order: Order | None) -> bool:
        """Standing, or cancelled after a payment; absent orders leave their refunds standing alone."""
        if order is None:
            return True
        return self.paid(order) and (order.status in POSTABLE_STATUSES or order.status is OrderStatus.CANCELLED)

    def order_expected(self, order: Order) -> _Expected:
        expected = _Expected()
        if not self.moves_money(order):
            return expected
        held, voided = _captures(order, self.labels)
        for label, amount in held.items():
            expected.add(DEBIT + label, amount)
        for label in voided:  # voided before or after posting: only the net is the store's
            expected.link_tender(label)
        if any(line.kind is LineKind.GIFT_CERTIFICATE for line in order.lines):
            expected.link_tender(GIFT_CERTIFICATE)  # a certificate sale taken back debits the liability
        if self.stands(order):
            for line in order.lines:
                if line.kind is LineKind.GIFT_CERTIFICATE:
                    expected.add(CREDIT + GIFT_CERTIFICATE, line.total)
                else:
                    expected.add(SALES, line.total)
            expected.add(DISCOUNTS, order.discount_total)
            expected.add(SHIPPING, order.shipping + order.handling + order.wrapping)
            expected.add(FEES, sum((fee.amount for fee in order.fees), ZERO))
            expected.add(TAX, order.tax_total)
        else:  # cancelled after capture: the cash is held, owed to the shopper
            expected.add(OWED, sum(held.values(), ZERO))
        expected.balance()
        return expected

    def refund_expected(self, refund: Refund) -> _Expected:
        order = self.orders.get(refund.order_id)
        expected = _Expected()
        if not self.moves_money(order):
            return expected  # the refund waits for its order
        if order is None or self.stands(order):
            self._refunded_components(expected, refund, order)
        else:  # the sale is off the ledger: the refund settles what is owed
            expected.add(OWED, -refund.total)
        if refund.payments:
            for payment in refund.payments:
                label = self.labels.for_payment(payment.method, payment.gateway)
                expected.add(CREDIT + label, payment.amount)
        else:  # the store does not say where the money went: back to the order's tenders, in some split
            tenders = list(_captures(order, self.labels)[0]) if order is not None else []
            tenders = tenders or [CLEARING]
            expected.add(CREDIT + tenders[0], refund.total)
            expected.links.append(frozenset(CREDIT + label for label in tenders))
        expected.balance()
        return expected

    @staticmethod
    def _refunded_components(expected: _Expected, refund: Refund, order: Order | None) -> None:
        """What a refund of a standing order gives back, at the amounts the store refunded."""
        lines = {line.line_id: line for line in order.lines} if order is not None else {}
        order_discounts = order is not None and any(d.amount for d in order.discounts)
        for item in refund.lines:
            original = lines.get(item.line_id)
            if original is not None and original.kind is LineKind.GIFT_CERTIFICATE:
                expected.add(DEBIT + GIFT_CERTIFICATE, item.amount)
                expected.link_tender(GIFT_CERTIFICATE)
                if original.discount:
                    expected.borrow_discounts = True
                    expected.links.append(frozenset({SALES, DISCOUNTS, DEBIT + GIFT_CERTIFICATE}))
                continue
            expected.add(SALES, -item.amount)
            if original is not None and (original.discount or order_discounts):
                expected.borrow_discounts = True
        expected.add(SHIPPING, -(refund.shipping + refund.handling + refund.wrapping))
        expected.add(FEES, -refund.fees)
        expected.add(TAX, -refund.tax)
        expected.add(REFUND_ADJUSTMENTS, refund.other)

    # -- days ------------------------------------------------------------------------------
    def order_days(self, order: Order) -> set[dt.date]:
        days = {self.posting_day(order)}
        if self.change_day is not None:
            days.add(self.change_day(order))
        return {day for day in days if day is not None}

    def is_sale_day(self, order: Order, day: dt.date) -> bool:
        """The sale was dated when the order became settled: the posting day of one of its captures."""
        if self.posting_day(order) == day:
            return True
        captures = sorted(
            (p for p in order.payments if p.ok and p.event is PaymentEvent.CAPTURE), key=lambda p: p.occurred_at
        )
        return any(
            self.posting_day(dataclasses.replace(order, payments=tuple(captures[: n + 1]))) == day
            for n in range(len(captures))
        )

    def store_day(self, sj: _StateJournal, group: _Group) -> dt.date:
        """The day the store gives a sale or refund journal; other documents keep their own day."""
        journal, day = sj.journal, sj.journal.posting_date
        if journal.kind is JournalKind.SALE and group.order is not None and ("order", group.order.order_id) in sj.sources:
            if self.is_sale_day(group.order, day):
                return day
            return self.posting_day(group.order) or day
        if journal.kind is JournalKind.REFUND:
            for obj, source_id in sj.sources:
                refund = self.refunds.get(source_id) if obj == "refund" else None
                if refund is not None:
                    return self.posting_day(refund) or day
        return day


# --------------------------------------------------------------------------- collected sides


@dataclass(slots=True)
class _StateJournal:
    journal: Journal
    status: str
    document_id: str | None
    sources: tuple[SourceKey, ...]
    components: Components  # net, for the whole-life check
    figures: Figures  # by side, for the rows
    lines: list[tuple[str, Dims, Decimal]]
    in_period: bool

    @property
    def day_currency(self) -> DayCurrency:
        return self.journal.posting_date, self.journal.currency

    @property
    def is_document(self) -> bool:
        """What the ERP receives: not the order-level detail behind a daily summary."""
        return self.status not in DETAIL_STATUSES

    @property
    def is_order_level(self) -> bool:
        return self.journal.kind is not JournalKind.DAILY


@dataclass(slots=True)
class _ErpDocument:
    document_id: str
    lines: list[ErpLine]
    journal: _StateJournal | None = None
    figures_by_day: dict[DayCurrency, Figures] = field(default_factory=dict)
    lines_match: bool = False  # every line equals one of the journal's lines (account and amount), and vice versa


class _Ids:
    """Turns source keys into the order / refund ids a controller searches for."""

    def __init__(self, store: _StoreSide) -> None:
        self._order_of_refund = {refund_id: refund.order_id for refund_id, refund in store.refunds.items()}
        self._orders = set(store.orders)

    def of(self, keys: Iterable[SourceKey]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        orders: set[str] = set()
        refunds: set[str] = set()
        for obj, source_id in keys:
            if obj == "refund":
                refunds.add(source_id)
                if source_id in self._order_of_refund:
                    orders.add(self._order_of_refund[source_id])
            else:
                orders.add(source_id)
        return tuple(sorted(orders)), tuple(sorted(refunds))

    def named_by(self, references: Iterable[str]) -> set[SourceKey]:
        """Store records an ERP document's line references name (sale lines: order id; refunds: refund id)."""
        keys: set[SourceKey] = set()
        for reference in references:
            if reference in self._order_of_refund:
                keys.add(("refund", reference))
            if reference in self._orders:
                keys.add(("order", reference))
        return keys

    @staticmethod
    def label(keys: Iterable[SourceKey]) -> str:
        return ", ".join(f"{obj} {source_id}" for obj, source_id in sorted(keys)) or "no source record"


class _Groups:
    """Union-find over source records and journals: an order, its refunds and their journals."""

    def __init__(self) -> None:
        self._parent: dict[object, object] = {}

    def find(self, node: object) -> object:
        parent = self._parent.setdefault(node, node)
        if parent != node:
            parent = self._parent[node] = self.find(parent)
        return parent

    def union(self, first: object, second: object) -> None:
        root_a, root_b = self.find(first), self.find(second)
        if root_a != root_b:
            self._parent[root_b] = root_a


@dataclass(slots=True)
class _Group:
    order: Order | None = None
    refunds: list[Refund] = field(default_factory=list)
    journals: list[_StateJournal] = field(default_factory=list)

    @property
    def sources(self) -> set[SourceKey]:
        keys = {("refund", refund.refund_id) for refund in self.refunds}
        if self.order is not None:
            keys.add(("order", self.order.order_id))
        return keys.union(*(sj.sources for sj in self.journals))

    @property
    def currency(self) -> str:
        if self.order is not None:
            return self.order.currency
        return self.refunds[0].currency if self.refunds else self.journals[0].journal.currency


@dataclass(slots=True)
class _Part:
    """A piece of a group whose difference can be placed on its own day (an order, one refund)."""

    sources: set[SourceKey]
    expected: _Expected
    journals: list[_StateJournal]
    days: set[dt.date]
    refund: bool = False  # its difference reads as its refund journal would: returns and refunds


@dataclass(frozen=True, slots=True)
class _Placement:
    """A whole-life difference, put on the day it is reported."""

    day: dt.date
    difference: Components
    sources: set[SourceKey]
    refund: bool


@dataclass(slots=True)
class _GroupDay:
    """One day of a group: the store's figures (the ledger's, moved and corrected) and the ledger's."""

    store_components: Components = field(default_factory=dict)
    ledger_components: Components = field(default_factory=dict)
    store: Figures = field(default_factory=dict)
    ledger: Figures = field(default_factory=dict)
    sources: set[SourceKey] = field(default_factory=set)
    notes: list[str | None] = field(default_factory=list)

    def add_store(self, components: Components, figures: Figures) -> None:
        _accumulate(self.store_components, components)
        _accumulate(self.store, figures)

    def add_ledger(self, components: Components, figures: Figures) -> None:
        _accumulate(self.ledger_components, components)
        _accumulate(self.ledger, figures)

    def explain(self, sources: Iterable[SourceKey], note: str | None) -> None:
        self.sources.update(sources)
        self.notes.append(note)


# --------------------------------------------------------------------------- the reconciliation


def reconcile(
    *,
    orders: Iterable[Order],
    refunds: Iterable[Refund],
    journals: Iterable[StateJournal],
    erp_lines: Iterable[ErpLine],
    parked: Iterable[ParkedRecord],
    posting_day: Callable[[Order | Refund], dt.date | None],
    period: tuple[dt.date, dt.date],
    gateway_accounts: Mapping[str, Iterable[tuple[str, str]]] | None = None,
    change_day: Callable[[Order], dt.date | None] | None = None,
) -> Reconciliation:
    """Compare store, state and ERP for the posting days in ``period`` (both ends inclusive).

    :param orders: every order of the store (groups span periods: a sale before the period may
        be cancelled in it).
    :param journals: (journal, status in state, ERP document id or None): the documents dated in
        and around the period, and every order-level journal (details included) of the orders
        that have a day in it.
    :param posting_day: the journal builder's own rule (capture / refund date in the store timezone).
    :param gateway_accounts: gateway -> clearing dims, to break ``collected`` down by gateway.
    :param change_day: the day an order last changed in the store (its adjustments' day): a
        difference of a changed order is reported there.
    """
    start, end = period
    if start > end:
        raise ValueError(f"reconcile: period starts {start} after it ends {end}")
    labels = _TenderLabels(gateway_accounts)
    store = _StoreSide(orders, refunds, posting_day, change_day, labels)
    ids = _Ids(store)
    state = [
        _state_journal(journal, status, document_id, labels, in_period=start <= journal.posting_date <= end)
        for journal, status, document_id in journals
        if status not in IGNORED_STATUSES
    ]
    documents = [sj for sj in state if sj.is_document]
    erp_documents = _erp_documents(erp_lines, documents, state, period, labels)
    parked_all = list(parked)
    lifecycle = _Lifecycle(store, ids, parked_all, period, labels.enabled)
    lifecycle.run([sj for sj in state if sj.is_order_level])

    findings = lifecycle.findings
    findings += _summary_findings(state, period, ids)
    by_content = _LazyContent(documents)
    findings += _state_erp_findings(documents, erp_documents, ids, by_content)
    rows = _rows(lifecycle.store_days, documents, erp_documents, findings)
    return Reconciliation(
        period=period,
        rows=rows,
        findings=sorted(findings, key=lambda f: (f.day, f.currency, f.check, f.kind, f.message)),
        documents=_document_checks(documents, erp_documents, ids, by_content),
        parked=sorted(
            (r for r in parked_all if r.posting_day is None or start <= r.posting_day <= end),
            key=lambda r: (r.object, r.source_id),
        ),
    )


def _state_journal(
    journal: Journal, status: str, document_id: str | None, labels: _TenderLabels, *, in_period: bool
) -> _StateJournal:
    lines = [(line.role, normalise_dims(tuple(line.dims)), line.amount) for line in journal.lines]
    components, figures = _classified(lines, labels)
    return _StateJournal(
        journal=journal,
        status=status,
        document_id=document_id,
        sources=tuple((ref.object, ref.id) for ref in journal.sources),
        components=components,
        figures=figures,
        lines=lines,
        in_period=in_period,
    )


class _Lifecycle:
    """Store vs order-level journals, one group at a time over its whole life (see the module docstring)."""

    def __init__(
        self, store: _StoreSide, ids: _Ids, parked: list[ParkedRecord], period: tuple[dt.date, dt.date], by_label: bool
    ) -> None:
        self.store, self.ids, self.period, self.by_label = store, ids, period, by_label
        self.parked = {(record.object, record.source_id): record for record in parked}
        self.store_days: dict[DayCurrency, Figures] = defaultdict(dict)
        self.findings: list[Finding] = []

    def in_period(self, day: dt.date | None) -> bool:
        return day is not None and self.period[0] <= day <= self.period[1]

    def latest(self, days: Iterable[dt.date | None]) -> dt.date | None:
        return max((day for day in days if self.in_period(day)), default=None)

    def run(self, ledger: list[_StateJournal]) -> None:
        for group in self.groups(ledger):
            self.reconcile_group(group)

    def groups(self, ledger: list[_StateJournal]) -> list[_Group]:
        union = _Groups()
        for order_id in self.store.orders:
            union.find(("order", order_id))
        for refund in self.store.refunds.values():
            union.union(("order", refund.order_id), ("refund", refund.refund_id))
        for sj in ledger:
            node = ("journal", sj.journal.key)
            union.find(node)
            for source in sj.sources:
                union.union(node, source)
        groups: dict[object, _Group] = defaultdict(_Group)
        for order in self.store.orders.values():
            groups[union.find(("order", order.order_id))].order = order
        for refund in self.store.refunds.values():
            groups[union.find(("refund", refund.refund_id))].refunds.append(refund)
        for sj in ledger:
            groups[union.find(("journal", sj.journal.key))].journals.append(sj)
        return list(groups.values())

    def reconcile_group(self, group: _Group) -> None:
        store = self.store
        dated = [(sj, store.store_day(sj, group)) for sj in group.journals]
        days: set[dt.date | None] = {day for sj, own in dated for day in (sj.journal.posting_date, own)}
        if group.order is not None:
            days |= store.order_days(group.order)
        days |= {store.posting_day(refund) for refund in group.refunds}
        latest = self.latest(days)
        if latest is None:
            return  # nothing of this order's life falls in the period
        ledger = _sum(sj.components for sj in group.journals)
        expected_by_record, expected, difference = self.expected(group, ledger)
        order = group.order
        if difference and order is not None and order.status in (OrderStatus.REFUNDED, OrderStatus.PARTIALLY_REFUNDED):
            store.cancelled_first.add(order.order_id)  # was it cancelled before it was refunded?
            alternative = self.expected(group, ledger)
            if alternative[2]:
                store.cancelled_first.discard(order.order_id)
            else:
                expected_by_record, expected, difference = alternative
        if not difference and all(own == sj.journal.posting_date for sj, own in dated):
            for sj in group.journals:  # explained: the store's days are the ledger's
                if sj.in_period:
                    _accumulate(self.store_days[sj.day_currency], sj.figures)
            return
        if difference and not expected.values:
            # The store holds nothing for these journals: each stands alone, on its own day.
            self.attribute(group, dated, [], follow_ledger=False)
            return
        placed: list[_Placement] | None = []
        if difference:
            placed = self.placed_by_part(self.parts(group, dated, expected_by_record), difference, group)
            if placed is None:  # the difference is the group's as a whole: on its latest day
                placed = [_Placement(latest, difference, group.sources, refund=False)]
        self.attribute(group, dated, placed)

    def expected(
        self, group: _Group, ledger: Mapping[str, Decimal]
    ) -> tuple[dict[SourceKey, _Expected], _Expected, Components]:
        """What the group's records must hold, and how the ledger differs from it."""
        store = self.store
        by_record = {("refund", refund.refund_id): store.refund_expected(refund) for refund in group.refunds}
        if group.order is not None:
            by_record[("order", group.order.order_id)] = store.order_expected(group.order)
        expected = _Expected.total(by_record.values())
        return by_record, expected, expected.difference(ledger, can_borrow=bool(group.journals))

    def parts(
        self, group: _Group, dated: list[tuple[_StateJournal, dt.date]], expected: Mapping[SourceKey, _Expected]
    ) -> list[_Part]:
        """The order with its own documents, then each refund with its refund journals."""
        store = self.store
        refund_journals: dict[str, list[_StateJournal]] = defaultdict(list)
        refund_ids = {refund.refund_id for refund in group.refunds}
        order_journals: list[_StateJournal] = []
        for sj, _ in dated:
            refund_id = next((sid for obj, sid in sj.sources if obj == "refund" and sid in refund_ids), None)
            if sj.journal.kind is JournalKind.REFUND and refund_id is not None:
                refund_journals[refund_id].append(sj)
            else:
                order_journals.append(sj)
        own_day = {id(sj): day for sj, day in dated}
        order = group.order
        order_part = _Part(
            sources={("order", order.order_id)} if order is not None else set(),
            expected=expected[("order", order.order_id)] if order is not None else _Expected(),
            journals=order_journals,
            days={own_day[id(sj)] for sj in order_journals} | (store.order_days(order) if order is not None else set()),
        )
        parts = [order_part]
        for refund in sorted(group.refunds, key=lambda r: (r.created_at, r.refund_id)):
            journals = refund_journals.get(refund.refund_id, [])
            parts.append(
                _Part(
                    sources={("refund", refund.refund_id), ("order", refund.order_id)},
                    expected=expected[("refund", refund.refund_id)],
                    journals=journals,
                    days={day for day in (store.posting_day(refund), *(own_day[id(sj)] for sj in journals)) if day},
                    refund=True,
                )
            )
        return parts

    def placed_by_part(self, parts: list[_Part], difference: Components, group: _Group) -> list[_Placement] | None:
        """Each part's own difference on its own latest day in the period, when the parts tell the whole story.

        Only a standing order whose ledger never held refunds payable: a cancel (or restore)
        adjustment nets against the refunds' journals, so its parts mean nothing alone (None).
        A part with no day in the period is left to the period it belongs to.
        """
        if not self.store.stands(group.order) or any(OWED in sj.components for sj in group.journals):
            return None
        diffs = [
            part.expected.difference(_sum(sj.components for sj in part.journals), can_borrow=bool(part.journals))
            for part in parts
        ]
        if _minus(_sum(diffs), difference):
            return None
        placed = []
        for part, diff in zip(parts, diffs, strict=True):
            day = self.latest(part.days)
            if diff and day is not None:
                placed.append(_Placement(day, diff, part.sources, refund=part.refund))
        return placed

    def attribute(
        self, group: _Group, dated: list[tuple[_StateJournal, dt.date]], placed: list[_Placement],
        *, follow_ledger: bool = True,
    ) -> None:  # fmt: skip
        """The group's store figures per day (the ledger's days, the difference where placed), and findings."""
        days: dict[DayCurrency, _GroupDay] = defaultdict(_GroupDay)
        for sj, own in dated:
            journal = sj.journal
            days[sj.day_currency].add_ledger(sj.components, sj.figures)
            if not follow_ledger:
                days[sj.day_currency].explain(sj.sources, None)
                continue
            days[(own, journal.currency)].add_store(sj.components, sj.figures)
            if own != journal.posting_date:
                note = f"journal {journal.key} is dated {journal.posting_date} but the store dates it {own}"
                for dc in ((own, journal.currency), sj.day_currency):
                    days[dc].explain(sj.sources, note)
        for placement in placed:
            day = days[(placement.day, group.currency)]
            day.add_store(placement.difference, _diff_figures(placement.difference, self.by_label, refund=placement.refund))
            day.explain(placement.sources, None)
        for dc, day in sorted(days.items()):
            if not self.in_period(dc[0]):
                continue
            _accumulate(self.store_days[dc], day.store)
            if _minus(day.store_components, day.ledger_components):
                self.findings.append(self.finding(group, dc, day))

    def finding(self, group: _Group, dc: DayCurrency, day: _GroupDay) -> Finding:
        diffs = _differences(day.store, day.ledger)
        kind, explained, message = self.explain(group, day.sources or group.sources, day.notes)
        if diffs:
            detail = _describe(diffs, day.store, day.ledger, ("store", "journal"))
        else:
            detail = "same totals, different accounts: " + "; ".join(
                f"{key} store {day.store_components.get(key, ZERO)} vs journal {day.ledger_components.get(key, ZERO)}"
                for key in sorted(_minus(day.store_components, day.ledger_components))
            )
        order_ids, refund_ids = self.ids.of(day.sources or group.sources)
        return Finding(
            check=Check.STORE_STATE,
            kind=kind,
            day=dc[0],
            currency=dc[1],
            explained=explained,
            message=f"{message} ({detail})",
            differences=diffs,
            order_ids=order_ids,
            refund_ids=refund_ids,
            journal_keys=tuple(sorted(sj.journal.key for sj in group.journals)),
        )

    def explain(
        self, group: _Group, sources: set[SourceKey], misdated: list[str | None]
    ) -> tuple[FindingKind, bool, str]:
        """Why the store and the group's journals differ on a day (``misdated``: None = a placed difference)."""
        who = _Ids.label(sources)
        parked = [self.parked[source] for source in sorted(sources) if source in self.parked]
        if parked:
            reasons = "; ".join(f"{r.object} {r.source_id} parked {r.status}: {r.reason}" for r in parked)
            return FindingKind.PARKED, all(r.status in EXPLAINING_PARKED_STATUSES for r in parked), reasons
        if not group.journals:
            return FindingKind.NOT_JOURNALLED, False, f"{who}: settled in the store but no journal built and not parked"
        keys = ", ".join(sorted(f"{sj.journal.key} dated {sj.journal.posting_date}" for sj in group.journals))
        order = group.order
        if order is None and not group.refunds:
            return FindingKind.NO_STORE_RECORD, False, f"{who}: journals {keys} have no store record"
        if not self.store.moves_money(order):
            assert order is not None
            return (
                FindingKind.NO_STORE_RECORD,
                False,
                f"{who}: order {order.order_id} is {order.status.value} in the store and moves no money,"
                f" but journals {keys} hold figures",
            )
        notes = [note for note in misdated if note is not None]
        if len(notes) < len(misdated):  # a whole-life difference was placed on this day
            notes.append(f"over its whole life the store (as it is now) and journals {keys} differ")
        if order is not None and order.status is OrderStatus.CANCELLED and any(
            sj.journal.kind is JournalKind.REVERSAL for sj in group.journals
        ):
            notes.append("a reversal takes the sale off but not the cash still held: it is owed in refunds payable")
        return FindingKind.STORE_JOURNAL_MISMATCH, False, f"{who}: " + "; ".join(notes)


def _summary_findings(state: list[_StateJournal], period: tuple[dt.date, dt.date], ids: _Ids) -> list[Finding]:
    """Daily granularity: a day's summaries hold exactly its summarised details; open days wait."""
    start, end = period
    days: dict[tuple[str, str, dt.date], dict[str, list[_StateJournal]]] = defaultdict(lambda: defaultdict(list))
    for sj in state:
        journal = sj.journal
        if not start <= journal.posting_date <= end:
            continue
        if journal.kind is JournalKind.DAILY:
            role = "summaries"
        elif sj.status in DETAIL_STATUSES:
            role = "summarised" if sj.status == SUMMARISED else "pending"
        else:
            continue
        days[(journal.store_id, journal.currency, journal.posting_date)][role].append(sj)
    findings = []
    for (_, currency, day), found in sorted(days.items()):
        pending, summarised, summaries = found["pending"], found["summarised"], found["summaries"]
        sources = {source for sj in pending for source in sj.sources}
        figures = _sum(sj.figures for sj in pending)
        if figures:
            order_ids, refund_ids = ids.of(sources)
            findings.append(
                Finding(
                    check=Check.DETAIL_SUMMARY, kind=FindingKind.PENDING, day=day, currency=currency, explained=True,
                    message=f"{len(pending)} order-level journals dated {day} are not in a daily summary yet: the day is"
                    " summarised once it has ended in the store's time zone",
                    differences=_differences(figures, {}), order_ids=order_ids, refund_ids=refund_ids,
                    journal_keys=tuple(sorted(sj.journal.key for sj in pending)),
                )
            )  # fmt: skip
        if not summarised and not summaries:
            continue
        detail = _sum(sj.figures for sj in summarised)
        summed = _sum(sj.figures for sj in summaries)
        diffs = _differences(detail, summed)
        if not diffs and _line_totals(summarised) == _line_totals(summaries):
            continue
        in_detail = {source for sj in summarised for source in sj.sources}
        in_summaries = {source for sj in summaries for source in sj.sources}
        order_ids, refund_ids = ids.of((in_detail ^ in_summaries) or in_detail | in_summaries)
        keys = ", ".join(sorted(sj.journal.key for sj in summaries)) or "none"
        what = _describe(diffs, detail, summed, ("detail", "summary")) if diffs else "same totals, different lines"
        findings.append(
            Finding(
                check=Check.DETAIL_SUMMARY, kind=FindingKind.SUMMARY_MISMATCH, day=day, currency=currency,
                explained=False,
                message=f"daily summaries {keys} do not hold exactly their {len(summarised)} order-level journals ({what})",
                differences=diffs, order_ids=order_ids, refund_ids=refund_ids,
                journal_keys=tuple(sorted(sj.journal.key for sj in summaries)),
            )
        )  # fmt: skip
    return findings


def _line_totals(journals: Iterable[_StateJournal]) -> Counter[tuple[str, Dims, bool]]:
    """Amounts per (role, account, debit side): what a daily summary sums its details by."""
    totals: Counter[tuple[str, Dims, bool]] = Counter()
    for sj in journals:
        for role, dims, amount in sj.lines:
            totals[(role, dims, amount > 0)] += amount
    return Counter({key: amount for key, amount in totals.items() if amount})


def _erp_documents(
    erp_lines: Iterable[ErpLine],
    documents: list[_StateJournal],
    state: list[_StateJournal],
    period: tuple[dt.date, dt.date],
    labels: _TenderLabels,
) -> dict[str, _ErpDocument]:
    """ERP lines by document, matched to state documents by document id, classified into components."""
    erp: dict[str, _ErpDocument] = {}
    for line in erp_lines:
        erp.setdefault(line.document_id, _ErpDocument(line.document_id, [])).lines.append(line)
    by_document_id = {sj.document_id: sj for sj in documents if sj.document_id}
    roles_by_dims: dict[Dims, set[str]] = defaultdict(set)
    for sj in state:
        for role, dims, _ in sj.lines:
            roles_by_dims[dims].add(role)
    unique_role = {dims: next(iter(roles)) for dims, roles in roles_by_dims.items() if len(roles) == 1}

    start, end = period
    for document in erp.values():
        document.journal = by_document_id.get(document.document_id)
        all_dims = [normalise_dims(line.dims) for line in document.lines]
        roles = _classify(document, all_dims, unique_role)
        per_day: dict[DayCurrency, list[tuple[str | None, Dims, Decimal]]] = defaultdict(list)
        for line, dims, role in zip(document.lines, all_dims, roles, strict=True):
            if start <= line.posting_date <= end:
                per_day[(line.posting_date, line.currency)].append((role, dims, line.amount))
        document.figures_by_day = {dc: _classified(lines, labels)[1] for dc, lines in per_day.items()}
    return erp


def _classify(
    document: _ErpDocument, all_dims: list[Dims], unique_role: Mapping[Dims, str]
) -> list[str | None]:
    """Role of each ERP line: the journal line with the same account and amount, else the account's role.

    Also records on the document whether its lines and the journal's match one to one.
    """
    available: dict[tuple[Dims, Decimal], list[str]] = defaultdict(list)
    own_roles: dict[Dims, set[str]] = defaultdict(set)
    if document.journal is not None:
        for role, dims, amount in document.journal.lines:
            available[(dims, amount)].append(role)
            own_roles[dims].add(role)
    roles: list[str | None] = []
    unmatched = 0
    for line, dims in zip(document.lines, all_dims, strict=True):
        candidates = available.get((dims, line.amount))
        if candidates:
            roles.append(candidates.pop())
            continue
        unmatched += 1
        if len(own_roles.get(dims, ())) == 1:
            roles.append(next(iter(own_roles[dims])))
        else:
            roles.append(unique_role.get(dims))
    document.lines_match = document.journal is not None and not unmatched and not any(available.values())
    return roles


def _state_erp_findings(
    documents: list[_StateJournal], erp: Mapping[str, _ErpDocument], ids: _Ids, by_content: _LazyContent
) -> list[Finding]:
    findings = []
    matched_documents = set()
    for sj in documents:
        document = erp.get(sj.document_id) if sj.document_id else None
        if document is not None and document.journal is sj:
            matched_documents.add(document.document_id)
        erp_by_day = document.figures_by_day if document is not None and document.journal is sj else {}
        own_days = {sj.day_currency} if sj.in_period else set()
        for dc in sorted(own_days | set(erp_by_day)):
            state_figures = sj.figures if dc in own_days else {}
            erp_figures = erp_by_day.get(dc, {})
            diffs = _differences(state_figures, erp_figures)
            if diffs:
                findings.append(_state_erp_finding(sj, document, dc, diffs, state_figures, erp_figures, ids))
    for document in erp.values():
        if document.document_id in matched_documents:
            continue
        origin = _origin(document, by_content.index, ids)
        order_ids, refund_ids = ids.of(origin.sources)
        for dc, figures in sorted(document.figures_by_day.items()):
            diffs = _differences({}, figures)
            if not diffs:
                continue
            findings.append(
                Finding(
                    check=Check.STATE_ERP,
                    kind=FindingKind.ERP_ONLY,
                    day=dc[0],
                    currency=dc[1],
                    explained=False,
                    message=(
                        f"ERP document {document.document_id} (reference {origin.reference or 'none'}) matches no journal "
                        f"the connector built: {origin.what} ({_describe(diffs, {}, figures, ('journal', 'ERP'))})"
                    ),
                    differences=diffs,
                    order_ids=order_ids,
                    refund_ids=refund_ids,
                    journal_keys=origin.journal_keys,
                    document_ids=(document.document_id,),
                )
            )
    return findings


Content = tuple[dt.date, str, tuple[tuple[Dims, Decimal], ...]]


def _content(posting_date: dt.date, currency: str, lines: Iterable[tuple[Dims, Decimal]]) -> Content:
    return posting_date, currency, tuple(sorted(lines))


class _LazyContent:
    """State documents by date, currency and lines: an ERP document with the same content was posted twice.

    Built on first use: only ERP documents the connector did not record need it.
    """

    def __init__(self, documents: list[_StateJournal]) -> None:
        self._documents = documents

    @cached_property
    def index(self) -> dict[Content, list[_StateJournal]]:
        by_content: dict[Content, list[_StateJournal]] = defaultdict(list)
        for sj in self._documents:
            key = _content(sj.journal.posting_date, sj.journal.currency, ((dims, amount) for _, dims, amount in sj.lines))
            by_content[key].append(sj)
        return by_content


@dataclass(frozen=True, slots=True)
class _Origin:
    what: str
    reference: str
    sources: frozenset[SourceKey]
    journal_keys: tuple[str, ...] = ()


def _origin(document: _ErpDocument, by_content: Mapping[Content, list[_StateJournal]], ids: _Ids) -> _Origin:
    """Whose figures an ERP document the connector did not record holds: a duplicate, or named by reference."""
    reference = ", ".join(sorted({line.reference for line in document.lines if line.reference}))
    first = min(document.lines, key=lambda line: line.posting_date)
    content = _content(first.posting_date, first.currency, ((normalise_dims(ln.dims), ln.amount) for ln in document.lines))
    twins = [sj for sj in by_content.get(content, []) if sj.document_id != document.document_id]
    if twins:
        keys = tuple(sorted(sj.journal.key for sj in twins))
        return _Origin(
            f"the same lines as journal {', '.join(keys)}: posted twice",
            reference,
            frozenset(source for sj in twins for source in sj.sources),
            keys,
        )
    named = ids.named_by(line.reference for line in document.lines if line.reference)
    return _Origin("posted outside the connector", reference, frozenset(named))


def _state_erp_finding(
    sj: _StateJournal,
    document: _ErpDocument | None,
    dc: DayCurrency,
    diffs: tuple[tuple[str, Decimal], ...],
    state_figures: Figures,
    erp_figures: Figures,
    ids: _Ids,
) -> Finding:
    key = sj.journal.key
    who = _Ids.label(sj.sources)
    in_erp = document is not None and document.journal is sj
    detail = _describe(diffs, state_figures, erp_figures, ("journal", "ERP"))
    if in_erp:
        kind, explained = FindingKind.ERP_MISMATCH, False
        message = (
            f"ERP document {sj.document_id} differs from journal {key} ({who}; status {sj.status}): {detail}"
        )
    elif sj.status == POSTED:
        kind, explained = FindingKind.MISSING_IN_ERP, False
        where = f"as document {sj.document_id}" if sj.document_id else "without an ERP document id"
        message = f"journal {key} ({who}) is posted {where} but the ERP reports no such document ({detail})"
    elif sj.status in PENDING_STATUSES:
        kind, explained = FindingKind.PENDING, True
        message = f"journal {key} ({who}) is {sj.status}: built, not yet posted ({detail})"
    elif sj.status in HELD_STATUSES:
        kind, explained = FindingKind.HELD, True
        message = f"journal {key} ({who}) is held as {sj.status}, not posted ({detail})"
    else:
        kind, explained = FindingKind.MISSING_IN_ERP, False
        message = f"journal {key} ({who}) has unknown status {sj.status!r} and is not in the ERP ({detail})"
    order_ids, refund_ids = ids.of(sj.sources)
    return Finding(
        check=Check.STATE_ERP,
        kind=kind,
        day=dc[0],
        currency=dc[1],
        explained=explained,
        message=message,
        differences=diffs,
        order_ids=order_ids,
        refund_ids=refund_ids,
        journal_keys=(key,),
        document_ids=(sj.document_id,) if sj.document_id else (),
    )


def _document_checks(
    documents: list[_StateJournal], erp: Mapping[str, _ErpDocument], ids: _Ids, by_content: _LazyContent
) -> list[DocumentCheck]:
    """Every posted journal must be in the ERP with the same lines; every ERP document must be ours."""
    checks = []
    matched = set()
    for sj in documents:
        document = erp.get(sj.document_id) if sj.document_id else None
        if document is not None and document.journal is not sj:
            document = None
        if document is not None:
            matched.add(document.document_id)
        if not sj.in_period or (sj.status != POSTED and document is None):
            continue  # pending or held: reported as findings, nothing to tie out yet
        journal = sj.journal
        state_debit = journal.total_debit
        erp_debit = None
        if document is None:
            problem = "posted in state but missing in the ERP"
        else:
            erp_debit = sum((line.amount for line in document.lines if line.amount > 0), ZERO)
            problem = _document_problem(sj, document, state_debit, erp_debit)
        order_ids, refund_ids = ids.of(sj.sources)
        explained = problem is None
        if problem is None and sj.status != POSTED:
            problem = f"in the ERP but {sj.status} in state: the next load finds it by key and records it"
            explained = True
        checks.append(
            DocumentCheck(
                journal_key=journal.key,
                document_id=sj.document_id,
                status=sj.status,
                posting_date=journal.posting_date,
                currency=journal.currency,
                state_debit=state_debit,
                erp_debit=erp_debit,
                problem=problem,
                explained=explained,
                order_ids=order_ids,
                refund_ids=refund_ids,
            )
        )
    for document in erp.values():
        if document.document_id in matched or document.journal is not None:
            continue
        first = min(document.lines, key=lambda line: line.posting_date)
        origin = _origin(document, by_content.index, ids)
        order_ids, refund_ids = ids.of(origin.sources)
        checks.append(
            DocumentCheck(
                journal_key=None,
                document_id=document.document_id,
                status=None,
                posting_date=first.posting_date,
                currency=first.currency,
                state_debit=None,
                erp_debit=sum((line.amount for line in document.lines if line.amount > 0), ZERO),
                problem=f"in the ERP but not built by the connector: {origin.what}",
                explained=False,
                order_ids=order_ids,
                refund_ids=refund_ids,
            )
        )
    return sorted(
        checks, key=lambda c: (c.posting_date, c.currency, c.journal_key or "", c.document_id or "")
    )


def _document_problem(
    sj: _StateJournal, document: _ErpDocument, state_debit: Decimal, erp_debit: Decimal
) -> str | None:
    problems = []
    if state_debit != erp_debit:
        problems.append(f"total debits differ: journal {state_debit}, ERP {erp_debit}")
    elif not document.lines_match:
        problems.append("same total debits but the lines differ (accounts or amounts)")
    dates = {line.posting_date for line in document.lines}
    if dates != {sj.journal.posting_date}:
        shown = ", ".join(str(d) for d in sorted(dates))
        problems.append(f"posting date differs: journal {sj.journal.posting_date}, ERP {shown}")
    currencies = {line.currency for line in document.lines}
    if currencies != {sj.journal.currency}:
        problems.append(
            f"currency differs: journal {sj.journal.currency}, ERP {', '.join(sorted(currencies))}"
        )
    return "; ".join(problems) or None


def _rows(
    store_days: Mapping[DayCurrency, Figures],
    documents: list[_StateJournal],
    erp: Mapping[str, _ErpDocument],
    findings: list[Finding],
) -> list[ReconRow]:
    state_days: dict[DayCurrency, Figures] = defaultdict(dict)
    erp_days: dict[DayCurrency, Figures] = defaultdict(dict)
    for sj in documents:
        if sj.in_period:
            _accumulate(state_days[sj.day_currency], sj.figures)
    for document in erp.values():
        for dc, figures in document.figures_by_day.items():
            _accumulate(erp_days[dc], figures)
    columns = [store_days, state_days, erp_days]
    findings_by_cell: dict[tuple[DayCurrency, str], list[Finding]] = defaultdict(list)
    for finding in findings:
        for measure in finding.measures:
            findings_by_cell[((finding.day, finding.currency), measure)].append(finding)

    rows = []
    for dc in sorted(set().union(*columns)):
        store, state, erp_figures = (column.get(dc, {}) for column in columns)
        measures = set(BASE_MEASURES) | set(store) | set(state) | set(erp_figures)
        for measure in sorted(measures, key=_measure_rank):
            values = (store.get(measure, ZERO), state.get(measure, ZERO), erp_figures.get(measure, ZERO))
            rows.append(_row(dc, measure, *values, findings_by_cell.get((dc, measure), [])))
    return rows


def _row(
    dc: DayCurrency, measure: str, store: Decimal, state: Decimal, erp: Decimal, findings: list[Finding]
) -> ReconRow:
    variance_store_state = store - state
    variance_state_erp = state - erp
    messages = [finding.message for finding in findings]
    explained = all(finding.explained for finding in findings)
    attributed_ss = sum(
        (dict(f.differences)[measure] for f in findings if f.check is not Check.STATE_ERP), ZERO
    )
    attributed_se = sum((dict(f.differences)[measure] for f in findings if f.check is Check.STATE_ERP), ZERO)
    if attributed_ss != variance_store_state or attributed_se != variance_state_erp:
        # Defensive: every figure is attributed to a record, so this means a bug, never a pass.
        explained = False
        messages.append("part of the variance could not be attributed to a record")
    return ReconRow(
        day=dc[0],
        currency=dc[1],
        measure=measure,
        store=store,
        state=state,
        erp=erp,
        variance_store_state=variance_store_state,
        variance_state_erp=variance_state_erp,
        explained=explained,
        explanation=" | ".join(messages),
        order_ids=sorted({i for f in findings for i in f.order_ids}),
        refund_ids=sorted({i for f in findings for i in f.refund_ids}),
    )
