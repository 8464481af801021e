"""Positions subgraph root fields."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Annotated

import strawberry

from domains.orders.model import MarketKind, Side
from domains.orders.trading import TradingService
from domains.positions.margin import estimate
from domains.positions.types import Info, Position, positions_loader
from domains.shared.errors import ValidationError


@strawberry.type(
    description=(
        "What an isolated position would look like before the order is placed: its "
        "liquidation price and margins (Binance's USD-M formulas, the bracket of the notional)."
    )
)
class LiquidationEstimate:
    liquidation_price: Decimal | None = strawberry.field(
        description=(
            "Mark price at which the position would be liquidated, rounded to the tick towards "
            "safety; null when no positive price liquidates it."
        )
    )
    notional: Decimal = strawberry.field(description="quantity x price, in the quote asset.")
    initial_margin: Decimal = strawberry.field(
        description="Margin the position needs at this leverage (notional / leverage)."
    )
    maintenance_margin: Decimal = strawberry.field(
        description="Maintenance margin at entry: notional x rate - amount of its bracket."
    )


@strawberry.type(description="Positions queries.")
class PositionsQuery:
    @strawberry.field(description="Open positions of one account visible to the caller.")
    async def positions(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, strawberry.argument(description="Account id.")],
    ) -> list[Position]:
        rows = await positions_loader(info.context).load(str(account_id))
        return [Position.from_model(p) for p in rows]

    @strawberry.field(
        description=(
            "The liquidation price and margins an order on a perpetual would produce as an "
            "isolated position, before it is placed. The market must be listed by the "
            "caller's institution."
        )
    )
    async def liquidation_price(
        self,
        info: Info,
        market: Annotated[strawberry.ID, strawberry.argument(description="Perpetual market.")],
        side: Annotated[Side, strawberry.argument(description="BUY opens a long, SELL a short.")],
        quantity: Annotated[Decimal, strawberry.argument(description="Contracts (base asset).")],
        price: Annotated[Decimal, strawberry.argument(description="Entry price (quote asset).")],
        leverage: Annotated[int, strawberry.argument(description="Leverage, 1 up to the max.")],
    ) -> LiquidationEstimate:
        principal = info.context.require()
        spec, _ = await info.context.get(TradingService).listed_market(principal, str(market))
        if spec.market.kind is not MarketKind.PERPETUAL:
            raise ValidationError("liquidation prices are for perpetual markets", field="market")
        spec.qty_lots(quantity)  # positive and on the lot
        spec.price_ticks(price)  # positive and on the tick
        result = estimate(
            spec.market.margin_brackets, size=quantity, entry_price=price,
            long=side is Side.BUY, leverage=leverage, tick_size=spec.market.tick_size,
        )  # fmt: skip
        minor = Decimal(1).scaleb(-spec.quote.decimals)  # margins to the quote's minor unit, up
        return LiquidationEstimate(
            liquidation_price=result.liquidation_price,
            notional=quantity * price,
            initial_margin=result.initial_margin.quantize(minor, rounding=ROUND_CEILING),
            maintenance_margin=result.maintenance_margin.quantize(minor, rounding=ROUND_CEILING),
        )
