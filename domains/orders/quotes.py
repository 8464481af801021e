"""Fee disclosure before an order: the estimated fill against the book, the platform fee
and the institution's markup as separate lines, and the tenant's risk warning.

Pure: takes the book and the rates, returns integers in engine units and decimals out.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domains.orders.model import Side
from domains.orders.spec import MarketSpec

BPS = 10_000


@dataclass(frozen=True)
class FeeLine:
    """One disclosed fee: its rate and amount in the quote asset."""

    bps: int
    amount: Decimal


@dataclass(frozen=True)
class Quote:
    """What an order would cost now, before it is placed."""

    quantity: Decimal
    taker_quantity: Decimal
    maker_quantity: Decimal
    average_price: Decimal | None
    notional: Decimal
    platform_fee: FeeLine
    institution_markup: FeeLine
    total_fee: Decimal
    total: Decimal
    unfilled_quantity: Decimal
    risk_warning: str


def walk(
    levels: list[tuple[int, int]], qty_lots: int, limit_ticks: int | None, side: Side
) -> tuple[int, int]:
    """(lots that would take, sum of price_ticks * lots) against the opposite side's levels."""
    taken, cost = 0, 0
    for price, available in levels:
        if limit_ticks is not None and (
            price > limit_ticks if side is Side.BUY else price < limit_ticks
        ):
            break
        lots = min(available, qty_lots - taken)
        taken, cost = taken + lots, cost + lots * price
        if taken == qty_lots:
            break
    return taken, cost


def _average(cost_ticks_lots: int, lots: int, spec: MarketSpec) -> Decimal:
    tick = spec.market.tick_size
    value = (Decimal(cost_ticks_lots) / lots * tick).quantize(tick / 10_000)
    return value.normalize()


def _fee_minor(notional_minor: int, bps: int) -> int:
    return notional_minor * bps // BPS


def quote(
    spec: MarketSpec,
    side: Side,
    qty_lots: int,
    limit_ticks: int | None,
    opposite: list[tuple[int, int]],
    platform_bps: tuple[int, int],
    markup_bps: int,
    risk_warning: str,
) -> Quote:
    """The estimate for ``qty_lots`` on ``side``: taker part against ``opposite``, the rest
    resting at the limit as maker (a market order's rest would expire)."""
    taker_lots, taker_cost = walk(opposite, qty_lots, limit_ticks, side)
    maker_lots = qty_lots - taker_lots if limit_ticks is not None else 0
    unfilled = qty_lots - taker_lots - maker_lots
    maker_cost = maker_lots * (limit_ticks or 0)
    taker_minor = taker_cost * spec.quote_per_tick_lot
    maker_minor = maker_cost * spec.quote_per_tick_lot
    maker_bps, taker_bps = platform_bps
    total_minor = _fee_minor(taker_minor, taker_bps + markup_bps) + _fee_minor(
        maker_minor, maker_bps + markup_bps
    )
    platform_minor = _fee_minor(taker_minor, taker_bps) + _fee_minor(maker_minor, maker_bps)
    notional_minor = taker_minor + maker_minor
    filled = taker_lots + maker_lots
    signed_total = (
        notional_minor + total_minor if side is Side.BUY else notional_minor - total_minor
    )
    effective_bps = platform_bps[1] if maker_lots == 0 else platform_bps[0]
    return Quote(
        quantity=spec.quantity(qty_lots),
        taker_quantity=spec.quantity(taker_lots),
        maker_quantity=spec.quantity(maker_lots),
        average_price=_average(taker_cost + maker_cost, filled, spec) if filled else None,
        notional=spec.quote_amount(notional_minor),
        platform_fee=FeeLine(effective_bps, spec.quote_amount(platform_minor)),
        institution_markup=FeeLine(markup_bps, spec.quote_amount(total_minor - platform_minor)),
        total_fee=spec.quote_amount(total_minor),
        total=spec.quote_amount(signed_total),
        unfilled_quantity=spec.quantity(unfilled),
        risk_warning=risk_warning,
    )
