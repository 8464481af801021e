"""Custody persistence: the wallets collection (owned here only)."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING, IndexModel

from domains.custody.model import Wallet, WalletTemperature
from domains.shared.context import TenantScope
from domains.shared.mongo import CollectionIndexes, Database, Document

INDEXES = (
    CollectionIndexes(
        "wallets",
        (
            IndexModel(
                [("tenant_id", ASCENDING), ("asset", ASCENDING), ("temperature", ASCENDING)],
                unique=True,
            ),
        ),
    ),
)


def _wallet(doc: Document) -> Wallet:
    return Wallet(
        id=doc["_id"],
        tenant_id=doc["tenant_id"],
        asset=doc["asset"],
        temperature=WalletTemperature(doc["temperature"]),
        label=doc["label"],
        created_at=doc.get("created_at"),
    )


class MongoCustodyRepository:
    """Wallets in MongoDB."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_wallet(self, wallet: Wallet) -> None:
        await self._db.wallets.insert_one(
            {
                "_id": wallet.id,
                "tenant_id": wallet.tenant_id,
                "asset": wallet.asset,
                "temperature": wallet.temperature.value,
                "label": wallet.label,
                "created_at": wallet.created_at,
            }
        )

    async def wallets_of(self, scope: TenantScope, tenant_ids: Sequence[str]) -> list[Wallet]:
        wanted = [t for t in tenant_ids if scope.tenant_id in (None, t)]
        cursor = self._db.wallets.find({"tenant_id": {"$in": wanted}})
        return [_wallet(doc) async for doc in cursor.sort([("asset", 1), ("temperature", 1)])]
