"""The in-memory database behind the CIs: journals, customers, ChartField combinations.

One lock guards everything; every operation is microseconds, and it is never held while the server
sleeps for simulated latency. A Create commits before the handler returns, so a connection dropped
afterwards (fault ``reset_after``) models "PeopleSoft committed but the answer was lost".

Keys follow PeopleSoft: a journal is BUSINESS_UNIT + JOURNAL_ID + JOURNAL_DATE (UNPOST_SEQ is
always 0 here), so the same JOURNAL_ID on another date is a different journal and is accepted.
``NEXT`` draws the next 10-digit number of the business unit (or SETID), skipping any ID already
used in that unit on any date. Find matches string criteria as "begins with", as a search record does.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

from sandbox.peoplesoft import messages
from sandbox.peoplesoft.ci import CHARTFIELDS, CUSTOMER, JOURNAL, Buffer, Collection, FieldInvalid
from sandbox.peoplesoft.soap import Row

NEXT = "NEXT"
Check = Callable[[Row, dict[str, Any]], None]


class CombinationTable:
    """Valid ChartField combinations per business unit.

    A rule maps ChartFields to patterns: ``*`` = any value (blank included), ``ABC*`` = begins with
    ABC, anything else = exactly that value (``""`` = must be blank). A line is valid when some rule
    matches every field it names and every ChartField the rule does not name is blank. A business
    unit without rules rejects every line.
    """

    def __init__(self) -> None:
        self.rules: dict[str, list[dict[str, str]]] = {}

    @staticmethod
    def clean_rule(rule: Any) -> dict[str, str]:
        if not isinstance(rule, dict) or not rule:
            raise ValueError(f"a combination rule must be a non-empty object of ChartField -> pattern, got {rule!r}")
        unknown = sorted(set(rule) - set(CHARTFIELDS))
        if unknown:
            raise ValueError(f"unknown ChartField(s) {unknown} in rule {rule}; known: {list(CHARTFIELDS)}")
        if not all(isinstance(v, str) for v in rule.values()):
            raise ValueError(f"combination patterns must be strings: {rule}")
        return dict(rule)

    def load(self, business_unit: str, rules: Iterable[Any], replace: bool = True) -> None:
        cleaned = [self.clean_rule(r) for r in rules]
        if replace:
            self.rules[business_unit] = cleaned
        else:
            self.rules.setdefault(business_unit, []).extend(cleaned)

    @staticmethod
    def _matches(pattern: str, value: str) -> bool:
        if pattern == "*":
            return True
        if pattern.endswith("*"):
            return value.startswith(pattern[:-1])
        return value == pattern

    def allows(self, business_unit: str, line: Row) -> bool:
        for rule in self.rules.get(business_unit, []):
            named = all(self._matches(p, line.get(f, "")) for f, p in rule.items())
            if named and all(not line.get(f) for f in CHARTFIELDS if f not in rule):
                return True
        return False


def _number_rows(row: Row, buffer: Buffer) -> None:
    """Give rows without a row key the next number, and refuse a key used twice."""
    for coll in buffer.collections:
        if not coll.row_key:
            continue
        rows = row.get(coll.name, [])
        seen: set[int] = set()
        for r in rows:
            key = r.get(coll.row_key)
            if key is not None and key in seen:
                raise FieldInvalid(coll.name, coll.row_key, f"{key} appears more than once")
            if key is not None:
                seen.add(key)
        next_key = max(seen, default=0) + 1
        for r in rows:
            if r.get(coll.row_key) is None:
                r[coll.row_key] = next_key
                next_key += 1


class CIStore:
    """Rows of one CI with PeopleSoft's Create / Get / Find / Update / Updatedata semantics."""

    def __init__(self, buffer: Buffer, lock: threading.RLock, check: Check | None = None, defaults: Row | None = None):
        self.buffer, self.lock, self.check = buffer, lock, check
        self.defaults = defaults or {}
        self.rows: dict[tuple[Any, ...], Row] = {}
        self._sequences: dict[str, int] = {}
        self._used_ids: set[tuple[Any, str]] = set()

    def keys_of(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return {k: row[k] for k in self.buffer.keys if k in row}

    def _key(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        return tuple(row.get(k) for k in self.buffer.keys)

    def _scope(self, row: Mapping[str, Any]) -> Any:
        return row[self.buffer.keys[0]]  # BUSINESS_UNIT / SETID

    def _next_id(self, scope: Any) -> str:
        width = self.buffer.field(self.buffer.auto_number_key).length
        number = self._sequences.get(scope, 0)
        while True:
            number += 1
            candidate = f"{number:0{min(width, 10)}d}"
            if (scope, candidate) not in self._used_ids:
                self._sequences[scope] = number
                return candidate

    def _validated(self, row: Row, keys: dict[str, Any]) -> Row:
        try:
            _number_rows(row, self.buffer)
        except FieldInvalid as exc:
            raise messages.field_invalid(exc, keys) from None
        if self.check:
            self.check(row, keys)
        return row

    def _commit(self, row: Row) -> None:
        self.rows[self._key(row)] = row
        self._used_ids.add((self._scope(row), row[self.buffer.auto_number_key]))

    def create(self, request: Row) -> dict[str, Any]:
        row = {**self.defaults, **request}  # the caller hands over a freshly parsed row
        keys = self.keys_of(row)
        with self.lock:
            auto = row[self.buffer.auto_number_key] == NEXT
            if not auto and self._key(row) in self.rows:
                raise messages.row_exists(keys)
            self._validated(row, keys)
            if auto:
                row[self.buffer.auto_number_key] = self._next_id(self._scope(row))
            self._commit(row)
            return self.keys_of(row)

    def get(self, keys: Mapping[str, Any]) -> Row:
        with self.lock:
            row = self.rows.get(self._key(keys))
            if row is None:
                raise messages.no_rows(dict(keys))
            return copy.deepcopy(row)

    def find(self, criteria: Mapping[str, Any]) -> list[Row]:
        wanted = {k: v for k, v in criteria.items() if v not in (None, "")}

        def matches(row: Row) -> bool:
            for name, value in wanted.items():
                have = row.get(name, "")
                if isinstance(value, str) and not str(have).startswith(value):
                    return False
                if not isinstance(value, str) and have != value:
                    return False
            return True

        with self.lock:
            found = [row for key, row in sorted(self.rows.items(), key=lambda kv: str(kv[0])) if matches(row)]
            if not found:
                raise messages.no_rows(wanted)
            return [{f: row[f] for f in self.buffer.find_result_fields if f in row} for row in found]

    def update(self, request: Row) -> None:
        """``Update``: the request is the whole buffer; it replaces the stored one."""
        keys = self.keys_of(request)
        with self.lock:
            current = self.rows.get(self._key(request))
            if current is None:
                raise messages.no_rows(keys)
            row = {**self.defaults, **copy.deepcopy(request)}
            for name in self.buffer.response_only:
                if name in current:
                    row[name] = current[name]
            self._commit(self._validated(row, keys))

    def updatedata(self, request: Row) -> None:
        """``Updatedata``: change only the fields sent; rows merge by their row key, new rows append."""
        keys = self.keys_of(request)
        with self.lock:
            current = self.rows.get(self._key(request))
            if current is None:
                raise messages.no_rows(keys)
            row = copy.deepcopy(current)
            for name, value in request.items():
                coll = next((c for c in self.buffer.collections if c.name == name), None)
                if coll is None:
                    row[name] = value
                else:
                    row[name] = _merge_rows(row.get(name, []), value, coll)
            self._commit(self._validated(row, keys))

    def all(self) -> list[Row]:
        with self.lock:
            return [copy.deepcopy(r) for _, r in sorted(self.rows.items(), key=lambda kv: str(kv[0]))]

    def clear(self) -> None:
        with self.lock:
            self.rows.clear()
            self._sequences.clear()
            self._used_ids.clear()


def _merge_rows(existing: list[Row], changes: list[Row], coll: Collection) -> list[Row]:
    merged = [dict(r) for r in existing]
    for change in changes:
        key = change.get(coll.row_key) if coll.row_key else None
        target = next((r for r in merged if key is not None and r.get(coll.row_key) == key), None)
        if target is None:
            merged.append(dict(change))
        else:
            target.update(change)
    return merged


def journal_checker(combinations: CombinationTable) -> Check:
    """Business edits of a journal: ChartField combinations, then balance per ledger."""

    def check(row: Row, keys: dict[str, Any]) -> None:
        business_unit = row["BUSINESS_UNIT"]
        lines = row.get("JRNL_LN", [])
        for line in lines:
            if not combinations.allows(business_unit, line):
                used = {f: line[f] for f in CHARTFIELDS if line.get(f)}
                raise messages.invalid_combination(business_unit, used, keys)
        for ledger in dict.fromkeys(line["LEDGER"] for line in lines):
            in_ledger = [line for line in lines if line["LEDGER"] == ledger]
            _check_balance(row["JOURNAL_ID"], ledger, [line["MONETARY_AMOUNT"] for line in in_ledger], keys)
            currencies = {line.get("FOREIGN_CURRENCY", "") for line in in_ledger}
            if len(currencies) == 1 and "" not in currencies:
                foreign = [line.get("FOREIGN_AMOUNT", Decimal(0)) for line in in_ledger]
                _check_balance(row["JOURNAL_ID"], ledger, foreign, keys)

    return check


def _check_balance(journal_id: str, ledger: str, amounts: list[Decimal], keys: dict[str, Any]) -> None:
    debits = sum((a for a in amounts if a > 0), Decimal(0))
    credits = -sum((a for a in amounts if a < 0), Decimal(0))
    if debits != credits:
        raise messages.out_of_balance(journal_id, ledger, debits, credits, keys)


class Ledger:
    """The simulator's database: two CI stores and the combination table under one lock."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.combinations = CombinationTable()
        self.journals = CIStore(JOURNAL, self.lock, journal_checker(self.combinations), {"JRNL_HDR_STATUS": "N"})
        self.customers = CIStore(CUSTOMER, self.lock, defaults={"CUST_STATUS": "A"})

    def load_combinations(self, business_unit: str, rules: Iterable[Any], replace: bool = True) -> None:
        with self.lock:
            self.combinations.load(business_unit, list(rules), replace)

    def combination_rules(self) -> dict[str, list[dict[str, str]]]:
        with self.lock:
            return copy.deepcopy(self.combinations.rules)

    def reset(self) -> None:
        """Forget journals and customers; keep combinations and configuration."""
        with self.lock:
            self.journals.clear()
            self.customers.clear()


def row_to_json(row: Row, buffer: Buffer) -> dict[str, Any]:
    """JSON-ready copy: dates ISO, amounts as strings at the field's scale (never floats)."""
    fields = {f.name: f for f in buffer.fields}
    out: dict[str, Any] = {}
    for name, value in row.items():
        coll = next((c for c in buffer.collections if c.name == name), None)
        if coll is not None:
            coll_fields = {f.name: f for f in coll.fields}
            out[name] = [{k: _json_value(coll_fields.get(k), v) for k, v in r.items()} for r in value]
        else:
            out[name] = _json_value(fields.get(name), value)
    return out


def _json_value(field: Any, value: Any) -> Any:
    if isinstance(value, int | str):
        return value
    return field.format(value) if field is not None else str(value)
