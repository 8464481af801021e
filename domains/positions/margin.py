"""Margin arithmetic for linear (USDT-margined) perpetuals, one-way mode, exact in decimals.

The formulas are Binance's published ones for USDⓈ-M futures:

- maintenance margin = notional x maintenance margin rate - maintenance amount, for the
  bracket the notional falls in (tiered brackets; the amounts keep it continuous);
- liquidation price of one position given the rest of the account::

      LP = (WB - TMM + UPNL + cum - side x size x EP) / (size x MMR - side x size)

  with WB the wallet balance (the isolated margin for an isolated position), TMM and UPNL
  the maintenance margin and unrealised PnL of the account's *other* cross positions (0 for
  isolated), cum and MMR the bracket's maintenance amount and rate, side +1 long / -1 short,
  size the absolute position size and EP the entry price.

The bracket depends on the notional at the liquidation price, so each bracket is tried and
the one whose notional range contains its own answer is taken. Money stays ``Decimal``; the
engine's integer risk sweep (engine/risk.py) uses the same brackets in minor units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from domains.orders.model import MarginBracket
from domains.shared.errors import ValidationError


def bracket_for(brackets: Sequence[MarginBracket], notional: Decimal) -> MarginBracket:
    chosen = brackets[0]
    for bracket in brackets:
        if bracket.notional_floor <= notional:
            chosen = bracket
    return chosen


def maintenance_margin(brackets: Sequence[MarginBracket], notional: Decimal) -> Decimal:
    """Maintenance margin of a position notional (quote asset)."""
    bracket = bracket_for(brackets, abs(notional))
    return abs(notional) * bracket.maint_rate - bracket.maint_amount


@dataclass(frozen=True)
class LiquidationEstimate:
    """What a position would look like: its liquidation price (None when the wallet covers
    any price) and the initial and maintenance margin at entry."""

    liquidation_price: Decimal | None
    initial_margin: Decimal
    maintenance_margin: Decimal


def liquidation_price(
    brackets: Sequence[MarginBracket],
    *,
    size: Decimal,
    entry_price: Decimal,
    long: bool,
    wallet_balance: Decimal,
    other_maintenance: Decimal = Decimal(0),
    other_unrealized_pnl: Decimal = Decimal(0),
    tick_size: Decimal | None = None,
) -> Decimal | None:
    """The mark price at which the position's margin balance meets its maintenance margin.

    Rounded to the tick towards safety when ``tick_size`` is given (up for a long, down for
    a short). None when no positive price liquidates it (e.g. a fully collateralised long).
    """
    if size <= 0 or entry_price <= 0:
        raise ValidationError("size and entry price must be positive")
    side = Decimal(1) if long else Decimal(-1)
    for bracket in reversed(brackets):
        denominator = size * bracket.maint_rate - side * size
        numerator = (
            wallet_balance - other_maintenance + other_unrealized_pnl + bracket.maint_amount
            - side * size * entry_price
        )  # fmt: skip
        price = numerator / denominator
        if price <= 0:
            continue
        if bracket_for(brackets, price * size) is bracket:
            if tick_size is None:
                return price
            rounding = ROUND_CEILING if long else ROUND_FLOOR
            return (price / tick_size).to_integral_value(rounding=rounding) * tick_size
    return None


def estimate(
    brackets: Sequence[MarginBracket],
    *,
    size: Decimal,
    entry_price: Decimal,
    long: bool,
    leverage: int,
    tick_size: Decimal | None = None,
) -> LiquidationEstimate:
    """An isolated position opened at ``leverage``: its margins and liquidation price."""
    notional = size * entry_price
    bracket = bracket_for(brackets, notional)
    if not 1 <= leverage <= bracket.max_leverage:
        raise ValidationError(
            f"leverage must be 1 to {bracket.max_leverage} at a notional of {notional}",
            field="leverage",
        )
    initial = notional / leverage
    return LiquidationEstimate(
        liquidation_price=liquidation_price(
            brackets,
            size=size,
            entry_price=entry_price,
            long=long,
            wallet_balance=initial,
            tick_size=tick_size,
        ),
        initial_margin=initial,
        maintenance_margin=maintenance_margin(brackets, notional),
    )
