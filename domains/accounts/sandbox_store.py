"""What the sandbox faucet gave: the sandbox_faucet collection (owned by the accounts domain).

One document per tenant, asset and UTC day, ``used`` in faucet units (1e-8 of the asset);
a conditional increment keeps concurrent faucet calls (in any process) within the limit.
"""

from __future__ import annotations

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from domains.shared.mongo import CollectionIndexes, Database

INDEXES = (CollectionIndexes("sandbox_faucet", (IndexModel([("tenant_id", ASCENDING)]),)),)


def _key(tenant_id: str, asset: str, day: str) -> str:
    return f"{tenant_id}:{asset}:{day}"


class MongoFaucetUsage:
    """Implements domains.accounts.sandbox.FaucetUsage."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def reserve(self, tenant_id: str, asset: str, day: str, units: int, limit: int) -> bool:
        if units > limit:
            return False
        key = _key(tenant_id, asset, day)
        for _ in range(2):  # the first call of a day inserts; a racing insert retries once
            result = await self._db.sandbox_faucet.update_one(
                {"_id": key, "used": {"$lte": limit - units}}, {"$inc": {"used": units}}
            )
            if result.matched_count == 1:
                return True
            if await self._db.sandbox_faucet.find_one({"_id": key}) is not None:
                return False  # there, and over the limit
            try:
                document = {"_id": key, "tenant_id": tenant_id, "asset": asset, "day": day}
                await self._db.sandbox_faucet.insert_one({**document, "used": units})
                return True
            except DuplicateKeyError:
                continue
        return False

    async def release(self, tenant_id: str, asset: str, day: str, units: int) -> None:
        await self._db.sandbox_faucet.update_one(
            {"_id": _key(tenant_id, asset, day)}, {"$inc": {"used": -units}}
        )

    async def used(self, tenant_id: str, asset: str, day: str) -> int:
        doc = await self._db.sandbox_faucet.find_one({"_id": _key(tenant_id, asset, day)})
        return int(doc["used"]) if doc else 0
