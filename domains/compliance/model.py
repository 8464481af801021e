"""Compliance domain model; no strawberry, no pymongo."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


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
class KycProfile:
    """A customer's KYC state; a customer with no record is NOT_STARTED at level 0."""

    customer_id: str
    tenant_id: str
    status: KycStatus = KycStatus.NOT_STARTED
    level: int = 0
    reviewed_by: str | None = None
    updated_at: dt.datetime | None = None
