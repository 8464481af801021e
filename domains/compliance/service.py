"""Compliance use cases; knows nothing of GraphQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domains.compliance.model import ALLOWED_TRANSITIONS, KycProfile, KycStatus
from domains.shared.context import TenantScope
from domains.shared.errors import ConflictError, ValidationError
from domains.shared.scalars import utcnow


class ComplianceRepository(Protocol):
    """What the service needs from storage."""

    async def save_profile(self, profile: KycProfile) -> None: ...
    async def profiles(
        self, scope: TenantScope, customer_ids: Sequence[str]
    ) -> list[KycProfile]: ...


MAX_KYC_LEVEL = 3


class ComplianceService:
    """KYC workflow per customer."""

    def __init__(self, repository: ComplianceRepository) -> None:
        self._repo = repository

    async def kyc_of(self, scope: TenantScope, customer_ids: Sequence[str]) -> list[KycProfile]:
        """KYC profiles for customers; customers with no record are NOT_STARTED.

        Callers must pass customer ids already known to be visible in ``scope``.
        """
        found = {p.customer_id: p for p in await self._repo.profiles(scope, customer_ids)}
        tenant = scope.tenant_id or ""
        return [found.get(c) or KycProfile(customer_id=c, tenant_id=tenant) for c in customer_ids]

    async def set_kyc_status(
        self,
        scope: TenantScope,
        customer_id: str,
        tenant_id: str,
        status: KycStatus,
        level: int,
        reviewer: str,
    ) -> KycProfile:
        """Move a customer's KYC along its workflow; an illegal transition is a CONFLICT."""
        if not 0 <= level <= MAX_KYC_LEVEL:
            raise ValidationError(f"level must be 0 to {MAX_KYC_LEVEL}", field="level")
        current = (await self.kyc_of(scope, [customer_id]))[0]
        if status not in ALLOWED_TRANSITIONS[current.status]:
            raise ConflictError(
                f"KYC cannot go from {current.status.value} to {status.value}",
                current=current.status.value,
            )
        profile = KycProfile(
            customer_id=customer_id,
            tenant_id=tenant_id,
            status=status,
            level=level if status is KycStatus.VERIFIED else current.level,
            reviewed_by=reviewer,
            updated_at=utcnow(),
        )
        await self._repo.save_profile(profile)
        return profile
