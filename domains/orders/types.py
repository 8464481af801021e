"""GraphQL surface of the orders domain: Market and Order entities, Account.orders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from domains.orders import loaders
from domains.orders.model import Market as MarketModel
from domains.orders.model import MarketKind, MarketStatus, OrderStatus, OrderType, Side
from domains.orders.model import Order as OrderModel
from domains.orders.service import OrdersService
from domains.shared.context import RequestContext
from domains.shared.graphql import described_enum
from domains.shared.relay import Connection, build_connection, page_request

if TYPE_CHECKING:
    from domains.accounts.types import Account

Info = strawberry.Info[RequestContext, None]

described_enum(
    MarketKind,
    "What a market trades.",
    SPOT="Spot: the base asset is delivered against the quote asset.",
    PERPETUAL="Perpetual futures: a linear contract margined in the quote asset, no expiry.",
)
described_enum(
    MarketStatus,
    "Whether a market accepts orders.",
    TRADING="Orders are accepted and matched.",
    HALTED="No orders, no cancels: the book is frozen.",
    CANCEL_ONLY="Only cancels are accepted.",
)
described_enum(Side, "Order side.", BUY="Buy the base asset.", SELL="Sell the base asset.")
described_enum(
    OrderType,
    "How an order is priced and triggered.",
    LIMIT="Executes at the limit price or better.",
    MARKET="Executes immediately against the book within a protection collar.",
    STOP_MARKET="Becomes a market order when the last trade price reaches the stop price.",
    STOP_LIMIT="Becomes a limit order when the last trade price reaches the stop price.",
)
described_enum(
    OrderStatus,
    "Where an order is in its life; clients must accept values added later.",
    NEW="Accepted and resting (or waiting for its trigger), nothing filled yet.",
    PARTIALLY_FILLED="Part of the quantity has been filled; the rest is live.",
    FILLED="The whole quantity has been filled.",
    CANCELED="Canceled by the owner or an operator before it completed.",
    EXPIRED="Time in force ended it (IOC/FOK remainder, market order beyond the collar).",
    EXPIRED_IN_MATCH="Ended by self-trade prevention during matching.",
    REJECTED="Refused before touching the book; the reason code says why.",
)


@strawberry.federation.type(keys=["id"], description="A platform market such as BTC-USDT.")
class Market:
    id: strawberry.ID = strawberry.field(description="Market symbol, e.g. `BTC-USDT`.")
    kind: MarketKind = strawberry.field(description="Spot or perpetual.")
    base_asset: str = strawberry.field(description="Asset bought or sold, e.g. `BTC`.")
    quote_asset: str = strawberry.field(description="Asset prices are quoted in, e.g. `USDT`.")
    tick_size: Decimal = strawberry.field(description="Prices are multiples of this, e.g. `0.01`.")
    lot_size: Decimal = strawberry.field(
        description="Quantities are multiples of this, e.g. `0.00001`."
    )
    min_notional: Decimal = strawberry.field(
        description="Smallest price x quantity accepted, in the quote asset, e.g. `5`."
    )
    status: MarketStatus = strawberry.field(description="Whether the market accepts orders.")

    @classmethod
    def from_model(cls, market: MarketModel) -> Market:
        return cls(
            id=strawberry.ID(market.id),
            kind=market.kind,
            base_asset=market.base_asset,
            quote_asset=market.quote_asset,
            tick_size=market.tick_size,
            lot_size=market.lot_size,
            min_notional=market.min_notional,
            status=market.status,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Market | None:
        market = await loaders.markets(info.context).load(str(id))
        return cls.from_model(market) if market else None


@strawberry.federation.type(keys=["id"], description="An order of one account on one market.")
class Order:
    id: strawberry.ID = strawberry.field(description="Order id assigned by the platform.")
    account_id: strawberry.Private[str]
    market_id: strawberry.Private[str]
    side: Side = strawberry.field(description="Buy or sell.")
    type: OrderType = strawberry.field(description="Limit, market or stop.")
    price: Decimal | None = strawberry.field(
        description="Limit price in the quote asset; null for market orders."
    )
    quantity: Decimal = strawberry.field(description="Ordered quantity in the base asset.")
    filled_quantity: Decimal = strawberry.field(description="Quantity filled so far.")
    status: OrderStatus = strawberry.field(description="Where the order is in its life.")
    client_order_id: str | None = strawberry.field(
        description="The caller's own id for the order (idempotency key), if it gave one."
    )
    created_at: dt.datetime | None = strawberry.field(description="When the order was accepted.")

    @classmethod
    def from_model(cls, order: OrderModel) -> Order:
        return cls(
            id=strawberry.ID(order.id),
            account_id=order.account_id,
            market_id=order.market_id,
            side=order.side,
            type=order.type,
            price=order.price,
            quantity=order.quantity,
            filled_quantity=order.filled_quantity,
            status=order.status,
            client_order_id=order.client_order_id,
            created_at=order.created_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Order | None:
        order = await loaders.orders(info.context).load(str(id))
        return cls.from_model(order) if order else None

    @strawberry.field(description="The market the order is on.")
    async def market(self, info: Info) -> Market | None:
        return await Market.resolve_reference(info, strawberry.ID(self.market_id))

    @strawberry.field(description="The account that placed the order.")
    async def account(
        self, info: Info
    ) -> Annotated[Account, strawberry.lazy("domains.accounts.types")] | None:
        from domains.accounts.types import Account

        return await Account.resolve_reference(info, strawberry.ID(self.account_id))


async def list_orders(
    info: Info,
    account_id: str | None,
    status: list[OrderStatus] | None,
    first: int | None,
    after: str | None,
) -> Connection[Order]:
    """One page of the caller's visible orders, newest first."""
    request = page_request(first, after)
    rows = await info.context.get(OrdersService).list_orders(
        info.context.scope(), account_id, status or [], request.first, request.after_key
    )
    return build_connection(rows, request, key=lambda o: o.id, node=Order.from_model)


@strawberry.type(description="Fields the orders subgraph contributes to Account.")
class AccountOrders:
    id: strawberry.ID = strawberry.field(description="Account id.")

    @strawberry.field(description="Orders of this account, newest first.")
    async def orders(
        self,
        info: Info,
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
    ) -> Connection[Order]:
        return await list_orders(info, str(self.id), status, first, after)
