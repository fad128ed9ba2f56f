"""The PeopleSoft message-catalog entries the simulator answers with (the shared contract's table).

Each error carries its message set and number so the fault writer can fill ``MessageSetID`` /
``MessageID``; the text always ends in ``(set,number)`` like PeopleSoft's ``DefaultMessage``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sandbox.peoplesoft.ci import FieldInvalid


class CIError(Exception):
    """An application-level refusal answered as a SOAP Fault with ``CIFault``."""

    def __init__(self, message_set: int, message_id: int, text: str, keys: Mapping[str, Any] | None = None) -> None:
        self.message_set, self.message_id = message_set, message_id
        self.text = f"{text} ({message_set},{message_id})"
        self.keys = dict(keys or {})
        super().__init__(self.text)


def _pairs(values: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v.isoformat() if hasattr(v, 'isoformat') else v}" for k, v in values.items())


def no_rows(keys: Mapping[str, Any]) -> CIError:
    return CIError(91, 50, f"No rows exist for the specified keys. {_pairs(keys)}", keys)


def row_exists(keys: Mapping[str, Any]) -> CIError:
    return CIError(91, 49, f"Row already exists with the specified keys. {_pairs(keys)}", keys)


def out_of_balance(journal_id: str, ledger: str, debits: Decimal, credits: Decimal, keys: Mapping[str, Any]) -> CIError:
    text = f"Journal {journal_id} is out of balance for ledger {ledger}: debits {debits:.3f}, credits {credits:.3f}."
    return CIError(5010, 104, text, keys)


def invalid_combination(business_unit: str, fields: Mapping[str, str], keys: Mapping[str, Any]) -> CIError:
    return CIError(5010, 171, f"Invalid ChartField combination for business unit {business_unit}: {_pairs(fields)}.", keys)


def field_invalid(error: FieldInvalid, keys: Mapping[str, Any] | None = None) -> CIError:
    return CIError(2, 1, f"Field {error.record}.{error.name} is invalid: {error.why}.", keys)


def transient() -> CIError:
    return CIError(158, 10721, "Integration Gateway: target connector unavailable, retry later.")


# Gateway-level messages (bare IBResponse in the empty namespace): (set, number, text)
PASSWORD_FAILED = (158, 45, "User password failed. (158,45)")
PARSE_FAILED = (159, 5, "Unable to parse the XML request. (159,5)")


def token_missing(operation: str) -> tuple[int, int, str]:
    return 158, 46, f"Security Token missing or not authorized for service operation {operation}. (158,46)"


def unknown_operation(what: str) -> tuple[int, int, str]:
    """Not in the shared catalog: the hook sees an unmapped gateway fault (a configuration error)."""
    return 158, 505, f"Unable to find a routing for the service operation {what}. (158,505)"
