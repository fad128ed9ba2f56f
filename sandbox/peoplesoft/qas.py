"""Query Access Services: ``ExecuteQuery.v1`` over the posted journals, in PeopleSoft's JSON shape.

The one public query ``ML_JRNL_LINES`` returns a row per journal line, ordered by JOURNAL_DATE,
JOURNAL_ID, JOURNAL_LINE. Its prompts (BUSINESS_UNIT, SOURCE, FROM_DATE, TO_DATE, dates inclusive)
filter when given; a prompt left out or blank does not filter. ``maxrows`` truncates and
``numrows`` counts the rows returned, so a caller sees truncation as ``numrows == maxrows``.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sandbox.peoplesoft.ci import JOURNAL
from sandbox.peoplesoft.soap import Row

JOURNAL_LINES_QUERY = "ML_JRNL_LINES"
PROMPTS = ("BUSINESS_UNIT", "SOURCE", "FROM_DATE", "TO_DATE")
_HEADER_COLUMNS = ("BUSINESS_UNIT", "JOURNAL_ID", "JOURNAL_DATE", "SOURCE", "DESCR", "JRNL_HDR_STATUS")
_LINE_COLUMNS = (
    "JOURNAL_LINE", "LEDGER", "ACCOUNT", "DEPTID", "OPERATING_UNIT", "PRODUCT", "CURRENCY_CD",
    "MONETARY_AMOUNT", "FOREIGN_CURRENCY", "FOREIGN_AMOUNT", "JRNL_LN_REF",
)  # fmt: skip
_LINE_FIELDS = {f.name: f for f in JOURNAL.collections[0].fields}


class QueryError(Exception):
    """A refused query: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_prompts(names: str | None, values: str | None) -> dict[str, str]:
    name_list = [n.strip().upper() for n in (names or "").split(",") if n.strip()]
    value_list = (values or "").split(",") if name_list else []
    if len(name_list) != len(value_list):
        raise QueryError(400, f"prompt_uniquepromptname has {len(name_list)} names but prompt_fieldvalue has {len(value_list)} values")
    unknown = [n for n in name_list if n not in PROMPTS]
    if unknown:
        raise QueryError(400, f"Unknown prompt(s) {', '.join(unknown)} for query {JOURNAL_LINES_QUERY}; expected {', '.join(PROMPTS)}")
    return {n: v.strip() for n, v in zip(name_list, value_list, strict=True)}


def _date_prompt(prompts: dict[str, str], name: str) -> date | None:
    text = prompts.get(name)
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise QueryError(400, f"Prompt {name} value '{text}' is not a date (expected YYYY-MM-DD)") from None


def _column(name: str, value: Any) -> Any:
    if name == "JOURNAL_LINE":
        return value
    field = _LINE_FIELDS.get(name)
    if field is not None and field.kind == "decimal":
        return field.format(value if value is not None else Decimal(0))
    if isinstance(value, date):
        return value.isoformat()
    return "" if value is None else value


def journal_lines(journals: list[Row], prompts: dict[str, str], maxrows: int | None) -> dict[str, Any]:
    """Run ML_JRNL_LINES over ``journals`` (typed rows from the ledger)."""
    from_date, to_date = _date_prompt(prompts, "FROM_DATE"), _date_prompt(prompts, "TO_DATE")
    unit, source = prompts.get("BUSINESS_UNIT"), prompts.get("SOURCE")
    selected = [
        j
        for j in journals
        if (not unit or j["BUSINESS_UNIT"] == unit)
        and (not source or j.get("SOURCE", "") == source)
        and (from_date is None or j["JOURNAL_DATE"] >= from_date)
        and (to_date is None or j["JOURNAL_DATE"] <= to_date)
    ]
    selected.sort(key=lambda j: (j["JOURNAL_DATE"], j["JOURNAL_ID"]))
    rows: list[dict[str, Any]] = []
    for journal in selected:
        header = {f"A.{c}": _column(c, journal.get(c)) for c in _HEADER_COLUMNS}
        for line in sorted(journal.get("JRNL_LN", []), key=lambda ln: ln["JOURNAL_LINE"]):
            rows.append({"attr:rownumber": len(rows) + 1, **header, **{f"B.{c}": _column(c, line.get(c)) for c in _LINE_COLUMNS}})
    if maxrows is not None:
        rows = rows[:maxrows]
    return {"status": "success", "data": {"query": {"numrows": len(rows), "queryname=": JOURNAL_LINES_QUERY, "rows": rows}}}


def parse_maxrows(text: str | None) -> int | None:
    if text in (None, ""):
        return None
    try:
        value = int(text)
    except ValueError:
        raise QueryError(400, f"maxrows must be a whole number, got '{text}'") from None
    if value < 0:
        raise QueryError(400, f"maxrows must not be negative, got {value}")
    return value or None  # PeopleSoft treats maxrows=0 as "no limit"
