"""Compliance persistence for KYC: kyc_profiles, kyc_levels, suitability (owned here only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from pymongo import ASCENDING, IndexModel

from domains.compliance.model import KycDocument, KycLevel, KycProfile, KycStatus, Suitability
from domains.shared.context import TenantScope
from domains.shared.mongo import CollectionIndexes, Database, Document

INDEXES = (
    CollectionIndexes(
        "kyc_profiles", (IndexModel([("tenant_id", ASCENDING), ("status", ASCENDING)]),)
    ),
    CollectionIndexes("kyc_levels", (IndexModel([("tenant_id", ASCENDING)]),)),
    CollectionIndexes("suitability", (IndexModel([("tenant_id", ASCENDING)]),)),
)


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) and value else None


def _document(doc: dict[str, Any]) -> KycDocument:
    return KycDocument(
        kind=doc["kind"],
        reference=doc["reference"],
        issuing_country=doc.get("issuing_country"),
        expires_on=_date(doc.get("expires_on")),
    )


def _profile(doc: Document) -> KycProfile:
    return KycProfile(
        customer_id=doc["_id"],
        tenant_id=doc["tenant_id"],
        status=KycStatus(doc["status"]),
        level=int(doc["level"]),
        reviewed_by=doc.get("reviewed_by"),
        updated_at=doc.get("updated_at"),
        ever_verified=bool(doc.get("ever_verified", doc["status"] == "VERIFIED")),
        legal_name=doc.get("legal_name"),
        date_of_birth=_date(doc.get("date_of_birth")),
        nationality=doc.get("nationality"),
        documents=tuple(_document(d) for d in doc.get("documents") or ()),
        provider=doc.get("provider", "manual"),
        submitted_at=doc.get("submitted_at"),
        note=doc.get("note"),
    )


def profile_document(profile: KycProfile) -> Document:
    """The stored form of a profile (also the audit trail's before/after summary)."""
    return {
        "_id": profile.customer_id,
        "tenant_id": profile.tenant_id,
        "status": profile.status.value,
        "level": profile.level,
        "reviewed_by": profile.reviewed_by,
        "updated_at": profile.updated_at,
        "ever_verified": profile.ever_verified,
        "legal_name": profile.legal_name,
        "date_of_birth": profile.date_of_birth.isoformat() if profile.date_of_birth else None,
        "nationality": profile.nationality,
        "documents": [
            {
                "kind": d.kind,
                "reference": d.reference,
                "issuing_country": d.issuing_country,
                "expires_on": d.expires_on.isoformat() if d.expires_on else None,
            }
            for d in profile.documents
        ],
        "provider": profile.provider,
        "submitted_at": profile.submitted_at,
        "note": profile.note,
    }


def _level(doc: Document) -> KycLevel:
    limits = {
        asset: Decimal(amount) for asset, amount in (doc.get("daily_withdrawal") or {}).items()
    }
    return KycLevel(
        tenant_id=doc["tenant_id"],
        level=int(doc["level"]),
        name=doc["name"],
        products=frozenset(doc.get("products") or ()),
        daily_withdrawal=MappingProxyType(limits),
        updated_by=doc.get("updated_by"),
        updated_at=doc.get("updated_at"),
    )


def _suitability(doc: Document) -> Suitability:
    return Suitability(
        customer_id=doc["_id"],
        tenant_id=doc["tenant_id"],
        questionnaire_version=doc["questionnaire_version"],
        score=int(doc["score"]),
        passed=bool(doc["passed"]),
        disclosure_version=doc["disclosure_version"],
        acknowledged_at=doc["acknowledged_at"],
        recorded_by=doc["recorded_by"],
        recorded_at=doc["recorded_at"],
    )


class MongoComplianceRepository:
    """KYC profiles, per-tenant levels and suitability records in MongoDB."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def save_profile(self, profile: KycProfile) -> None:
        await self._db.kyc_profiles.replace_one(
            {"_id": profile.customer_id, "tenant_id": profile.tenant_id},
            profile_document(profile),
            upsert=True,
        )

    async def profiles(self, scope: TenantScope, customer_ids: Sequence[str]) -> list[KycProfile]:
        wanted = [c for c in customer_ids if scope.customer_id in (None, c)]
        query = {**scope.filter(), "_id": {"$in": wanted}}
        return [_profile(doc) async for doc in self._db.kyc_profiles.find(query)]

    async def profiles_by_status(
        self, scope: TenantScope, status: KycStatus, first: int, after: str | None
    ) -> list[KycProfile]:
        query: dict[str, Any] = {**scope.owner_filter("_id"), "status": status.value}
        if after is not None:
            query["_id"] = {"$gt": after}
        cursor = self._db.kyc_profiles.find(query).sort("_id", ASCENDING).limit(first)
        return [_profile(doc) async for doc in cursor]

    async def all_profiles(self, tenant_id: str | None) -> list[KycProfile]:
        """Every screened profile (re-screening after a list reload); None = every tenant."""
        query: dict[str, Any] = {"legal_name": {"$ne": None}}
        if tenant_id is not None:
            query["tenant_id"] = tenant_id
        return [_profile(doc) async for doc in self._db.kyc_profiles.find(query)]

    async def stream_profiles(self, tenant_id: str) -> AsyncIterator[KycProfile]:
        """Every KYC profile (decision) of the tenant, by customer id (report export)."""
        cursor = self._db.kyc_profiles.find({"tenant_id": tenant_id}).sort("_id", ASCENDING)
        async for doc in cursor:
            yield _profile(doc)

    async def save_level(self, level: KycLevel) -> None:
        await self._db.kyc_levels.replace_one(
            {"_id": f"{level.tenant_id}:{level.level}"},
            {
                "_id": f"{level.tenant_id}:{level.level}",
                "tenant_id": level.tenant_id,
                "level": level.level,
                "name": level.name,
                "products": sorted(level.products),
                "daily_withdrawal": {a: str(v) for a, v in level.daily_withdrawal.items()},
                "updated_by": level.updated_by,
                "updated_at": level.updated_at,
            },
            upsert=True,
        )

    async def levels(self, tenant_id: str) -> list[KycLevel]:
        cursor = self._db.kyc_levels.find({"tenant_id": tenant_id})
        return [_level(doc) async for doc in cursor]

    async def save_suitability(self, record: Suitability) -> None:
        await self._db.suitability.replace_one(
            {"_id": record.customer_id, "tenant_id": record.tenant_id},
            {
                "_id": record.customer_id,
                "tenant_id": record.tenant_id,
                "questionnaire_version": record.questionnaire_version,
                "score": record.score,
                "passed": record.passed,
                "disclosure_version": record.disclosure_version,
                "acknowledged_at": record.acknowledged_at,
                "recorded_by": record.recorded_by,
                "recorded_at": record.recorded_at,
            },
            upsert=True,
        )

    async def suitability(self, scope: TenantScope, customer_id: str) -> Suitability | None:
        if scope.customer_id not in (None, customer_id):
            return None
        doc = await self._db.suitability.find_one({**scope.filter(), "_id": customer_id})
        return _suitability(doc) if doc else None
