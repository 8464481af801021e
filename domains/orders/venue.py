"""External venue interface for routed remainders: integer results; no strawberry, no pymongo."""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Protocol

from domains.orders.model import Side
from domains.shared.errors import NotFoundError, UnavailableError

BPS_PER_UNIT = 10_000


class VenueOrderStatus(enum.Enum):
    """Final outcome of an immediate-or-cancel order at the venue."""

    FILLED = "FILLED"
    PARTIALLY_FILLED_EXPIRED = "PARTIALLY_FILLED_EXPIRED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


class VenueRejectReason(enum.StrEnum):
    """Reasons the simulator gives; real venues may report other strings."""

    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    INVALID_PRICE = "INVALID_PRICE"
    VENUE_HALTED = "VENUE_HALTED"
    DUPLICATE_CLIENT_ORDER_ID = "DUPLICATE_CLIENT_ORDER_ID"


class VenueUnavailableError(UnavailableError):
    """The venue does not answer (outage, closed); nothing executed, the call may be retried."""


class VenueSymbolNotFoundError(NotFoundError):
    """The venue does not list this symbol."""


@dataclass(frozen=True)
class VenueFill:
    """One execution at the venue; the caller converts notional and fee to minor units."""

    venue_fill_id: str
    venue_order_id: str
    client_order_id: str
    symbol: str
    side: Side
    price_ticks: int
    qty_lots: int
    notional_ticks_lots: int
    fee_bps: int
    ts_ns: int


@dataclass(frozen=True)
class VenueOrderResult:
    """What happened to one IOC order: fills, totals, and a reject reason when REJECTED."""

    venue_order_id: str
    client_order_id: str
    symbol: str
    side: Side
    requested_qty_lots: int
    limit_price_ticks: int | None
    status: VenueOrderStatus
    filled_qty_lots: int = 0
    notional_ticks_lots: int = 0
    fee_bps: int = 0
    fills: tuple[VenueFill, ...] = ()
    reject_reason: str | None = None
    ts_ns: int = 0

    @property
    def unfilled_qty_lots(self) -> int:
        """Lots that did not fill: the expired IOC remainder, or everything when rejected."""
        return self.requested_qty_lots - self.filled_qty_lots

    @property
    def average_price_ticks(self) -> Fraction | None:
        """Exact volume-weighted average price in ticks, or None when nothing filled."""
        if self.filled_qty_lots == 0:
            return None
        return Fraction(self.notional_ticks_lots, self.filled_qty_lots)


def fee_minor(notional_minor: int, fee_bps: int) -> int:
    """The venue fee on a notional in quote minor units, rounded down."""
    return notional_minor * fee_bps // BPS_PER_UNIT


@dataclass(frozen=True)
class BookTop:
    """Best bid and ask at the venue; a side is None when it has no liquidity."""

    symbol: str
    bid_price_ticks: int | None
    bid_qty_lots: int
    ask_price_ticks: int | None
    ask_qty_lots: int
    ts_ns: int


class Venue(Protocol):
    """An external venue the order service routes remainders to.

    `place_ioc` is idempotent per `client_order_id`: a retry returns the original result and
    never executes twice. `VenueUnavailableError` means nothing executed.
    """

    async def place_ioc(
        self,
        symbol: str,
        side: Side,
        qty_lots: int,
        limit_price_ticks: int | None,
        client_order_id: str,
    ) -> VenueOrderResult:
        """Fill what is available within the limit (None: market within the venue's collar)."""
        ...

    async def cancel(self, venue_order_id: str) -> bool:
        """Cancel a resting order; False when it is unknown or already done (always, for IOC)."""
        ...

    async def book_top(self, symbol: str) -> BookTop:
        """Best bid and ask; raises VenueSymbolNotFoundError for an unlisted symbol."""
        ...

    def fills(self) -> AsyncIterator[VenueFill]:
        """Fills executed after this call, in order, until the venue closes (reconciliation)."""
        ...

    async def close(self) -> None:
        """Release resources and end every fill stream."""
        ...
