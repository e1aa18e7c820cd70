"""The connector's one exception hierarchy.

Every layer maps what goes wrong below it into one of these classes at its boundary, so
that callers (the retry policy, the async-customer fallback, the CLI's exit codes) decide
on the class and never on a message.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Root of every error the connector raises on purpose."""


# Configuration errors: a person must change a file or the environment; retrying is useless.


class ConfigError(ConnectorError):
    """The configuration is missing, malformed or inconsistent; the message names the key."""


class PeerConfigurationError(ConfigError):
    """A peer answered 401/403/404/405: credentials, URL or permissions are wrong."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RunLockHeld(ConnectorError):
    """Another live run holds the run lock; its owner is in the message (not a failure: wait)."""


class StoreUnavailable(ConnectorError):
    """The store (SQLite file or PostgreSQL) cannot be opened, read or written."""


# Transport errors: the other side could not be reached or did not answer in time.


class TransportError(ConnectorError):
    """Talking to a peer failed below the level of its business answer."""


class RetryableTransportError(TransportError):
    """A failure worth retrying: connection refused or reset, timeout, 408, 429 or 5xx."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after = retry_after


class PeerUnreachable(TransportError):
    """A peer stayed unreachable after the retry policy gave up (the async path's trigger)."""

    def __init__(self, message: str, *, attempts: int = 0) -> None:
        super().__init__(message)
        self.attempts = attempts


class PohodaUnreachable(PeerUnreachable):
    """POHODA mServer did not answer within the bounded retry time."""


class EshopUnreachable(PeerUnreachable):
    """The e-shop did not answer within the bounded retry time."""


class PricingWorkerUnreachable(PeerUnreachable):
    """The pricing worker did not answer within the bounded retry time."""


# A peer's refusal: the request arrived and was understood, and the answer is no.


class PeerRefused(ConnectorError):
    """A peer refused a request (HTTP 4xx other than configuration errors)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class PohodaRefused(PeerRefused):
    """POHODA answered state="error" for a whole dataPack; the note says why."""

    def __init__(self, message: str, *, note: str = "", status_code: int | None = None) -> None:
        super().__init__(message, status_code=status_code)
        self.note = note


class Conflict(PeerRefused):
    """A write lost an optimistic-concurrency race (HTTP 409 / 412)."""


# Bad data: the input itself is wrong; the message names the record and the field.


class BadData(ConnectorError):
    """Input that cannot be accepted: the message names the record and the field."""

    def __init__(self, message: str, *, record: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.record = record
        self.field = field


class MalformedXML(BadData):
    """XML that is not well-formed, is hostile (DTD, entities), too large or wrongly encoded."""


class SchemaViolation(BadData):
    """Well-formed XML that fails its XSD; the message carries the element's path."""


class FieldTooLong(BadData):
    """A value is longer than the target field's limit and truncation is not allowed."""

    def __init__(self, message: str, *, record: str | None, field: str, limit: int, length: int) -> None:
        super().__init__(message, record=record, field=field)
        self.limit = limit
        self.length = length


class UnencodableCharacters(BadData):
    """A value holds characters the wire encoding cannot carry and cannot be transliterated."""


class InvalidContact(BadData):
    """A canonical contact (e.g. a JSON line) is malformed: unknown key, wrong type."""
