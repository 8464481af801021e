"""Orders persistence: markets (platform-wide) and orders (tenant-scoped); owned here only."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReplaceOne

from domains.orders.model import (
    MarginBracket,
    Market,
    MarketKind,
    MarketStatus,
    Order,
    OrderQuery,
    OrderRouting,
    OrderStatus,
    OrderType,
    PerpParams,
    Side,
    TimeInForce,
    Trade,
    TradeSide,
    TradeStatus,
)
from domains.orders.model import Venue as TradeVenue
from domains.shared.context import TenantScope
from domains.shared.mongo import (
    CollectionIndexes,
    Database,
    Document,
    bulk_write_chunked,
    insert_new,
    insert_or_replace,
    page_filter,
)

INDEXES = (
    CollectionIndexes("markets", (IndexModel([("kind", ASCENDING)]),)),
    CollectionIndexes(
        "trades",
        (
            IndexModel([("market_id", ASCENDING), ("_id", DESCENDING)]),
            IndexModel([("account_ids", ASCENDING), ("_id", DESCENDING)]),
        ),
    ),
    CollectionIndexes(
        "orders",
        (
            IndexModel([("tenant_id", ASCENDING), ("account_id", ASCENDING), ("_id", DESCENDING)]),
            IndexModel([("tenant_id", ASCENDING), ("_id", DESCENDING)]),
            IndexModel(
                [
                    ("tenant_id", ASCENDING),
                    ("account_id", ASCENDING),
                    ("client_order_id", ASCENDING),
                ],
                unique=True,
                partialFilterExpression={"client_order_id": {"$type": "string"}},
            ),
        ),
    ),
)


def _market(doc: Document) -> Market:
    return Market(
        id=doc["_id"],
        kind=MarketKind(doc["kind"]),
        base_asset=doc["base_asset"],
        quote_asset=doc["quote_asset"],
        tick_size=Decimal(doc["tick_size"]),
        lot_size=Decimal(doc["lot_size"]),
        min_notional=Decimal(doc["min_notional"]),
        status=MarketStatus(doc["status"]),
        price_band_bps=int(doc.get("price_band_bps", 0)),
        collar_bps=int(doc.get("collar_bps", 500)),
        reference_price=_decimal(doc.get("reference_price")),
        created_at=doc.get("created_at"),
        margin_brackets=tuple(
            MarginBracket(
                Decimal(b["floor"]),
                int(b["max_leverage"]),
                Decimal(b["rate"]),
                Decimal(b["amount"]),
            )
            for b in doc.get("margin_brackets", ())
        ),
        perp=(
            PerpParams(int(doc["perp"]["funding_cap_bps"]), int(doc["perp"]["basis_cap_bps"]))
            if doc.get("perp")
            else (PerpParams() if doc["kind"] == MarketKind.PERPETUAL.value else None)
        ),
        sandbox_tenant=doc.get("sandbox_tenant"),
        sandbox_of=doc.get("sandbox_of"),
    )


def _decimal(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def order_from_document(doc: Document) -> Order:
    price = doc.get("price")
    return Order(
        id=doc["_id"],
        tenant_id=doc["tenant_id"],
        customer_id=doc["customer_id"],
        account_id=doc["account_id"],
        market_id=doc["market_id"],
        side=Side(doc["side"]),
        type=OrderType(doc["type"]),
        price=Decimal(price) if price is not None else None,
        quantity=Decimal(doc["quantity"]),
        filled_quantity=Decimal(doc["filled_quantity"]),
        status=OrderStatus(doc["status"]),
        client_order_id=doc.get("client_order_id"),
        created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"),
        time_in_force=TimeInForce(doc.get("time_in_force", "GTC")),
        stop_price=_decimal(doc.get("stop_price")),
        reason=doc.get("reason"),
        post_only=bool(doc.get("post_only", False)),
        reduce_only=bool(doc.get("reduce_only", False)),
        routing=_routing(doc.get("routing")),
    )


def _routing(doc: Document | None) -> OrderRouting | None:
    if doc is None:
        return None
    return OrderRouting(
        venue=doc["venue"],
        status=doc["status"],
        internal_quantity=Decimal(doc["internal_quantity"]),
        requested_quantity=Decimal(doc["requested_quantity"]),
        external_quantity=Decimal(doc["external_quantity"]),
        limit_price=_decimal(doc.get("limit_price")),
        external_average_price=_decimal(doc.get("external_average_price")),
        external_fee=Decimal(doc["external_fee"]),
        reason=doc.get("reason"),
        hold_note=doc.get("hold_note"),
    )


def _routing_document(routing: OrderRouting | None) -> Document | None:
    if routing is None:
        return None
    return {
        "venue": routing.venue,
        "status": routing.status,
        "internal_quantity": str(routing.internal_quantity),
        "requested_quantity": str(routing.requested_quantity),
        "external_quantity": str(routing.external_quantity),
        "limit_price": _text(routing.limit_price),
        "external_average_price": _text(routing.external_average_price),
        "external_fee": str(routing.external_fee),
        "reason": routing.reason,
        "hold_note": routing.hold_note,
    }


def _text(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def order_document(order: Order) -> Document:
    """The stored shape of an order (decimals as strings, enums as names)."""
    return {
        "_id": order.id,
        "tenant_id": order.tenant_id,
        "customer_id": order.customer_id,
        "account_id": order.account_id,
        "market_id": order.market_id,
        "side": order.side.value,
        "type": order.type.value,
        "price": str(order.price) if order.price is not None else None,
        "quantity": str(order.quantity),
        "filled_quantity": str(order.filled_quantity),
        "status": order.status.value,
        "client_order_id": order.client_order_id,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "time_in_force": order.time_in_force.value,
        "stop_price": str(order.stop_price) if order.stop_price is not None else None,
        "reason": order.reason,
        "post_only": order.post_only,
        "reduce_only": order.reduce_only,
        "routing": _routing_document(order.routing),
    }


class MongoOrdersRepository:
    """Markets and the order read model in MongoDB."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_market(self, market: Market) -> None:
        await self._db.markets.insert_one(
            {
                "_id": market.id,
                "kind": market.kind.value,
                "base_asset": market.base_asset,
                "quote_asset": market.quote_asset,
                "tick_size": str(market.tick_size),
                "lot_size": str(market.lot_size),
                "min_notional": str(market.min_notional),
                "status": market.status.value,
                "price_band_bps": market.price_band_bps,
                "collar_bps": market.collar_bps,
                "reference_price": (
                    str(market.reference_price) if market.reference_price is not None else None
                ),
                "created_at": market.created_at,
                "margin_brackets": [
                    {
                        "floor": str(b.notional_floor),
                        "max_leverage": b.max_leverage,
                        "rate": str(b.maint_rate),
                        "amount": str(b.maint_amount),
                    }
                    for b in market.margin_brackets
                ],
                "perp": (
                    {
                        "funding_cap_bps": market.perp.funding_cap_bps,
                        "basis_cap_bps": market.perp.basis_cap_bps,
                    }
                    if market.perp is not None
                    else None
                ),
                "sandbox_tenant": market.sandbox_tenant,
                "sandbox_of": market.sandbox_of,
            }
        )

    async def markets(self, kind: MarketKind | None) -> list[Market]:
        query: dict[str, Any] = {} if kind is None else {"kind": kind.value}
        return [_market(doc) async for doc in self._db.markets.find(query).sort("_id", ASCENDING)]

    async def set_market_status(self, market_id: str, status: MarketStatus) -> None:
        await self._db.markets.update_one({"_id": market_id}, {"$set": {"status": status.value}})

    async def markets_by_ids(self, ids: Sequence[str]) -> list[Market]:
        return [_market(doc) async for doc in self._db.markets.find({"_id": {"$in": list(ids)}})]

    async def insert_order(self, order: Order) -> None:
        await self._db.orders.insert_one(order_document(order))

    async def orders_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Order]:
        query = {**scope.owner_filter(), "_id": {"$in": list(ids)}}
        return [order_from_document(doc) async for doc in self._db.orders.find(query)]

    async def list_orders(
        self, scope: TenantScope, query: OrderQuery, first: int, after: str | None
    ) -> list[Order]:
        clauses: list[dict[str, Any]] = [scope.owner_filter()]
        if query.account_id is not None:
            clauses.append({"account_id": query.account_id})
        if query.status:
            clauses.append({"status": {"$in": [s.value for s in query.status]}})
        if query.market_id is not None:
            clauses.append({"market_id": query.market_id})
        if query.client_order_id is not None:
            clauses.append({"client_order_id": query.client_order_id})
        if query.created_after is not None:
            clauses.append({"created_at": {"$gte": query.created_after}})
        if query.created_before is not None:
            clauses.append({"created_at": {"$lt": query.created_before}})
        cursor = self._db.orders.find(page_filter({"$and": clauses}, after))
        return [
            order_from_document(doc)
            async for doc in cursor.sort("_id", DESCENDING).limit(first + 1)
        ]


def _side_document(side: TradeSide | None) -> Document | None:
    if side is None:
        return None
    return {
        "order_id": side.order_id,
        "account_id": side.account_id,
        "tenant_id": side.tenant_id,
        "customer_id": side.customer_id,
        "fee": str(side.fee),
    }


def _side(doc: Document | None) -> TradeSide | None:
    if doc is None:
        return None
    return TradeSide(
        order_id=doc["order_id"],
        account_id=doc["account_id"],
        tenant_id=doc["tenant_id"],
        customer_id=doc["customer_id"],
        fee=Decimal(doc["fee"]),
    )


def trade_document(trade: Trade) -> Document:
    """The stored shape of a trade; ``account_ids`` indexes both parties."""
    sides = [s for s in (trade.taker, trade.maker) if s is not None]
    busted = (
        {"status": trade.status.value, "bust_seq": trade.bust_seq}
        if trade.status is TradeStatus.BUSTED
        else {}
    )
    return {
        "_id": trade.id,
        "market_id": trade.market_id,
        "price": str(trade.price),
        "quantity": str(trade.quantity),
        "taker_side": trade.taker_side.value,
        "taker": _side_document(trade.taker),
        "maker": _side_document(trade.maker),
        "venue": trade.venue.value,
        "executed_at": trade.executed_at,
        "seq": trade.seq,
        **busted,
        "account_ids": [s.account_id for s in sides],
        "tenant_ids": sorted({s.tenant_id for s in sides}),
    }


def trade_from_document(doc: Document) -> Trade:
    taker = _side(doc["taker"])
    assert taker is not None
    return Trade(
        id=doc["_id"],
        market_id=doc["market_id"],
        price=Decimal(doc["price"]),
        quantity=Decimal(doc["quantity"]),
        taker_side=Side(doc["taker_side"]),
        taker=taker,
        maker=_side(doc.get("maker")),
        venue=TradeVenue(doc["venue"]),
        executed_at=doc["executed_at"],
        seq=int(doc["seq"]),
        status=TradeStatus(doc.get("status", TradeStatus.SETTLED.value)),
        bust_seq=doc.get("bust_seq"),
    )


class MongoTradingRepository(MongoOrdersRepository):
    """What order entry and its projection write: orders by id, trades, lookups."""

    async def pending_routes(self) -> list[Order]:
        """Orders whose external route was held but not settled (a crash in between)."""
        cursor = self._db.orders.find({"routing.status": "PENDING"})
        return [order_from_document(d) async for d in cursor]

    async def orders_by_raw_ids(self, ids: Sequence[str]) -> list[Order]:
        """Unscoped: the projector updates orders of every tenant."""
        return [
            order_from_document(d) async for d in self._db.orders.find({"_id": {"$in": list(ids)}})
        ]

    async def save_orders(self, new: Sequence[Order], changed: Sequence[Order]) -> None:
        """Insert orders first seen since the last write (replacing any a replay finds
        already there, in an older state) and replace the ones that changed; inserts are
        the store's fast path."""
        await insert_or_replace(self._db.orders, [order_document(o) for o in new])
        if changed:
            await bulk_write_chunked(
                self._db.orders,
                [ReplaceOne({"_id": o.id}, order_document(o), upsert=True) for o in changed],
                ordered=True,
            )

    async def mark_busted(self, market_id: str, first: int, last: int, bust_seq: int) -> int:
        """A bust's marker (journaled at ``bust_seq``): the market's internal trades numbered
        ``first``..``last`` that stand are BUSTED by it (a replay marks the same ones)."""
        query = {"market_id": market_id, "venue": TradeVenue.INTERNAL.value,
                 "status": {"$ne": TradeStatus.BUSTED.value},
                 "_id": {"$gte": f"{market_id}:{first:012d}",
                         "$lte": f"{market_id}:{last:012d}"}}  # fmt: skip
        result = await self._db.trades.update_many(
            query, {"$set": {"status": TradeStatus.BUSTED.value, "bust_seq": bust_seq}}
        )
        return int(result.modified_count)

    async def insert_trades(self, trades: Sequence[Trade]) -> None:
        """Trades never change (but for a bust's status): insert, skipping those a replay
        already wrote."""
        await insert_new(self._db.trades, [trade_document(t) for t in trades])

    async def market_trades(self, market_id: str, first: int, after: str | None) -> list[Trade]:
        cursor = self._db.trades.find(page_filter({"market_id": market_id}, after))
        return [
            trade_from_document(d) async for d in cursor.sort("_id", DESCENDING).limit(first + 1)
        ]

    async def trades_between(
        self, market_id: str, after: int, before: int, limit: int
    ) -> list[Trade]:
        """The market's own trades numbered ``after`` < n < ``before``, oldest first."""
        query = {"market_id": market_id, "_id": {"$gt": f"{market_id}:{after:012d}",
                                                 "$lt": f"{market_id}:{before:012d}"}}  # fmt: skip
        cursor = self._db.trades.find(query).sort("_id", ASCENDING).limit(limit)
        return [trade_from_document(d) async for d in cursor]

    async def trades_of_accounts(
        self, market_id: str, account_ids: Sequence[str], before: int, limit: int
    ) -> list[Trade]:
        """The market's trades numbered < ``before`` that any of ``account_ids`` took part
        in, oldest first (a perpetual bust replays these positions)."""
        query = {"market_id": market_id, "account_ids": {"$in": list(account_ids)},
                 "_id": {"$lt": f"{market_id}:{before:012d}"}}  # fmt: skip
        cursor = self._db.trades.find(query).sort("_id", ASCENDING).limit(limit)
        return [trade_from_document(d) async for d in cursor]

    async def account_trades(
        self, scope: TenantScope, account_id: str, first: int, after: str | None
    ) -> list[Trade]:
        base: dict[str, Any] = {"account_ids": account_id}
        if scope.tenant_id is not None:
            base["tenant_ids"] = scope.tenant_id
        cursor = self._db.trades.find(page_filter(base, after))
        return [
            trade_from_document(d) async for d in cursor.sort("_id", DESCENDING).limit(first + 1)
        ]

    async def order_by_client_id(
        self, scope: TenantScope, account_id: str, client_order_id: str
    ) -> Order | None:
        query = {
            **scope.owner_filter(),
            "account_id": account_id,
            "client_order_id": client_order_id,
        }
        doc = await self._db.orders.find_one(query, sort=[("_id", DESCENDING)])
        return order_from_document(doc) if doc else None
