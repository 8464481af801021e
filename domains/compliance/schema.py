"""Compliance subgraph root fields."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domains.accounts.service import AccountsService
from domains.compliance.model import KycStatus
from domains.compliance.service import ComplianceService
from domains.compliance.types import Info, KycProfile
from domains.shared.context import Role
from domains.shared.errors import NotFoundError


@strawberry.type(description="Compliance mutations.")
class ComplianceMutation:
    @strawberry.mutation(description="Record a KYC decision for a customer (compliance officers).")
    async def set_kyc_status(
        self,
        info: Info,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer.")],
        status: Annotated[KycStatus, strawberry.argument(description="The new workflow state.")],
        level: Annotated[int, strawberry.argument(description="Level granted when VERIFIED.")] = 1,
    ) -> KycProfile:
        principal = info.context.require(Role.COMPLIANCE)
        scope = info.context.scope()
        found = await info.context.get(AccountsService).customers(scope, [str(customer_id)])
        if not found:
            raise NotFoundError("no such customer", id=str(customer_id))
        profile = await info.context.get(ComplianceService).set_kyc_status(
            scope, found[0].id, found[0].tenant_id, status, level, principal.key_id
        )
        return KycProfile.from_model(profile)


@strawberry.type(description="Compliance queries.")
class ComplianceQuery:
    @strawberry.field(description="KYC state of one customer visible to the caller.")
    async def kyc(
        self,
        info: Info,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="Customer.")],
    ) -> KycProfile | None:
        scope = info.context.scope()
        found = await info.context.get(AccountsService).customers(scope, [str(customer_id)])
        if not found:
            return None
        profiles = await info.context.get(ComplianceService).kyc_of(scope, [found[0].id])
        return KycProfile.from_model(profiles[0])
