"""Control-API and write-request bodies: validated into typed specs before anything changes.

Every parser names the offending field in its error so a caller sees what it sent wrong
(``InvalidRequest`` -> HTTP 400). Money arrives as a string or a number and must already be at the
minor unit of the order's currency: the store never rounds what a caller asked for.
``Conflict`` is the other refusal: a well-formed request the order's state does not allow (422).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.bigcommerce.data import FeeSpec, GiftCertificateSpec
from sandbox.bigcommerce.model import PostalAddress, money

ADDRESS_FIELDS = frozenset(f.name for f in dataclasses.fields(PostalAddress))


class InvalidRequest(ValueError):
    """A control-API or write request that names something wrong; the message says what."""


class Conflict(ValueError):
    """A valid request the order's current state refuses (nothing to capture, already cancelled...)."""


def parse_money(raw: Any, name: str, currency: str, *, allow_zero: bool = False) -> Decimal:
    """A non-negative amount (positive unless ``allow_zero``) exact at the currency's minor unit."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise InvalidRequest(f"{name} must be a number or a numeric string, got {raw!r}")
    try:
        value = Decimal(str(raw))
    except InvalidOperation as exc:
        raise InvalidRequest(f"{name} must be a number, got {raw!r}") from exc
    if not value.is_finite() or value < 0 or (value == 0 and not allow_zero):
        raise InvalidRequest(f"{name} must be {'zero or more' if allow_zero else 'positive'}, got {raw!r}")
    if value != money(value, currency):
        raise InvalidRequest(f"{name} {raw!r} has more decimals than {currency} allows")
    return money(value, currency)


def parse_bool(raw: Any, name: str) -> bool:
    if not isinstance(raw, bool):
        raise InvalidRequest(f"{name} must be true or false, got {raw!r}")
    return raw


def _objects(raw: Any, name: str) -> list[Mapping[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(item, Mapping) for item in raw):
        raise InvalidRequest(f"{name} must be a list of objects")
    return raw


def _text(raw: Any, name: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidRequest(f"{name} must be a non-empty string, got {raw!r}")
    return raw.strip()


def parse_fees(raw: Any, currency: str) -> list[FeeSpec]:
    """``fees: [{name, amount, taxable?, id?}]``; ``id`` keeps an existing fee (edits only)."""
    specs = []
    for index, item in enumerate(_objects(raw, "fees")):
        where = f"fees[{index}]"
        fee_id = item.get("id")
        if fee_id is not None and (isinstance(fee_id, bool) or not isinstance(fee_id, int)):
            raise InvalidRequest(f"{where}.id must be an integer, got {fee_id!r}")
        specs.append(FeeSpec(
            name=_text(item.get("name"), f"{where}.name"),
            amount=parse_money(item.get("amount"), f"{where}.amount", currency, allow_zero=True),
            taxable=parse_bool(item.get("taxable", True), f"{where}.taxable"),
            id=fee_id,
        ))
    return specs


def parse_gift_certificates(raw: Any, currency: str) -> list[GiftCertificateSpec]:
    """``gift_certificates: [{amount, recipient_email}]`` sold on the order."""
    specs = []
    for index, item in enumerate(_objects(raw, "gift_certificates")):
        where = f"gift_certificates[{index}]"
        email = _text(item.get("recipient_email"), f"{where}.recipient_email")
        if "@" not in email:
            raise InvalidRequest(f"{where}.recipient_email must be an email address, got {email!r}")
        specs.append(GiftCertificateSpec(parse_money(item.get("amount"), f"{where}.amount", currency), email))
    return specs


def parse_address(raw: Any, name: str) -> dict[str, str]:
    """A partial v2 address: known field names with string values, merged over the current one."""
    if not isinstance(raw, Mapping) or not raw:
        raise InvalidRequest(f"{name} must be a non-empty object")
    unknown = sorted(set(raw) - ADDRESS_FIELDS)
    if unknown:
        raise InvalidRequest(f"{name}.{unknown[0]} is not an address field (allowed: {sorted(ADDRESS_FIELDS)})")
    for key, value in raw.items():
        if not isinstance(value, str):
            raise InvalidRequest(f"{name}.{key} must be a string, got {value!r}")
    return dict(raw)


def reject_unknown(body: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(f"{unknown[0]} cannot be changed by {where} (allowed: {sorted(allowed)})")


def optional_amount(body: Mapping[str, Any], name: str, currency: str) -> Decimal | None:
    return None if body.get(name) is None else parse_money(body[name], name, currency)


__all__ = ["Conflict", "InvalidRequest", "optional_amount", "parse_address", "parse_bool",
           "parse_fees", "parse_gift_certificates", "parse_money", "reject_unknown"]
