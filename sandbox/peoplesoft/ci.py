"""Component Interface buffers and message shapes: the one definition both the XSDs and the parser use.

A message is a tree of ``Group`` (complex element, possibly repeating) and ``Leaf`` (typed field).
The XSD generator (``wsdl.py``) renders these trees in PeopleSoft's style and the SOAP reader
(``soap.py``) parses requests with them, so the schema we publish and what we enforce cannot drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cached_property

Value = str | int | Decimal | date

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT = re.compile(r"^[+-]?\d+$")
_DECIMAL = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


class FieldInvalid(Exception):
    """A field value PeopleSoft would refuse: reported as ``Field RECORD.FIELD is invalid: why. (2,1)``."""

    def __init__(self, record: str, name: str, why: str) -> None:
        super().__init__(f"Field {record}.{name} is invalid: {why}.")
        self.record, self.name, self.why = record, name, why


@dataclass(frozen=True)
class Field:
    """One CI property. ``length`` is the PeopleSoft character length (0 = unbounded)."""

    name: str
    kind: str = "string"  # string | date | int | decimal
    length: int = 0
    total_digits: int = 0
    fraction_digits: int = 0
    required: bool = False
    values: tuple[str, ...] = ()  # translate values: enforced by the sim, not published in the XSD

    def parse(self, text: str) -> Value:
        """Convert the XML text to a typed value or raise ``ValueError`` with the reason."""
        if self.kind == "string":
            if self.length and len(text) > self.length:
                raise ValueError(f"value '{text}' is {len(text)} characters long, the maximum is {self.length}")
            if self.values and text and text not in self.values:
                raise ValueError(f"value '{text}' is not one of {', '.join(self.values)}")
            return text
        stripped = text.strip()
        if self.kind == "date":
            try:
                if not _DATE.match(stripped):
                    raise ValueError
                return date.fromisoformat(stripped)
            except ValueError:
                raise ValueError(f"'{text}' is not a valid date (expected YYYY-MM-DD)") from None
        if self.kind == "int":
            if not _INT.match(stripped):
                raise ValueError(f"'{text}' is not a whole number")
            number = int(stripped)
            if self.total_digits and len(str(abs(number))) > self.total_digits:
                raise ValueError(f"{number} has more than {self.total_digits} digits")
            return number
        return self._parse_decimal(text, stripped)

    def _parse_decimal(self, text: str, stripped: str) -> Decimal:
        if not _DECIMAL.match(stripped):
            raise ValueError(f"'{text}' is not a valid decimal number")
        try:
            number = Decimal(stripped)
        except InvalidOperation:
            raise ValueError(f"'{text}' is not a valid decimal number") from None
        exponent = number.as_tuple().exponent
        assert isinstance(exponent, int)
        scale = max(0, -exponent)
        # trailing zeros beyond the allowed scale are harmless (1.5000 fits 3 decimals)
        if scale > self.fraction_digits and number != number.quantize(Decimal(1).scaleb(-self.fraction_digits)):
            raise ValueError(f"'{text}' has more than {self.fraction_digits} decimal places")
        integer_digits = len(str(abs(int(number)))) if abs(number) >= 1 else 0
        if integer_digits > self.total_digits - self.fraction_digits:
            raise ValueError(f"'{text}' has more than {self.total_digits} digits")
        return number

    def format(self, value: Value) -> str:
        """Render a typed value the way PeopleSoft answers it (decimals at the field's scale)."""
        if isinstance(value, Decimal):
            return f"{value if value else abs(value):.{self.fraction_digits}f}"  # never "-0.000"
        if isinstance(value, date):
            return value.isoformat()
        return str(value)


@dataclass(frozen=True)
class Leaf:
    field: Field
    optional: bool


@dataclass(frozen=True)
class Group:
    """A complex element. ``max_occurs`` None = unbounded. ``record`` names it in error messages."""

    name: str
    children: tuple[Leaf | Group, ...]
    record: str
    min_occurs: int = 1
    max_occurs: int | None = 1
    attributes: tuple[str, ...] = ()

    @property
    def repeating(self) -> bool:
        return self.max_occurs != 1

    @cached_property
    def _by_name(self) -> dict[str, Leaf | Group]:
        return {(c.field.name if isinstance(c, Leaf) else c.name): c for c in self.children}

    def child(self, name: str) -> Leaf | Group | None:
        return self._by_name.get(name)


@dataclass(frozen=True)
class Collection:
    """A child scroll of the CI (JRNL_LN, CUST_ADDRESS). ``row_key`` identifies a row for Updatedata."""

    name: str
    fields: tuple[Field, ...]
    min_rows: int = 0
    row_key: str | None = None


@dataclass(frozen=True)
class Buffer:
    """A CI's buffer: header record fields, child collections, and which fields are keys."""

    record: str
    fields: tuple[Field, ...]
    collections: tuple[Collection, ...]
    keys: tuple[str, ...]
    find_fields: tuple[str, ...]
    find_result_fields: tuple[str, ...]
    auto_number_key: str
    response_only: frozenset[str] = field(default_factory=frozenset)

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


def _s(name: str, length: int, required: bool = False, values: tuple[str, ...] = ()) -> Field:
    return Field(name, "string", length, required=required, values=values)


def _amount(name: str, required: bool = False) -> Field:
    return Field(name, "decimal", total_digits=26, fraction_digits=3, required=required)


CHARTFIELDS = (
    "ACCOUNT", "DEPTID", "OPERATING_UNIT", "PRODUCT", "FUND_CODE", "CLASS_FLD",
    "PROGRAM_CODE", "PROJECT_ID", "CHARTFIELD1", "CHARTFIELD2", "CHARTFIELD3",
)  # fmt: skip

JOURNAL = Buffer(
    record="JRNL_HEADER",
    fields=(
        _s("BUSINESS_UNIT", 5, required=True),
        _s("JOURNAL_ID", 10, required=True),
        Field("JOURNAL_DATE", "date", required=True),
        _s("LEDGER_GROUP", 10),
        _s("SOURCE", 3),
        _s("DESCR", 30),
        _s("REVERSAL_CD", 1, values=("B", "D", "E", "N", "R", "U")),
        _s("JRNL_HDR_STATUS", 1),
    ),
    collections=(
        Collection(
            "JRNL_LN",
            (
                Field("JOURNAL_LINE", "int", total_digits=9),
                _s("LEDGER", 10, required=True),
                _s("ACCOUNT", 10, required=True),
                _s("DEPTID", 10),
                _s("OPERATING_UNIT", 8),
                _s("PRODUCT", 6),
                _s("FUND_CODE", 5),
                _s("CLASS_FLD", 5),
                _s("PROGRAM_CODE", 5),
                _s("PROJECT_ID", 15),
                _s("CHARTFIELD1", 10),
                _s("CHARTFIELD2", 10),
                _s("CHARTFIELD3", 10),
                _s("CURRENCY_CD", 3, required=True),
                _amount("MONETARY_AMOUNT", required=True),
                _s("FOREIGN_CURRENCY", 3),
                _amount("FOREIGN_AMOUNT"),
                _s("RT_TYPE", 5),
                Field("RATE_MULT", "decimal", total_digits=16, fraction_digits=8),
                _s("LINE_DESCR", 30),
                _s("JRNL_LN_REF", 10),
            ),
            min_rows=1,
            row_key="JOURNAL_LINE",
        ),
    ),
    keys=("BUSINESS_UNIT", "JOURNAL_ID", "JOURNAL_DATE"),
    find_fields=("BUSINESS_UNIT", "JOURNAL_ID", "JOURNAL_DATE", "SOURCE"),
    find_result_fields=("BUSINESS_UNIT", "JOURNAL_ID", "JOURNAL_DATE", "DESCR"),
    auto_number_key="JOURNAL_ID",
    response_only=frozenset({"JRNL_HDR_STATUS"}),
)

CUSTOMER = Buffer(
    record="CUSTOMER",
    fields=(
        _s("SETID", 5, required=True),
        _s("CUST_ID", 15, required=True),
        _s("NAME1", 40, required=True),
        _s("CUST_STATUS", 1, values=("A", "I")),
        _s("EMAILID", 70),
        _s("PHONE", 24),
    ),
    collections=(
        Collection(
            "CUST_ADDRESS",
            (
                Field("ADDRESS_SEQ_NUM", "int", total_digits=3),
                _s("ADDRESS1", 55),
                _s("ADDRESS2", 55),
                _s("CITY", 30),
                _s("STATE", 6),
                _s("POSTAL", 12),
                _s("COUNTRY", 3),
            ),
            row_key="ADDRESS_SEQ_NUM",
        ),
    ),
    keys=("SETID", "CUST_ID"),
    find_fields=("SETID", "CUST_ID", "NAME1"),
    find_result_fields=("SETID", "CUST_ID", "NAME1"),
    auto_number_key="CUST_ID",
)

# -- message shapes -------------------------------------------------------------------------------
_MESSAGES_ROW = Group(
    "messages",
    (
        Leaf(_s("type", 0), True),
        Leaf(Field("messagesetnumber", "int", total_digits=5), True),
        Leaf(Field("messagenumber", "int", total_digits=5), True),
        Leaf(_s("messagetext", 0), True),
        Leaf(_s("explaintext", 0), True),
    ),
    record="messages",
    min_occurs=0,
    max_occurs=None,
)
_NOTIFICATION = Leaf(Field("notification", "int", total_digits=1), False)


def _collection_group(coll: Collection, *, min_rows: int | None = None) -> Group:
    leaves = tuple(Leaf(f, not f.required) for f in coll.fields)
    return Group(coll.name, leaves, coll.name, min_rows if min_rows is not None else coll.min_rows, None)


def _buffer_children(buf: Buffer, *, include_response_only: bool, header_optional: bool) -> tuple[Leaf | Group, ...]:
    leaves: list[Leaf | Group] = []
    for f in buf.fields:
        if f.name in buf.response_only and not include_response_only:
            continue
        is_key = f.name in buf.keys
        leaves.append(Leaf(f, (header_optional and not is_key) or not f.required))
    min_rows = 0 if header_optional else None
    leaves.extend(_collection_group(c, min_rows=min_rows) for c in buf.collections)
    return tuple(leaves)


def request_shape(buf: Buffer, ci: str, verb: str) -> Group:
    """Request body of one CI method (Create, Get, Find, Updatedata, Update)."""
    root = f"{verb}__CompIntfc__{ci}"
    if verb in ("Create", "Update"):
        children = _buffer_children(buf, include_response_only=False, header_optional=False)
    elif verb == "Updatedata":
        children = _buffer_children(buf, include_response_only=False, header_optional=True)
    elif verb == "Get":
        children = tuple(Leaf(buf.field(k), False) for k in buf.keys)
    elif verb == "Find":
        children = tuple(Leaf(buf.field(k), True) for k in buf.find_fields)
    else:
        raise ValueError(f"unknown CI method {verb}")
    return Group(root, children, buf.record)


def response_shape(buf: Buffer, ci: str, verb: str) -> Group:
    """Response body of one CI method (PeopleSoft's Key / CI Buffer / key collection / Notification)."""
    root = f"{verb}__CompIntfc__{ci}Response"
    if verb == "Get":
        children = _buffer_children(buf, include_response_only=True, header_optional=False)
    elif verb == "Find":
        row = tuple(Leaf(buf.field(n), n not in buf.keys) for n in buf.find_result_fields)
        children = (Group(ci, row, buf.record, 0, None),)
    elif verb == "Create":
        keys = Group(ci, tuple(Leaf(buf.field(k), False) for k in buf.keys), buf.record)
        children = (_NOTIFICATION, Group("detail", (keys, _MESSAGES_ROW), "detail", 0, 1))
    elif verb in ("Updatedata", "Update"):
        children = (_NOTIFICATION, Group("detail", (_MESSAGES_ROW,), "detail", 0, 1))
    else:
        raise ValueError(f"unknown CI method {verb}")
    return Group(root, children, buf.record)


def fault_shape(buf: Buffer) -> Group:
    """``CIFault``: IBResponse rows; key fields optional so a fault about a bad key stays schema-valid."""
    keyinfo = Group("keyinformation", tuple(Leaf(buf.field(k), True) for k in buf.keys), "keyinformation", 0, 1)
    ib_response = Group(
        "IBResponse",
        (
            Leaf(_s("DefaultTitle", 0), True),
            Leaf(Field("StatusCode", "int", total_digits=4), True),
            Leaf(Field("MessageSetID", "int", total_digits=5), True),
            Leaf(Field("MessageID", "int", total_digits=5), True),
            Leaf(_s("DefaultMessage", 0), True),
            Group("MessageParameters", (keyinfo,), "MessageParameters", 0, 1),
        ),
        "IBResponse",
        1,
        None,
        attributes=("type",),
    )
    return Group("CIFault", (ib_response,), "CIFault")
