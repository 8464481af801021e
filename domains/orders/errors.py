"""Errors of the orders domain."""

from __future__ import annotations

from domains.shared.errors import ConflictError, DomainError, NotFoundError, ValidationError


class MarketNotFoundError(NotFoundError):
    """No such market (or not listed for the caller's tenant)."""


class DuplicateMarketError(ConflictError):
    """A market with this symbol exists already."""


class MarketSpecError(ValidationError):
    """Tick, lot or min notional do not fit the assets' minor units."""


class InvalidTickError(ValidationError):
    """A price that is not a multiple of the market's tick size."""

    code = "INVALID_TICK"


class InvalidLotError(ValidationError):
    """A quantity that is not a multiple of the market's lot size."""

    code = "INVALID_LOT"


class InsufficientFundsError(DomainError):
    """The account's available balance does not cover the order (or withdrawal)."""

    code = "INSUFFICIENT_FUNDS"


class MarketNotListedError(DomainError):
    """The caller's institution does not list this market."""

    code = "MARKET_NOT_LISTED"


class SandboxBoundaryError(DomainError):
    """A sandbox credential reached for a live market, or a live one for a sandbox's."""

    code = "SANDBOX_BOUNDARY"


class MarketHaltedError(DomainError):
    """The market does not accept this command in its current status."""

    code = "MARKET_HALTED"


class ProductNotPermittedError(DomainError):
    """The institution's jurisdiction does not permit this product."""

    code = "PRODUCT_NOT_PERMITTED"


class PriceOutOfBandError(DomainError):
    """The price is outside the market's band around the reference price."""

    code = "PRICE_OUT_OF_BAND"


class DuplicateClientOrderIdError(DomainError):
    """The clientOrderId was used within 24 hours for a different order."""

    code = "DUPLICATE_CLIENT_ORDER_ID"


class OrderNotFoundError(NotFoundError):
    """No such order visible to the caller (or it is no longer live)."""

    code = "ORDER_NOT_FOUND"


class OrderRejectedError(DomainError):
    """The engine refused the command for a reason the API has no specific code for."""

    code = "ORDER_REJECTED"


class InsufficientMarginError(DomainError):
    """The available margin asset does not cover the order's initial margin and fee."""

    code = "INSUFFICIENT_MARGIN"


class ReduceOnlyRejectedError(DomainError):
    """A reduce-only order would open, grow or flip the position."""

    code = "REDUCE_ONLY_REJECTED"


class PositionOpenError(DomainError):
    """The change needs no open position or orders on the market (e.g. the margin mode)."""

    code = "POSITION_OPEN"


class NoIsolatedPositionError(DomainError):
    """Isolated margin can only be added to or removed from an open isolated position."""

    code = "NO_ISOLATED_POSITION"


class NoPositionError(DomainError):
    """There is no open position to close in that market."""

    code = "NO_POSITION"


class TradingModeRestrictedError(DomainError):
    """The tenant's trading mode (setTenantTradingMode) or the account's engine mode refuses
    the order, amend or cancel; ``tradingMode`` names the mode when the API knows it."""

    code = "TRADING_MODE_RESTRICTED"


class MarketReduceOnlyError(DomainError):
    """The market is REDUCE_ONLY: orders may only shrink perpetual positions (spot: SELL)."""

    code = "MARKET_REDUCE_ONLY"
