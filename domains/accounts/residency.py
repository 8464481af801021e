"""Data residency: the closed list of regions a tenant's data may be kept in, which of them
this deployment serves, and the rules for setting a tenant's region; no strawberry, no pymongo.

Which store (and so which country) the data physically lives in is the deployment's choice
(``MONGODB_URI``); what the platform enforces is that a deployment serves only the regions it
is configured for (``CAAS_DATA_REGIONS``), refuses a tenant of any other region, records the
region on the tenant and on every export, and never moves a tenant to another region without
an operator saying its data was migrated.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Protocol

from domains.shared.context import TenantScope
from domains.shared.errors import DomainError, NotFoundError

if TYPE_CHECKING:
    from domains.accounts.model import Tenant


class DataRegion(enum.Enum):
    """Where a tenant's data is kept. Codes are API: add, never rename."""

    EU = "EU"
    UK = "UK"
    US = "US"
    SG = "SG"
    HK = "HK"
    CH = "CH"


ALL_REGIONS: tuple[DataRegion, ...] = tuple(DataRegion)


class RegionNotServedError(DomainError):
    """The region is not one this deployment is configured to serve (CAAS_DATA_REGIONS)."""

    code = "REGION_NOT_SERVED"


class DataMigrationRequiredError(DomainError):
    """A tenant's region changes only once its data was migrated (``dataMigrated: true``)."""

    code = "DATA_MIGRATION_REQUIRED"


def parse_regions(raw: str) -> tuple[DataRegion, ...]:
    """``EU,CH`` -> (EU, CH), in the order given (the first is the default); ValueError on an
    unknown or repeated code or an empty list."""
    codes = [part.strip().upper() for part in raw.split(",") if part.strip()]
    known = {r.value for r in DataRegion}
    unknown = [c for c in codes if c not in known]
    if unknown or not codes or len(set(codes)) != len(codes):
        raise ValueError(
            f"CAAS_DATA_REGIONS must list distinct regions of {', '.join(sorted(known))}; "
            f"got {raw!r}"
        )
    return tuple(DataRegion(c) for c in codes)


class Residency:
    """The regions this deployment serves; the first is the default for new tenants."""

    def __init__(self, served: Iterable[DataRegion] = ALL_REGIONS) -> None:
        self.served: tuple[DataRegion, ...] = tuple(served)
        if not self.served:
            raise ValueError("a deployment serves at least one region")

    @property
    def default(self) -> DataRegion:
        return self.served[0]

    def require_served(self, region: DataRegion | None) -> DataRegion:
        """``region`` (the default when None) if this deployment serves it."""
        chosen = self.default if region is None else region
        if chosen not in self.served:
            raise RegionNotServedError(
                f"this deployment serves {', '.join(r.value for r in self.served)}, "
                f"not {chosen.value}",
                field="dataRegion", region=chosen.value,
                served=[r.value for r in self.served],
            )  # fmt: skip
        return chosen


class RegionRepository(Protocol):
    """Storage of tenants' regions (MongoAccountsRepository)."""

    async def tenants_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Tenant]: ...
    async def set_data_region(self, tenant_id: str, region: DataRegion) -> None: ...
    async def assign_missing_regions(self, region: DataRegion) -> int: ...


class TenantRegions:
    """A tenant's region after creation: read it, move it (operators, data migrated first)."""

    def __init__(self, repository: RegionRepository, residency: Residency) -> None:
        self._repo = repository
        self.residency = residency

    async def region_of(self, tenant_id: str) -> DataRegion | None:
        """The tenant's recorded region (NOT_FOUND when there is no such tenant)."""
        found = await self._repo.tenants_by_ids(TenantScope(None), [tenant_id])
        if not found:
            raise NotFoundError("no such tenant", id=tenant_id)
        return found[0].data_region

    async def move(self, tenant_id: str, region: DataRegion, data_migrated: bool) -> DataRegion:
        """Record that ``tenant_id``'s data now lives in ``region``: refused unless this
        deployment serves it and the operator says the data was migrated there."""
        current = await self.region_of(tenant_id)
        self.residency.require_served(region)
        if region is current:
            return region
        if not data_migrated:
            raise DataMigrationRequiredError(
                "a tenant's region changes only after its data was migrated: migrate the "
                "store, then call again with dataMigrated: true",
                field="dataMigrated", current=current.value if current else None,
            )  # fmt: skip
        await self._repo.set_data_region(tenant_id, region)
        return region

    async def assign_default(self) -> int:
        """At start: tenants stored before regions were recorded get the default region."""
        return await self._repo.assign_missing_regions(self.residency.default)
