"""GraphQL surface of the orders domain: Market and Order entities, Account.orders."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from domains.orders import loaders
from domains.orders.model import Market as MarketModel
from domains.orders.model import (
    MarketKind,
    MarketStatus,
    OrderQuery,
    OrderStatus,
    OrderType,
    SelfTradePrevention,
    Side,
    TimeInForce,
    TradeStatus,
    Venue,
)
from domains.orders.model import Order as OrderModel
from domains.orders.model import OrderRouting as OrderRoutingModel
from domains.orders.model import Trade as TradeModel
from domains.orders.service import OrdersService
from domains.shared.context import RequestContext
from domains.shared.graphql import described_enum, resolve_entity
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
    REDUCE_ONLY="Only orders that shrink a perpetual position (every order is reduce-only) "
    "or, on a spot market, SELL orders; cancels as usual.",
)
described_enum(
    TradeStatus, "Whether a trade stands.",
    SETTLED="The trade stands.",
    BUSTED="Reversed by a clearing rollback (`bustTrades`); `bustSequence` names the bust.",
)  # fmt: skip
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
    TimeInForce,
    "How long an order stays live.",
    GTC="Good till canceled: rests on the book until filled or canceled.",
    IOC="Immediate or cancel: fills what it can now, the rest expires.",
    FOK="Fill or kill: fills completely and at once, or not at all.",
)
described_enum(
    SelfTradePrevention,
    "What happens when an order would trade against a resting order of the same account.",
    MARKET_DEFAULT="Use the market's default (EXPIRE_TAKER on the demo markets).",
    NONE="Allow the self-trade.",
    EXPIRE_TAKER="Expire the incoming order's remainder.",
    EXPIRE_MAKER="Cancel the resting order and keep matching.",
    EXPIRE_BOTH="Expire both.",
)
described_enum(
    Venue,
    "Where a trade executed; clients must accept values added later.",
    INTERNAL="On this platform's own book.",
    EXTERNAL="On the external venue the institution routes to.",
)
described_enum(
    OrderStatus,
    "Where an order is in its life; clients must accept values added later.",
    PENDING_TRIGGER="A stop order waiting for the last trade price to reach its stop price.",
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
    margin_brackets: list[MarginBracket] = strawberry.field(
        description="Maintenance-margin brackets of a perpetual (empty for spot)."
    )
    funding_cap_bps: int | None = strawberry.field(
        default=None,
        description="Perpetuals: largest funding rate per interval, in basis points.",
    )
    mark_basis_cap_bps: int | None = strawberry.field(
        default=None,
        description="Perpetuals: how far the mark may be from the index, in basis points.",
    )
    sandbox_tenant: strawberry.ID | None = strawberry.field(
        default=None,
        description=(
            "A sandbox copy: the one sandbox tenant whose book it is (its orders never meet "
            "a live order); null for a live market."
        ),
    )
    sandbox_of: strawberry.ID | None = strawberry.field(
        default=None, description="A sandbox copy: the live market it copies; null otherwise."
    )

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
            margin_brackets=[
                MarginBracket(
                    notional_floor=b.notional_floor,
                    max_leverage=b.max_leverage,
                    maint_rate=b.maint_rate,
                    maint_amount=b.maint_amount,
                )
                for b in market.margin_brackets
            ],
            funding_cap_bps=market.perp.funding_cap_bps if market.perp else None,
            mark_basis_cap_bps=market.perp.basis_cap_bps if market.perp else None,
            sandbox_tenant=strawberry.ID(market.sandbox_tenant) if market.sandbox_tenant else None,
            sandbox_of=strawberry.ID(market.sandbox_of) if market.sandbox_of else None,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: strawberry.ID) -> Market | None:
        market = await loaders.markets(info.context).load(str(id))
        return cls.from_model(market) if market else None


@strawberry.type(
    description=(
        "A perpetual's maintenance-margin bracket: maintenance = notional x maintRate - "
        "maintAmount for notionals from notionalFloor up."
    )
)
class MarginBracket:
    notional_floor: Decimal = strawberry.field(
        description="Position notional (quote asset) from which the bracket applies."
    )
    max_leverage: int = strawberry.field(description="Highest leverage allowed in the bracket.")
    maint_rate: Decimal = strawberry.field(description="Maintenance margin rate, e.g. `0.004`.")
    maint_amount: Decimal = strawberry.field(
        description="Amount subtracted to keep maintenance continuous (quote asset)."
    )


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
    updated_at: dt.datetime | None = strawberry.field(description="When it last changed.")
    time_in_force: TimeInForce = strawberry.field(description="How long the order stays live.")
    stop_price: Decimal | None = strawberry.field(
        description="Trigger price of a stop order (last trade price), e.g. `60000`."
    )
    post_only: bool = strawberry.field(description="Refused rather than taking liquidity.")
    reduce_only: bool = strawberry.field(
        description="Perpetuals: may only reduce the position (its remainder is cut at zero)."
    )
    routing: OrderRouting | None = strawberry.field(
        description=(
            "The routing choice made for this order when part of it went to the external "
            "venue (internal and external quantities, prices, status); null when the order "
            "was filled on the internal book only."
        )
    )
    reason: str | None = strawberry.field(
        description=(
            "Why the order ended as it did when not simply filled or canceled by its owner, "
            "e.g. `IOC_REMAINDER`, `STP_EXPIRE_TAKER`, `POST_ONLY_WOULD_TAKE`, "
            "`MARKET_COLLAR`. Clients must accept values added later."
        )
    )

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
            updated_at=order.updated_at,
            time_in_force=order.time_in_force,
            stop_price=order.stop_price,
            post_only=order.post_only,
            reduce_only=order.reduce_only,
            reason=order.reason,
            routing=OrderRouting.from_model(order.routing) if order.routing else None,
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
        account_id = strawberry.ID(self.account_id)
        entity: Account | None = await resolve_entity(info, "Account", account_id)
        return entity


@strawberry.input(description="Filters for orders; every given filter must match.")
class OrderFilter:
    market: strawberry.ID | None = strawberry.field(
        default=None, description="Only orders on this market, e.g. `BTC-USDT`."
    )
    status: list[OrderStatus] | None = strawberry.field(
        default=None, description="Only orders in one of these statuses."
    )
    client_order_id: str | None = strawberry.field(
        default=None, description="Only orders with this clientOrderId."
    )
    created_after: dt.datetime | None = strawberry.field(
        default=None, description="Only orders accepted at or after this time."
    )
    created_before: dt.datetime | None = strawberry.field(
        default=None, description="Only orders accepted before this time."
    )


async def list_orders(
    info: Info,
    account_id: str | None,
    status: list[OrderStatus] | None,
    first: int | None,
    after: str | None,
    filter: OrderFilter | None = None,
) -> Connection[Order]:
    """One page of the caller's visible orders, newest first."""
    request = page_request(first, after)
    given = filter or OrderFilter()
    query = OrderQuery(
        account_id=account_id,
        status=tuple(status or given.status or ()),
        market_id=str(given.market) if given.market else None,
        client_order_id=given.client_order_id,
        created_after=given.created_after,
        created_before=given.created_before,
    )
    rows = await info.context.get(OrdersService).list_orders(
        info.context.scope(), query, request.first, request.after_key
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


def trade_number(trade_id: str) -> int | None:
    """The market trade number inside an internal trade id (``BTC-USDT:000000000042``)."""
    _, _, number = trade_id.rpartition(":")
    return int(number) if number.isdigit() else None


@strawberry.type(description="A trade on a market's public tape.")
class Trade:
    id: strawberry.ID = strawberry.field(description="Trade id: market and trade number.")
    market_id: strawberry.Private[str]
    price: Decimal = strawberry.field(description="Execution price in the quote asset.")
    quantity: Decimal = strawberry.field(description="Executed quantity in the base asset.")
    taker_side: Side = strawberry.field(description="Side of the order that took liquidity.")
    venue: Venue = strawberry.field(description="Where it executed.")
    executed_at: dt.datetime = strawberry.field(description="When it executed.")
    sequence: int | None = strawberry.field(
        default=None,
        description=(
            "The market's trade number (+1 per trade on this platform's book): a gap in the "
            "`trades` stream shows missed trades. Null for trades executed on an external venue."
        ),
    )
    status: TradeStatus = strawberry.field(
        default=TradeStatus.SETTLED,
        description="SETTLED, or BUSTED once a clearing rollback reversed it.",
    )
    bust_sequence: int | None = strawberry.field(
        default=None,
        description="The journal sequence of the bust that reversed the trade; null if it stands.",
    )

    @classmethod
    def from_model(cls, trade: TradeModel) -> Trade:
        return cls(
            id=strawberry.ID(trade.id),
            market_id=trade.market_id,
            price=trade.price,
            quantity=trade.quantity,
            taker_side=trade.taker_side,
            venue=trade.venue,
            executed_at=trade.executed_at,
            sequence=trade_number(trade.id) if trade.venue is Venue.INTERNAL else None,
            status=trade.status,
            bust_sequence=trade.bust_seq,
        )

    @strawberry.field(description="The market.")
    async def market(self, info: Info) -> Market | None:
        return await Market.resolve_reference(info, strawberry.ID(self.market_id))


@strawberry.type(
    description=(
        "How an order's remainder was routed to the external venue: what the internal book "
        "filled, what was sent out and what came back."
    )
)
class OrderRouting:
    venue: str = strawberry.field(description="The external venue, e.g. `SIMULATED`.")
    status: str = strawberry.field(
        description=(
            "`PENDING` (held, at the venue), `FILLED`, `PARTIALLY_FILLED`, `EXPIRED` (nothing "
            "within the limit), `REJECTED` (by the venue) or `UNAVAILABLE`. Clients must "
            "accept values added later."
        )
    )
    internal_quantity: Decimal = strawberry.field(
        description="Quantity filled on the institution's internal book before routing."
    )
    requested_quantity: Decimal = strawberry.field(
        description="Quantity sent to the venue (the remainder, capped by available funds)."
    )
    external_quantity: Decimal = strawberry.field(description="Quantity the venue filled.")
    limit_price: Decimal | None = strawberry.field(
        description=(
            "Worst price accepted at the venue: the venue's best price moved by the "
            "institution's maximum slippage, or the order's own limit if tighter."
        )
    )
    external_average_price: Decimal | None = strawberry.field(
        description="Volume-weighted average price of the venue fills; null if none."
    )
    external_fee: Decimal = strawberry.field(
        description="Fee charged on the external fills (platform fee plus markup), quote asset."
    )
    reason: str | None = strawberry.field(
        description="Why the route ended short of FILLED, e.g. `VENUE_IOC_REMAINDER`."
    )

    @classmethod
    def from_model(cls, routing: OrderRoutingModel) -> OrderRouting:
        return cls(
            venue=routing.venue,
            status=routing.status,
            internal_quantity=routing.internal_quantity,
            requested_quantity=routing.requested_quantity,
            external_quantity=routing.external_quantity,
            limit_price=routing.limit_price,
            external_average_price=routing.external_average_price,
            external_fee=routing.external_fee,
            reason=routing.reason,
        )


@strawberry.type(description="One price level of an order book.")
class PriceLevel:
    price: Decimal = strawberry.field(description="Price in the quote asset.")
    quantity: Decimal = strawberry.field(description="Total resting quantity at this price.")


@strawberry.type(description="A snapshot of a market's order book, best prices first.")
class OrderBook:
    market_id: strawberry.Private[str]
    sequence: int = strawberry.field(
        description="Book sequence this snapshot reflects; stream deltas continue from it."
    )
    bids: list[PriceLevel] = strawberry.field(description="Buy levels, highest price first.")
    asks: list[PriceLevel] = strawberry.field(description="Sell levels, lowest price first.")

    @strawberry.field(description="The market.")
    async def market(self, info: Info) -> Market | None:
        return await Market.resolve_reference(info, strawberry.ID(self.market_id))
