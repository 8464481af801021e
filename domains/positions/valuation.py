"""Live risk numbers of positions at the current mark: unrealised PnL, maintenance margin,
margin ratio and liquidation price (pure; the same rules as the engine's risk sweep).

Cross positions of one account pool its margin asset: the account's margin balance is its
wallet (available + cross position margins) plus their unrealised PnL, and its margin ratio
is the sum of their maintenance margins over that balance. An isolated position's margin
balance is its own margin plus its unrealised PnL. A ratio of 1 or more is due for
liquidation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from domains.orders.model import MarginBracket
from domains.positions.margin import liquidation_price, maintenance_margin
from domains.positions.model import MarginMode, Position

MAX_RATIO = Decimal(9999)  # what a non-positive margin balance reports (due)


@dataclass(frozen=True)
class MarketRisk:
    """What valuation needs of a market: brackets, tick, quote unit and current mark."""

    brackets: Sequence[MarginBracket]
    tick_size: Decimal
    quote_unit: Decimal
    mark: Decimal | None


@dataclass(frozen=True)
class PositionView:
    """A position with its numbers at the mark (None without a mark price yet)."""

    position: Position
    mark: Decimal | None
    notional: Decimal | None
    unrealized_pnl: Decimal | None
    maintenance_margin: Decimal | None
    margin_ratio: Decimal | None
    liquidation_price: Decimal | None


def _ratio(maintenance: Decimal, balance: Decimal) -> Decimal:
    if balance <= 0:
        return MAX_RATIO if maintenance > 0 else Decimal(0)
    return min(MAX_RATIO, (maintenance / balance).quantize(Decimal("0.0001")))


def _basics(p: Position, risk: MarketRisk) -> tuple[Decimal, Decimal, Decimal] | None:
    """(notional, upnl, maintenance) at the mark, maintenance rounded up like the engine."""
    if risk.mark is None:
        return None
    notional = abs(p.quantity) * risk.mark
    upnl = p.quantity * risk.mark - p.cost
    mm = maintenance_margin(risk.brackets, notional).quantize(risk.quote_unit, ROUND_CEILING)
    return notional, upnl, mm


def value_account(
    positions: Sequence[Position], markets: Mapping[str, MarketRisk],
    available: Mapping[str, Decimal],
) -> tuple[list[PositionView], Decimal]:  # fmt: skip
    """The open positions of one account at their marks, and the account's worst margin
    ratio (cross pool per margin asset, or any isolated position). ``available`` is the
    account's available balance per margin asset."""
    basics = {p.id: _basics(p, markets[p.market_id]) for p in positions}
    pools: dict[str, tuple[Decimal, Decimal, Decimal]] = {}  # asset -> (wallet, upnl, mm)
    for p in positions:
        b = basics[p.id]
        if p.margin_mode is MarginMode.CROSS:
            start = (available.get(p.quote_asset, Decimal(0)), Decimal(0), Decimal(0))
            wallet, upnl, mm = pools.get(p.quote_asset, start)
            pools[p.quote_asset] = (wallet + p.margin, upnl + (b[1] if b else 0),
                                    mm + (b[2] if b else 0))  # fmt: skip
    views, worst = [], Decimal(0)
    for p in positions:
        b, risk = basics[p.id], markets[p.market_id]
        if b is None:
            views.append(PositionView(p, None, None, None, None, None, None))
            continue
        notional, upnl, mm = b
        if p.margin_mode is MarginMode.CROSS:
            wallet, pool_upnl, pool_mm = pools[p.quote_asset]
            ratio = _ratio(pool_mm, wallet + pool_upnl)
            lp = _liquidation(p, risk, wallet, pool_mm - mm, pool_upnl - upnl)
        else:
            ratio = _ratio(mm, p.margin + upnl)
            lp = _liquidation(p, risk, p.margin, Decimal(0), Decimal(0))
        worst = max(worst, ratio)
        views.append(PositionView(p, risk.mark, notional, upnl, mm, ratio, lp))
    return views, worst


def _liquidation(
    p: Position, risk: MarketRisk, wallet: Decimal, other_mm: Decimal, other_upnl: Decimal
) -> Decimal | None:
    if p.quantity == 0 or p.cost == 0:
        return None
    size = abs(p.quantity)
    return liquidation_price(
        risk.brackets, size=size, entry_price=abs(p.cost) / size, long=p.quantity > 0,
        wallet_balance=wallet, other_maintenance=other_mm, other_unrealized_pnl=other_upnl,
        tick_size=risk.tick_size,
    )  # fmt: skip
