"""Compliance model: KYC workflow, levels, gates and suitability; no strawberry, no pymongo."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType


class KycStatus(enum.Enum):
    """KYC workflow states of a customer."""

    NOT_STARTED = "NOT_STARTED"
    PENDING = "PENDING"
    VERIFIED = "VERIFIED"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"


ALLOWED_TRANSITIONS: dict[KycStatus, frozenset[KycStatus]] = {
    KycStatus.NOT_STARTED: frozenset({KycStatus.PENDING}),
    KycStatus.PENDING: frozenset({KycStatus.VERIFIED, KycStatus.REJECTED}),
    KycStatus.VERIFIED: frozenset({KycStatus.EXPIRED, KycStatus.PENDING}),
    KycStatus.REJECTED: frozenset({KycStatus.PENDING}),
    KycStatus.EXPIRED: frozenset({KycStatus.PENDING}),
}


@dataclass(frozen=True)
class KycDocument:
    """Metadata of one identity document or check (never the document itself)."""

    kind: str  # PASSPORT, ID_CARD, PROOF_OF_ADDRESS, LIVENESS ...
    reference: str  # the institution's or provider's reference for the file or check
    issuing_country: str | None = None
    expires_on: dt.date | None = None


@dataclass(frozen=True)
class KycProfile:
    """A customer's KYC state; a customer with no record is NOT_STARTED at level 0.

    ``ever_verified`` marks a customer who was VERIFIED once: when it later lapses (EXPIRED,
    or back to PENDING for a re-review) the customer is *downgraded*, not new, and keeps
    reduce-only trading and withdraw-only custody (see ``TradeGate``).
    """

    customer_id: str
    tenant_id: str
    status: KycStatus = KycStatus.NOT_STARTED
    level: int = 0
    reviewed_by: str | None = None
    updated_at: dt.datetime | None = None
    ever_verified: bool = False
    legal_name: str | None = None
    date_of_birth: dt.date | None = None
    nationality: str | None = None
    documents: tuple[KycDocument, ...] = ()
    provider: str = "manual"
    submitted_at: dt.datetime | None = None
    note: str | None = None


class TradeGate(enum.Enum):
    """What a customer's KYC lets it do on a spot market."""

    FULL = "FULL"  # VERIFIED: trade and withdraw within its level
    REDUCE_ONLY = "REDUCE_ONLY"  # downgraded: sell (reduce crypto held), cancel, withdraw
    NONE = "NONE"  # never verified: nothing but cancels


def trade_gate(profile: KycProfile) -> TradeGate:
    """The trading permission a KYC state grants."""
    if profile.status is KycStatus.VERIFIED:
        return TradeGate.FULL
    if profile.ever_verified and profile.status in (KycStatus.EXPIRED, KycStatus.PENDING):
        return TradeGate.REDUCE_ONLY
    return TradeGate.NONE


@dataclass(frozen=True)
class KycLevel:
    """What a verification level allows in one tenant: products and daily withdrawal limits.

    ``daily_withdrawal`` maps an asset to the most a customer may withdraw of it per UTC day
    (an asset missing from the map cannot be withdrawn at this level).
    """

    tenant_id: str
    level: int
    name: str
    products: frozenset[str]
    daily_withdrawal: Mapping[str, Decimal] = field(default_factory=dict)
    updated_by: str | None = None
    updated_at: dt.datetime | None = None


MAX_KYC_LEVEL = 3
_DEFAULT_LIMITS: dict[int, tuple[str, frozenset[str], dict[str, Decimal]]] = {
    0: ("Unverified", frozenset(), {}),
    1: ("Basic", frozenset({"SPOT"}),
        {"BTC": Decimal("1"), "ETH": Decimal("15"), "USDT": Decimal("20000")}),
    2: ("Enhanced", frozenset({"SPOT"}),
        {"BTC": Decimal("10"), "ETH": Decimal("150"), "USDT": Decimal("250000")}),
    3: ("Professional", frozenset({"SPOT", "PERPETUAL"}),
        {"BTC": Decimal("100"), "ETH": Decimal("1500"), "USDT": Decimal("2500000")}),
}  # fmt: skip


def default_level(tenant_id: str, level: int) -> KycLevel:
    """The platform default for a level a tenant did not configure."""
    name, products, limits = _DEFAULT_LIMITS[level]
    return KycLevel(tenant_id, level, name, products, MappingProxyType(dict(limits)))


@dataclass(frozen=True)
class Suitability:
    """A customer's derivatives suitability: questionnaire outcome and the risk disclosure
    it acknowledged (version and time), as the positions domain asks for it."""

    customer_id: str
    tenant_id: str
    questionnaire_version: str
    score: int
    passed: bool
    disclosure_version: str
    acknowledged_at: dt.datetime
    recorded_by: str
    recorded_at: dt.datetime
