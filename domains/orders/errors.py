"""Errors of the orders domain."""

from __future__ import annotations

from domains.shared.errors import ConflictError, NotFoundError


class MarketNotFoundError(NotFoundError):
    """No such market (or not listed for the caller's tenant)."""


class DuplicateMarketError(ConflictError):
    """A market with this symbol exists already."""
