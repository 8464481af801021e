"""Custody's stable error codes (API: add, never rename)."""

from __future__ import annotations

from domains.shared.errors import DomainError


class InsufficientFundsError(DomainError):
    """The account's available balance does not cover the withdrawal."""

    code = "INSUFFICIENT_FUNDS"


class FrozenError(DomainError):
    """A wallet, an account or a withdrawal is frozen by compliance."""

    code = "FROZEN"


class ApprovalInvalidError(DomainError):
    """The signature verifies under no registered approver key of the tenant (forged)."""

    code = "APPROVAL_INVALID"


class ApprovalReplayedError(DomainError):
    """The signature was already used for another object."""

    code = "APPROVAL_REPLAYED"


class ApprovalDuplicateError(DomainError):
    """This approver has already approved this object."""

    code = "APPROVAL_DUPLICATE"


class SelfApprovalError(DomainError):
    """The initiator of a withdrawal (or proposer of an entry) cannot approve it."""

    code = "SELF_APPROVAL"


class SignatureInvalidError(DomainError):
    """A cold-signed transaction does not verify against the cold wallet's key."""

    code = "SIGNATURE_INVALID"


class ChainRejectedError(DomainError):
    """The chain refused the transaction."""

    code = "CHAIN_REJECTED"


class SandboxCustodyError(DomainError):
    """A sandbox tenant's custody runs segregated on a simulated chain only, never omnibus in
    the platform's shared wallets nor on a real chain's signing path."""

    code = "SANDBOX_BOUNDARY"


class CustodyBalanceHeldError(DomainError):
    """The tenant still holds custody funds (balances, holds, pending deposits or an omnibus
    share), so its custody mode cannot change."""

    code = "CUSTODY_BALANCE_HELD"


class TenantHaltedError(DomainError):
    """The tenant's trading mode is HALTED: no withdrawal is requested or approved."""

    code = "TENANT_HALTED"
