"""Deterministic PeopleSoft keys: ``JOURNAL_ID`` (10 chars) and ``CUST_ID`` (15 chars).

The key is the idempotency token: the load step looks it up before it creates anything, so
the same journal always gets the same ``JOURNAL_ID`` on every retry, worker and re-run.

Two forms, chosen per document:

* readable, when it fits: ``prefix + kind letter + zero-padded numeric source id``
  (``ECS0001234`` = sale of order 1234), so a controller can find the order from the ledger;
* hashed otherwise: ``prefix + kind letter + one hash letter + base32 hash``. The first hash
  character is always a letter and the readable form is always a digit there, so the two forms
  never collide with each other.

Collisions: the readable form is unique per (prefix, kind, source id). Two storefronts posting
into one business unit with the same prefix could both own order 1234; give each pair its own
prefix (connection extra ``journal_id_prefix``). Whatever happens, a key that already exists in
PeopleSoft is never overwritten: ``poster.post_journal`` compares the stored journal's content
and reports ``conflict`` (parked for review) when it differs. A hash collision is handled the
same way (probability about n^2 / 2 / 32^6 per prefix and kind for the 7-char hash).
"""

from __future__ import annotations

import base64
import hashlib
import re
import string

from ml_connector.core.model import Customer, Journal, JournalKind
from ml_connector.errors import ConfigError

JOURNAL_ID_LENGTH = 10
CUST_ID_LENGTH = 15

KIND_LETTER: dict[JournalKind, str] = {
    JournalKind.SALE: "S",
    JournalKind.REFUND: "R",
    JournalKind.REVERSAL: "V",
    JournalKind.ADJUSTMENT: "A",
    JournalKind.DAILY: "D",
}

# Two-letter customer prefixes per storefront; anything else uses its first two letters.
CUSTOMER_PREFIX: dict[str, str] = {"bigcommerce": "BC", "woocommerce": "WC", "shopify": "SH"}

_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{0,3}$")
_SAFE_ID = re.compile(r"^[A-Z0-9_-]+$")


def _check_prefix(prefix: str, what: str) -> str:
    if not _PREFIX.match(prefix):
        raise ConfigError("peoplesoft connection", what, "1-4 upper-case letters/digits starting with a letter", prefix)
    return prefix


def _hash_part(material: str, width: int) -> str:
    """``width`` characters: one letter, then base32 digits of sha256(material)."""
    digest = hashlib.sha256(material.encode("utf-8")).digest()
    letter = string.ascii_uppercase[digest[0] % 26]
    tail = base64.b32encode(digest[1:]).decode("ascii")
    return letter + tail[: width - 1]


def _journal_source_id(journal: Journal) -> str | None:
    """The one source id a per-document journal stands for (None for summaries, adjustments and
    composites: an order can have several adjustments, told apart only by their hashed key)."""
    if journal.kind in (JournalKind.DAILY, JournalKind.ADJUSTMENT) or len(journal.sources) != 1:
        return None
    return journal.sources[0].id


def journal_id_for(journal: Journal, prefix: str = "EC") -> str:
    """The journal's ``JOURNAL_ID``: readable when its numeric source id fits, hashed otherwise."""
    _check_prefix(prefix, "journal_id_prefix")
    head = prefix + KIND_LETTER[journal.kind]
    width = JOURNAL_ID_LENGTH - len(head)
    source_id = _journal_source_id(journal)
    if source_id is not None and source_id.isdigit() and source_id.isascii() and len(source_id.lstrip("0") or "0") <= width:
        return head + source_id.lstrip("0").rjust(width, "0")
    sources = ",".join(f"{s.system}/{s.object}/{s.id}" for s in journal.sources)
    material = journal.key or f"{journal.pair}|{journal.kind}|{journal.store_id}|{journal.posting_date}|{sources}"
    return head + _hash_part(material, width)


def default_customer_prefix(source: str) -> str:
    return CUSTOMER_PREFIX.get(source, (source[:2] or "CU").upper())


def cust_id_for(customer: Customer, prefix: str | None = None) -> str:
    """The customer's ``CUST_ID`` (<= 15): ``prefix + source id`` when it is short and safe, else hashed."""
    head = _check_prefix(prefix or default_customer_prefix(customer.source), "customer prefix")
    width = CUST_ID_LENGTH - len(head)
    candidate = customer.customer_id.strip().upper()
    # Readable ids start with a digit and hashes with a letter: the two forms cannot collide.
    if candidate and len(candidate) <= width and _SAFE_ID.match(candidate) and candidate[0].isdigit():
        return head + candidate
    material = f"{customer.source}|{customer.store_id}|{customer.customer_id}"
    return head + _hash_part(material, min(width, 12))

