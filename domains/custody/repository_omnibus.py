"""Custody persistence of omnibus custody and the deposit watcher: tenant slots of the
platform's wallets, the per-tenant sub-ledger, the scanned chain height."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from domains.shared.mongo import CollectionIndexes, Database

OMNIBUS_INDEXES = (
    CollectionIndexes(  # omnibus: each tenant's branch of a platform wallet's key tree
        "custody_omnibus_slots",
        (IndexModel([("wallet_id", ASCENDING), ("slot", ASCENDING)], unique=True),),
    ),
    CollectionIndexes(  # omnibus sub-ledger entries, one per deposit credit or withdrawal
        "custody_subledger",
        (IndexModel([("tenant_id", ASCENDING), ("asset", ASCENDING)]),),
    ),
)


class MongoOmnibusStore:
    """Omnibus slots, sub-ledger entries and the watcher's chain cursor in MongoDB."""

    _db: Database

    async def omnibus_slot(self, wallet_id: str, tenant_id: str) -> int:
        """The tenant's branch of a platform wallet (allocated once, 0, 1, 2...)."""
        key = f"{wallet_id}:{tenant_id}"
        while True:
            found = await self._db.custody_omnibus_slots.find_one({"_id": key})
            if found is not None:
                return int(found["slot"])
            taken = await self._db.custody_omnibus_slots.count_documents({"wallet_id": wallet_id})
            doc = {"_id": key, "wallet_id": wallet_id, "tenant_id": tenant_id, "slot": taken,
                   "next_index": 0}  # fmt: skip
            try:
                await self._db.custody_omnibus_slots.insert_one(doc)
                return taken
            except DuplicateKeyError:
                continue  # another tenant took this slot (or we raced ourselves): look again

    async def next_slot_index(self, wallet_id: str, tenant_id: str) -> int:
        doc = await self._db.custody_omnibus_slots.find_one_and_update(
            {"_id": f"{wallet_id}:{tenant_id}"},
            {"$inc": {"next_index": 1}},
            return_document=ReturnDocument.BEFORE,
        )
        assert doc is not None
        return int(doc["next_index"])

    async def post_subledger(self, ref: str, tenant_id: str, asset: str, amount: int) -> bool:
        """Post one signed movement under ``ref`` once; False if it was posted before."""
        try:
            await self._db.custody_subledger.insert_one(
                {"_id": ref, "tenant_id": tenant_id, "asset": asset, "amount_minor": amount}
            )
        except DuplicateKeyError:
            return False
        return True

    async def subledger_balances(self, asset: str, tenant_id: str | None = None) -> dict[str, int]:
        """Tenant -> its share of the platform's shared wallets of ``asset``, minor units
        (summed by the store, over the ``(tenant_id, asset)`` index)."""
        match: dict[str, Any] = {"asset": asset}
        if tenant_id is not None:
            match["tenant_id"] = tenant_id
        pipeline = [
            {"$match": match},
            {"$group": {"_id": "$tenant_id", "total": {"$sum": "$amount_minor"}}},
        ]
        cursor = await self._db.custody_subledger.aggregate(pipeline)
        return {row["_id"]: int(row["total"]) async for row in cursor}

    # --- the deposit watcher's cursor -------------------------------------------------
    async def scanned_height(self, chain: str) -> int:
        """The chain height the deposit watcher has read up to (0: nothing yet)."""
        doc = await self._db.custody_chain_cursor.find_one({"_id": chain})
        return 0 if doc is None else int(doc["height"])

    async def save_scanned_height(self, chain: str, height: int) -> None:
        await self._db.custody_chain_cursor.update_one(
            {"_id": chain}, {"$max": {"height": height}}, upsert=True
        )
