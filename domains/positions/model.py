"""Positions domain model: perpetual positions, marks, funding, liquidations, insurance funds.

Read models projected from engine events (domains/positions/projection.py); no strawberry,
no pymongo. Money is Decimal in the quote (margin) asset.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from decimal import Decimal


class MarginMode(enum.Enum):
    """Cross margin pools the account's margin asset; isolated gives the position its own."""

    CROSS = "CROSS"
    ISOLATED = "ISOLATED"


@dataclass(frozen=True)
class Position:
    """A perpetual position: signed quantity (long > 0, short < 0) on one market.

    ``cost`` is the signed sum of the fill notionals of the open part (quote asset), so the
    entry price is ``cost / quantity`` and the unrealised PnL at a mark ``quantity * mark -
    cost``. ``margin`` is the position margin held (initial or isolated margin).
    """

    id: str
    tenant_id: str
    customer_id: str
    account_id: str
    market_id: str
    quantity: Decimal
    entry_price: Decimal
    realized_pnl: Decimal
    updated_at: dt.datetime | None = None
    cost: Decimal = Decimal(0)
    margin: Decimal = Decimal(0)
    leverage: int = 10
    margin_mode: MarginMode = MarginMode.CROSS
    quote_asset: str = "USDT"
    seq: int = 0


@dataclass(frozen=True)
class MarkPrice:
    """A perpetual's mark and index price and its funding estimate after a change."""

    market_id: str
    mark: Decimal
    index: Decimal
    funding_rate: Decimal  # estimate for the next settlement, per interval
    next_funding_at: dt.datetime | None
    seq: int
    updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class FundingPayment:
    """One position's funding settlement: ``amount`` > 0 received, < 0 paid."""

    id: str
    tenant_id: str
    customer_id: str
    account_id: str
    market_id: str
    quantity: Decimal
    mark: Decimal
    rate: Decimal
    amount: Decimal
    asset: str
    seq: int
    paid_at: dt.datetime


class LiquidationStep(enum.Enum):
    """The steps of a liquidation, in the order they happen."""

    STARTED = "STARTED"
    ORDERS_CANCELED = "ORDERS_CANCELED"
    ORDER_FILLED = "ORDER_FILLED"
    INSURANCE_PAID = "INSURANCE_PAID"
    INSURANCE_CREDITED = "INSURANCE_CREDITED"
    AUTO_DELEVERAGED = "AUTO_DELEVERAGED"
    DONE = "DONE"
    WOUND_DOWN = "WOUND_DOWN"
    SOCIALIZED_LOSS = "SOCIALIZED_LOSS"


@dataclass(frozen=True)
class LiquidationEvent:
    """One step of one account's liquidation (``amount`` and fund in the quote asset)."""

    id: str
    tenant_id: str
    customer_id: str
    account_id: str
    market_id: str | None
    step: LiquidationStep
    order_id: str | None
    quantity: Decimal | None
    price: Decimal | None
    amount: Decimal
    insurance_fund_after: Decimal
    counterparty_account_id: str | None
    seq: int
    at: dt.datetime
    count: int | None = None  # STARTED: positions concerned; ORDERS_CANCELED: orders


@dataclass(frozen=True)
class InsuranceFund:
    """The platform's insurance fund of one margin asset."""

    asset: str
    balance: Decimal
    seq: int
    updated_at: dt.datetime | None = None
