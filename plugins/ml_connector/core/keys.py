"""Deterministic identifiers: the same source record always yields the same key and hash.

Keys are how the load step finds a document in the ERP before creating it (DESIGN §5), so they
must never depend on time, randomness or dict ordering.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

from ml_connector.core.model import Journal

BASE32_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def journal_key(pair: str, source_object: str, source_id: str, kind: str) -> str:
    """Readable key, e.g. ``bigcommerce_to_peoplesoft:order:100:sale``."""
    parts = {"pair": pair, "source_object": source_object, "source_id": source_id, "kind": kind}
    for name, value in parts.items():
        if not value:
            raise ValueError(f"journal_key: {name} is empty")
    return f"{pair}:{source_object}:{source_id}:{kind}"


def short_hash(text: str, length: int, alphabet: str = BASE32_ALPHABET) -> str:
    """``length`` characters of sha256(text) written in ``alphabet`` (for fixed-width ERP ids)."""
    if length < 1 or len(alphabet) < 2:
        raise ValueError("short_hash: length must be >= 1 and the alphabet needs >= 2 symbols")
    number = int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")
    base = len(alphabet)
    chars = []
    for _ in range(length):
        number, digit = divmod(number, base)
        chars.append(alphabet[digit])
    return "".join(chars)


def _canonical_amount(amount: Decimal) -> str:
    """1.10, 1.1 and 1.100 are the same money: hash them identically."""
    return format(amount.normalize(), "f") if amount else "0"


def _journal_content(journal: Journal) -> dict[str, object]:
    return {
        "kind": str(journal.kind),
        "currency": journal.currency,
        "base_currency": journal.base_currency,
        "fx_rate": _canonical_amount(journal.fx_rate),
        "posting_date": journal.posting_date.isoformat(),
        "header": [list(pair) for pair in journal.header],
        "lines": [
            [ln.role, [list(d) for d in ln.dims], _canonical_amount(ln.amount),
             _canonical_amount(ln.base_amount), ln.currency]
            for ln in journal.lines
        ],
    }  # fmt: skip


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return _canonical_amount(value)
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, tuple | frozenset | set):
        return list(value)
    raise TypeError(f"content_hash: cannot hash a {type(value).__name__}")


def content_hash(obj: object) -> str:
    """sha256 hex of a journal's accounting content (lines, dates, currencies, header).

    Descriptions and the key are left out: two journals with the same content hash post the same
    money to the same accounts on the same day, which is what "already posted" means.
    Any other JSON-like object (dicts, lists, Decimals, dates) is hashed canonically.
    """
    content = _journal_content(obj) if isinstance(obj, Journal) else obj
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()
