"""Editing a placed order: lines, shipping, billing address and fees, re-priced like a new order.

An edit is validated and priced on a copy first (``edited_copy``), so a refused edit leaves the
order untouched, and only then copied over the live order (``commit``). Line and fee ids survive
an edit when their SKU (or fee id) stays; refunded lines and fees may not shrink below what was
refunded, and the new total may not drop below the money already refunded.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.bigcommerce.bodies import InvalidRequest, parse_address, parse_bool, parse_fees, parse_money
from sandbox.bigcommerce.data import FeeSpec, LinePick, Sequences, catalog_line, fee_record, price_order
from sandbox.bigcommerce.model import STATUS_NAMES, Fee, Order, OrderLine

EDIT_FIELDS = frozenset({"status_id", "lines", "shipping_cost", "billing_address", "fees", "capture_difference"})
# Money, refund history and payments are never rewritten by an edit; everything else is copied back.
_KEPT_ON_COMMIT = frozenset({"transactions", "refunds"})

PickParser = Callable[[Any], list[LinePick]]


@dataclass
class EditPlan:
    """A validated edit request; ``None`` means "leave as it is"."""

    status_id: int | None = None
    picks: list[LinePick] | None = None
    shipping_ex_tax: Decimal | None = None
    billing: dict[str, str] | None = None
    fees: list[FeeSpec] | None = None
    capture_difference: bool = False

    @property
    def changes_contents(self) -> bool:
        return any(part is not None for part in (self.picks, self.shipping_ex_tax, self.billing, self.fees))


def parse_status(raw: Any) -> int:
    if isinstance(raw, bool) or raw not in STATUS_NAMES:
        raise InvalidRequest(f"status_id must be one of {sorted(STATUS_NAMES)}, got {raw!r}")
    return int(raw)


def parse_edit(body: Mapping[str, Any], order: Order, picks: PickParser) -> EditPlan:
    """Every field checked before anything changes; the first bad one is named in the error."""
    plan = EditPlan(capture_difference=parse_bool(body.get("capture_difference", False), "capture_difference"))
    if "status_id" in body:
        plan.status_id = parse_status(body["status_id"])
    if "lines" in body:
        plan.picks = picks(body["lines"])
        seen: set[int] = set()
        for index, pick in enumerate(plan.picks):
            if pick.variant.id in seen:
                raise InvalidRequest(f"lines[{index}].sku {pick.variant.sku!r} appears twice")
            seen.add(pick.variant.id)
    if "shipping_cost" in body:
        plan.shipping_ex_tax = parse_money(body["shipping_cost"], "shipping_cost", order.currency, allow_zero=True)
    if "billing_address" in body:
        plan.billing = parse_address(body["billing_address"], "billing_address")
    if "fees" in body:
        plan.fees = parse_fees(body["fees"], order.currency)
    if plan.status_id is None and not plan.changes_contents:
        raise InvalidRequest(f"nothing to change: give at least one of {sorted(EDIT_FIELDS - {'capture_difference'})}")
    return plan


def _lines(order: Order, picks: list[LinePick], seq: Sequences) -> list[OrderLine]:
    """Full replacement of the catalog lines: a SKU that stays keeps its order-product id."""
    current = {line.variant_id: line for line in order.lines if not line.is_gift_certificate}
    wanted = {pick.variant.id for pick in picks}
    for line in current.values():
        if line.variant_id not in wanted and (line.quantity_refunded or line.wrapping_refunded):
            raise InvalidRequest(f"lines: {line.sku} has refunds and cannot be removed")
    lines = []
    for index, pick in enumerate(picks):
        line = current.get(pick.variant.id)
        if line is None:
            line = catalog_line(seq, order.id, pick, rate=order.exchange_rate, currency=order.currency)
        elif pick.quantity < line.quantity_refunded:
            raise InvalidRequest(f"lines[{index}].quantity {pick.quantity} is below the {line.quantity_refunded} "
                                 f"units of {line.sku} already refunded")
        line.quantity = pick.quantity
        lines.append(line)
    gift_certificates = [line for line in order.lines if line.is_gift_certificate]
    if not lines and not gift_certificates:
        raise InvalidRequest("lines must not be empty")
    return lines + gift_certificates


def _fees(order: Order, specs: list[FeeSpec], seq: Sequences) -> list[Fee]:
    """Full replacement (the v2 PUT semantics for fees); an ``id`` keeps and updates that fee."""
    current = {fee.id: fee for fee in order.fees}
    kept = {spec.id for spec in specs if spec.id is not None}
    for fee in current.values():
        if fee.id not in kept and fee.refunded_amount:
            raise InvalidRequest(f"fees: fee {fee.id} was refunded and cannot be removed")
    fees = []
    for index, spec in enumerate(specs):
        if spec.id is None:
            fees.append(fee_record(seq, spec))
            continue
        fee = current.get(spec.id)
        if fee is None:
            raise InvalidRequest(f"fees[{index}].id {spec.id} is not a fee of order {order.id}")
        if fee.refunded_amount and (spec.amount, spec.taxable) != (fee.cost_ex_tax, fee.taxable):
            raise InvalidRequest(f"fees[{index}]: fee {fee.id} was refunded; its amount cannot change")
        fee.name, fee.cost_ex_tax, fee.taxable = spec.name, spec.amount, spec.taxable
        fees.append(fee)
    return fees


def edited_copy(order: Order, plan: EditPlan, seq: Sequences) -> Order:
    """The order as the edit leaves it, priced by the builder's rules; ``order`` itself is untouched."""
    trial = copy.deepcopy(order)
    if plan.picks is not None:
        trial.lines = _lines(trial, plan.picks, seq)
    if plan.shipping_ex_tax is not None:
        if order.shipping_refunded and plan.shipping_ex_tax != order.shipping_ex_tax:
            raise InvalidRequest("shipping_cost: the shipping was already refunded and cannot change")
        trial.shipping_ex_tax = plan.shipping_ex_tax
    if plan.fees is not None:
        trial.fees = _fees(trial, plan.fees, seq)
    if plan.billing:
        trial.billing = dataclasses.replace(trial.billing, **plan.billing)
    price_order(trial, seq)
    if trial.total_inc_tax < order.refunded:
        raise InvalidRequest(f"the edit would bring the total to {trial.total_inc_tax}, below the "
                             f"{order.refunded} {order.currency} already refunded")
    return trial


def commit(order: Order, trial: Order) -> None:
    """Copy the edited contents onto the live order (same object: holders of it see the edit)."""
    for item in dataclasses.fields(Order):
        if item.name not in _KEPT_ON_COMMIT:
            setattr(order, item.name, getattr(trial, item.name))
