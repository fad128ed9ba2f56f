"""What actually happened: journals in the PeopleSoft simulator's ledger and record statuses in state.

Read in-process from ``sim.journals`` (the simulator's committed rows), never through the
connector's hook or read-back, so a bug there cannot hide a bug here.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ml_connector.state.store import StateStore

from sandbox.peoplesoft.ci import CHARTFIELDS
from tests.chaos.expected import Combination, DocumentId

# JOURNAL_ID = connection prefix (default EC) + kind letter + 7 characters (the source id, or a hash).
JOURNAL_KINDS = {"S": "sale", "R": "refund", "V": "reversal"}
_JOURNAL_ID = re.compile(r"^EC([SRV])[A-Z0-9]{7}$")
ZERO = Decimal("0")
# Statuses that hold a record back with a reason: a person must act, or it waits for something
# (its order, its capture) and is tried again on every run.
HELD_STATUSES = frozenset({"needs_mapping", "needs_review", "not_settled"})


@dataclass
class PostedLedger:
    documents: Counter[DocumentId]  # how many PeopleSoft journals carry each document
    foreign: dict[tuple[Combination, str], Decimal]  # trial balance in transaction currency
    base: dict[Combination, Decimal]  # trial balance in the ledger currency (MONETARY_AMOUNT)
    malformed: list[str]  # journals whose id or line references do not name one source document


def _combination(line: dict[str, Any]) -> Combination:
    return tuple(sorted((name, str(line[name])) for name in CHARTFIELDS if line.get(name)))


def _document(journal: dict[str, Any]) -> DocumentId | None:
    match = _JOURNAL_ID.match(str(journal["JOURNAL_ID"]))
    references = {str(line.get("JRNL_LN_REF", "")) for line in journal["JRNL_LN"]}
    if match is None or len(references) != 1:
        return None
    return (JOURNAL_KINDS[match.group(1)], references.pop())


def posted_ledger(journals: list[dict[str, Any]]) -> PostedLedger:
    documents: Counter[DocumentId] = Counter()
    foreign: dict[tuple[Combination, str], Decimal] = defaultdict(lambda: ZERO)
    base: dict[Combination, Decimal] = defaultdict(lambda: ZERO)
    malformed: list[str] = []
    for journal in journals:
        doc = _document(journal)
        if doc is None:
            malformed.append(f"{journal['JOURNAL_ID']} {journal['JOURNAL_DATE']}")
        else:
            documents[doc] += 1
        for line in journal["JRNL_LN"]:
            dims = _combination(line)
            foreign[(dims, str(line.get("FOREIGN_CURRENCY") or line["CURRENCY_CD"]))] += Decimal(line["FOREIGN_AMOUNT"])
            base[dims] += Decimal(line["MONETARY_AMOUNT"])
    return PostedLedger(
        documents,
        {key: amount for key, amount in foreign.items() if amount},
        {key: amount for key, amount in base.items() if amount},
        malformed,
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
