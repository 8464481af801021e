"""Orders subgraph root fields: parse -> service -> map."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Annotated

import strawberry

from domains.accounts.service import AccountsService
from domains.orders import loaders
from domains.orders.bust_schema import BustMutation, BustQuery
from domains.orders.model import (
    DEFAULT_BASIS_CAP_BPS,
    DEFAULT_FUNDING_CAP_BPS,
    MarginBracket,
    MarketKind,
    OrderStatus,
    PerpParams,
)
from domains.orders.service import OrdersService, order_from_event
from domains.orders.stream_schema import MarketStreamsSubscription
from domains.orders.trading import TradingService
from domains.orders.trading_schema import TradingMutation, TradingQuery
from domains.orders.types import Info, Market, Order, OrderFilter, list_orders
from domains.shared.context import Role
from domains.shared.errors import NotFoundError, ValidationError
from domains.shared.relay import Connection
from domains.shared.streams import slow_consumer
from subscriptions.broker import OVERFLOW, RESYNC


@strawberry.type(description="Orders queries.")
class OrdersQuery(TradingQuery, BustQuery):
    @strawberry.field(
        description=(
            "Markets the caller's institution lists (operators: every platform market), "
            "optionally of one kind, sorted by symbol."
        )
    )
    async def markets(
        self,
        info: Info,
        kind: Annotated[
            MarketKind | None, strawberry.argument(description="Only markets of this kind.")
        ] = None,
    ) -> list[Market]:
        listed = await info.context.get(TradingService).listed_ids(info.context.require())
        rows = await info.context.get(OrdersService).markets(kind)
        return [Market.from_model(m) for m in rows if listed is None or m.id in listed]

    @strawberry.field(description="One market by symbol, or null if there is none.")
    async def market(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Symbol, e.g. BTC-USDT.")],
    ) -> Market | None:
        principal = info.context.require()
        found = await loaders.markets(info.context).load(str(id))
        if found is None or not TradingService.visible(principal, found):
            return None  # a sandbox sees only its own markets, a live tenant no sandbox's
        return Market.from_model(found)

    @strawberry.field(description="One order by id, or null if it is not visible to the caller.")
    async def order(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="Order id.")]
    ) -> Order | None:
        found = await loaders.orders(info.context).load(str(id))
        return Order.from_model(found) if found else None

    @strawberry.field(description="Orders visible to the caller, newest first.")
    async def orders(
        self,
        info: Info,
        account_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only orders of this account.")
        ] = None,
        status: Annotated[
            list[OrderStatus] | None,
            strawberry.argument(description="Only orders in one of these statuses."),
        ] = None,
        first: Annotated[
            int | None, strawberry.argument(description="Page size, 0 to 200 (default 50).")
        ] = None,
        after: Annotated[
            str | None,
            strawberry.argument(description="Cursor to continue after (`pageInfo.endCursor`)."),
        ] = None,
        filter: Annotated[
            OrderFilter | None,
            strawberry.argument(description="Market, status, clientOrderId and time filters."),
        ] = None,
    ) -> Connection[Order]:
        account = str(account_id) if account_id is not None else None
        return await list_orders(info, account, status, first, after, filter)


@strawberry.input(description="A new platform market.")
class CreateMarketInput:
    base_asset: str = strawberry.field(description="Base asset code, e.g. `BTC`.")
    quote_asset: str = strawberry.field(description="Quote asset code, e.g. `USDT`.")
    tick_size: Decimal = strawberry.field(description="Price increment, e.g. `0.01`.")
    lot_size: Decimal = strawberry.field(description="Quantity increment, e.g. `0.00001`.")
    min_notional: Decimal = strawberry.field(description="Minimum price x quantity, e.g. `5`.")
    reference_price: Decimal | None = strawberry.field(
        default=None,
        description="Centre of the price band until the first trade, e.g. `64250`.",
    )


@strawberry.input(description="One maintenance-margin bracket of a perpetual.")
class MarginBracketInput:
    notional_floor: Decimal = strawberry.field(
        description="The bracket applies from this position notional up (quote asset); 0 first."
    )
    max_leverage: int = strawberry.field(description="Highest leverage allowed, 1 to 125.")
    maint_rate: Decimal = strawberry.field(
        description="Maintenance margin rate of the notional, e.g. `0.004` for 0.4%."
    )
    maint_amount: Decimal = strawberry.field(
        description=(
            "Amount subtracted (quote asset) so maintenance margin is continuous at the floor."
        )
    )


@strawberry.input(description="A new linear perpetual, margined in its quote asset.")
class CreatePerpetualMarketInput:
    base_asset: str = strawberry.field(description="Base asset code, e.g. `BTC`.")
    quote_asset: str = strawberry.field(description="Quote (margin) asset code, e.g. `USDT`.")
    tick_size: Decimal = strawberry.field(description="Price increment, e.g. `0.1`.")
    lot_size: Decimal = strawberry.field(description="Contract quantity increment, e.g. `0.001`.")
    min_notional: Decimal = strawberry.field(description="Minimum price x quantity, e.g. `5`.")
    margin_brackets: list[MarginBracketInput] = strawberry.field(
        description="Tiered brackets, increasing floors, the first at notional 0 with amount 0."
    )
    reference_price: Decimal | None = strawberry.field(
        default=None, description="Initial reference (index) price, e.g. `64250`."
    )
    funding_cap_bps: int = strawberry.field(
        default=DEFAULT_FUNDING_CAP_BPS,
        description=(
            "Largest funding rate per interval in either direction, in basis points (1-1000); "
            "75 = 0.75%."
        ),
    )
    mark_basis_cap_bps: int = strawberry.field(
        default=DEFAULT_BASIS_CAP_BPS,
        description=(
            "How far the mark price may be from the index, in basis points of the index "
            "(1-1000): mark = index + clamp(mid - index)."
        ),
    )


@strawberry.type(description="Orders mutations.")
class OrdersMutation(TradingMutation, BustMutation):
    @strawberry.mutation(
        description=(
            "List a linear perpetual `BASE-QUOTE-PERP` with its margin brackets and funding "
            "parameters (operators only); it trades at once. Tenants whose jurisdiction "
            "permits derivatives may list it. Its insurance fund is the platform account "
            "`platform:insurance:<quote>`; funding is settled every funding interval of the "
            "deployment (8 hours by default)."
        )
    )
    async def create_perpetual_market(
        self,
        info: Info,
        input: Annotated[
            CreatePerpetualMarketInput, strawberry.argument(description="The perpetual.")
        ],
    ) -> Market:
        info.context.require(Role.OPERATOR)
        brackets = [MarginBracket(b.notional_floor, b.max_leverage, b.maint_rate,
                                  b.maint_amount) for b in input.margin_brackets]  # fmt: skip
        market = await info.context.get(TradingService).create_perpetual_market(
            input.base_asset, input.quote_asset, input.tick_size, input.lot_size,
            input.min_notional, brackets, input.reference_price,
            PerpParams(input.funding_cap_bps, input.mark_basis_cap_bps),
        )  # fmt: skip
        return Market.from_model(market)

    @strawberry.mutation(description="List a new spot market on the platform (operators only).")
    async def create_market(
        self,
        info: Info,
        input: Annotated[CreateMarketInput, strawberry.argument(description="The market.")],
    ) -> Market:
        info.context.require(Role.OPERATOR)
        market = await info.context.get(TradingService).create_market(
            input.base_asset, input.quote_asset, input.tick_size, input.lot_size,
            input.min_notional, input.reference_price,
        )  # fmt: skip
        return Market.from_model(market)


@strawberry.type(
    description=(
        "A change to one of the caller's orders: NEW, PARTIALLY_FILLED, FILLED, CANCELED, "
        "EXPIRED or REJECTED in `order.status`, with the reason code in `order.reason`."
    )
)
class OrderUpdate:
    order: Order = strawberry.field(description="The order as it is after the change.")


@strawberry.type(description="Orders subscriptions.")
class OrdersSubscription(MarketStreamsSubscription):
    @strawberry.subscription(
        description=(
            "Changes to orders visible to the caller: a trader's own orders, or every order "
            "of the tenant for staff; optionally of one account. Each message is the order "
            "after the change (new, partial fill, fill, cancel, expiry, reject + reason code)."
        )
    )
    async def order_updates(
        self,
        info: Info,
        account: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only orders of this account.")
        ] = None,
    ) -> AsyncGenerator[OrderUpdate, None]:
        principal = info.context.require()
        if principal.tenant_id is None:
            raise ValidationError("order streams are per tenant; use a tenant's key")
        scope = info.context.scope()
        if account is not None:
            visible = await info.context.get(AccountsService).accounts(scope, [str(account)])
            if not visible:
                raise NotFoundError("no such account", id=str(account))
        service = info.context.get(OrdersService)
        async with service.order_updates(principal.tenant_id) as updates:
            async for payload in updates:
                if payload == RESYNC:
                    continue  # the broker reconnected: re-read `orders` to fill the gap
                if payload == OVERFLOW:
                    raise slow_consumer("orderUpdates")  # updates cannot be conflated
                order = order_from_event(payload)
                if account is not None and order.account_id != str(account):
                    continue
                if scope.customer_id is not None and order.customer_id != scope.customer_id:
                    continue
                yield OrderUpdate(order=Order.from_model(order))
