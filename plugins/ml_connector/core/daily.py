"""Daily summary journals (``granularity: daily``): one journal per store, currency and posting day.

Lines are the per-order journals' lines summed by (role, dims, side): debits and credits stay
apart, so a day's refunds do not net against its sales on the revenue account (the controller
and the reconciliation read gross sales and gross refunds). The order-level detail stays in
``sources`` (and in state / the audit trail). Summing already-rounded, already-balanced lines
keeps the summary balanced in both currencies with no new rounding.

A day is summarised once: its key is ``<pair>:daily:<store>:<currency>:<day>:<n>``, where ``n``
counts the summaries of that day (the caller says which number is next). Details that reach a
day after its summary (late orders, adjustments dated that day) become summary ``n + 1``, a
delta linked to its own sources: no source is ever summarised twice, and the key never depends
on which sources happened to be present.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import ROUND_HALF_UP, Decimal

from ml_connector.core.journal import ONE, ROLE_LABELS, fit, source_label
from ml_connector.core.mapping import Dims
from ml_connector.core.model import ZERO, Journal, JournalKind, JournalLine

RATE_QUANTUM = Decimal("0.00000001")  # PeopleSoft RATE_MULT has 8 decimals


def _summary_rate(lines: list[JournalLine], currency: str, base_currency: str) -> Decimal:
    """Weighted average rate of the day (base debits / transaction debits), for information."""
    if currency == base_currency:
        return ONE
    debits = sum((ln.amount for ln in lines if ln.amount > 0), ZERO)
    base_debits = sum((ln.base_amount for ln in lines if ln.amount > 0), ZERO)
    return (base_debits / debits).quantize(RATE_QUANTUM, rounding=ROUND_HALF_UP) if debits else ONE


def _summarise_group(pair: str, journals: list[Journal], number: int) -> Journal:
    first = journals[0]
    totals: dict[tuple[str, Dims, str], list[Decimal]] = {}
    descriptions: dict[tuple[str, Dims, str], str] = {}
    for journal in journals:
        for line in journal.lines:
            side = "dr" if line.amount > 0 or (line.amount == 0 and line.base_amount > 0) else "cr"
            key = (line.role, line.dims, side)
            sums = totals.get(key)
            if sums is None:
                totals[key] = [line.amount, line.base_amount]
                descriptions[key] = line.description
            else:
                sums[0] += line.amount
                sums[1] += line.base_amount
                if descriptions[key] != line.description:
                    descriptions[key] = ROLE_LABELS.get(line.role, line.role)
    day = first.posting_date.isoformat()
    lines = [
        JournalLine(role, dims, amount, base, first.currency, fit(descriptions[(role, dims, side)]), day)
        for (role, dims, side), (amount, base) in sorted(totals.items())
        if amount or base
    ]
    sources = sorted({s for j in journals for s in j.sources}, key=lambda s: (s.system, s.object, s.id))
    systems = sorted({s.system for s in sources})
    label = source_label(systems[0]) if len(systems) == 1 else "ML"
    suffix = f" {number}" if number > 1 else ""
    return Journal(
        pair=pair,
        key=f"{pair}:daily:{first.store_id}:{first.currency}:{day}:{number}",
        kind=JournalKind.DAILY,
        store_id=first.store_id,
        currency=first.currency,
        base_currency=first.base_currency,
        fx_rate=_summary_rate(lines, first.currency, first.base_currency),
        posting_date=first.posting_date,
        description=fit(f"{label} daily {day} {first.currency}{suffix}"),
        lines=tuple(lines),
        sources=tuple(sources),
        header=first.header,
    )


def summarise_daily(
    journals: Iterable[Journal], pair: str, next_number: Callable[[str, str, dt.date], int] | None = None
) -> list[Journal]:
    """One DAILY journal per (store, currency, posting date), ordered by those three.

    ``next_number(store, currency, day)`` is the number of the day's next summary (1 when absent).
    """
    groups: dict[tuple[str, str, dt.date], list[Journal]] = {}
    for journal in journals:
        if journal.pair != pair:
            raise ValueError(f"summarise_daily({pair!r}): journal {journal.key} belongs to pair {journal.pair!r}")
        if journal.kind is JournalKind.DAILY:
            raise ValueError(f"summarise_daily: {journal.key} is already a daily summary")
        groups.setdefault((journal.store_id, journal.currency, journal.posting_date), []).append(journal)
    groups = {key: group for key, group in groups.items() if any(ln.amount or ln.base_amount for j in group for ln in j.lines)}
    number = next_number or (lambda _store, _currency, _day: 1)
    return [_summarise_group(pair, groups[key], number(*key)) for key in sorted(groups)]  # type: ignore[arg-type]


__all__ = ["summarise_daily"]
