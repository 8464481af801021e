"""Positions persistence: the positions read model collection (owned here only)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from pymongo import ASCENDING, IndexModel

from domains.positions.model import Position
from domains.shared.context import TenantScope
from domains.shared.mongo import CollectionIndexes, Database, Document

INDEXES = (
    CollectionIndexes(
        "positions",
        (
            IndexModel(
                [("tenant_id", ASCENDING), ("account_id", ASCENDING), ("market_id", ASCENDING)],
                unique=True,
            ),
        ),
    ),
)


def _position(doc: Document) -> Position:
    return Position(
        id=doc["_id"],
        tenant_id=doc["tenant_id"],
        customer_id=doc["customer_id"],
        account_id=doc["account_id"],
        market_id=doc["market_id"],
        quantity=Decimal(doc["quantity"]),
        entry_price=Decimal(doc["entry_price"]),
        realized_pnl=Decimal(doc["realized_pnl"]),
        updated_at=doc.get("updated_at"),
    )


class MongoPositionsRepository:
    """Position read models in MongoDB."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert(self, position: Position) -> None:
        await self._db.positions.replace_one(
            {"_id": position.id},
            {
                "_id": position.id,
                "tenant_id": position.tenant_id,
                "customer_id": position.customer_id,
                "account_id": position.account_id,
                "market_id": position.market_id,
                "quantity": str(position.quantity),
                "entry_price": str(position.entry_price),
                "realized_pnl": str(position.realized_pnl),
                "updated_at": position.updated_at,
            },
            upsert=True,
        )

    async def for_accounts(self, scope: TenantScope, account_ids: Sequence[str]) -> list[Position]:
        query = {**scope.owner_filter(), "account_id": {"$in": list(account_ids)}}
        cursor = self._db.positions.find(query).sort("market_id", ASCENDING)
        return [_position(doc) async for doc in cursor]
