"""Tenant configuration use cases: fees, listed markets, routing, risk warnings, brand and the
platform's product permissions per jurisdiction. Knows nothing of GraphQL; never reads another
domain's collections: markets are checked through the MarketCatalog port.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Protocol, runtime_checkable

from domains.accounts.config_repository import ConfigAudit, TenantConfigRepository
from domains.accounts.errors import (
    MarketCatalogUnavailableError,
    ProductNotPermittedError,
    SandboxBoundaryError,
    TenantNotFoundError,
    UnknownMarketError,
)
from domains.accounts.model import (
    DEFAULT_PRODUCTS,
    MAX_LISTED_MARKETS,
    Brand,
    FeeSchedule,
    Product,
    ProductPermission,
    RoutingMode,
    RoutingPolicy,
    Tenant,
    TenantConfig,
    risk_warning_text,
)
from domains.shared.context import Principal, Role, TenantScope
from domains.shared.errors import ForbiddenError, UnavailableError, ValidationError
from domains.shared.scalars import utcnow

_MARKET_ID = re.compile(r"^[A-Z0-9]{1,12}(-[A-Z0-9]{1,12}){1,3}$")
_JURISDICTION = re.compile(r"^[A-Z0-9-]{1,8}$")
_OPAQUE_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_HEX_COLOUR = re.compile(r"^#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$")


class MarketCatalog(Protocol):
    """The platform's markets as the accounts domain may know them (the orders domain adapts)."""

    async def market_kinds(self, market_ids: Sequence[str]) -> dict[str, str]:
        """Kind (``"SPOT"`` or ``"PERPETUAL"``) of each id that exists; unknown ids are absent."""
        ...


@runtime_checkable
class SandboxCatalog(Protocol):
    """Which markets are sandbox copies (the orders domain's catalog answers it too)."""

    async def market_sandboxes(self, market_ids: Sequence[str]) -> dict[str, str | None]:
        """For each existing id, the sandbox tenant whose copy it is (None: a live market)."""
        ...


def system_actor(name: str) -> Principal:
    """An OPERATOR principal for platform code (seeding, migrations); audited as ``system:name``."""
    return Principal(key_id=f"system:{name}", role=Role.OPERATOR, tenant_id=None)


def normalize_jurisdiction(value: str) -> str:
    """``ch`` -> ``CH``; 1 to 8 letters, digits or hyphens (``US-NY``), else ValidationError."""
    value = value.strip().upper()
    if not _JURISDICTION.match(value):
        raise ValidationError(
            "jurisdiction must be an ISO 3166 code such as CH or US-NY", field="jurisdiction"
        )
    return value


def validate_brand(brand: Brand) -> Brand:
    """A trimmed, validated brand: HTTPS URLs, CSS hex colours, an e-mail with an @."""
    name = brand.display_name.strip()
    if not 1 <= len(name) <= 200:
        raise ValidationError("displayName must be 1 to 200 characters", field="displayName")
    for field, url in (("logoUrl", brand.logo_url), ("supportUrl", brand.support_url)):
        if url is not None and (not url.startswith("https://") or len(url) > 2000 or " " in url):
            raise ValidationError(f"{field} must be an https:// URL", field=field)
    for field, colour in (("primaryColor", brand.primary_color),
                          ("secondaryColor", brand.secondary_color)):  # fmt: skip
        if not _HEX_COLOUR.match(colour):
            raise ValidationError(f"{field} must be a CSS hex colour such as #0B5FFF", field=field)
    email = brand.support_email
    if email is not None and ("@" not in email or len(email) > 254 or " " in email.strip()):
        raise ValidationError("supportEmail is not an e-mail address", field="supportEmail")
    return replace(brand, display_name=name, support_email=email.strip() if email else None)


def _normalize_market_ids(market_ids: Iterable[str]) -> frozenset[str]:
    ids = frozenset(m.strip().upper() for m in market_ids)
    bad = sorted(m for m in ids if not _MARKET_ID.match(m))
    if bad:
        raise ValidationError(
            "market ids look like BTC-USDT or BTC-USDT-PERP", field="marketIds", markets=bad
        )
    if len(ids) > MAX_LISTED_MARKETS:
        raise ValidationError(
            f"a tenant lists at most {MAX_LISTED_MARKETS} markets", field="marketIds"
        )
    return ids


def target_tenant(actor: Principal, tenant_id: str | None) -> str:
    """The tenant ``actor`` may configure: a TENANT_ADMIN its own, an OPERATOR the one it names."""
    if actor.role is Role.OPERATOR:
        if tenant_id is None:
            raise ValidationError("operators name the tenant to configure", field="tenantId")
        return tenant_id
    if actor.role is Role.TENANT_ADMIN and actor.tenant_id is not None:
        if tenant_id not in (None, actor.tenant_id):
            raise ForbiddenError("tenant admins configure only their own tenant")
        return actor.tenant_id
    raise ForbiddenError("configuring a tenant needs the role TENANT_ADMIN or OPERATOR")


class TenantLookup(Protocol):
    """How the configuration service finds tenants (the accounts repository satisfies it)."""

    async def tenants_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Tenant]: ...


class TenantConfigService:
    """White-label configuration of tenants and the platform's product permissions."""

    def __init__(
        self,
        tenants: TenantLookup,
        configs: TenantConfigRepository | None,
        market_catalog: MarketCatalog | None = None,
    ) -> None:
        self._tenants = tenants
        self._configs_repo = configs
        self.market_catalog = market_catalog

    @property
    def _configs(self) -> TenantConfigRepository:
        if self._configs_repo is None:
            raise UnavailableError("tenant configuration storage is not wired")
        return self._configs_repo

    async def _tenant(self, tenant_id: str) -> Tenant:
        found = await self._tenants.tenants_by_ids(TenantScope(None), [tenant_id])
        if not found:
            raise TenantNotFoundError("no such tenant", id=tenant_id)
        return found[0]

    async def _with_permissions(self, configs: list[TenantConfig]) -> list[TenantConfig]:
        jurisdictions = sorted({c.jurisdiction for c in configs})
        stored = {p.jurisdiction: p.products for p in await self._permission_rows(jurisdictions)}
        return [
            replace(c, permitted_products=stored.get(c.jurisdiction, DEFAULT_PRODUCTS))
            for c in configs
        ]

    async def _permission_rows(self, jurisdictions: Sequence[str]) -> list[ProductPermission]:
        return await self._configs.product_permissions(jurisdictions) if jurisdictions else []

    async def tenant_config(self, tenant_id: str) -> TenantConfig:
        """A tenant's configuration, unscoped: for other services (orders, custody), not callers."""
        tenant = await self._tenant(tenant_id)
        return (await self._with_permissions(await self._configs.tenant_configs([tenant])))[0]

    async def tenant_configs(self, scope: TenantScope, ids: Sequence[str]) -> list[TenantConfig]:
        """Configurations of the tenants in ``ids`` visible in ``scope`` (others are absent)."""
        tenants = await self._tenants.tenants_by_ids(scope, ids)
        if not tenants:
            return []
        return await self._with_permissions(await self._configs.tenant_configs(tenants))

    async def _audited(self, actor: Principal, tenant_id: str | None) -> tuple[Tenant, ConfigAudit]:
        tenant = await self._tenant(target_tenant(actor, tenant_id))
        return tenant, ConfigAudit(updated_by=actor.key_id, updated_at=utcnow())

    async def set_fee_schedule(
        self, actor: Principal, tenant_id: str | None, schedule: FeeSchedule
    ) -> TenantConfig:
        """Replace the fee schedule and markup (validated again, however it was built)."""
        schedule = FeeSchedule.of(schedule.tiers, schedule.markup_bps)
        tenant, audit = await self._audited(actor, tenant_id)
        await self._configs.set_fee_schedule(tenant.id, schedule, audit)
        return await self.tenant_config(tenant.id)

    async def set_listed_markets(
        self, actor: Principal, tenant_id: str | None, market_ids: Iterable[str]
    ) -> TenantConfig:
        """Replace the tenant's listed markets: all must exist and be permitted where it is."""
        ids = _normalize_market_ids(market_ids)
        tenant, audit = await self._audited(actor, tenant_id)
        if ids:
            await self._check_markets(tenant, ids)
        await self._configs.set_listed_markets(tenant.id, ids, audit)
        return await self.tenant_config(tenant.id)

    async def _check_markets(self, tenant: Tenant, ids: frozenset[str]) -> None:
        if self.market_catalog is None:
            raise MarketCatalogUnavailableError(
                "listing markets needs the platform's market catalog, which is not wired"
            )
        kinds = await self.market_catalog.market_kinds(sorted(ids))
        unknown = sorted(ids - kinds.keys())
        if unknown:
            raise UnknownMarketError(
                f"unknown markets: {', '.join(unknown)}", field="marketIds", markets=unknown
            )
        if isinstance(self.market_catalog, SandboxCatalog):
            owners = await self.market_catalog.market_sandboxes(sorted(ids))
            own = tenant.id if tenant.sandbox else None
            crossing = sorted(m for m in ids if owners.get(m) != own)
            if crossing:
                raise SandboxBoundaryError(
                    "a sandbox lists only its own sandbox markets, a live tenant no sandbox "
                    f"market: {', '.join(crossing)}", field="marketIds", markets=crossing,
                )  # fmt: skip
        permitted = await self.permitted_products(tenant.jurisdiction)
        allowed = {p.value for p in permitted}
        refused = sorted(m for m in ids if kinds[m] not in allowed)
        if refused:
            raise ProductNotPermittedError(
                f"jurisdiction {tenant.jurisdiction} does not permit "
                f"{', '.join(sorted({kinds[m] for m in refused}))} markets: {', '.join(refused)}",
                jurisdiction=tenant.jurisdiction,
                markets=refused,
            )

    async def set_routing_policy(
        self, actor: Principal, tenant_id: str | None, mode: RoutingMode, max_slippage_bps: int
    ) -> TenantConfig:
        """Replace where the tenant's orders may be filled and the slippage limit."""
        routing = RoutingPolicy.of(mode, max_slippage_bps)
        tenant, audit = await self._audited(actor, tenant_id)
        if tenant.sandbox and mode is not RoutingMode.INTERNAL_ONLY:
            raise SandboxBoundaryError(
                "a sandbox's orders never leave the platform: INTERNAL_ONLY", field="mode"
            )
        await self._configs.set_routing(tenant.id, routing, audit)
        return await self.tenant_config(tenant.id)

    async def set_risk_warning(
        self, actor: Principal, tenant_id: str | None, product: Product, text: str | None
    ) -> TenantConfig:
        """Set the text shown before an order in ``product``; None restores the default."""
        checked = risk_warning_text(text) if text is not None else None
        tenant, audit = await self._audited(actor, tenant_id)
        await self._configs.set_risk_warning(tenant.id, product, checked, audit)
        return await self.tenant_config(tenant.id)

    async def set_custody_policy_id(
        self, actor: Principal, tenant_id: str | None, policy_id: str | None
    ) -> TenantConfig:
        """Point the tenant at a custody policy (an opaque id owned by custody), or at none."""
        if policy_id is not None and not _OPAQUE_ID.match(policy_id):
            raise ValidationError(
                "custodyPolicyId is 1 to 100 letters, digits or _.:-", field="custodyPolicyId"
            )
        tenant, audit = await self._audited(actor, tenant_id)
        await self._configs.set_custody_policy_id(tenant.id, policy_id, audit)
        return await self.tenant_config(tenant.id)

    async def set_brand(self, actor: Principal, tenant_id: str | None, brand: Brand) -> Tenant:
        """Replace the tenant's white-label brand."""
        brand = validate_brand(brand)
        tenant, audit = await self._audited(actor, tenant_id)
        await self._configs.set_brand(tenant.id, brand, audit)
        return replace(tenant, brand=brand)

    async def permitted_products(self, jurisdiction: str) -> frozenset[Product]:
        """Products institutions of ``jurisdiction`` may offer (SPOT only unless configured)."""
        rows = await self._permission_rows([jurisdiction])
        return rows[0].products if rows else DEFAULT_PRODUCTS

    async def product_permissions(self, jurisdiction: str | None = None) -> list[ProductPermission]:
        """Every configured jurisdiction, or the one asked for (its default if not configured)."""
        if jurisdiction is None:
            return await self._configs.product_permissions(None)
        code = normalize_jurisdiction(jurisdiction)
        rows = await self._permission_rows([code])
        return rows or [ProductPermission(code, DEFAULT_PRODUCTS, is_default=True)]

    async def set_product_permissions(
        self, actor: Principal, jurisdiction: str, products: Iterable[Product]
    ) -> ProductPermission:
        """Set the products a jurisdiction permits (OPERATOR only); listings stay as they are."""
        if actor.role is not Role.OPERATOR:
            raise ForbiddenError("product permissions are set by platform operators only")
        permission = ProductPermission(
            jurisdiction=normalize_jurisdiction(jurisdiction),
            products=frozenset(products),
            updated_by=actor.key_id,
            updated_at=utcnow(),
        )
        await self._configs.set_product_permission(permission)
        return permission
