"""Order entry root fields (mixed into OrdersQuery / OrdersMutation): parse -> service -> map."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

import strawberry

from domains.orders.commands import AdjustBalance, AmendOrder, PlaceOrder, TransferFunds
from domains.orders.model import MarketStatus, OrderType, SelfTradePrevention, Side, TimeInForce
from domains.orders.trading import TradingService
from domains.orders.types import Info, Market, Order, OrderBook, PriceLevel, Trade
from domains.shared.context import Role
from domains.shared.errors import ValidationError
from domains.shared.relay import Connection, build_connection, page_request

PAGE_FIRST = "Page size, 0 to 200 (default 50)."
PAGE_AFTER = "Cursor to continue after (`pageInfo.endCursor`)."
MAX_DEPTH = 500


@strawberry.input(description="A new order. Prices and quantities are decimal strings.")
class PlaceOrderInput:
    account_id: strawberry.ID = strawberry.field(description="The account that trades.")
    market: strawberry.ID = strawberry.field(description="Market symbol, e.g. `BTC-USDT`.")
    side: Side = strawberry.field(description="Buy or sell.")
    type: OrderType = strawberry.field(description="Limit, market, stop-market or stop-limit.")
    quantity: Decimal = strawberry.field(description="Base quantity on the lot, e.g. `0.015`.")
    price: Decimal | None = strawberry.field(
        default=None, description="Limit price on the tick, e.g. `64250.50`; limits only."
    )
    stop_price: Decimal | None = strawberry.field(
        default=None, description="Trigger price for stop orders (last trade price)."
    )
    time_in_force: TimeInForce | None = strawberry.field(
        default=None, description="GTC by default for limits; IOC for market orders."
    )
    post_only: bool = strawberry.field(
        default=False, description="Refuse the order if it would take liquidity."
    )
    self_trade_prevention: SelfTradePrevention = strawberry.field(
        default=SelfTradePrevention.MARKET_DEFAULT, description="Self-trade prevention mode."
    )
    client_order_id: str | None = strawberry.field(
        default=None,
        description=(
            "Your id for the order, 1-64 characters. A retry with the same id and payload within "
            "24 hours returns the original order and never executes twice; a different payload "
            "is DUPLICATE_CLIENT_ORDER_ID."
        ),
    )
    reduce_only: bool = strawberry.field(
        default=False,
        description=(
            "Perpetuals only: the order may only reduce the position. Refused "
            "(REDUCE_ONLY_REJECTED) if it would open, grow or flip it; its remainder is cut "
            "when the position is closed. It locks only its fee and needs no suitability."
        ),
    )


def _place(input: PlaceOrderInput) -> PlaceOrder:
    return PlaceOrder(
        account_id=str(input.account_id), market_id=str(input.market), side=input.side,
        type=input.type, quantity=input.quantity, price=input.price,
        stop_price=input.stop_price, time_in_force=input.time_in_force,
        post_only=input.post_only, self_trade_prevention=input.self_trade_prevention,
        client_order_id=input.client_order_id, reduce_only=input.reduce_only,
    )  # fmt: skip


@strawberry.type(description="The result of placeOrder.")
class PlaceOrderPayload:
    order: Order = strawberry.field(description="The order as it stands after matching.")
    replayed: bool = strawberry.field(
        description="True when this was a retry of an earlier request with the same clientOrderId."
    )


@strawberry.type(description="The result of cancelOrder or amendOrder.")
class OrderPayload:
    order: Order = strawberry.field(description="The order after the change.")


@strawberry.type(description="The result of cancelAllOrders.")
class CancelAllOrdersPayload:
    canceled_count: int = strawberry.field(description="How many live orders were canceled.")


@strawberry.type(description="The account's dead-man's switch after countdownCancelAll.")
class CountdownCancelAllPayload:
    account_id: strawberry.ID = strawberry.field(description="The account.")
    timeout_ms: int = strawberry.field(description="The countdown armed, in ms (0: disarmed).")
    armed_until: dt.datetime | None = strawberry.field(
        description=(
            "When every live order of the account is cancelled unless the countdown is "
            "renewed (null: disarmed)."
        )
    )


@strawberry.input(description="An operator's audited balance adjustment.")
class AdjustBalanceInput:
    account_id: strawberry.ID = strawberry.field(
        description="The account to credit or debit; `platform:insurance:USDT` is the "
        "perpetuals' insurance fund (capital for liquidations and wind-down takeovers)."
    )
    asset: str = strawberry.field(description="Asset code, e.g. `USDT`.")
    amount: Decimal = strawberry.field(description="Positive credits, negative debits, e.g. `-5`.")
    reason: str = strawberry.field(description="Why: recorded in the journal with your key id.")


@strawberry.input(description="Funds to move between two accounts of one customer.")
class TransferFundsInput:
    from_account_id: strawberry.ID = strawberry.field(description="Account debited.")
    to_account_id: strawberry.ID = strawberry.field(description="Account credited.")
    asset: str = strawberry.field(description="Asset code, e.g. `USDT`.")
    amount: Decimal = strawberry.field(description="Positive amount, e.g. `250.5`.")


@strawberry.type(description="The result of transferFunds.")
class TransferFundsPayload:
    sequence: int = strawberry.field(description="Sequence number of the journaled transfer.")


@strawberry.type(description="The result of adjustBalance.")
class AdjustBalancePayload:
    sequence: int = strawberry.field(description="Sequence number of the journaled command.")


@strawberry.type(description="One disclosed fee: its rate and amount.")
class FeeLine:
    bps: int = strawberry.field(description="Rate in basis points (1 bps = 0.01%).")
    amount: Decimal = strawberry.field(description="Amount in the market's quote asset.")


@strawberry.type(
    description=(
        "What an order would cost if placed now: the estimated fill against the current book, "
        "the platform fee and the institution's markup as separate lines, and the risk "
        "warning to show before placing. An estimate: the book can move."
    )
)
class OrderQuote:
    quantity: Decimal = strawberry.field(description="The quantity quoted.")
    taker_quantity: Decimal = strawberry.field(
        description="Part that would execute now against resting orders (taker)."
    )
    maker_quantity: Decimal = strawberry.field(
        description="Part that would rest on the book at the limit price (maker)."
    )
    unfilled_quantity: Decimal = strawberry.field(
        description="Part a market order could not fill within the book (it would expire)."
    )
    average_price: Decimal | None = strawberry.field(
        description="Estimated average price of the filled parts; null if nothing fills."
    )
    notional: Decimal = strawberry.field(description="Estimated price x quantity, quote asset.")
    platform_fee: FeeLine = strawberry.field(description="The platform's fee.")
    institution_markup: FeeLine = strawberry.field(
        description="Your institution's markup on top of the platform fee."
    )
    total_fee: Decimal = strawberry.field(description="platformFee + institutionMarkup.")
    total: Decimal = strawberry.field(
        description="What a buy costs (notional + fees) or a sell yields (notional - fees)."
    )
    fee_asset: str = strawberry.field(description="Asset fees are charged in, e.g. `USDT`.")
    risk_warning: str = strawberry.field(
        description="The risk warning your institution shows for this product."
    )


@strawberry.type(description="Order entry queries.")
class TradingQuery:
    @strawberry.field(
        description="Estimate an order and disclose its fees before placing it (changes nothing)."
    )
    async def quote_order(
        self,
        info: Info,
        input: Annotated[PlaceOrderInput, strawberry.argument(description="The order to quote.")],
    ) -> OrderQuote:
        trading = info.context.get(TradingService)
        estimate = await trading.quote_order(info.context.require(), _place(input))
        spec = await trading.spec(str(input.market))
        return OrderQuote(
            quantity=estimate.quantity,
            taker_quantity=estimate.taker_quantity,
            maker_quantity=estimate.maker_quantity,
            unfilled_quantity=estimate.unfilled_quantity,
            average_price=estimate.average_price,
            notional=estimate.notional,
            platform_fee=FeeLine(
                bps=estimate.platform_fee.bps, amount=estimate.platform_fee.amount
            ),
            institution_markup=FeeLine(
                bps=estimate.institution_markup.bps, amount=estimate.institution_markup.amount
            ),
            total_fee=estimate.total_fee,
            total=estimate.total,
            fee_asset=spec.market.quote_asset,
            risk_warning=estimate.risk_warning,
        )

    @strawberry.field(description="A market's order book: best prices first, with its sequence.")
    async def order_book(
        self,
        info: Info,
        market: Annotated[strawberry.ID, strawberry.argument(description="Market symbol.")],
        depth: Annotated[
            int, strawberry.argument(description=f"Levels per side, 1 to {MAX_DEPTH}.")
        ] = 20,
    ) -> OrderBook:
        if not 1 <= depth <= MAX_DEPTH:
            raise ValidationError(f"depth must be 1 to {MAX_DEPTH}", field="depth")
        trading = info.context.get(TradingService)
        spec, index = await trading.listed_market(info.context.require(), str(market))
        view = await trading.order_book(spec, index, depth)
        return OrderBook(
            market_id=spec.market.id,
            sequence=view.sequence,
            bids=[PriceLevel(price=p, quantity=q) for p, q in view.bids],
            asks=[PriceLevel(price=p, quantity=q) for p, q in view.asks],
        )

    @strawberry.field(description="A market's trades, newest first.")
    async def trades(
        self,
        info: Info,
        market: Annotated[strawberry.ID, strawberry.argument(description="Market symbol.")],
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[Trade]:
        request = page_request(first, after)
        trading = info.context.get(TradingService)
        spec, _ = await trading.listed_market(info.context.require(), str(market))
        rows = await trading.market_trades(spec.market.id, request.first, request.after_key)
        return build_connection(rows, request, key=lambda t: t.id, node=Trade.from_model)

    @strawberry.field(
        description="An order by your clientOrderId: how to learn what a timed-out request did."
    )
    async def order_by_client_order_id(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, strawberry.argument(description="The account.")],
        client_order_id: Annotated[str, strawberry.argument(description="Your order id.")],
    ) -> Order | None:
        found = await info.context.get(TradingService).order_by_client_id(
            info.context.require(), str(account_id), client_order_id
        )
        return Order.from_model(found) if found else None


@strawberry.type(description="Order entry mutations.")
class TradingMutation:
    @strawberry.mutation(description="Place an order; answered after it is durable and matched.")
    async def place_order(
        self,
        info: Info,
        input: Annotated[PlaceOrderInput, strawberry.argument(description="The order.")],
    ) -> PlaceOrderPayload:
        placed = await info.context.get(TradingService).place_order(
            info.context.require(), _place(input)
        )
        return PlaceOrderPayload(order=Order.from_model(placed.order), replayed=placed.replayed)

    @strawberry.mutation(description="Cancel a live order, by id or by (accountId, clientOrderId).")
    async def cancel_order(
        self,
        info: Info,
        id: Annotated[strawberry.ID | None, strawberry.argument(description="Order id.")] = None,
        account_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Account, with clientOrderId.")
        ] = None,
        client_order_id: Annotated[
            str | None, strawberry.argument(description="Your order id, with accountId.")
        ] = None,
    ) -> OrderPayload:
        trading, principal = info.context.get(TradingService), info.context.require()
        order = await trading.find_order(
            principal, str(id) if id else None, str(account_id) if account_id else None,
            client_order_id,
        )  # fmt: skip
        return OrderPayload(order=Order.from_model(await trading.cancel_order(principal, order)))

    @strawberry.mutation(
        description=(
            "Change a live order's price and/or remaining quantity. Quantity down at the same "
            "price keeps its time priority; any other change re-queues it."
        )
    )
    async def amend_order(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Order id.")],
        price: Annotated[Decimal | None, strawberry.argument(description="New price.")] = None,
        quantity: Annotated[
            Decimal | None, strawberry.argument(description="New remaining quantity.")
        ] = None,
    ) -> OrderPayload:
        trading, principal = info.context.get(TradingService), info.context.require()
        order = await trading.find_order(principal, str(id), None, None)
        change = AmendOrder(order_id=str(id), price=price, quantity=quantity)
        amended = await trading.amend_order(principal, order, change)
        return OrderPayload(order=Order.from_model(amended))

    @strawberry.mutation(description="Cancel every live order of an account on a market.")
    async def cancel_all_orders(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, strawberry.argument(description="The account.")],
        market: Annotated[strawberry.ID, strawberry.argument(description="Market symbol.")],
    ) -> CancelAllOrdersPayload:
        count = await info.context.get(TradingService).cancel_all(
            info.context.require(), str(account_id), str(market)
        )
        return CancelAllOrdersPayload(canceled_count=count)

    @strawberry.mutation(
        description=(
            "Dead-man's switch: unless called again within `timeoutMs`, every live order of "
            "the account is cancelled on every market (checked every 100 ms by the engine "
            "writer; the cancels are journaled). Call it again to renew; 0 disarms. "
            "1000 to 3600000 ms."
        )
    )
    async def countdown_cancel_all(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, strawberry.argument(description="The account.")],
        timeout_ms: Annotated[
            int, strawberry.argument(description="Milliseconds until the cancel; 0 disarms.")
        ],
    ) -> CountdownCancelAllPayload:
        armed = await info.context.get(TradingService).arm_countdown(
            info.context.require(), str(account_id), timeout_ms
        )
        return CountdownCancelAllPayload(account_id=strawberry.ID(armed.account_id),
                                         timeout_ms=armed.timeout_ms,
                                         armed_until=armed.armed_until)  # fmt: skip

    @strawberry.mutation(
        description=(
            "Move funds between two accounts of one customer (e.g. main to a sub-account), "
            "atomically in the engine's sequence. Needs available funds: INSUFFICIENT_FUNDS."
        )
    )
    async def transfer_funds(
        self,
        info: Info,
        input: Annotated[TransferFundsInput, strawberry.argument(description="The transfer.")],
    ) -> TransferFundsPayload:
        request = TransferFunds(str(input.from_account_id), str(input.to_account_id),
                                input.asset.strip().upper(), input.amount)  # fmt: skip
        seq = await info.context.get(TradingService).transfer(info.context.require(), request)
        return TransferFundsPayload(sequence=seq)

    @strawberry.mutation(
        description=(
            "Halt, resume or restrict a market (operators): HALTED and CANCEL_ONLY refuse "
            "orders with MARKET_HALTED (resting orders stay); REDUCE_ONLY accepts only orders "
            "that shrink a perpetual position or sell spot (MARKET_REDUCE_ONLY otherwise)."
        )
    )
    async def set_market_status(
        self,
        info: Info,
        market: Annotated[strawberry.ID, strawberry.argument(description="Market symbol.")],
        status: Annotated[MarketStatus, strawberry.argument(description="The new status.")],
    ) -> Market:
        changed = await info.context.get(TradingService).set_market_status(
            info.context.require(Role.OPERATOR), str(market), status
        )
        return Market.from_model(changed)

    @strawberry.mutation(
        description="Credit or debit an account (operators; audited; funding before custody)."
    )
    async def adjust_balance(
        self,
        info: Info,
        input: Annotated[AdjustBalanceInput, strawberry.argument(description="The adjustment.")],
    ) -> AdjustBalancePayload:
        request = AdjustBalance(str(input.account_id), input.asset.strip().upper(), input.amount,
                                input.reason)  # fmt: skip
        seq = await info.context.get(TradingService).adjust_balance(
            info.context.require(Role.OPERATOR), request
        )
        return AdjustBalancePayload(sequence=seq)


__all__ = ["Market", "TradingMutation", "TradingQuery"]
