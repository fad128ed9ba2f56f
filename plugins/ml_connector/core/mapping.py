"""Pair mappings: which ERP dimensions (accounts, ChartFields, segments) each journal role posts to.

One YAML file per pair (``include/mappings/<pair>.yaml``), validated completely on load against
the ERP's field names and lengths, so that a bad file fails with every problem listed at once
instead of one journal at a time in the ERP. Lookups are cached: the transform step resolves the
same few (role, sku, category...) combinations hundreds of thousands of times.

Pure: ``Mapping.parse`` takes the file's bytes and the ERPs' field schemas (each ERP folder
describes its own, ``ml_connector.systems``); reading the file is ``ml_connector.mappings``'s job.
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping as AbstractMapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from ml_connector.errors import ConfigError, NeedsMapping

Dims = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class ErpSchema:
    """The dimension fields an ERP accepts on journal lines and headers, with their maximum lengths.

    Declared by each ERP's descriptor, so a mapping is checked against the ERP it names.
    """

    line_fields: dict[str, int]
    line_required: tuple[str, ...]
    header_fields: dict[str, int]
    header_required: tuple[str, ...]


# Selectors each role may use, in precedence order (first match wins).
ROLE_SELECTORS: dict[str, tuple[str, ...]] = {
    "clearing": ("by_gateway",),
    "gift_certificate_liability": (),
    "store_credit_liability": (),
    "revenue": ("by_sku", "by_category", "by_sku_prefix", "by_channel"),
    "discount": ("by_sku", "by_category", "by_sku_prefix", "by_channel"),
    "shipping_revenue": ("by_channel",),
    "handling_revenue": ("by_channel",),
    "wrapping_revenue": ("by_channel",),
    "tax_payable": ("by_name",),
    "refund_adjustment": ("by_channel",),
    "fee_revenue": ("by_name", "by_channel"),
    "refunds_payable": (),
    "rounding": (),
}
# Roles a mapping may leave out: a record that needs one is parked needs_mapping, naming the key
# to add (fees and cancelled-but-captured orders are rare; older mappings predate these roles).
OPTIONAL_ROLES = frozenset({"fee_revenue", "refunds_payable"})
SELECTOR_LABELS = {
    "by_sku": "SKU",
    "by_sku_prefix": "SKU prefix",
    "by_category": "category",
    "by_channel": "channel",
    "by_gateway": "gateway",
    "by_name": "name",
}
TOP_LEVEL_KEYS = ("pair", "erp", "base_currency", "timezone", "posting_date", "header", "defaults", "roles")
POSTING_DATE_POLICIES = ("capture", "created")
_CURRENCY_RE = re.compile(r"[A-Z]{3}")


class MappingErrors(ConfigError):
    """Every problem found in one mapping file; ``str()`` lists one per line."""

    def __init__(self, errors: list[ConfigError]) -> None:
        if not errors:
            raise ValueError("MappingErrors needs at least one error")
        self.errors = tuple(errors)
        first = errors[0]
        super().__init__(first.source, first.key_path, first.expected, first.got)
        self.args = (str(self),)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


@dataclass(frozen=True)
class RoleRule:
    """A role's resolved rules: either one flat set of dims, or selector tables plus a default.

    Every Dims here already has the file's ``defaults`` merged in and is sorted by field name.
    """

    flat: Dims | None = None
    tables: dict[str, dict[str, Dims]] = field(default_factory=dict)
    default: Dims | None = None

    def all_dims(self) -> list[Dims]:
        found = [d for d in (self.flat, self.default) if d is not None]
        for table in self.tables.values():
            found.extend(table.values())
        return found


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that records duplicate keys (PyYAML silently keeps the last one)."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[int, object]] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int) and key in seen:
                self.duplicates.append((key_node.start_mark.line + 1, key))
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Validator:
    """Walks the parsed YAML once, collecting every error instead of stopping at the first."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[ConfigError] = []

    def error(self, key_path: str, expected: str, got: object = None) -> None:
        self.errors.append(ConfigError(self.source, key_path, expected, got))

    def choice(self, doc: dict[str, Any], key: str, allowed: tuple[str, ...]) -> str | None:
        value = doc.get(key)
        if value not in allowed:
            self.error(key, "one of " + ", ".join(allowed), value)
            return None
        return str(value)

    def dims(self, raw: object, path: str, fields: dict[str, int], what: str) -> dict[str, str]:
        """Validate a {FIELD: "value"} block against the ERP's field names and lengths."""
        if not isinstance(raw, dict):
            self.error(path, f"a mapping of {what} fields to values", raw)
            return {}
        good: dict[str, str] = {}
        for name, value in raw.items():
            if name not in fields:
                self.error(f"{path}.{name}", f"one of the {what} fields ({', '.join(fields)})", name)
                continue
            limit = fields[name]
            if not isinstance(value, str) or len(value) > limit:
                self.error(f"{path}.{name}", f"a string of at most {limit} characters", value)
            elif not value.strip():
                self.error(f"{path}.{name}", f"a non-empty string of at most {limit} characters", value)
            else:
                good[name] = value
        return good


class Mapping:
    """A validated pair mapping. Build with ``Mapping.parse`` (``ml_connector.mappings.load_mapping`` reads a file)."""

    def __init__(
        self,
        *,
        source: str,
        version: str,
        pair: str,
        erp: str,
        base_currency: str,
        timezone: str,
        posting_date: str,
        header: dict[str, str],
        roles: dict[str, RoleRule],
    ) -> None:
        self.source = source
        self.version = version
        self.pair = pair
        self.erp = erp
        self.base_currency = base_currency
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.posting_date = posting_date
        self.header = header
        self.header_dims: Dims = tuple(sorted(header.items()))
        self.roles = roles
        self._cache: dict[tuple[str | None, ...], Dims] = {}

    def in_timezone(self, timezone: str) -> Mapping:
        """The same mapping with posting days in ``timezone`` (the store's, from its connection)."""
        if timezone == self.timezone:
            return self
        other = copy.copy(self)
        other.timezone, other.zone = timezone, ZoneInfo(timezone)
        other._cache = {}
        return other

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def parse(
        cls,
        data: bytes,
        *,
        source: str,
        schemas: AbstractMapping[str, ErpSchema],
        expected_pair: str | None = None,
    ) -> Mapping:
        """Validate mapping YAML ``data`` against ``schemas`` (ERP name -> its field schema).

        ``source`` names the file in error messages; ``erp:`` must name one of ``schemas``.
        """
        check = _Validator(source)
        loader = _StrictLoader(data.decode("utf-8", errors="replace"))
        try:
            doc = loader.get_single_data()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(document)"
            raise MappingErrors([ConfigError(source, where, "valid YAML", getattr(exc, "problem", str(exc)))]) from exc
        finally:
            loader.dispose()
        for line, key in loader.duplicates:
            check.error(f"line {line}", "each key at most once in its block", key)
        if not isinstance(doc, dict):
            raise MappingErrors([*check.errors, ConfigError(source, "(document)", "a mapping of top-level keys", doc)])
        for key in doc:
            if key not in TOP_LEVEL_KEYS:
                check.error(str(key), "one of the top-level keys " + ", ".join(TOP_LEVEL_KEYS), key)

        pair = doc.get("pair")
        if not isinstance(pair, str) or not pair:
            check.error("pair", "the pair name as a string", pair)
        elif expected_pair is not None and pair != expected_pair:
            check.error("pair", f"{expected_pair!r} (the file name)", pair)
        erp = check.choice(doc, "erp", tuple(sorted(schemas)))
        posting_date = check.choice(doc, "posting_date", POSTING_DATE_POLICIES)
        base_currency = doc.get("base_currency")
        if not isinstance(base_currency, str) or not _CURRENCY_RE.fullmatch(base_currency):
            check.error("base_currency", "an ISO 4217 code such as USD", base_currency)
        timezone = doc.get("timezone")
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            check.error("timezone", "an IANA time zone such as America/Chicago", timezone)

        header: dict[str, str] = {}
        roles: dict[str, RoleRule] = {}
        if erp is not None:
            schema = schemas[erp]
            header = check.dims(doc.get("header"), "header", schema.header_fields, f"{erp} header")
            header_raw = doc.get("header")
            for name in schema.header_required:
                if isinstance(header_raw, dict) and name not in header_raw:
                    check.error(f"header.{name}", f"a value (required by {erp})")
            defaults_raw = doc.get("defaults", {})
            defaults = check.dims(defaults_raw, "defaults", schema.line_fields, f"{erp} line")
            roles = _parse_roles(check, doc.get("roles"), schema, erp, defaults)

        if check.errors:
            raise MappingErrors(check.errors)
        return cls(
            source=source,
            version=hashlib.sha256(data).hexdigest()[:12],
            pair=str(pair),
            erp=str(erp),
            base_currency=str(base_currency),
            timezone=str(timezone),
            posting_date=str(posting_date),
            header=header,
            roles=roles,
        )

    # -- resolution ------------------------------------------------------------------------
    def resolve(
        self,
        role: str,
        *,
        sku: str | None = None,
        category: str | None = None,
        channel: str | None = None,
        gateway: str | None = None,
        tax_name: str | None = None,
        context: str = "",
    ) -> Dims:
        """The dims for ``role`` given the record's attributes; ``NeedsMapping`` if no rule fits.

        ``context`` names the record (``"order 123"``) for the error message only.
        """
        cache_key = (role, sku, category, channel, gateway, tax_name)
        found = self._cache.get(cache_key)
        if found is not None:
            return found
        rule = self.roles.get(role)
        if rule is None:
            if role in OPTIONAL_ROLES:
                where = f" in {context}" if context else ""
                raise NeedsMapping(f"no {role} mapping{where}: add roles.{role} to {self.source}")
            raise ValueError(f"unknown mapping role {role!r}; known roles: {', '.join(ROLE_SELECTORS)}")
        offered = {
            "by_sku": sku, "by_sku_prefix": sku, "by_category": category, "by_channel": channel,
            "by_gateway": gateway, "by_name": tax_name,
        }  # fmt: skip
        found = rule.flat
        if found is None:
            for selector in ROLE_SELECTORS[role]:
                value = offered[selector]
                table = rule.tables.get(selector)
                if value is None or table is None:
                    continue
                if selector == "by_sku_prefix":
                    # SKU families ("HW-" for hardware): the longest matching prefix wins.
                    prefix = max((p for p in table if value.startswith(p)), key=len, default=None)
                    if prefix is not None:
                        found = table[prefix]
                        break
                elif value in table:
                    found = table[value]
                    break
            else:
                found = rule.default
        if found is None:
            raise NeedsMapping(self._missing_message(role, offered, context))
        self._cache[cache_key] = found
        return found

    def _missing_message(self, role: str, offered: dict[str, str | None], context: str) -> str:
        given = [
            (sel, offered[sel]) for sel in ROLE_SELECTORS[role] if offered[sel] is not None and sel != "by_sku_prefix"
        ]
        where = f" in {context}" if context else ""
        if not given:
            return f"no {role} mapping{where}: add roles.{role}.default to {self.source}"
        described = [f"{SELECTOR_LABELS[sel]} {value!r}" for sel, value in given]
        what = described[0] + (f" ({', '.join(described[1:])})" if len(described) > 1 else "")
        keys = " or ".join(f"roles.{role}.{sel}.{value}" for sel, value in given)
        return f"no {role} mapping for {what}{where}: add {keys} to {self.source}"

    def all_line_dims(self) -> list[Dims]:
        """Every distinct dims tuple this mapping can produce (to seed valid ERP combinations)."""
        return sorted({dims for rule in self.roles.values() for dims in rule.all_dims()})

    def __repr__(self) -> str:
        return f"Mapping({self.source!r}, erp={self.erp!r}, version={self.version!r})"


def _parse_roles(
    check: _Validator, raw: object, schema: ErpSchema, erp: str, defaults: dict[str, str]
) -> dict[str, RoleRule]:
    if not isinstance(raw, dict):
        check.error("roles", "a mapping of role names to rules", raw)
        return {}
    for name in raw:
        if name not in ROLE_SELECTORS:
            check.error(f"roles.{name}", "one of the roles " + ", ".join(ROLE_SELECTORS), name)
    roles: dict[str, RoleRule] = {}
    for role, selectors in ROLE_SELECTORS.items():
        if role not in raw:
            if role not in OPTIONAL_ROLES:
                check.error(f"roles.{role}", "a rule for this required role")
            continue
        rule = _parse_role(check, raw[role], f"roles.{role}", selectors, schema, erp, defaults)
        if rule is not None:
            roles[role] = rule
    return roles


def _parse_role(
    check: _Validator,
    raw: object,
    path: str,
    selectors: tuple[str, ...],
    schema: ErpSchema,
    erp: str,
    defaults: dict[str, str],
) -> RoleRule | None:
    if not isinstance(raw, dict) or not raw:
        check.error(path, f"a mapping of {erp} line fields, or rules ({', '.join((*selectors, 'default'))})", raw)
        return None

    def leaf(dims_raw: object, leaf_path: str) -> Dims:
        dims = check.dims(dims_raw, leaf_path, schema.line_fields, f"{erp} line")
        merged = {**defaults, **dims}
        if isinstance(dims_raw, dict):
            for name in schema.line_required:
                if name not in merged and name not in dims_raw:
                    check.error(f"{leaf_path}.{name}", f"a value (required by {erp} here or in defaults)")
        return tuple(sorted(merged.items()))

    is_rule_form = any(isinstance(k, str) and (k.startswith("by_") or k == "default") for k in raw)
    if not is_rule_form:
        return RoleRule(flat=leaf(raw, path))
    tables: dict[str, dict[str, Dims]] = {}
    default: Dims | None = None
    for key, value in raw.items():
        if key == "default":
            default = leaf(value, f"{path}.default")
        elif key in selectors:
            tables[key] = _parse_table(check, value, f"{path}.{key}", leaf)
        else:
            allowed = ", ".join((*selectors, "default"))
            check.error(f"{path}.{key}", f"one of the rule keys for this role ({allowed})", key)
    if not tables and default is None:
        check.error(path, "at least one rule or a default")
    return RoleRule(tables=tables, default=default)


def _parse_table(check: _Validator, raw: object, path: str, leaf: Any) -> dict[str, Dims]:
    if not isinstance(raw, AbstractMapping):
        check.error(path, "a mapping of values to line fields", raw)
        return {}
    table: dict[str, Dims] = {}
    for value, dims_raw in raw.items():
        # YAML reads `1:` as an int; channel ids are naturally written that way.
        if isinstance(value, bool) or not isinstance(value, str | int):
            check.error(f"{path}.{value}", "a string key (quote it)", value)
            continue
        table[str(value)] = leaf(dims_raw, f"{path}.{value}")
    return table
