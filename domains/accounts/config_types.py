"""GraphQL surface of tenant configuration: fee schedule, routing, risk warnings, permissions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry

from domains.accounts import loaders
from domains.accounts.errors import TenantNotFoundError
from domains.accounts.model import DEFAULT_RISK_WARNINGS, Product, RoutingMode
from domains.accounts.model import FeeSchedule as FeeScheduleModel
from domains.accounts.model import ProductPermission as ProductPermissionModel
from domains.accounts.model import TenantConfig as TenantConfigModel
from domains.shared.context import RequestContext, Role
from domains.shared.graphql import described_enum

Info = strawberry.Info[RequestContext, None]

described_enum(
    Product,
    "A kind of product an institution may offer. More products will be added: clients must "
    "accept values they do not know.",
    SPOT="Spot trading: the base asset is delivered against the quote asset.",
    PERPETUAL="Perpetual futures: leveraged derivatives without expiry, margined in the quote "
    "asset.",
)
described_enum(
    RoutingMode,
    "Where a tenant's orders may be filled. More modes may be added: clients must accept "
    "values they do not know.",
    INTERNAL_ONLY="Only against the platform's own order books.",
    INTERNAL_THEN_EXTERNAL="Against the platform's books first; the remainder is routed to an "
    "external venue within the slippage limit.",
    EXTERNAL_ONLY="Every order is routed to an external venue within the slippage limit.",
)


@strawberry.type(description="Platform fee rates from a 30-day trading volume upwards.")
class FeeTier:
    min_volume_30d: Decimal = strawberry.field(
        name="minVolume30d",
        description='Customer 30-day volume in the quote asset at which the tier starts, e.g. "0" '
        'or "1000000".',
    )
    maker_bps: int = strawberry.field(
        description="Fee on orders that add liquidity, in basis points (1 bps = 0.01 %), e.g. 10."
    )
    taker_bps: int = strawberry.field(
        description="Fee on orders that take liquidity, in basis points, e.g. 20."
    )


@strawberry.type(
    description="What a tenant's customers pay: the platform fee by volume tier, and the "
    "institution's own markup on top, disclosed separately. All-in rate = tier rate + markup."
)
class FeeSchedule:
    tiers: list[FeeTier] = strawberry.field(
        description="Volume tiers, lowest first; the first starts at volume 0."
    )
    markup_bps: int = strawberry.field(
        description="The institution's markup on every maker and taker fee, in bps (0 to 500)."
    )

    @classmethod
    def from_model(cls, schedule: FeeScheduleModel) -> FeeSchedule:
        tiers = [FeeTier(min_volume_30d=t.min_volume_30d, maker_bps=t.maker_bps,
                         taker_bps=t.taker_bps) for t in schedule.tiers]  # fmt: skip
        return cls(tiers=tiers, markup_bps=schedule.markup_bps)


@strawberry.type(description="Where a tenant's orders may be filled.")
class RoutingPolicy:
    mode: RoutingMode = strawberry.field(description="Internal books, an external venue, or both.")
    max_slippage_bps: int = strawberry.field(
        description="Furthest an external fill may be from the reference price, in bps (0-1000)."
    )


@strawberry.type(description="The text a tenant shows its customers before an order.")
class RiskWarning:
    product: Product = strawberry.field(description="The product the warning is about.")
    text: str = strawberry.field(description="The warning, plain text, up to 4000 characters.")
    is_default: bool = strawberry.field(description="True when this is the platform's default.")


@strawberry.type(description="Who last changed a tenant's configuration, and when.")
class ConfigAudit:
    updated_by: str = strawberry.field(
        description="Id of the API key that made the change, e.g. `key_01J...`."
    )
    updated_at: dt.datetime = strawberry.field(description="When the change was made.")


@strawberry.type(description="Products the platform lets institutions of a jurisdiction offer.")
class ProductPermission:
    jurisdiction: str = strawberry.field(description="ISO 3166 code, e.g. `CH` or `US-NY`.")
    products: list[Product] = strawberry.field(description="Permitted products.")
    is_default: bool = strawberry.field(
        description="True when no operator configured this jurisdiction: SPOT only."
    )
    updated_at: dt.datetime | None = strawberry.field(
        description="When an operator last changed it; null for the default."
    )

    @classmethod
    def from_model(cls, permission: ProductPermissionModel) -> ProductPermission:
        return cls(
            jurisdiction=permission.jurisdiction,
            products=[p for p in Product if p in permission.products],
            is_default=permission.is_default,
            updated_at=permission.updated_at,
        )


async def _config(info: Info, tenant_id: str) -> TenantConfigModel:
    config = await loaders.tenant_configs(info.context).load(tenant_id)
    if config is None:
        raise TenantNotFoundError("no such tenant", id=tenant_id)
    return config


@strawberry.type(description="A tenant's white-label configuration (mixed into Tenant).")
class TenantConfiguration:
    id: strawberry.ID = strawberry.field(description="Tenant id.")

    @strawberry.field(description="Fees the tenant's customers pay: platform tiers and markup.")
    async def fee_schedule(self, info: Info) -> FeeSchedule:
        return FeeSchedule.from_model((await _config(info, str(self.id))).fee_schedule)

    @strawberry.field(
        description="Ids of the platform markets the tenant offers, sorted, e.g. `BTC-USDT`."
    )
    async def listed_markets(self, info: Info) -> list[strawberry.ID]:
        config = await _config(info, str(self.id))
        return [strawberry.ID(m) for m in sorted(config.listed_markets)]

    @strawberry.field(description="Where the tenant's orders may be filled.")
    async def routing_policy(self, info: Info) -> RoutingPolicy:
        routing = (await _config(info, str(self.id))).routing
        return RoutingPolicy(mode=routing.mode, max_slippage_bps=routing.max_slippage_bps)

    @strawberry.field(description="Risk warning shown before an order, one per product.")
    async def risk_warnings(self, info: Info) -> list[RiskWarning]:
        warnings = (await _config(info, str(self.id))).risk_warnings
        return [
            RiskWarning(
                product=p, text=warnings[p], is_default=warnings[p] == DEFAULT_RISK_WARNINGS[p]
            )
            for p in Product
        ]

    @strawberry.field(
        description="Id of the custody policy governing the tenant's withdrawals; null if none."
    )
    async def custody_policy_id(self, info: Info) -> str | None:
        return (await _config(info, str(self.id))).custody_policy_id

    @strawberry.field(description="Products the tenant's jurisdiction permits it to offer.")
    async def permitted_products(self, info: Info) -> list[Product]:
        permitted = (await _config(info, str(self.id))).permitted_products
        return [p for p in Product if p in permitted]

    @strawberry.field(
        description="Last configuration change; null if never changed, and for TRADER keys."
    )
    async def config_audit(self, info: Info) -> ConfigAudit | None:
        if info.context.require().role is Role.TRADER:
            return None
        config = await _config(info, str(self.id))
        if config.updated_by is None or config.updated_at is None:
            return None
        return ConfigAudit(updated_by=config.updated_by, updated_at=config.updated_at)
