"""Errors of the accounts domain."""

from __future__ import annotations

from domains.shared.errors import (
    ConflictError,
    DomainError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)


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


class ProductNotPermittedError(DomainError):
    """The tenant's jurisdiction does not permit this product (e.g. PERPETUAL futures)."""

    code = "PRODUCT_NOT_PERMITTED"


class SandboxBoundaryError(DomainError):
    """Sandbox and live data do not mix: a sandbox lists only its own sandbox markets and
    routes internally only; a live tenant lists no sandbox market."""

    code = "SANDBOX_BOUNDARY"


class UnknownMarketError(ValidationError):
    """A market id that the platform does not have."""


class MarketCatalogUnavailableError(UnavailableError):
    """No market catalog is wired into the accounts service, so markets cannot be listed."""


class ApiKeyNotFoundError(NotFoundError):
    """No such API key visible to the caller."""
