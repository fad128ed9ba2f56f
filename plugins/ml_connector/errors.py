"""Typed errors shared by every layer.

Each one says what is wrong and where, so that an operator reading a task log or a parked
record's reason knows what to fix without opening the code.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base class for every error ml-connector raises on purpose."""


class ConfigError(ConnectorError):
    """A configuration or mapping file is invalid: names the file, the key path and what was expected."""

    def __init__(self, source: str, key_path: str, expected: str, got: object = None) -> None:
        self.source, self.key_path, self.expected, self.got = source, key_path, expected, got
        got_txt = "" if got is None else f", got {got!r}"
        super().__init__(f"{source}: {key_path}: expected {expected}{got_txt}")


class ParkedError(ConnectorError):
    """A record cannot go further and is parked with a reason (never dropped)."""

    status = "parked"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class NeedsMapping(ParkedError):
    """A value has no mapping rule (unknown SKU, category, gateway...)."""

    status = "needs_mapping"


class NeedsReview(ParkedError):
    """A business rule failed (refund above captured, amounts that do not add up, ERP conflict)."""

    status = "needs_review"


class NormalisationError(ConnectorError):
    """A storefront response that does not parse or lacks a required field."""

    def __init__(self, endpoint: str, record_id: object, problem: str) -> None:
        self.endpoint, self.record_id, self.problem = endpoint, record_id, problem
        super().__init__(f"{endpoint} record {record_id}: {problem}")


class ExternalError(ConnectorError):
    """An external system answered with an error. ``transient`` errors may be retried."""

    transient = False

    def __init__(self, system: str, message: str, *, status: int | None = None) -> None:
        self.system, self.status = system, status
        super().__init__(f"{system}: {message}")


class TransientError(ExternalError):
    """Timeouts, 5xx, 429, dropped connections: retry with backoff."""

    transient = True


class AuthenticationError(ExternalError):
    """Credentials rejected: retrying will not help until the connection is fixed."""


class ValidationRejected(ExternalError):
    """The ERP rejected the document's content (unbalanced, invalid combination, too long)."""


class DuplicateKey(ExternalError):
    """The ERP already holds a document with this key."""


class NotFound(ExternalError):
    """The ERP or storefront has no such document."""
