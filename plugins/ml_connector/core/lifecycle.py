"""The order lifecycle in the ledger: what one order's documents must add up to, and the delta.

Invariant: after every run, the journals of an order (sale, adjustments, refunds) add up, per
account and dimension, to *the sale that stands and the money that moved*:

* while the order stands (paid, partially or fully refunded): the sale as it is now, less
  what each refund gave back;
* once it is cancelled: no revenue, charges or tax at all; the money still held (captured less
  refunded) sits in ``refunds_payable``, owed to the shopper until a refund settles it;
* unpaid, or cancelled before any capture: nothing.

A document that was attempted (or posted, or rolled into a daily summary) is *committed*: it is
never changed. Any difference between the target and the committed documents becomes one new
document, linked to the order: the sale itself when nothing was committed yet, else an
adjustment carrying only the delta. Uncommitted drafts are free to be rebuilt or withdrawn.
Archiving moves no money and changes nothing; a change the ledger cannot follow on its own (a
paid order that went back to unpaid, a hard delete after posting) is parked ``needs_review``.

Pure: the caller loads the order, its refunds and the journals already in state, and saves
what the plan says.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from ml_connector.core.journal import (
    REFUNDS_PAYABLE,
    ROLE_LABELS,
    build_refund,
    build_sale,
    finalize_lines,
    fit,
    ledger_rate,
    posting_day,
    sale_posting_day,
    source_label,
    tender_draft,
)
from ml_connector.core.keys import journal_key
from ml_connector.core.mapping import Dims, Mapping
from ml_connector.core.model import (
    POSTABLE_STATUSES,
    ZERO,
    Journal,
    JournalKind,
    JournalLine,
    Order,
    OrderStatus,
    Refund,
    SourceRef,
)
from ml_connector.errors import NeedsReview, ParkedError

ORDER_DOCUMENT_KINDS = frozenset({JournalKind.SALE, JournalKind.ADJUSTMENT, JournalKind.REVERSAL})
ADJUSTMENT_DATES = ("change", "original")
LineKey = tuple[str, Dims]


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A journal of this order already in state; ``committed`` ones are never rewritten."""

    journal: Journal
    committed: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str  # processed | skipped | needs_review | needs_mapping | not_settled
    reason: str | None = None


@dataclass(frozen=True)
class OrderPlan:
    """What to write for one order: drafts to save, drafts to withdraw, and each record's outcome."""

    save: tuple[Journal, ...]
    withdraw: tuple[str, ...]
    order: Outcome
    refunds: dict[str, Outcome] = field(default_factory=dict)


class Position:
    """Signed amounts per (role, dims): transaction and base currency, with a description."""

    def __init__(self) -> None:
        self._sums: dict[LineKey, list[Decimal]] = {}
        self._descriptions: dict[LineKey, str] = {}

    def add(self, lines: Iterable[JournalLine], sign: int = 1) -> Position:
        for line in lines:
            key = (line.role, line.dims)
            sums = self._sums.setdefault(key, [ZERO, ZERO])
            sums[0] += sign * line.amount
            sums[1] += sign * line.base_amount
            if sign > 0 or key not in self._descriptions:
                self._descriptions[key] = line.description
        return self

    def minus(self, other: Position) -> Position:
        delta = Position()
        for key in self._sums.keys() | other._sums.keys():
            mine = self._sums.get(key, [ZERO, ZERO])
            theirs = other._sums.get(key, [ZERO, ZERO])
            delta._sums[key] = [mine[0] - theirs[0], mine[1] - theirs[1]]
            delta._descriptions[key] = self._descriptions.get(key) or other._descriptions.get(key, "")
        return delta

    @property
    def is_zero(self) -> bool:
        return all(not amount and not base for amount, base in self._sums.values())

    def lines(self, currency: str, reference: str) -> tuple[JournalLine, ...]:
        """Non-zero lines in a stable order (role, dims), debits before credits on ties."""
        out = [
            JournalLine(role, dims, amount, base, currency, self._descriptions[(role, dims)], reference)
            for (role, dims), (amount, base) in sorted(self._sums.items())
            if amount or base
        ]
        return tuple(out)

    def amount(self, role: str) -> Decimal:
        return sum((sums[0] for (r, _), sums in self._sums.items() if r == role), ZERO)


def _sorted_refunds(refunds: Iterable[Refund]) -> list[Refund]:
    return sorted(refunds, key=lambda r: (r.created_at, r.refund_id))


def _is_order_document(journal: Journal) -> bool:
    return journal.kind in ORDER_DOCUMENT_KINDS


def _adjustment_number(key: str) -> int | None:
    head, _, tail = key.rpartition(":")
    return int(tail) if head.endswith(":adjustment") and tail.isdigit() else None


def _document_order(journal: Journal) -> tuple[int, int]:
    """The sale first, then adjustments by number (legacy reversals after the sale)."""
    number = _adjustment_number(journal.key)
    return (0, 0) if journal.kind is JournalKind.SALE else (1, number if number is not None else 0)


def adjustment_key(pair: str, order_id: str, number: int) -> str:
    return journal_key(pair, "order", order_id, f"adjustment:{number}")


class _Planner:
    """One order's plan; see the module docstring for the rules."""

    def __init__(
        self,
        order: Order,
        refunds: Sequence[Refund],
        existing: Sequence[StoredDocument],
        mapping: Mapping,
        pair: str,
        used_keys: Iterable[str],
        adjustment_date: str,
    ) -> None:
        if adjustment_date not in ADJUSTMENT_DATES:
            raise ValueError(f"adjustment_date must be one of {ADJUSTMENT_DATES}, got {adjustment_date!r}")
        self.order, self.mapping, self.pair = order, mapping, pair
        self.refunds = _sorted_refunds(refunds)
        self.existing = {doc.journal.key: doc for doc in existing}
        self.used_keys = set(used_keys) | set(self.existing)
        self.adjustment_date = adjustment_date
        self.context = f"order {order.order_id}"
        self.save: list[Journal] = []
        self.refund_outcomes: dict[str, Outcome] = {}

    # -- the pieces ------------------------------------------------------------------------
    @functools.cached_property
    def stands(self) -> bool:
        """Whether the sale stands. A refund status does not revive a cancelled order: stores
        mark a cancelled order "Refunded" once its cash went back, and that order stays cancelled
        until a paid status restores it."""
        status = self.order.status
        if status is OrderStatus.PAID:
            return True
        return status in POSTABLE_STATUSES and not self.cancelled_in_ledger()

    def cancelled_in_ledger(self) -> bool:
        """The order's latest committed document left its cash in refunds payable (a cancel)."""
        committed = sorted(self.committed_order_documents(), key=_document_order)
        if not committed:
            return False
        return any(ln.role == REFUNDS_PAYABLE and ln.amount < 0 for ln in committed[-1].lines)

    @property
    def cancelled(self) -> bool:
        return not self.stands and (self.order.status is OrderStatus.CANCELLED or self.order.status in POSTABLE_STATUSES)

    def committed_order_documents(self) -> list[Journal]:
        return [d.journal for d in self.existing.values() if d.committed and _is_order_document(d.journal)]

    def order_drafts(self) -> list[str]:
        return [k for k, d in self.existing.items() if not d.committed and _is_order_document(d.journal)]

    def valid_refunds(self, sale_stands: bool) -> list[tuple[Refund, Journal]]:
        """Each refund's journal as it would be built now; a refund that breaks a rule is parked."""
        built: list[tuple[Refund, Journal]] = []
        accepted: list[Refund] = []
        for refund in self.refunds:
            try:
                journal = build_refund(refund, self.order, accepted, self.mapping, self.pair, sale_stands=sale_stands)
            except ParkedError as exc:
                self.refund_outcomes[refund.refund_id] = Outcome(exc.status, exc.reason)
                continue
            accepted.append(refund)
            built.append((refund, journal))
        return built

    def refund_documents(self, built: list[tuple[Refund, Journal]]) -> Position:
        """The refund journals that will exist: committed ones as they are, the others (re)built now."""
        total = Position()
        for refund, journal in built:
            stored = self.existing.get(journal.key)
            if stored is not None and stored.committed:
                total.add(stored.journal.lines)
                self.refund_outcomes[refund.refund_id] = Outcome("processed", "already in the ledger")
                continue
            total.add(journal.lines)
            self.save.append(journal)
            side = "" if self.stands else " (settles refunds payable: the order was cancelled)"
            self.refund_outcomes[refund.refund_id] = Outcome("processed", f"refund journal {journal.key}{side}")
        return total

    def cash_target(self, built: list[tuple[Refund, Journal]]) -> Position:
        """A cancelled order: the money still held, owed to the shopper in refunds payable."""
        fx_rate = ledger_rate(self.order.currency, self.order.base_currency, self.order.fx_rate, self.mapping, self.context)
        draft = tender_draft(self.order, self.mapping, self.context)
        held = sum(draft.values(), ZERO)
        target = Position()
        if held:
            role = REFUNDS_PAYABLE
            draft[(role, self.mapping.resolve(role, context=self.context), ROLE_LABELS[role])] = -held
            target.add(
                finalize_lines(
                    draft, currency=self.order.currency, base_currency=self.mapping.base_currency, fx_rate=fx_rate,
                    reference=self.order.order_id, mapping=self.mapping, context=self.context,
                )
            )
        for _, journal in built:  # cash-side refunds: payable debited, tenders credited
            target.add(journal.lines)
        return target

    # -- the plan --------------------------------------------------------------------------
    def plan(self) -> OrderPlan:
        order = self.order
        committed = self.committed_order_documents()
        try:
            if self.stands:
                sale = build_sale(order, self.mapping, self.pair)
                built = self.valid_refunds(sale_stands=True)
                refunds = self.refund_documents(built)
                target = Position().add(sale.lines)
                for _, journal in built:
                    target.add(journal.lines)
                posting = sale.posting_date
            elif self.cancelled:
                built = self.valid_refunds(sale_stands=False)
                refunds = self.refund_documents(built)
                target = self.cash_target(built)
                posting = sale_posting_day(order, self.mapping)
            else:
                return self.not_postable(committed)
        except ParkedError as exc:
            return self.parked(exc)
        order_target = target.minus(refunds)
        delta = order_target.minus(Position().add(ln for j in committed for ln in j.lines))
        return self.finish(delta, committed, posting)

    def finish(self, delta: Position, committed: list[Journal], sale_day: dt.date) -> OrderPlan:
        order = self.order
        drafts = self.order_drafts()
        note = " (archived in the store: no money moved)" if order.archived else ""
        if delta.is_zero:
            outcome = Outcome("processed", "no ledger change" + note) if committed else Outcome("skipped", self.nothing_reason() + note)
            return OrderPlan(tuple(self.save), tuple(drafts), outcome, self.refund_outcomes)
        journal = self.document(delta, committed, sale_day)
        self.save.append(journal)
        withdraw = tuple(k for k in drafts if k != journal.key)
        if journal.kind is JournalKind.SALE:
            reason = "sale journal" if self.stands else "cancelled after capture: cash held, owed in refunds payable"
        else:
            reason = f"{self.change_label()} after posting: adjustment {journal.key}"
        return OrderPlan(tuple(self.save), withdraw, Outcome("processed", reason + note), self.refund_outcomes)

    def nothing_reason(self) -> str:
        return "nothing to post" if self.stands else f"order {self.order.status.value} before capture: nothing to post"

    def change_label(self) -> str:
        return "cancelled" if self.cancelled else "changed"

    def document(self, delta: Position, committed: list[Journal], sale_day: dt.date) -> Journal:
        order, pair = self.order, self.pair
        fx_rate = ledger_rate(order.currency, order.base_currency, order.fx_rate, self.mapping, self.context)
        self.check_currency(committed)
        if not committed:
            key, kind, day = journal_key(pair, "order", order.order_id, "sale"), JournalKind.SALE, sale_day
            what = "sale" if self.stands else "cancelled"
        else:
            key, kind = self.next_adjustment_key(), JournalKind.ADJUSTMENT
            day = self.adjustment_day(committed)
            what = f"adj {_adjustment_number(key)}"
        return Journal(
            pair=pair,
            key=key,
            kind=kind,
            store_id=order.store_id,
            currency=order.currency,
            base_currency=self.mapping.base_currency,
            fx_rate=fx_rate,
            posting_date=day,
            description=fit(f"{source_label(order.source)} order {order.order_id} {what}"),
            lines=delta.lines(order.currency, order.order_id),
            sources=(SourceRef(order.source, "order", order.order_id),),
            header=self.mapping.header_dims,
        )

    def check_currency(self, committed: list[Journal]) -> None:
        for journal in committed:
            if journal.currency != self.order.currency:
                raise NeedsReview(
                    f"{self.context}: currency changed from {journal.currency} (journal {journal.key}) to"
                    f" {self.order.currency}; adjust by hand"
                )

    def next_adjustment_key(self) -> str:
        for key in self.order_drafts():
            if _adjustment_number(key) is not None:
                return key  # rebuild the pending adjustment instead of stacking another
        numbers = [n for k in self.used_keys if (n := _adjustment_number(k)) is not None]
        return adjustment_key(self.pair, self.order.order_id, max(numbers, default=0) + 1)

    def adjustment_day(self, committed: list[Journal]) -> dt.date:
        if self.adjustment_date == "original":
            return min(j.posting_date for j in committed)
        return posting_day(self.order.updated_at, self.mapping)

    def not_postable(self, committed: list[Journal]) -> OrderPlan:
        """Unpaid or deleted: nothing to post unless something was, which a person must decide."""
        order = self.order
        drafts = tuple(self.order_drafts())
        waiting = {r.refund_id: Outcome("not_settled", f"waits for order {order.order_id} ({order.status.value})")
                   for r in self.refunds}
        if committed:
            reason = (
                f"order {order.order_id} is {order.status.value} after its sale was posted"
                f" ({', '.join(j.key for j in committed)}); the ledger keeps the sale until the order is"
                " cancelled or refunded in the store, or a person adjusts it"
            )
            return OrderPlan((), drafts, Outcome("needs_review", reason), waiting)
        if order.status is OrderStatus.UNPAID and order.captured > 0:
            reason = f"order {order.order_id} is unpaid with {order.captured} {order.currency} captured: waits for payment"
            return OrderPlan((), drafts, Outcome("not_settled", reason), waiting)
        reason = f"order status {order.status.value}: nothing to post"
        return OrderPlan((), drafts, Outcome("skipped", reason), waiting)

    def parked(self, exc: ParkedError) -> OrderPlan:
        """The order cannot be valued now: keep every draft, refunds wait for it."""
        reason = exc.reason
        waiting = {
            r.refund_id: self.refund_outcomes.get(r.refund_id)
            or Outcome("not_settled", f"waits for order {self.order.order_id}: {reason}")
            for r in self.refunds
            if not (self.existing.get(journal_key(self.pair, "refund", r.refund_id, "refund")) or _NONE).committed
        }
        return OrderPlan((), (), Outcome(exc.status, reason), waiting)


class _Nothing:
    committed = False


_NONE = _Nothing()


def plan_order(
    order: Order,
    refunds: Sequence[Refund],
    existing: Sequence[StoredDocument],
    mapping: Mapping,
    pair: str,
    *,
    used_keys: Iterable[str] = (),
    adjustment_date: str = "change",
) -> OrderPlan:
    """The documents that bring ``order``'s journals to the sale that stands and the money that moved.

    ``existing`` are the pair's journals built from this order (sale, adjustments, refunds),
    without superseded ones; ``used_keys`` every key the order ever had (superseded included),
    so that a withdrawn adjustment's key is never reused for different content.
    """
    return _Planner(order, refunds, existing, mapping, pair, used_keys, adjustment_date).plan()


__all__ = ["Outcome", "OrderPlan", "Position", "StoredDocument", "adjustment_key", "plan_order"]
