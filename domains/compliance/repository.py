"""Compliance persistence: the kyc_profiles collection (owned here only)."""

from __future__ import annotations

from collections.abc import Sequence

from pymongo import ASCENDING, IndexModel

from domains.compliance.model import KycProfile, KycStatus
from domains.shared.context import TenantScope
from domains.shared.mongo import CollectionIndexes, Database, Document

INDEXES = (
    CollectionIndexes(
        "kyc_profiles", (IndexModel([("tenant_id", ASCENDING), ("status", ASCENDING)]),)
    ),
)


def _profile(doc: Document) -> KycProfile:
    return KycProfile(
        customer_id=doc["_id"],
        tenant_id=doc["tenant_id"],
        status=KycStatus(doc["status"]),
        level=int(doc["level"]),
        reviewed_by=doc.get("reviewed_by"),
        updated_at=doc.get("updated_at"),
    )


class MongoComplianceRepository:
    """KYC profiles in MongoDB."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_profile(self, profile: KycProfile) -> None:
        await self._db.kyc_profiles.replace_one(
            {"_id": profile.customer_id, "tenant_id": profile.tenant_id},
            {
                "_id": profile.customer_id,
                "tenant_id": profile.tenant_id,
                "status": profile.status.value,
                "level": profile.level,
                "reviewed_by": profile.reviewed_by,
                "updated_at": profile.updated_at,
            },
            upsert=True,
        )

    async def profiles(self, scope: TenantScope, customer_ids: Sequence[str]) -> list[KycProfile]:
        wanted = [c for c in customer_ids if scope.customer_id in (None, c)]
        query = {**scope.filter(), "_id": {"$in": wanted}}
        return [_profile(doc) async for doc in self._db.kyc_profiles.find(query)]
