"""What a command's engine events mean for the caller: an error, or an order outcome.

Pre-trade refusals (validation, risk) are GraphQL errors that changed nothing; matching
outcomes (post-only would take, FOK not fillable, STP, IOC remainder) are order statuses.
"""

from __future__ import annotations

from dataclasses import dataclass

from domains.orders import errors
from domains.shared.errors import DomainError, ValidationError
from engine import codes
from engine.layout import Records

_ERRORS: dict[int, tuple[type[DomainError], str]] = {
    codes.RISK_INSUFFICIENT_FUNDS: (
        errors.InsufficientFundsError,
        "the available balance does not cover the order and its fee",
    ),
    codes.RISK_PRICE_OUTSIDE_BAND: (
        errors.PriceOutOfBandError,
        "the price is outside the market's band around its reference price",
    ),
    codes.RISK_MARKET_HALTED: (errors.MarketHaltedError, "the market is halted"),
    codes.RISK_MARKET_CANCEL_ONLY: (errors.MarketHaltedError, "the market accepts cancels only"),
    codes.VALIDATION_PRICE_OFF_TICK: (errors.InvalidTickError, "the price is not on the tick"),
    codes.VALIDATION_QUANTITY_OFF_LOT: (errors.InvalidLotError, "the quantity is not on the lot"),
    codes.VALIDATION_UNKNOWN_ORDER: (errors.OrderNotFoundError, "no such live order"),
    codes.VALIDATION_WRONG_OWNER: (errors.OrderNotFoundError, "no such live order"),
    codes.VALIDATION_ORDER_NOT_AMENDABLE: (ValidationError, "this order cannot be amended"),
    codes.VALIDATION_NOTIONAL_TOO_SMALL: (
        ValidationError,
        "price x quantity is below the market's minimum notional",
    ),
    codes.VALIDATION_STOP_WOULD_TRIGGER: (
        ValidationError,
        "the stop price would trigger immediately",
    ),
    codes.VALIDATION_DUPLICATE_ORDER_ID: (errors.DuplicateClientOrderIdError, "duplicate order"),
    # perpetuals
    codes.RISK_INSUFFICIENT_MARGIN: (
        errors.InsufficientMarginError,
        "the available margin does not cover the initial margin and fee (or the removal)",
    ),
    codes.RISK_REDUCE_ONLY: (
        errors.ReduceOnlyRejectedError,
        "a reduce-only order may not open, grow or flip the position",
    ),
    codes.RISK_POSITION_OPEN: (
        errors.PositionOpenError,
        "close the position and cancel its orders before changing the margin mode",
    ),
    codes.VALIDATION_INVALID_LEVERAGE: (
        ValidationError,
        "the leverage is above what the position's margin bracket allows",
    ),
    codes.RISK_NO_ISOLATED_POSITION: (
        errors.NoIsolatedPositionError,
        "the account has no open isolated position in this market",
    ),
    codes.RISK_NO_POSITION: (errors.NoPositionError, "there is no open position to close"),
    codes.RISK_NO_MARK: (ValidationError, "the market has no mark price yet"),
    codes.VALIDATION_INVALID_ACCOUNT_MODE: (ValidationError, "unknown account trading mode"),
    # wind-down: account trading modes and a market's REDUCE_ONLY status
    codes.RISK_ACCOUNT_CANCEL_ONLY: (
        errors.TradingModeRestrictedError,
        "the account's trading mode accepts cancels only",
    ),
    codes.RISK_ACCOUNT_REDUCE_ONLY: (
        errors.TradingModeRestrictedError,
        "the account's trading mode accepts only orders that reduce a position or sell holdings",
    ),
    codes.RISK_MARKET_REDUCE_ONLY: (
        errors.MarketReduceOnlyError,
        "the market accepts only orders that reduce a position or sell holdings",
    ),
    codes.VALIDATION_NOT_PERPETUAL: (ValidationError, "the market is not a perpetual"),
    codes.VALIDATION_INVALID_BRACKET: (ValidationError, "the margin brackets are invalid"),
}


@dataclass(frozen=True)
class Outcome:
    """The first event of a command: accepted or not, and why."""

    accepted: bool
    code: int

    @property
    def reason(self) -> str | None:
        return None if self.code == codes.OK else codes.REASON_NAMES.get(self.code, str(self.code))


def outcome(events: Records) -> Outcome:
    """Read the ACCEPTED / REJECTED event every command starts with."""
    for event in events:
        kind = int(event["kind"])
        if kind == codes.EV_ACCEPTED:
            return Outcome(True, codes.OK)
        if kind == codes.EV_REJECTED:
            return Outcome(False, int(event["code"]))
    raise RuntimeError("the engine answered a command without ACCEPTED or REJECTED")


def is_order_outcome(code: int) -> bool:
    """Matching outcomes (MATCH range) are statuses, not errors."""
    return codes.reason_stage(code) == "MATCH"


def raise_for(result: Outcome) -> None:
    """Raise the API error for a pre-trade refusal; return for accepted or order outcomes."""
    if result.accepted or is_order_outcome(result.code):
        return
    error, message = _ERRORS.get(result.code, (errors.OrderRejectedError, "the engine refused"))
    raise error(message, reason=result.reason)
