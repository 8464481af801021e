"""Custody domain model: wallets, addresses, deposits, withdrawals, approvers, address book.

No strawberry, no pymongo. Amounts are integer minor units of the asset (``amount_minor``).
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

PLATFORM_TENANT = "platform"  # owner of the shared (omnibus) wallets; never a tenant id


class CustodyMode(enum.Enum):
    """Whose wallets hold a tenant's customer funds."""

    SEGREGATED = "SEGREGATED"
    OMNIBUS = "OMNIBUS"


class WalletTemperature(enum.Enum):
    """Where a wallet's keys live."""

    HOT = "HOT"
    COLD = "COLD"


@dataclass(frozen=True)
class Wallet:
    """A tenant's wallet for one asset: an HD account node known by its xpub.

    ``sealed_key`` (hot wallets only) is the account node's xprv sealed with AES-256-GCM;
    a cold wallet's private key never reaches the server.
    """

    id: str
    tenant_id: str
    asset: str
    temperature: WalletTemperature
    label: str
    created_at: dt.datetime | None = None
    xpub: str = ""
    address: str = ""  # the wallet's own address (internal chain, index 0)
    sealed_key: str | None = None
    frozen: bool = False
    next_index: int = 0  # next deposit address index (external chain)


@dataclass(frozen=True)
class DepositAddress:
    """An address derived non-hardened from a hot wallet's xpub for one account and asset.

    Segregated: the tenant's own hot wallet at ``0/<index>``. Omnibus: the platform's shared
    hot wallet at ``0/<tenant slot>/<index>``, so every tenant's customers get their own
    branch of the platform's key tree.
    """

    address: str
    tenant_id: str
    account_id: str
    customer_id: str
    asset: str
    wallet_id: str
    derivation_index: int
    created_at: dt.datetime | None = None
    tenant_slot: int | None = None  # omnibus only: the tenant's branch of the platform wallet

    @property
    def path(self) -> tuple[int, ...]:
        """Non-hardened path below the wallet's account node."""
        if self.tenant_slot is None:
            return (0, self.derivation_index)
        return (0, self.tenant_slot, self.derivation_index)

    @property
    def omnibus(self) -> bool:
        return self.tenant_slot is not None


class DepositStatus(enum.Enum):
    """Where a deposit is between the chain and the balance."""

    PENDING = "PENDING"
    CREDITED = "CREDITED"


@dataclass(frozen=True)
class Deposit:
    """A chain transaction paying a deposit address; credited once, after N confirmations."""

    id: str  # "<chain>:<txid>"
    tx_id: str
    tenant_id: str
    account_id: str
    customer_id: str
    asset: str
    address: str
    amount_minor: int
    confirmations: int
    required_confirmations: int
    status: DepositStatus
    seen_at: dt.datetime | None = None
    credited_at: dt.datetime | None = None
    engine_seq: int | None = None


class WithdrawalKind(enum.Enum):
    """Who the funds belong to: a customer's withdrawal, or a treasury move between wallets."""

    CUSTOMER = "CUSTOMER"
    SWEEP = "SWEEP"
    REFILL = "REFILL"


class WithdrawalStatus(enum.Enum):
    """Every status has an exit; every failure path releases the hold."""

    REJECTED = "REJECTED"
    PENDING_APPROVAL = "PENDING_APPROVAL"
    AWAITING_COLD_SIGNATURE = "AWAITING_COLD_SIGNATURE"
    BROADCAST = "BROADCAST"
    CONFIRMED = "CONFIRMED"
    EXPIRED = "EXPIRED"
    FROZEN = "FROZEN"


TERMINAL = frozenset(
    {WithdrawalStatus.REJECTED, WithdrawalStatus.EXPIRED, WithdrawalStatus.CONFIRMED}
)


@dataclass(frozen=True)
class Approval:
    """One verified approver signature over the withdrawal's canonical payload."""

    approver_id: str
    signature: str
    approved_at: dt.datetime


@dataclass(frozen=True)
class Withdrawal:
    """Funds leaving a wallet: a customer's withdrawal, a sweep or a refill."""

    id: str
    tenant_id: str
    kind: WithdrawalKind
    asset: str
    amount_minor: int
    destination: str
    status: WithdrawalStatus
    initiator_key_id: str
    initiator_role: str
    nonce: str
    created_at: dt.datetime
    expires_at: dt.datetime
    account_id: str | None = None
    customer_id: str | None = None
    address_book_entry_id: str | None = None
    policy_version: int | None = None
    rule_name: str | None = None
    requirement: dict[str, object] | None = None  # ApprovalRequirement.as_doc()
    approvals: tuple[Approval, ...] = ()
    source_wallet_id: str | None = None
    unsigned_tx: str | None = None  # canonical JSON awaiting the cold signature
    tx_id: str | None = None
    reason: str | None = None
    frozen_from: str | None = None  # the status to return to when unfrozen
    idempotency_key: str | None = None
    hold_seq: int | None = None
    debit_seq: int | None = None
    confirmations: int = 0
    omnibus: bool = False  # signed by the platform's shared wallets; moves the sub-ledger

    @property
    def wallet_owner(self) -> str:
        """Whose wallets sign it: the platform's for an omnibus withdrawal, else the tenant's."""
        return PLATFORM_TENANT if self.omnibus else self.tenant_id


@dataclass(frozen=True)
class Approver:
    """A person who approves withdrawals with an Ed25519 key; member of named groups."""

    id: str
    tenant_id: str
    name: str
    public_key: str  # base64url of the 32-byte raw Ed25519 public key
    groups: tuple[str, ...]
    key_id: str | None = None  # the API key this person uses (self-approval check)
    created_at: dt.datetime | None = None


class AddressBookStatus(enum.Enum):
    """A whitelisted destination's life: quorum, cooling-off, then active."""

    PENDING_APPROVAL = "PENDING_APPROVAL"
    COOLING_OFF = "COOLING_OFF"
    ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class AddressBookEntry:
    """A destination the tenant whitelisted: needs its own quorum and a cooling-off period."""

    id: str
    tenant_id: str
    asset: str
    address: str
    label: str
    proposed_by: str
    created_at: dt.datetime
    approvals: tuple[Approval, ...] = ()
    quorum: int = 2
    active_from: dt.datetime | None = None

    def status(self, now: dt.datetime) -> AddressBookStatus:
        if self.active_from is None:
            return AddressBookStatus.PENDING_APPROVAL
        return (
            AddressBookStatus.ACTIVE if now >= self.active_from else AddressBookStatus.COOLING_OFF
        )


@dataclass(frozen=True)
class TreasuryLimits:
    """A tenant's hot wallet limits and sweep rule for one asset, in minor units."""

    hot_tx_limit_minor: int
    hot_daily_limit_minor: int
    sweep_threshold_minor: int
    hot_target_minor: int


@dataclass(frozen=True)
class CustodySetup:
    """Per tenant: custody mode, limits per asset, the treasury quorum and the address-book
    cooling-off. The platform's own setup (``PLATFORM_TENANT``) limits the shared wallets."""

    tenant_id: str
    limits: dict[str, TreasuryLimits] = field(default_factory=dict)
    treasury_quorum: int = 2
    cooling_off_seconds: int = 86_400
    withdrawal_ttl_seconds: int = 86_400
    mode: CustodyMode = CustodyMode.SEGREGATED
