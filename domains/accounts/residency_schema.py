"""The ``setTenantDataRegion`` mutation (mixed into AccountsMutation): parse -> service -> map."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domains.accounts.residency import DataRegion, TenantRegions
from domains.accounts.service import AccountsService
from domains.accounts.types import Info, Tenant
from domains.compliance.audit import remember_before
from domains.shared.context import Role, TenantScope
from domains.shared.errors import NotFoundError


@strawberry.type(description="Accounts mutations: where a tenant's data is kept.")
class ResidencyMutation:
    @strawberry.mutation(
        description="Record that a tenant's data was migrated to another region (platform "
        "operators only). Refused with DATA_MIGRATION_REQUIRED unless `dataMigrated` is true, "
        "and with REGION_NOT_SERVED for a region this deployment does not serve. The platform "
        "moves no data itself: migrate the store first, then record it here."
    )
    async def set_tenant_data_region(
        self,
        info: Info,
        tenant: Annotated[strawberry.ID, strawberry.argument(description="The tenant.")],
        region: Annotated[DataRegion, strawberry.argument(description="Its new region.")],
        data_migrated: Annotated[
            bool,
            strawberry.argument(
                description="True once the tenant's data was moved to a store in `region`."
            ),
        ] = False,
    ) -> Tenant:
        info.context.require(Role.OPERATOR)
        regions = info.context.get(TenantRegions)
        before = await regions.region_of(str(tenant))
        remember_before(info.context.transport, str(info.path.key),
                        {"dataRegion": before.value if before else None})  # fmt: skip
        await regions.move(str(tenant), region, data_migrated)
        found = await info.context.get(AccountsService).tenants(TenantScope(None), [str(tenant)])
        if not found:
            raise NotFoundError("no such tenant", id=str(tenant))
        return Tenant.from_model(found[0])
