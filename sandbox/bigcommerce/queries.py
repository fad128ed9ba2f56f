"""Query-string parsing shared by the v2 and v3 handlers: ints, lists, dates, paging.

Each parser raises ``BadQuery`` naming the parameter, so a client sees what it sent wrong.
"""

from __future__ import annotations

import datetime as dt
import re
from email.utils import parsedate_to_datetime

from sandbox.common.server import Request

_UNENCODED_PLUS = re.compile(r" (\d{2}:?\d{2})$")
MAX_LIMIT = 250  # BigCommerce-wide page cap; larger limits are clamped, not refused


class BadQuery(ValueError):
    """A query parameter with an unusable value."""


def integer(req: Request, name: str, default: int | None = None) -> int | None:
    raw = req.arg(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise BadQuery(f"query parameter {name!r} must be an integer, got {raw!r}") from exc


def int_list(req: Request, name: str) -> set[int] | None:
    """``id:in=1,2,3`` (or repeated ``id:in[]=1``) as a set; None when absent."""
    values = [v for raw in req.query.get(name, []) + req.query.get(f"{name}[]", []) for v in raw.split(",") if v]
    if not values:
        return None
    try:
        return {int(v) for v in values}
    except ValueError as exc:
        raise BadQuery(f"query parameter {name!r} must be a comma-separated list of integers") from exc


def str_list(req: Request, name: str) -> set[str] | None:
    values = [v for raw in req.query.get(name, []) + req.query.get(f"{name}[]", []) for v in raw.split(",") if v]
    return set(values) if values else None


def moment(req: Request, name: str) -> dt.datetime | None:
    """RFC 2822 or ISO 8601 (date or date-time, naive read as UTC) as an aware UTC datetime."""
    raw = req.arg(name)
    if raw is None or raw == "":
        return None
    text = _UNENCODED_PLUS.sub(r"+\1", raw.strip())  # a "+0000" sent without %2B arrives as " 0000"
    value: dt.datetime | None = None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            value = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            value = None
    if value is None:
        raise BadQuery(f"query parameter {name!r} must be an RFC 2822 or ISO 8601 date, got {raw!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def paging(req: Request, default_limit: int = 50) -> tuple[int, int]:
    """(page >= 1, 1 <= limit <= 250)."""
    page = integer(req, "page", 1) or 1
    limit = integer(req, "limit", default_limit) or default_limit
    if page < 1:
        raise BadQuery(f"query parameter 'page' must be 1 or more, got {page}")
    if limit < 1:
        raise BadQuery(f"query parameter 'limit' must be 1 or more, got {limit}")
    return page, min(limit, MAX_LIMIT)


def includes(req: Request) -> set[str]:
    return {part.strip() for raw in req.query.get("include", []) for part in raw.split(",") if part.strip()}
