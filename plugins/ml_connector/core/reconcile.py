"""Reconciliation: store totals vs the connector's journals vs what the ERP reports posted.

Pure logic, no I/O. Three columns of figures per posting day, currency and measure:

* **store**: from canonical orders and refunds, independent of any journal;
* **state**: from the journals the connector built (every status except ``superseded``);
* **erp**: from the ERP's read-back lines, classified through the state journal they belong to.

Every difference is attributed to the records that cause it (a *finding*), so each variance
lists its order / refund ids and says whether it is explained (parked, pending) or not (missing
in the ERP, amounts differ, posted outside the connector). Money is ``Decimal``, compared exactly.

Measures (all positive in their natural direction):

========== ===================================== ===========================================
measure    store                                 ledger (journal / ERP lines by role)
========== ===================================== ===========================================
sales      sum of line totals, ex tax            revenue credits of sale journals
discounts  line + order discounts                discount debits of sale journals
shipping   shipping + handling + wrapping        shipping/handling/wrapping revenue credits
tax        tax lines                             tax_payable credits of sale journals
refunds    refund totals (tax included)          clearing / liability credits of refund journals
collected  captures net of voids                 clearing / liability debits of sale journals
rounding   residual of the order's own figures   rounding lines (debit +)
========== ===================================== ===========================================

Reversals count as negative sales. Gateways: ``collected:<label>`` rows appear when
``gateway_accounts`` (gateway -> clearing dims, as the mapping resolves them) is given: ledger
lines carry no gateway, so clearing lines are matched by their dims, and gateways sharing one
clearing account are reported together (``braintree+stripe``). Gift certificates and store
credit are labelled by their liability role.

Daily journals (and ERP documents the connector did not build) have no sale/refund kind, so
their lines are split by direction: credits to revenue are sales, credits to clearing are
refunds. A daily journal that nets a day's refunds against its sales on one account therefore
shows the net; keep debits and credits apart when summarising to reconcile gross.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache

from ml_connector.core.model import (
    POSTABLE_STATUSES,
    ZERO,
    Journal,
    JournalKind,
    Order,
    PaymentEvent,
    PaymentMethod,
    Refund,
)

Dims = tuple[tuple[str, str], ...]
SourceKey = tuple[str, str]  # (object, source id), e.g. ("order", "100")
DayCurrency = tuple[dt.date, str]
Figures = dict[str, Decimal]

SALES = "sales"
DISCOUNTS = "discounts"
SHIPPING = "shipping"
TAX = "tax"
REFUNDS = "refunds"
COLLECTED = "collected"
ROUNDING = "rounding"
UNCLASSIFIED = "unclassified"  # ERP lines whose account matches no role the connector uses
BASE_MEASURES = (SALES, DISCOUNTS, SHIPPING, TAX, REFUNDS, COLLECTED, ROUNDING)

PAYMENT_ROLES = frozenset({"clearing", "gift_certificate_liability", "store_credit_liability"})
CREDIT_MEASURE_BY_ROLE = {
    "revenue": SALES,
    "shipping_revenue": SHIPPING,
    "handling_revenue": SHIPPING,
    "wrapping_revenue": SHIPPING,
    "tax_payable": TAX,
}
REFUND_COMPONENT_ROLES = frozenset({*CREDIT_MEASURE_BY_ROLE, "refund_adjustment"})

# Journal statuses in state (see state.store): what each means for the ERP column.
POSTED = "posted"
PENDING_STATUSES = frozenset({"ready", "claimed", "failed"})  # built, the load step will post them
HELD_STATUSES = frozenset({"needs_review", "dry_run"})  # built, deliberately not posted
IGNORED_STATUSES = frozenset({"superseded"})  # replaced by a newer version of the same key
# Parked record statuses that explain a missing journal (anything else is unexplained).
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
    STATE_ERP = "state_erp"


class FindingKind(StrEnum):
    PARKED = "parked"  # explained: the record is parked with a reason
    NOT_JOURNALLED = "not_journalled"  # unexplained: settled in the store, no journal, not parked
    NO_STORE_RECORD = "no_store_record"  # unexplained: a journal without a matching store record
    REVERSED = "reversed"  # explained: posted, then reversed (order cancelled or deleted)
    STORE_JOURNAL_MISMATCH = "store_journal_mismatch"  # unexplained
    PENDING = "pending"  # explained: built, not yet posted (ready / claimed / failed)
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
        return not self.unexplained and all(doc.explained for doc in self.document_problems)

    def summary(self) -> str:
        unexplained_docs = sum(1 for doc in self.document_problems if not doc.explained)
        return (
            f"{len(self.variances)} variances, {len(self.unexplained)} unexplained; "
            f"{len(self.documents)} documents checked, {unexplained_docs} with unexplained problems; "
            f"{len(self.parked)} parked records"
        )


# --------------------------------------------------------------------------- figures


class _PaymentLabels:
    """Names clearing lines by gateway through their dims, since journal lines carry no gateway."""

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
            return "gift_certificate"
        if method is PaymentMethod.STORE_CREDIT:
            return "store_credit"
        return self._by_gateway.get(gateway, gateway)

    def for_line(self, role: str, dims: Dims) -> str:
        if role == "gift_certificate_liability":
            return "gift_certificate"
        if role == "store_credit_liability":
            return "store_credit"
        return self._by_dims.get(dims, "unmapped clearing account")


def _order_figures(order: Order, labels: _PaymentLabels) -> Figures:
    sales = sum((line.total for line in order.lines), ZERO)
    discounts = order.discount_total
    shipping = order.shipping + order.handling + order.wrapping
    tax = order.tax_total
    collected = order.captured
    figures = {
        SALES: sales,
        DISCOUNTS: discounts,
        SHIPPING: shipping,
        TAX: tax,
        COLLECTED: collected,
        # What a balanced sale journal must put on its rounding line (debit +).
        ROUNDING: sales + shipping + tax - collected - discounts,
    }
    if labels.enabled:
        for payment in order.payments:
            if not payment.ok or payment.event not in (PaymentEvent.CAPTURE, PaymentEvent.VOID):
                continue
            measure = collected_measure(labels.for_payment(payment.method, payment.gateway))
            signed = payment.amount if payment.event is PaymentEvent.CAPTURE else -payment.amount
            figures[measure] = figures.get(measure, ZERO) + signed
    return figures


def _refund_figures(refund: Refund) -> Figures:
    components = (
        sum((line.amount for line in refund.lines), ZERO)
        + refund.shipping
        + refund.handling
        + refund.wrapping
        + refund.tax
        + refund.other
    )
    return {REFUNDS: refund.total, ROUNDING: refund.total - components}


def _is_sale_side(kind: JournalKind | None, role: str, amount: Decimal) -> bool:
    """Sale journals (and their reversals) vs refund journals; by direction when the kind is unknown."""
    if kind in (JournalKind.SALE, JournalKind.REVERSAL):
        return True
    if kind is JournalKind.REFUND:
        return False
    if role in PAYMENT_ROLES or role == "discount":
        return amount > 0
    if role in CREDIT_MEASURE_BY_ROLE:
        return amount < 0
    return role != "refund_adjustment"


def _ledger_figures(
    lines: Iterable[tuple[str | None, Dims, Decimal]], kind: JournalKind | None, labels: _PaymentLabels
) -> Figures:
    """Measures from signed lines (debit +) by role; ``role`` None = an ERP line of unknown account."""
    figures: Figures = defaultdict(lambda: ZERO)
    for role, dims, amount in lines:
        if role is None:
            figures[UNCLASSIFIED] += abs(amount)
        elif role == "rounding":
            figures[ROUNDING] += amount
        elif not _is_sale_side(kind, role, amount):
            if role in PAYMENT_ROLES:
                figures[REFUNDS] -= amount
            elif role not in REFUND_COMPONENT_ROLES:
                figures[f"other:{role}"] += amount
        elif role in PAYMENT_ROLES:
            figures[COLLECTED] += amount
            if labels.enabled:
                figures[collected_measure(labels.for_line(role, dims))] += amount
        elif role in CREDIT_MEASURE_BY_ROLE:
            figures[CREDIT_MEASURE_BY_ROLE[role]] -= amount
        elif role == "discount":
            figures[DISCOUNTS] += amount
        else:
            figures[f"other:{role}"] += amount
    return dict(figures)


def _add(into: dict[str, Decimal], figures: Figures) -> None:
    for measure, value in figures.items():
        into[measure] = into.get(measure, ZERO) + value


def _differences(left: Figures, right: Figures) -> tuple[tuple[str, Decimal], ...]:
    diffs = [(m, left.get(m, ZERO) - right.get(m, ZERO)) for m in left.keys() | right.keys()]
    return tuple(sorted(((m, d) for m, d in diffs if d), key=lambda item: _measure_rank(item[0])))


def _describe(
    diffs: tuple[tuple[str, Decimal], ...], left: Figures, right: Figures, names: tuple[str, str]
) -> str:
    parts = [f"{m} {names[0]} {left.get(m, ZERO)} vs {names[1]} {right.get(m, ZERO)}" for m, _ in diffs]
    return "; ".join(parts)


# --------------------------------------------------------------------------- collected sides


@dataclass(slots=True)
class _StateJournal:
    journal: Journal
    status: str
    document_id: str | None
    sources: tuple[SourceKey, ...]
    figures: Figures
    lines: list[tuple[str, Dims, Decimal]]
    in_period: bool

    @property
    def day_currency(self) -> DayCurrency:
        return self.journal.posting_date, self.journal.currency


@dataclass(slots=True)
class _ErpDocument:
    document_id: str
    lines: list[ErpLine]
    journal: _StateJournal | None = None
    figures_by_day: dict[DayCurrency, Figures] | None = None
    lines_match: bool = (
        False  # every line equals one of the journal's lines (account and amount), and vice versa
    )


class _Ids:
    """Turns source keys into the order / refund ids a controller searches for."""

    def __init__(self, order_of_refund: Mapping[str, str]) -> None:
        self._order_of_refund = order_of_refund

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

    @staticmethod
    def label(keys: Iterable[SourceKey]) -> str:
        return ", ".join(f"{obj} {source_id}" for obj, source_id in sorted(keys)) or "no source record"


class _Groups:
    """Union-find over source records and journals: a daily journal ties all its orders together."""

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
) -> Reconciliation:
    """Compare store, state and ERP for the posting days in ``period`` (both ends inclusive).

    :param journals: (journal, status in state, ERP document id or None) for every journal in state.
    :param posting_day: the journal builder's own rule (capture / refund date in the store timezone).
    :param gateway_accounts: gateway -> clearing dims, to break ``collected`` down by gateway.
    """
    start, end = period
    if start > end:
        raise ValueError(f"reconcile: period starts {start} after it ends {end}")
    labels = _PaymentLabels(gateway_accounts)

    store_items, order_of_refund = _store_items(orders, refunds, posting_day, period, labels)
    ids = _Ids(order_of_refund)
    # Journals dated outside the period still matter: their orders or ERP documents may fall inside it.
    state_journals = [
        _state_journal(journal, status, document_id, labels, in_period=start <= journal.posting_date <= end)
        for journal, status, document_id in journals
        if status not in IGNORED_STATUSES
    ]
    documents = _erp_documents(erp_lines, state_journals, period, labels)
    parked_records = [
        record for record in parked if record.posting_day is None or start <= record.posting_day <= end
    ]

    findings = _store_state_findings(store_items, state_journals, parked_records, ids)
    findings += _state_erp_findings(state_journals, documents, ids)
    rows = _rows(store_items, state_journals, documents, findings)
    return Reconciliation(
        period=period,
        rows=rows,
        findings=sorted(findings, key=lambda f: (f.day, f.currency, f.check, f.kind, f.message)),
        documents=_document_checks(state_journals, documents, ids),
        parked=sorted(parked_records, key=lambda r: (r.object, r.source_id)),
    )


def _store_items(
    orders: Iterable[Order],
    refunds: Iterable[Refund],
    posting_day: Callable[[Order | Refund], dt.date | None],
    period: tuple[dt.date, dt.date],
    labels: _PaymentLabels,
) -> tuple[dict[SourceKey, tuple[DayCurrency, Figures]], dict[str, str]]:
    """Store figures per record: postable, settled orders and refunds whose posting day is in the period."""
    start, end = period
    items: dict[SourceKey, tuple[DayCurrency, Figures]] = {}
    for order in orders:
        if order.status not in POSTABLE_STATUSES or order.captured_at is None:
            continue
        day = posting_day(order)
        if day is not None and start <= day <= end:
            items[("order", order.order_id)] = ((day, order.currency), _order_figures(order, labels))
    order_of_refund: dict[str, str] = {}
    for refund in refunds:
        order_of_refund[refund.refund_id] = refund.order_id
        day = posting_day(refund)
        if day is not None and start <= day <= end:
            items[("refund", refund.refund_id)] = ((day, refund.currency), _refund_figures(refund))
    return items, order_of_refund


def _state_journal(
    journal: Journal, status: str, document_id: str | None, labels: _PaymentLabels, *, in_period: bool
) -> _StateJournal:
    lines = [(line.role, normalise_dims(tuple(line.dims)), line.amount) for line in journal.lines]
    return _StateJournal(
        journal=journal,
        status=status,
        document_id=document_id,
        sources=tuple((ref.object, ref.id) for ref in journal.sources),
        figures=_ledger_figures(lines, journal.kind, labels),
        lines=lines,
        in_period=in_period,
    )


def _erp_documents(
    erp_lines: Iterable[ErpLine],
    state_journals: list[_StateJournal],
    period: tuple[dt.date, dt.date],
    labels: _PaymentLabels,
) -> dict[str, _ErpDocument]:
    """ERP lines by document, matched to state journals by document id, classified into measures."""
    documents: dict[str, _ErpDocument] = {}
    for line in erp_lines:
        documents.setdefault(line.document_id, _ErpDocument(line.document_id, [])).lines.append(line)
    by_document_id = {sj.document_id: sj for sj in state_journals if sj.document_id}
    roles_by_dims: dict[Dims, set[str]] = defaultdict(set)
    for sj in state_journals:
        for role, dims, _ in sj.lines:
            roles_by_dims[dims].add(role)
    unique_role = {dims: next(iter(roles)) for dims, roles in roles_by_dims.items() if len(roles) == 1}

    start, end = period
    for document in documents.values():
        document.journal = by_document_id.get(document.document_id)
        all_dims = [normalise_dims(line.dims) for line in document.lines]
        roles = _classify(document, all_dims, unique_role)
        kind = document.journal.journal.kind if document.journal else None
        per_day: dict[DayCurrency, list[tuple[str | None, Dims, Decimal]]] = defaultdict(list)
        for line, dims, role in zip(document.lines, all_dims, roles, strict=True):
            if start <= line.posting_date <= end:
                per_day[(line.posting_date, line.currency)].append((role, dims, line.amount))
        document.figures_by_day = {dc: _ledger_figures(lines, kind, labels) for dc, lines in per_day.items()}
    return documents


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


def _store_state_findings(
    store_items: Mapping[SourceKey, tuple[DayCurrency, Figures]],
    state_journals: list[_StateJournal],
    parked_records: list[ParkedRecord],
    ids: _Ids,
) -> list[Finding]:
    groups = _Groups()
    for sj in state_journals:
        node = ("journal", sj.journal.key)
        groups.find(node)
        for source in sj.sources:
            groups.union(node, source)

    store_by_group: dict[tuple[DayCurrency, object], dict[str, Decimal]] = defaultdict(dict)
    sources_by_root: dict[object, set[SourceKey]] = defaultdict(set)
    store_sources_by_root: dict[object, set[SourceKey]] = defaultdict(set)
    for source, (dc, figures) in store_items.items():
        root = groups.find(source)
        _add(store_by_group[(dc, root)], figures)
        sources_by_root[root].add(source)
        store_sources_by_root[root].add(source)
    state_by_group: dict[tuple[DayCurrency, object], dict[str, Decimal]] = defaultdict(dict)
    journals_by_root: dict[object, list[_StateJournal]] = defaultdict(list)
    for sj in state_journals:
        root = groups.find(("journal", sj.journal.key))
        if sj.in_period:
            _add(state_by_group[(sj.day_currency, root)], sj.figures)
        journals_by_root[root].append(sj)
        sources_by_root[root].update(sj.sources)

    parked_by_source = {(record.object, record.source_id): record for record in parked_records}
    findings = []
    for dc, root in sorted(set(store_by_group) | set(state_by_group), key=lambda k: (k[0], str(k[1]))):
        store_figures = store_by_group.get((dc, root), {})
        state_figures = state_by_group.get((dc, root), {})
        diffs = _differences(store_figures, state_figures)
        if not diffs:
            continue
        group_journals = journals_by_root.get(root, [])
        sources = sources_by_root.get(root, set())
        kind, explained, message = _explain_store_state(
            sources, store_sources_by_root.get(root, set()), group_journals, parked_by_source
        )
        detail = _describe(diffs, store_figures, state_figures, ("store", "journal"))
        order_ids, refund_ids = ids.of(sources)
        findings.append(
            Finding(
                check=Check.STORE_STATE,
                kind=kind,
                day=dc[0],
                currency=dc[1],
                explained=explained,
                message=f"{message} ({detail})",
                differences=diffs,
                order_ids=order_ids,
                refund_ids=refund_ids,
                journal_keys=tuple(sorted(sj.journal.key for sj in group_journals)),
            )
        )
    return findings


def _explain_store_state(
    sources: set[SourceKey],
    store_sources: set[SourceKey],
    group_journals: list[_StateJournal],
    parked_by_source: Mapping[SourceKey, ParkedRecord],
) -> tuple[FindingKind, bool, str]:
    who = _Ids.label(sources)
    if not group_journals:
        parked = [parked_by_source[source] for source in sorted(sources) if source in parked_by_source]
        if parked and len(parked) == len(sources):
            reasons = "; ".join(f"{r.object} {r.source_id} parked {r.status}: {r.reason}" for r in parked)
            explained = all(r.status in EXPLAINING_PARKED_STATUSES for r in parked)
            return FindingKind.PARKED, explained, reasons
        return (
            FindingKind.NOT_JOURNALLED,
            False,
            f"{who}: settled in the store but no journal built and not parked",
        )
    keys = ", ".join(sorted(f"{sj.journal.key} dated {sj.journal.posting_date}" for sj in group_journals))
    if not store_sources:
        if any(sj.journal.kind is JournalKind.REVERSAL for sj in group_journals):
            return (
                FindingKind.REVERSED,
                True,
                f"{who}: posted then reversed ({keys}); no longer a postable sale",
            )
        return (
            FindingKind.NO_STORE_RECORD,
            False,
            f"{who}: journal {keys} has no postable, settled store record in the period",
        )
    return FindingKind.STORE_JOURNAL_MISMATCH, False, f"{who}: store figures differ from journal {keys}"


def _state_erp_findings(
    state_journals: list[_StateJournal], documents: Mapping[str, _ErpDocument], ids: _Ids
) -> list[Finding]:
    findings = []
    matched_documents = set()
    for sj in state_journals:
        document = documents.get(sj.document_id) if sj.document_id else None
        if document is not None and document.journal is sj:
            matched_documents.add(document.document_id)
        erp_by_day = (
            (document.figures_by_day or {}) if document is not None and document.journal is sj else {}
        )
        own_days = {sj.day_currency} if sj.in_period else set()
        for dc in sorted(own_days | set(erp_by_day)):
            state_figures = sj.figures if dc in own_days else {}
            erp_figures = erp_by_day.get(dc, {})
            diffs = _differences(state_figures, erp_figures)
            if diffs:
                findings.append(_state_erp_finding(sj, document, dc, diffs, state_figures, erp_figures, ids))
    for document in documents.values():
        if document.document_id in matched_documents:
            continue
        reference = ", ".join(sorted({line.reference for line in document.lines if line.reference}))
        for dc, figures in sorted((document.figures_by_day or {}).items()):
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
                        f"ERP document {document.document_id} (reference {reference or 'none'}) matches no journal "
                        f"the connector built: posted outside the connector ({_describe(diffs, {}, figures, ('journal', 'ERP'))})"
                    ),
                    differences=diffs,
                    document_ids=(document.document_id,),
                )
            )
    return findings


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
    state_journals: list[_StateJournal], documents: Mapping[str, _ErpDocument], ids: _Ids
) -> list[DocumentCheck]:
    """Every posted journal must be in the ERP with the same lines; every ERP document must be ours."""
    checks = []
    matched = set()
    for sj in state_journals:
        document = documents.get(sj.document_id) if sj.document_id else None
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
    for document in documents.values():
        if document.document_id in matched or document.journal is not None:
            continue
        first = min(document.lines, key=lambda line: line.posting_date)
        checks.append(
            DocumentCheck(
                journal_key=None,
                document_id=document.document_id,
                status=None,
                posting_date=first.posting_date,
                currency=first.currency,
                state_debit=None,
                erp_debit=sum((line.amount for line in document.lines if line.amount > 0), ZERO),
                problem="in the ERP but not built by the connector",
                explained=False,
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
    store_items: Mapping[SourceKey, tuple[DayCurrency, Figures]],
    state_journals: list[_StateJournal],
    documents: Mapping[str, _ErpDocument],
    findings: list[Finding],
) -> list[ReconRow]:
    store: dict[DayCurrency, dict[str, Decimal]] = defaultdict(dict)
    state: dict[DayCurrency, dict[str, Decimal]] = defaultdict(dict)
    erp: dict[DayCurrency, dict[str, Decimal]] = defaultdict(dict)
    for dc, figures in store_items.values():
        _add(store[dc], figures)
    for sj in state_journals:
        if sj.in_period:
            _add(state[sj.day_currency], sj.figures)
    for document in documents.values():
        for dc, figures in (document.figures_by_day or {}).items():
            _add(erp[dc], figures)
    findings_by_cell: dict[tuple[DayCurrency, str], list[Finding]] = defaultdict(list)
    for finding in findings:
        for measure in finding.measures:
            findings_by_cell[((finding.day, finding.currency), measure)].append(finding)

    rows = []
    for dc in sorted(set(store) | set(state) | set(erp)):
        measures = set(BASE_MEASURES) | set(store[dc]) | set(state[dc]) | set(erp[dc])
        for measure in sorted(measures, key=_measure_rank):
            store_value = store[dc].get(measure, ZERO)
            state_value = state[dc].get(measure, ZERO)
            erp_value = erp[dc].get(measure, ZERO)
            cell_findings = findings_by_cell.get((dc, measure), [])
            rows.append(_row(dc, measure, store_value, state_value, erp_value, cell_findings))
    return rows


def _row(
    dc: DayCurrency, measure: str, store: Decimal, state: Decimal, erp: Decimal, findings: list[Finding]
) -> ReconRow:
    variance_store_state = store - state
    variance_state_erp = state - erp
    messages = [finding.message for finding in findings]
    explained = all(finding.explained for finding in findings)
    attributed_ss = sum(
        (dict(f.differences)[measure] for f in findings if f.check is Check.STORE_STATE), ZERO
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
