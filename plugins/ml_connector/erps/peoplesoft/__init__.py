"""PeopleSoft (Integration Broker): CI services over SOAP for journals and customers, QAS for read-back."""

from __future__ import annotations

from .hook import PeopleSoftHook
from .keys import cust_id_for, journal_id_for
from .payload import FieldRejected, ReadBackLine, customer_to_ci, journal_to_ci
from .poster import PostResult, UpsertResult, post_journal, read_back, upsert_customer

__all__ = [
    "FieldRejected",
    "PeopleSoftHook",
    "PostResult",
    "ReadBackLine",
    "UpsertResult",
    "cust_id_for",
    "customer_to_ci",
    "journal_id_for",
    "journal_to_ci",
    "post_journal",
    "read_back",
    "upsert_customer",
]
