"""DomainError and the stable error codes every domain raises; imports nothing from graph/."""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """An expected failure with a stable, documented `extensions.code`.

    Codes are API: add, never rename. Clients must accept codes they do not know.
    """

    code: ClassVar[str] = "INTERNAL"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.extensions: dict[str, object] = {"code": self.code, **details}


class ValidationError(DomainError):
    """Input is malformed or out of range (off-tick price, bad cursor, unknown enum)."""

    code = "VALIDATION"


class NotFoundError(DomainError):
    """The object does not exist, or is not visible to the caller (same answer either way)."""

    code = "NOT_FOUND"


class UnauthenticatedError(DomainError):
    """No credentials, or credentials that do not identify a principal."""

    code = "UNAUTHENTICATED"


class ForbiddenError(DomainError):
    """The principal is known but its role or scopes do not allow the operation."""

    code = "FORBIDDEN"


class ConflictError(DomainError):
    """The operation conflicts with the current state (duplicate name, wrong status)."""

    code = "CONFLICT"


class UnavailableError(DomainError):
    """A dependency (store, broker) does not answer; the operation may be retried."""

    code = "UNAVAILABLE"
