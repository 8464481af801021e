"""Positions subgraph root fields: positions, risk views, funding, liquidations, what-if,
and the perpetual position commands (parse -> service -> map)."""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal
from typing import Annotated

import strawberry

from domains.accounts.service import AccountsService
from domains.orders.model import MarketKind, Side
from domains.orders.trading import TradingService
from domains.positions.margin import estimate
from domains.positions.model import MarginMode
from domains.positions.perp_commands import PerpetualCommands
from domains.positions.service import PositionsService
from domains.positions.types import (
    FundingPayment,
    Info,
    Liquidation,
    MarkPrice,
    Position,
    RiskSummary,
    positions_loader,
)
from domains.shared.context import Role
from domains.shared.engine_port import ReadModels
from domains.shared.errors import NotFoundError, ValidationError
from domains.shared.relay import Connection, build_connection, page_request

RISK_VIEWERS = (Role.RISK, Role.TENANT_ADMIN)


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


@strawberry.type(description="The result of a perpetual position command.")
class PositionCommandPayload:
    sequence: int = strawberry.field(description="Engine sequence of the command.")
    position: Position | None = strawberry.field(
        description="The position after the command (null when the account holds none)."
    )


async def visible_account(info: Info, account_id: str) -> str:
    """The account id if the caller sees it (NOT_FOUND otherwise, also across tenants)."""
    scope = info.context.scope()
    if not await info.context.get(AccountsService).accounts(scope, [account_id]):
        raise NotFoundError("no such account", id=account_id)
    return account_id


async def position_after(info: Info, account_id: str, market_id: str) -> Position | None:
    """The position as the caller's command left it (the read model includes it first)."""
    read_models = info.context.services.get(ReadModels)
    if isinstance(read_models, ReadModels):
        await read_models.settled()
    service = info.context.get(PositionsService)
    views = (await service.account_positions(info.context.scope(), [account_id]))[account_id]
    return next((Position.from_view(v) for v in views if v.position.market_id == market_id), None)


@strawberry.type(description="Positions queries.")
class PositionsQuery:
    @strawberry.field(description="Open perpetual positions of one account visible to the caller.")
    async def positions(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, strawberry.argument(description="Account id.")],
    ) -> list[Position]:
        rows = await positions_loader(info.context).load(str(account_id))
        return [Position.from_view(v) for v in rows]

    @strawberry.field(
        description=(
            "The caller's tenant's perpetual risk at the current marks (RISK and TENANT_ADMIN)."
        )
    )
    async def risk_summary(self, info: Info) -> RiskSummary:
        info.context.require(*RISK_VIEWERS)
        summary = await info.context.get(PositionsService).risk_summary(info.context.scope())
        return RiskSummary.from_model(summary)

    @strawberry.field(description="Mark and index prices of perpetuals (all when none given).")
    async def mark_prices(
        self,
        info: Info,
        markets: Annotated[
            list[strawberry.ID] | None, strawberry.argument(description="Perpetual ids.")
        ] = None,
    ) -> list[MarkPrice]:
        info.context.require()
        ids = [str(m) for m in markets[:100]] if markets is not None else None
        found = await info.context.get(PositionsService).mark_prices(ids)
        return [MarkPrice.from_model(found[key]) for key in sorted(found)]

    @strawberry.field(description="Funding settlements of one account, newest first.")
    async def funding_payments(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, strawberry.argument(description="Account id.")],
        market: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this perpetual.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[FundingPayment]:
        request = page_request(first, after)
        rows = await info.context.get(PositionsService).funding_payments(
            info.context.scope(), str(account_id), str(market) if market else None,
            request.first, request.after_key,
        )  # fmt: skip
        return build_connection(rows, request, key=lambda f: f.id, node=FundingPayment.from_model)

    @strawberry.field(
        description=(
            "Liquidation steps the caller sees, newest first: a trader's own accounts, or "
            "every account of the tenant for staff."
        )
    )
    async def liquidations(
        self,
        info: Info,
        account_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this account.")
        ] = None,
        market: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this perpetual.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[Liquidation]:
        request = page_request(first, after)
        rows = await info.context.get(PositionsService).liquidations(
            info.context.scope(), str(account_id) if account_id else None,
            str(market) if market else None, request.first, request.after_key,
        )  # fmt: skip
        return build_connection(rows, request, key=lambda e: e.id, node=Liquidation.from_model)

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


@strawberry.type(description="Positions mutations.")
class PositionsMutation:
    @strawberry.mutation(
        description=(
            "Set an account's leverage and margin mode on a perpetual. Changing the mode needs "
            "no open position or orders there (POSITION_OPEN); leverage above what the "
            "position's bracket allows is VALIDATION."
        )
    )
    async def set_leverage(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, strawberry.argument(description="The account.")],
        market: Annotated[strawberry.ID, strawberry.argument(description="The perpetual.")],
        leverage: Annotated[int, strawberry.argument(description="1 up to the bracket's max.")],
        margin_mode: Annotated[
            MarginMode, strawberry.argument(description="CROSS or ISOLATED.")
        ] = MarginMode.CROSS,
    ) -> PositionCommandPayload:
        principal = info.context.require()
        seq = await info.context.get(PerpetualCommands).set_leverage(
            principal, str(account_id), str(market), leverage, margin_mode
        )
        position = await position_after(info, str(account_id), str(market))
        return PositionCommandPayload(sequence=seq, position=position)

    @strawberry.mutation(
        description=(
            "Add (positive amount) or remove (negative) margin of an isolated position, in the "
            "margin asset. A removal keeps at least the initial margin (INSUFFICIENT_MARGIN)."
        )
    )
    async def adjust_isolated_margin(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, strawberry.argument(description="The account.")],
        market: Annotated[strawberry.ID, strawberry.argument(description="The perpetual.")],
        amount: Annotated[Decimal, strawberry.argument(description="Signed amount, e.g. `50`.")],
    ) -> PositionCommandPayload:
        principal = info.context.require()
        seq = await info.context.get(PerpetualCommands).adjust_isolated_margin(
            principal, str(account_id), str(market), amount
        )
        position = await position_after(info, str(account_id), str(market))
        return PositionCommandPayload(sequence=seq, position=position)

    @strawberry.mutation(
        description=(
            "Post a perpetual's index price (operators: the oracle). The mark price follows "
            "and positions due at the new mark are liquidated in the same engine command. "
            "Returns the engine sequence."
        )
    )
    async def post_index_price(
        self,
        info: Info,
        market: Annotated[strawberry.ID, strawberry.argument(description="The perpetual.")],
        price: Annotated[Decimal, strawberry.argument(description="Index price on the tick.")],
    ) -> int:
        principal = info.context.require(Role.OPERATOR)
        return await info.context.get(PerpetualCommands).post_index_price(
            principal, str(market), price
        )
