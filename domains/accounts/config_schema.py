"""Tenant configuration root fields (mixed into AccountsQuery/AccountsMutation): parse ->
service -> map.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from domains.accounts import loaders
from domains.accounts.config_types import ProductPermission
from domains.accounts.errors import TenantNotFoundError
from domains.accounts.model import Brand as BrandModel
from domains.accounts.model import FeeSchedule, FeeTier, Product, RoutingMode
from domains.accounts.model import TenantConfig as TenantConfigModel
from domains.accounts.service import AccountsService
from domains.accounts.types import Info, Tenant
from domains.shared.context import Role

TENANT_ID = (
    "The tenant to configure: required for OPERATOR keys; a TENANT_ADMIN may omit it (its own "
    "tenant) and gets FORBIDDEN for any other tenant."
)


@strawberry.input(description="White-label branding of a tenant.")
class BrandInput:
    display_name: str = strawberry.field(description="Name shown to end customers.")
    logo_url: str | None = strawberry.field(
        default=None, description="HTTPS URL of the logo, e.g. `https://bank.example/logo.svg`."
    )
    primary_color: str = strawberry.field(
        default="#0B5FFF", description="CSS hex colour, e.g. `#0B5FFF`."
    )
    secondary_color: str = strawberry.field(
        default="#0A1F44", description="CSS hex colour, e.g. `#0A1F44`."
    )
    support_email: str | None = strawberry.field(default=None, description="Support e-mail.")
    support_url: str | None = strawberry.field(
        default=None, description="Support web page, an https:// URL."
    )


@strawberry.input(description="One volume tier of a fee schedule.")
class FeeTierInput:
    min_volume_30d: Decimal = strawberry.field(
        name="minVolume30d",
        description='30-day volume in the quote asset where the tier starts, e.g. "0" or '
        '"1000000"; the first tier starts at "0", each next one strictly higher.',
    )
    maker_bps: int = strawberry.field(description="Maker fee in bps, 0 to 1000, e.g. 10.")
    taker_bps: int = strawberry.field(description="Taker fee in bps, 0 to 1000, e.g. 20.")


@strawberry.input(description="A complete fee schedule; it replaces the current one.")
class FeeScheduleInput:
    tiers: list[FeeTierInput] = strawberry.field(
        description="1 to 20 tiers, lowest volume first, the first at volume 0."
    )
    markup_bps: int = strawberry.field(
        default=0, description="The institution's markup on top of the platform fee, 0 to 500 bps."
    )


@strawberry.input(description="Where a tenant's orders may be filled.")
class RoutingPolicyInput:
    mode: RoutingMode = strawberry.field(description="Internal books, an external venue, or both.")
    max_slippage_bps: int = strawberry.field(
        description="Furthest an external fill may be from the reference price, 0 to 1000 bps."
    )


def _tenant_id(value: strawberry.ID | None) -> str | None:
    return str(value) if value is not None else None


async def _tenant(info: Info, config: TenantConfigModel) -> Tenant:
    """The configured tenant, with this request's configuration loader primed with ``config``."""
    loaders.tenant_configs(info.context).prime(config.tenant_id, config, force=True)
    tenant = await loaders.tenants(info.context).load(config.tenant_id)
    if tenant is None:
        raise TenantNotFoundError("no such tenant", id=config.tenant_id)
    return Tenant.from_model(tenant)


@strawberry.type(description="Tenant configuration queries.")
class TenantConfigQuery:
    @strawberry.field(
        description="Products each jurisdiction permits, by jurisdiction. Jurisdictions not "
        "listed permit SPOT only; ask for one to get its effective permission either way."
    )
    async def product_permissions(
        self,
        info: Info,
        jurisdiction: Annotated[
            str | None,
            strawberry.argument(description="Only this ISO 3166 code, e.g. `CH`."),
        ] = None,
    ) -> list[ProductPermission]:
        info.context.require()
        rows = await info.context.get(AccountsService).product_permissions(jurisdiction)
        return [ProductPermission.from_model(row) for row in rows]


@strawberry.type(description="Tenant configuration mutations.")
class TenantConfigMutation:
    @strawberry.mutation(description="Replace a tenant's fee schedule and markup.")
    async def set_fee_schedule(
        self,
        info: Info,
        input: Annotated[FeeScheduleInput, strawberry.argument(description="The new schedule.")],
        tenant_id: Annotated[
            strawberry.ID | None, strawberry.argument(description=TENANT_ID)
        ] = None,
    ) -> Tenant:
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        tiers = [FeeTier(t.min_volume_30d, t.maker_bps, t.taker_bps) for t in input.tiers]
        schedule = FeeSchedule.of(tiers, input.markup_bps)
        service = info.context.get(AccountsService)
        return await _tenant(
            info, await service.set_fee_schedule(actor, _tenant_id(tenant_id), schedule)
        )

    @strawberry.mutation(
        description="Replace the markets a tenant offers. Unknown ids are VALIDATION; markets "
        "its jurisdiction does not permit (e.g. PERPETUAL) are PRODUCT_NOT_PERMITTED."
    )
    async def set_listed_markets(
        self,
        info: Info,
        market_ids: Annotated[
            list[strawberry.ID],
            strawberry.argument(
                description='Platform market ids, e.g. `["BTC-USDT"]`; [] lists none.'
            ),
        ],
        tenant_id: Annotated[
            strawberry.ID | None, strawberry.argument(description=TENANT_ID)
        ] = None,
    ) -> Tenant:
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        service = info.context.get(AccountsService)
        ids = [str(m) for m in market_ids]
        return await _tenant(
            info, await service.set_listed_markets(actor, _tenant_id(tenant_id), ids)
        )

    @strawberry.mutation(description="Replace a tenant's routing policy.")
    async def set_routing_policy(
        self,
        info: Info,
        input: Annotated[RoutingPolicyInput, strawberry.argument(description="The new policy.")],
        tenant_id: Annotated[
            strawberry.ID | None, strawberry.argument(description=TENANT_ID)
        ] = None,
    ) -> Tenant:
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        config = await info.context.get(AccountsService).set_routing_policy(
            actor, _tenant_id(tenant_id), input.mode, input.max_slippage_bps
        )
        return await _tenant(info, config)

    @strawberry.mutation(
        description="Set the risk warning a tenant shows before orders in a product."
    )
    async def set_risk_warning(
        self,
        info: Info,
        product: Annotated[Product, strawberry.argument(description="The product it is about.")],
        text: Annotated[
            str | None,
            strawberry.argument(
                description="Plain text, 1 to 4000 characters; null restores the default."
            ),
        ] = None,
        tenant_id: Annotated[
            strawberry.ID | None, strawberry.argument(description=TENANT_ID)
        ] = None,
    ) -> Tenant:
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        config = await info.context.get(AccountsService).set_risk_warning(
            actor, _tenant_id(tenant_id), product, text
        )
        return await _tenant(info, config)

    @strawberry.mutation(description="Replace a tenant's white-label brand.")
    async def set_brand(
        self,
        info: Info,
        brand: Annotated[BrandInput, strawberry.argument(description="The new brand.")],
        tenant_id: Annotated[
            strawberry.ID | None, strawberry.argument(description=TENANT_ID)
        ] = None,
    ) -> Tenant:
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        service = info.context.get(AccountsService)
        tenant = await service.set_brand(actor, _tenant_id(tenant_id), BrandModel(**vars(brand)))
        loaders.tenants(info.context).prime(tenant.id, tenant, force=True)
        return Tenant.from_model(tenant)

    @strawberry.mutation(
        description="Set the products institutions of a jurisdiction may offer (OPERATOR only). "
        "Markets already listed stay listed."
    )
    async def set_product_permissions(
        self,
        info: Info,
        jurisdiction: Annotated[
            str, strawberry.argument(description="ISO 3166 code, e.g. `CH` or `US-NY`.")
        ],
        products: Annotated[
            list[Product], strawberry.argument(description="Permitted products, e.g. `[SPOT]`.")
        ],
    ) -> ProductPermission:
        actor = info.context.require(Role.OPERATOR)
        permission = await info.context.get(AccountsService).set_product_permissions(
            actor, jurisdiction, products
        )
        return ProductPermission.from_model(permission)
