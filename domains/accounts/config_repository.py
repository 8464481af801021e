"""Tenant configuration persistence: tenant_configs and product_permissions (owned here only).

``tenant_configs`` holds one document per tenant (``_id`` = tenant id) with only what the
tenant changed; absent fields mean the platform default. Every write records ``updated_by``
(API key id) and ``updated_at``. ``product_permissions`` holds one document per jurisdiction
(``_id`` = jurisdiction) set by operators. Imports no other domain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from domains.accounts.model import (
    DEFAULT_RISK_WARNINGS,
    Brand,
    FeeSchedule,
    FeeTier,
    Product,
    ProductPermission,
    RoutingMode,
    RoutingPolicy,
    Tenant,
    TenantConfig,
)
from domains.shared.mongo import Database, Document, transaction


@dataclass(frozen=True)
class ConfigAudit:
    """Who changed a configuration (API key id) and when."""

    updated_by: str
    updated_at: dt.datetime


@runtime_checkable
class TenantConfigRepository(Protocol):
    """What the service needs to store tenant configuration (Mongo, or a fake in tests)."""

    async def tenant_configs(self, tenants: Sequence[Tenant]) -> list[TenantConfig]: ...
    async def set_fee_schedule(
        self, tenant_id: str, schedule: FeeSchedule, audit: ConfigAudit
    ) -> None: ...
    async def set_listed_markets(
        self, tenant_id: str, market_ids: frozenset[str], audit: ConfigAudit
    ) -> None: ...
    async def set_routing(
        self, tenant_id: str, routing: RoutingPolicy, audit: ConfigAudit
    ) -> None: ...
    async def set_risk_warning(
        self, tenant_id: str, product: Product, text: str | None, audit: ConfigAudit
    ) -> None: ...
    async def set_custody_policy_id(
        self, tenant_id: str, policy_id: str | None, audit: ConfigAudit
    ) -> None: ...
    async def set_brand(self, tenant_id: str, brand: Brand, audit: ConfigAudit) -> None: ...
    async def product_permissions(
        self, jurisdictions: Sequence[str] | None
    ) -> list[ProductPermission]: ...
    async def set_product_permission(self, permission: ProductPermission) -> None: ...


def _fee_schedule(doc: Document) -> FeeSchedule:
    tiers = tuple(
        FeeTier(Decimal(t["min_volume_30d"]), int(t["maker_bps"]), int(t["taker_bps"]))
        for t in doc["tiers"]
    )
    return FeeSchedule(tiers=tiers, markup_bps=int(doc["markup_bps"]))


def _fee_schedule_document(schedule: FeeSchedule) -> Document:
    return {
        "tiers": [
            {
                "min_volume_30d": str(t.min_volume_30d),
                "maker_bps": t.maker_bps,
                "taker_bps": t.taker_bps,
            }
            for t in schedule.tiers
        ],
        "markup_bps": schedule.markup_bps,
    }


def _tenant_config(tenant: Tenant, doc: Document | None) -> TenantConfig:
    if doc is None:
        return TenantConfig(tenant_id=tenant.id, jurisdiction=tenant.jurisdiction,
                            trading_mode=tenant.trading.mode, sandbox=tenant.sandbox)  # fmt: skip
    warnings = dict(DEFAULT_RISK_WARNINGS)
    warnings.update({Product(k): v for k, v in (doc.get("risk_warnings") or {}).items()})
    defaults = TenantConfig(tenant_id=tenant.id, jurisdiction=tenant.jurisdiction)
    routing = doc.get("routing")
    return TenantConfig(
        tenant_id=tenant.id,
        jurisdiction=tenant.jurisdiction,
        fee_schedule=_fee_schedule(doc["fee_schedule"])
        if doc.get("fee_schedule")
        else defaults.fee_schedule,
        listed_markets=frozenset(doc.get("listed_markets") or ()),
        routing=RoutingPolicy(RoutingMode(routing["mode"]), int(routing["max_slippage_bps"]))
        if routing
        else defaults.routing,
        risk_warnings=warnings,
        custody_policy_id=doc.get("custody_policy_id"),
        updated_by=doc.get("updated_by"),
        updated_at=doc.get("updated_at"),
        trading_mode=tenant.trading.mode,
        sandbox=tenant.sandbox,
    )


def _permission(doc: Document) -> ProductPermission:
    return ProductPermission(
        jurisdiction=doc["_id"],
        products=frozenset(Product(p) for p in doc.get("products") or ()),
        updated_by=doc.get("updated_by"),
        updated_at=doc.get("updated_at"),
    )


def _audit(audit: ConfigAudit) -> Document:
    return {"updated_by": audit.updated_by, "updated_at": audit.updated_at}


class MongoTenantConfigRepository:
    """tenant_configs and product_permissions in MongoDB."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def tenant_configs(self, tenants: Sequence[Tenant]) -> list[TenantConfig]:
        """The configuration of each tenant, in order; defaults where nothing is stored."""
        ids = [t.id for t in tenants]
        docs = {d["_id"]: d async for d in self._db.tenant_configs.find({"_id": {"$in": ids}})}
        return [_tenant_config(t, docs.get(t.id)) for t in tenants]

    async def _update(
        self, tenant_id: str, audit: ConfigAudit, changes: dict[str, Any], unset: str = ""
    ) -> None:
        update: dict[str, Any] = {"$set": {**changes, **_audit(audit)}}
        if unset:
            update["$unset"] = {unset: ""}
        await self._db.tenant_configs.update_one({"_id": tenant_id}, update, upsert=True)

    async def set_fee_schedule(
        self, tenant_id: str, schedule: FeeSchedule, audit: ConfigAudit
    ) -> None:
        await self._update(tenant_id, audit, {"fee_schedule": _fee_schedule_document(schedule)})

    async def set_listed_markets(
        self, tenant_id: str, market_ids: frozenset[str], audit: ConfigAudit
    ) -> None:
        await self._update(tenant_id, audit, {"listed_markets": sorted(market_ids)})

    async def set_routing(self, tenant_id: str, routing: RoutingPolicy, audit: ConfigAudit) -> None:
        document = {"mode": routing.mode.value, "max_slippage_bps": routing.max_slippage_bps}
        await self._update(tenant_id, audit, {"routing": document})

    async def set_risk_warning(
        self, tenant_id: str, product: Product, text: str | None, audit: ConfigAudit
    ) -> None:
        key = f"risk_warnings.{product.value}"
        if text is None:
            await self._update(tenant_id, audit, {}, unset=key)
        else:
            await self._update(tenant_id, audit, {key: text})

    async def set_custody_policy_id(
        self, tenant_id: str, policy_id: str | None, audit: ConfigAudit
    ) -> None:
        await self._update(tenant_id, audit, {"custody_policy_id": policy_id})

    async def set_brand(self, tenant_id: str, brand: Brand, audit: ConfigAudit) -> None:
        """Replace the brand on the tenant and record the change, atomically."""
        async with transaction(self._db.client) as session:
            await self._db.tenants.update_one(
                {"_id": tenant_id}, {"$set": {"brand": brand.__dict__.copy()}}, session=session
            )
            await self._db.tenant_configs.update_one(
                {"_id": tenant_id}, {"$set": _audit(audit)}, upsert=True, session=session
            )

    async def product_permissions(
        self, jurisdictions: Sequence[str] | None
    ) -> list[ProductPermission]:
        """Stored rows for these jurisdictions (all when None), by jurisdiction."""
        query = {} if jurisdictions is None else {"_id": {"$in": list(jurisdictions)}}
        cursor = self._db.product_permissions.find(query).sort("_id", 1)
        return [_permission(doc) async for doc in cursor]

    async def set_product_permission(self, permission: ProductPermission) -> None:
        products = sorted(p.value for p in permission.products)
        await self._db.product_permissions.update_one(
            {"_id": permission.jurisdiction},
            {
                "$set": {
                    "products": products,
                    "updated_by": permission.updated_by,
                    "updated_at": permission.updated_at,
                }
            },
            upsert=True,
        )
