"""What actually happened: journals in the PeopleSoft simulator's ledger and record statuses in state.

Read in-process from ``sim.journals`` (the simulator's committed rows), never through the
connector's hook or read-back, so a bug there cannot hide a bug here.

The ledger is summed per ChartField combination over every journal: an order's sale, its
refunds and its adjustments (deltas, ``EC`` + ``A`` + a hash) together, or the daily summaries
(``EC`` + ``D`` + a hash). What can still be told per document: a sale (``ECS`` + order id) or a
refund (``ECR`` + refund id) is one journal whose lines all name that source, and never two; no
two journals share a ``JOURNAL_ID``.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ml_connector.state.schema import journal_lines, journal_sources, journals
from ml_connector.state.store import StateStore
from sqlalchemy import Engine, select

from sandbox.peoplesoft.ci import CHARTFIELDS
from tests.chaos.expected import Combination, DocumentId

# JOURNAL_ID = connection prefix (default EC) + kind letter + 7 characters: the zero-padded source
# id when the journal stands for one source (a sale), else a hash starting with a letter (refunds,
# which name their order too; adjustments; daily summaries).
JOURNAL_KINDS = {"S": "sale", "R": "refund", "A": "adjustment", "V": "reversal", "D": "daily"}
_JOURNAL_ID = re.compile(r"^EC([SRAVD])([A-Z0-9]{7})$")
PER_DOCUMENT = frozenset({"sale", "refund"})
ZERO = Decimal("0")
# Statuses that hold a record back with a reason: a person must act, or it waits for something
# (its order, its capture) and is tried again on every run.
HELD_STATUSES = frozenset({"needs_mapping", "needs_review", "not_settled"})

Amounts = dict[tuple[Combination, str], Decimal]  # (combination, transaction currency) -> net amount


@dataclass
class PostedLedger:
    documents: Counter[DocumentId]  # how many PeopleSoft journals carry each sale / refund document
    kinds: Counter[str]  # journals per kind (sale, refund, adjustment, daily...)
    foreign: Amounts  # trial balance in transaction currency
    base: dict[Combination, Decimal]  # trial balance in the ledger currency (MONETARY_AMOUNT)
    malformed: list[str]  # journals whose id or line references do not name what the id says
    duplicate_ids: list[str]  # JOURNAL_IDs held by more than one journal
    by_source: dict[DocumentId, Amounts] = field(default_factory=dict)  # per order / refund (not daily)


def _combination(line: dict[str, Any]) -> Combination:
    return tuple(sorted((name, str(line[name])) for name in CHARTFIELDS if line.get(name)))


def _source(journal: dict[str, Any]) -> tuple[str, DocumentId | None] | None:
    """The journal's kind and the one document its lines name (None for a daily summary);
    ``None`` when the id is not a connector id or the lines name several sources."""
    match = _JOURNAL_ID.match(str(journal["JOURNAL_ID"]))
    if match is None:
        return None
    kind, tail = JOURNAL_KINDS[match.group(1)], match.group(2)
    if kind == "daily":
        return kind, None
    references = {str(line.get("JRNL_LN_REF", "")) for line in journal["JRNL_LN"]}
    if len(references) != 1:
        return None
    reference = references.pop()
    if kind in PER_DOCUMENT and tail.isdigit() and (not reference.isdigit() or int(tail) != int(reference)):
        return None  # a readable id must be the source id its lines name (a hashed one starts with a letter)
    return kind, ("refund" if kind == "refund" else "sale", reference)


def posted_ledger(journals: list[dict[str, Any]]) -> PostedLedger:
    documents: Counter[DocumentId] = Counter()
    kinds: Counter[str] = Counter()
    foreign: Amounts = defaultdict(lambda: ZERO)
    base: dict[Combination, Decimal] = defaultdict(lambda: ZERO)
    by_source: dict[DocumentId, Amounts] = defaultdict(lambda: defaultdict(lambda: ZERO))
    malformed: list[str] = []
    ids = Counter(str(journal["JOURNAL_ID"]) for journal in journals)
    for journal in journals:
        found = _source(journal)
        if found is None:
            malformed.append(f"{journal['JOURNAL_ID']} {journal['JOURNAL_DATE']}")
            doc = None
        else:
            kind, doc = found
            kinds[kind] += 1
            if kind in PER_DOCUMENT and doc is not None:
                documents[doc] += 1
        for line in journal["JRNL_LN"]:
            dims = _combination(line)
            key = (dims, str(line.get("FOREIGN_CURRENCY") or line["CURRENCY_CD"]))
            amount = Decimal(line["FOREIGN_AMOUNT"])
            foreign[key] += amount
            base[dims] += Decimal(line["MONETARY_AMOUNT"])
            if doc is not None:
                by_source[doc][key] += amount
    return PostedLedger(
        documents,
        kinds,
        {key: amount for key, amount in foreign.items() if amount},
        {key: amount for key, amount in base.items() if amount},
        malformed,
        sorted(journal_id for journal_id, n in ids.items() if n > 1),
        {doc: {k: v for k, v in amounts.items() if v} for doc, amounts in by_source.items()},
    )


@dataclass(frozen=True)
class RecordState:
    status: str
    reason: str | None

    @property
    def parked(self) -> bool:
        return self.status in HELD_STATUSES and bool(self.reason)


def record_states(
    store: StateStore, *, pair: str, store_id: str, system: str = "bigcommerce"
) -> dict[DocumentId, RecordState]:
    """The pair's status and reason of every order (as its sale) and every refund the connector keeps."""
    out: dict[DocumentId, RecordState] = {}
    for obj, kind in (("order", "sale"), ("refund", "refund")):
        for row in store.records(system, obj, store=store_id, pair=pair):
            out[(kind, row.source_id)] = RecordState(row.status or "new", row.reason)
    return out


def processed_orders(store: StateStore, *, pair: str, store_id: str, system: str = "bigcommerce") -> set[int]:
    """Orders the pair has recorded as processed so far (to tell changes made after posting)."""
    rows = store.records(system, "order", statuses=("processed",), store=store_id, pair=pair)
    return {int(row.source_id) for row in rows}


def detail_by_order(engine: Engine) -> dict[str, Amounts]:
    """The connector's own order-level documents (sale, refund, adjustment) per order, from state.

    Only to tell *where* a daily-granularity difference comes from (PeopleSoft holds summaries);
    never what is asserted: the trial balance is PeopleSoft's.
    """
    order_of = (select(journal_sources.c.journal_id, journal_sources.c.source_id)
                .where(journal_sources.c.object == "order").subquery())
    query = (select(order_of.c.source_id, journals.c.currency, journal_lines.c.dims, journal_lines.c.amount)
             .select_from(journals.join(journal_lines, journal_lines.c.journal_id == journals.c.id)
                          .join(order_of, order_of.c.journal_id == journals.c.id))
             .where(journals.c.kind.in_(("sale", "refund", "adjustment")), journals.c.status != "superseded"))
    out: dict[str, Amounts] = defaultdict(lambda: defaultdict(lambda: ZERO))
    with engine.connect() as conn:
        for order_id, currency, dims, amount in conn.execute(query):
            pairs = dims if isinstance(dims, list) else []
            combination = tuple(sorted((str(k), str(v)) for k, v in pairs if k in CHARTFIELDS and v))
            out[str(order_id)][(combination, str(currency))] += Decimal(str(amount))
    return {order: {k: v for k, v in amounts.items() if v} for order, amounts in out.items()}
