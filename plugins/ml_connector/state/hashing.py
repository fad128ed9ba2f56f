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

from ml_connector.core import keys
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


def record_hash(document: Any) -> str:
    """Hash of a source record's payload, exactly as it is stored."""
    return sha256_hex(canonical_json(document))


def journal_content_hash(journal: Journal) -> str:
    """What makes two versions of a journal "the same document" for the ERP.

    One definition for the whole connector: ``core.keys.content_hash`` (accounting content only;
    descriptions and references are cosmetic and excluded).
    """
    return keys.content_hash(journal)
