"""Errors of the accounts domain."""

from __future__ import annotations

from domains.shared.errors import ConflictError, NotFoundError


class TenantNotFoundError(NotFoundError):
    """No such tenant visible to the caller."""


class AccountNotFoundError(NotFoundError):
    """No such account visible to the caller."""


class CustomerNotFoundError(NotFoundError):
    """No such customer visible to the caller."""


class DuplicateTenantError(ConflictError):
    """A tenant with this name exists already."""


class SubAccountLimitError(ConflictError):
    """The customer has the maximum number of sub-accounts."""
