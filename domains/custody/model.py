"""Custody domain model; no strawberry, no pymongo."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass


class WalletTemperature(enum.Enum):
    """Where a wallet's keys live."""

    HOT = "HOT"
    COLD = "COLD"


@dataclass(frozen=True)
class Wallet:
    """A tenant's wallet for one asset."""

    id: str
    tenant_id: str
    asset: str
    temperature: WalletTemperature
    label: str
    created_at: dt.datetime | None = None
