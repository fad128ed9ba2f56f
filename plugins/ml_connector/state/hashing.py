"""Canonical JSON and content hashes: how the store tells "unchanged" from "changed".

The same bytes are hashed and stored, so a record's hash can always be recomputed from its
stored payload. Decimals and timestamps are encoded as strings: JSON numbers would round-trip
through float and two equal amounts could hash differently.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal
from enum import Enum
from functools import partial
from typing import Any

from ml_connector.core.model import Journal


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive timestamp {value!r} in a JSON document; use an aware datetime")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON serialisable")


def canonical_json(document: Any) -> str:
    """Deterministic JSON text: sorted keys, no whitespace, Decimal/datetime as strings."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_encode)


# Numbers in stored documents come back as Decimal, never float.
load_json = partial(json.loads, parse_float=Decimal)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_hash(document: Any) -> str:
    return sha256_hex(canonical_json(document))


def _amount(value: Decimal) -> str:
    """One spelling per amount: 1.2, 1.20 and 1.2000 hash alike (the database pads to 4 places)."""
    return "0" if value == 0 else format(value.normalize(), "f")


def journal_content_hash(journal: Journal) -> str:
    """What makes two versions of a journal "the same document" for the ERP.

    Covers kind, currencies, posting date, header dimensions and every line's role, dimensions,
    currency and amounts. Descriptions and references are cosmetic and excluded; the rate is
    excluded because its effect is in the base amounts.
    """
    return content_hash(
        {
            "kind": str(journal.kind),
            "currency": journal.currency,
            "base_currency": journal.base_currency,
            "posting_date": journal.posting_date.isoformat(),
            "header": [list(pair) for pair in journal.header],
            "lines": [
                [
                    ln.role,
                    [list(d) for d in ln.dims],
                    ln.currency,
                    _amount(ln.amount),
                    _amount(ln.base_amount),
                ]
                for ln in journal.lines
            ],
        }
    )
