"""Orders persistence: markets (platform-wide) and orders (tenant-scoped); owned here only."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from domains.orders.model import (
    Market,
    MarketKind,
    MarketStatus,
    Order,
    OrderStatus,
    OrderType,
    Side,
)
from domains.shared.context import TenantScope
from domains.shared.mongo import CollectionIndexes, Database, Document, page_filter

INDEXES = (
    CollectionIndexes("markets", (IndexModel([("kind", ASCENDING)]),)),
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
        created_at=doc.get("created_at"),
    )


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
    )


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
                "created_at": market.created_at,
            }
        )

    async def markets(self, kind: MarketKind | None) -> list[Market]:
        query: dict[str, Any] = {} if kind is None else {"kind": kind.value}
        return [_market(doc) async for doc in self._db.markets.find(query).sort("_id", ASCENDING)]

    async def markets_by_ids(self, ids: Sequence[str]) -> list[Market]:
        return [_market(doc) async for doc in self._db.markets.find({"_id": {"$in": list(ids)}})]

    async def insert_order(self, order: Order) -> None:
        await self._db.orders.insert_one(order_document(order))

    async def orders_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Order]:
        query = {**scope.owner_filter(), "_id": {"$in": list(ids)}}
        return [order_from_document(doc) async for doc in self._db.orders.find(query)]

    async def list_orders(
        self,
        scope: TenantScope,
        account_id: str | None,
        status: Sequence[OrderStatus],
        first: int,
        after: str | None,
    ) -> list[Order]:
        clauses: list[dict[str, Any]] = [scope.owner_filter()]
        if account_id is not None:
            clauses.append({"account_id": account_id})
        if status:
            clauses.append({"status": {"$in": [s.value for s in status]}})
        cursor = self._db.orders.find(page_filter({"$and": clauses}, after))
        return [
            order_from_document(doc)
            async for doc in cursor.sort("_id", DESCENDING).limit(first + 1)
        ]
