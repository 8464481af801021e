"""Billing's refusals, each with a stable ``extensions.code`` (codes are API: add, never rename)."""

from __future__ import annotations

from domains.shared.errors import ConflictError, NotFoundError


class MonthNotOverError(ConflictError):
    """The month cannot be closed yet: it has not ended (plus the metering grace)."""

    code = "MONTH_NOT_OVER"


class MonthClosedError(ConflictError):
    """A plan may not take effect in a month whose invoice is already issued."""

    code = "MONTH_CLOSED"


class InvoiceNotFoundError(NotFoundError):
    """No such invoice visible to the caller."""


class NoBillingPlanError(NotFoundError):
    """The tenant has no billing plan in effect for the month."""
