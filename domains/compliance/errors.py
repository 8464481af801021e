"""Errors of the compliance domain, each with a stable ``extensions.code``."""

from __future__ import annotations

from domains.shared.errors import DomainError


class KycRequiredError(DomainError):
    """The customer's KYC does not allow this (not VERIFIED, downgraded to reduce-only, or
    its level does not include the product). ``extensions.reason`` says which."""

    code = "KYC_REQUIRED"


class WithdrawalLimitExceededError(DomainError):
    """The withdrawal would exceed the daily limit of the customer's KYC level."""

    code = "WITHDRAWAL_LIMIT_EXCEEDED"


class SanctionsHitError(DomainError):
    """A party or address matched a sanctions list; the action is blocked pending review."""

    code = "SANCTIONS_HIT"


class SuitabilityRequiredError(DomainError):
    """The customer has no passed derivatives suitability assessment with a current disclosure."""

    code = "SUITABILITY_REQUIRED"
