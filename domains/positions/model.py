"""Positions domain model; no strawberry, no pymongo."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Position:
    """A position read model: signed quantity (long > 0, short < 0) on one market."""

    id: str
    tenant_id: str
    customer_id: str
    account_id: str
    market_id: str
    quantity: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    updated_at: dt.datetime | None = None
