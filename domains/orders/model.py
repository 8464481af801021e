"""Orders domain model: markets and the order read model; no strawberry, no pymongo."""

from __future__ import annotations

import datetime as dt
import enum
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from domains.shared.errors import ValidationError


class MarketKind(enum.Enum):
    """Spot pairs and perpetual futures."""

    SPOT = "SPOT"
    PERPETUAL = "PERPETUAL"


class MarketStatus(enum.Enum):
    """Whether a market accepts orders."""

    TRADING = "TRADING"
    HALTED = "HALTED"
    CANCEL_ONLY = "CANCEL_ONLY"
    REDUCE_ONLY = "REDUCE_ONLY"


class Side(enum.Enum):
    """Buy or sell."""

    BUY = "BUY"
    SELL = "SELL"


class OrderType(enum.Enum):
    """How an order is priced and triggered."""

    LIMIT = "LIMIT"
    MARKET = "MARKET"
    STOP_MARKET = "STOP_MARKET"
    STOP_LIMIT = "STOP_LIMIT"


class TimeInForce(enum.Enum):
    """How long an order stays live."""

    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class SelfTradePrevention(enum.Enum):
    """What happens when an order would trade with the same account's resting order."""

    MARKET_DEFAULT = "MARKET_DEFAULT"
    NONE = "NONE"
    EXPIRE_TAKER = "EXPIRE_TAKER"
    EXPIRE_MAKER = "EXPIRE_MAKER"
    EXPIRE_BOTH = "EXPIRE_BOTH"


class OrderStatus(enum.Enum):
    """Where an order is in its life."""

    PENDING_TRIGGER = "PENDING_TRIGGER"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class MarginBracket:
    """A perpetual's maintenance bracket: from ``notional_floor`` up (quote asset),
    ``maint_rate`` of the notional minus ``maint_amount``, at most ``max_leverage``."""

    notional_floor: Decimal
    max_leverage: int
    maint_rate: Decimal
    maint_amount: Decimal


def validate_brackets(brackets: Sequence[MarginBracket]) -> Sequence[MarginBracket]:
    """Brackets start at 0, increase, and keep maintenance continuous at every floor."""
    for bracket in brackets:
        if not 1 <= bracket.max_leverage <= 125 or not 0 < bracket.maint_rate < 1:
            raise ValidationError("a bracket needs maxLeverage 1-125 and 0 < maintRate < 1")
        if bracket.maint_amount < 0 or bracket.notional_floor < 0:
            raise ValidationError("bracket floors and amounts must not be negative")
    if not brackets or brackets[0].notional_floor != 0 or brackets[0].maint_amount != 0:
        raise ValidationError("the first margin bracket starts at notional 0 with amount 0")
    for low, high in itertools.pairwise(brackets):
        if high.notional_floor <= low.notional_floor:
            raise ValidationError("margin bracket floors must increase")
        at_floor = high.notional_floor
        if at_floor * low.maint_rate - low.maint_amount != at_floor * high.maint_rate - (
            high.maint_amount
        ):
            raise ValidationError(
                f"maintenance margin jumps at notional {at_floor}: adjust maintAmount"
            )
    return brackets


@dataclass(frozen=True)
class Market:
    """A platform market: prices are multiples of tick_size, quantities of lot_size."""

    id: str
    kind: MarketKind
    base_asset: str
    quote_asset: str
    tick_size: Decimal
    lot_size: Decimal
    min_notional: Decimal
    status: MarketStatus = MarketStatus.TRADING
    price_band_bps: int = 1000
    collar_bps: int = 500
    reference_price: Decimal | None = None
    created_at: dt.datetime | None = None
    margin_brackets: tuple[MarginBracket, ...] = ()  # perpetuals only
    perp: PerpParams | None = None  # perpetuals only
    sandbox_tenant: str | None = None  # a sandbox copy: the one sandbox tenant it serves
    sandbox_of: str | None = None  # a sandbox copy: the live market it copies


DEFAULT_FUNDING_CAP_BPS = 75  # |funding rate| per interval at most 0.75%
DEFAULT_BASIS_CAP_BPS = 50  # mark at most 0.5% away from the index


@dataclass(frozen=True)
class PerpParams:
    """A perpetual's funding and mark parameters: the funding rate per interval is clamped
    to +-``funding_cap_bps``, the mark to the index +-``basis_cap_bps``."""

    funding_cap_bps: int = DEFAULT_FUNDING_CAP_BPS
    basis_cap_bps: int = DEFAULT_BASIS_CAP_BPS

    def validate(self) -> PerpParams:
        if not 1 <= self.funding_cap_bps <= 1000:
            raise ValidationError("fundingCapBps must be 1-1000", field="fundingCapBps")
        if not 1 <= self.basis_cap_bps <= 1000:
            raise ValidationError("markBasisCapBps must be 1-1000", field="markBasisCapBps")
        return self


@dataclass(frozen=True)
class Order:
    """The order read model, projected from engine events."""

    id: str
    tenant_id: str
    customer_id: str
    account_id: str
    market_id: str
    side: Side
    type: OrderType
    price: Decimal | None
    quantity: Decimal
    filled_quantity: Decimal
    status: OrderStatus
    client_order_id: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    time_in_force: TimeInForce = TimeInForce.GTC
    stop_price: Decimal | None = None
    reason: str | None = None
    post_only: bool = False
    reduce_only: bool = False
    routing: OrderRouting | None = None


@dataclass(frozen=True)
class OrderRouting:
    """The routing choice made for an order: what filled internally, what went to the venue.

    ``status`` is a RouteStatus name (PENDING, FILLED, PARTIALLY_FILLED, EXPIRED,
    REJECTED, UNAVAILABLE); ``reason`` explains anything short of FILLED.
    """

    venue: str
    status: str
    internal_quantity: Decimal
    requested_quantity: Decimal
    external_quantity: Decimal
    limit_price: Decimal | None
    external_average_price: Decimal | None
    external_fee: Decimal
    reason: str | None = None
    hold_note: dict[str, str] | None = None  # while PENDING: what resume needs


def order_key(order_id: int) -> str:
    """The public id of an engine order (its sequence number), sortable as text."""
    return f"ord_{order_id:016d}"


class Venue(enum.Enum):
    """Where a trade executed."""

    INTERNAL = "INTERNAL"
    EXTERNAL = "EXTERNAL"


class TradeStatus(enum.Enum):
    """Whether a trade stands."""

    SETTLED = "SETTLED"
    BUSTED = "BUSTED"  # reversed by a clearing rollback (bustTrades)


@dataclass(frozen=True)
class TradeSide:
    """One party of a trade."""

    order_id: str
    account_id: str
    tenant_id: str
    customer_id: str
    fee: Decimal


@dataclass(frozen=True)
class Trade:
    """An execution between a taker and a maker (or the external venue)."""

    id: str
    market_id: str
    price: Decimal
    quantity: Decimal
    taker_side: Side
    taker: TradeSide
    maker: TradeSide | None
    venue: Venue
    executed_at: dt.datetime
    seq: int
    status: TradeStatus = TradeStatus.SETTLED
    bust_seq: int | None = None  # the journal sequence of the bust that reversed it


@dataclass(frozen=True)
class OrderQuery:
    """Filters for listing orders; every given filter must match."""

    account_id: str | None = None
    status: tuple[OrderStatus, ...] = ()
    market_id: str | None = None
    client_order_id: str | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
