"""Order-entry commands as the API receives them: frozen, imperative, in decimals."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domains.orders.model import OrderType, SelfTradePrevention, Side, TimeInForce


@dataclass(frozen=True)
class PlaceOrder:
    """Place an order for one account; ``client_order_id`` makes retries safe for 24 h."""

    account_id: str
    market_id: str
    side: Side
    type: OrderType
    quantity: Decimal
    price: Decimal | None = None
    stop_price: Decimal | None = None
    time_in_force: TimeInForce | None = None
    post_only: bool = False
    self_trade_prevention: SelfTradePrevention = SelfTradePrevention.MARKET_DEFAULT
    client_order_id: str | None = None
    reduce_only: bool = False  # perpetuals: may only shrink the position, never open or flip


@dataclass(frozen=True)
class AmendOrder:
    """Change a live order's price and/or remaining quantity."""

    order_id: str
    price: Decimal | None = None
    quantity: Decimal | None = None


@dataclass(frozen=True)
class AdjustBalance:
    """An operator's audited credit (positive) or debit (negative) of an account."""

    account_id: str
    asset: str
    amount: Decimal
    reason: str


@dataclass(frozen=True)
class TransferFunds:
    """Move an asset between two accounts of the same customer."""

    from_account_id: str
    to_account_id: str
    asset: str
    amount: Decimal
