"""PeopleSoft SOAP faults (``IBResponse``) to typed errors.

Integration Broker reports every error as a SOAP Fault whose ``detail`` holds an ``IBResponse``:
wrapped in ``CIFault`` (in the message namespace) for component-interface errors, bare and in the
empty namespace for gateway errors such as a failed password. We search ``detail`` for
``IBResponse`` in any namespace and classify by the message catalog number ``(set,number)``,
which is the only stable part: texts and namespaces vary per site.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

from ml_connector.errors import (
    AuthenticationError,
    DuplicateKey,
    ExternalError,
    NotFound,
    TransientError,
    ValidationRejected,
)

SYSTEM = "peoplesoft"

# (message set, message number) -> error class; the catalog shared with the simulator.
CATALOG: dict[tuple[int, int], type[ExternalError]] = {
    (158, 45): AuthenticationError,  # User password failed
    (158, 46): AuthenticationError,  # security token missing / not authorised for the operation
    (91, 50): NotFound,  # no rows exist for the specified keys
    (91, 49): DuplicateKey,  # row already exists with the specified keys
    (5010, 104): ValidationRejected,  # journal out of balance
    (5010, 171): ValidationRejected,  # invalid ChartField combination
    (2, 1): ValidationRejected,  # field invalid / too long / missing
    (158, 10721): TransientError,  # gateway: target connector unavailable, retry later
    (159, 5): ValidationRejected,  # unable to parse the XML request
}

TOKEN_REJECTED = (158, 46)

_CATALOG_REF = re.compile(r"\((\d+)\s*,\s*(\d+)\)\s*$")


@dataclass(frozen=True)
class IBMessage:
    """One ``IBResponse`` as PeopleSoft sent it."""

    text: str
    message_set: int | None = None
    message_number: int | None = None
    status_code: int | None = None
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def catalog(self) -> tuple[int, int] | None:
        if self.message_set is None or self.message_number is None:
            return None
        return (self.message_set, self.message_number)


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _child_text(element: etree._Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return None


def _as_int(value: str | None) -> int | None:
    return int(value) if value and value.strip().lstrip("-").isdigit() else None


def _keys(element: etree._Element) -> dict[str, str]:
    """Key fields from ``MessageParameters/keyinformation/*`` (CI faults) if present."""
    found: dict[str, str] = {}
    for info in element.iter():
        if _local(info.tag) == "keyinformation":
            found.update({_local(k.tag): (k.text or "").strip() for k in info if _local(k.tag)})
    return found


def parse_ib_response(element: etree._Element) -> IBMessage:
    """Read one ``IBResponse`` element. The catalog numbers come from the elements when present,
    else from the ``(set,number)`` suffix of the text (gateway faults omit ``MessageSetID``)."""
    text = _child_text(element, "DefaultMessage") or ""
    msg_set = _as_int(_child_text(element, "MessageSetID"))
    msg_num = _as_int(_child_text(element, "MessageID"))
    suffix = _CATALOG_REF.search(text)
    if suffix and (msg_set is None or msg_num is None):
        msg_set, msg_num = int(suffix.group(1)), int(suffix.group(2))
    return IBMessage(text, msg_set, msg_num, _as_int(_child_text(element, "StatusCode")), _keys(element))


def find_ib_messages(detail: etree._Element | None) -> list[IBMessage]:
    """Every ``IBResponse`` under ``detail``, whatever its namespace."""
    if detail is None:
        return []
    return [parse_ib_response(el) for el in detail.iter() if _local(el.tag) == "IBResponse"]


def error_from_message(message: IBMessage, *, operation: str) -> ExternalError:
    """The typed error for one IB message; unknown catalog numbers stay a plain ``ExternalError``."""
    cls = CATALOG.get(message.catalog or (-1, -1), ExternalError)
    error = cls(SYSTEM, f"{operation}: {message.text or 'SOAP fault without a message'}", status=500)
    error.ib_message = message  # type: ignore[attr-defined]
    return error


def error_from_fault(faultstring: str | None, detail: etree._Element | None, *, operation: str) -> ExternalError:
    """Classify a SOAP fault; the first ``IBResponse`` decides, else the ``(set,number)`` in the faultstring."""
    messages = find_ib_messages(detail)
    if messages:
        return error_from_message(messages[0], operation=operation)
    text = (faultstring or "").strip()
    suffix = _CATALOG_REF.search(text)
    if suffix:
        return error_from_message(IBMessage(text, int(suffix.group(1)), int(suffix.group(2))), operation=operation)
    return ExternalError(SYSTEM, f"{operation}: SOAP fault without IBResponse: {text or 'no faultstring'}", status=500)


def ib_message_of(error: BaseException) -> IBMessage | None:
    """The IB message an error was built from, if any (for the token-refresh check)."""
    return getattr(error, "ib_message", None)
