"""Compliance subgraph root fields: KYC workflow, levels and suitability (parse -> service -> map).

Alerts, cases, screening, reports and the audit trail add their fields through the mixins
imported at the bottom of the MRO (one module each).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import strawberry

from domains.accounts.service import AccountsService
from domains.compliance.alert_schema import AlertMutation, AlertQuery, AlertSubscription
from domains.compliance.audit import remember_before
from domains.compliance.audit_schema import AuditMutation, AuditQuery
from domains.compliance.model import KycLevel as KycLevelModel
from domains.compliance.model import KycStatus
from domains.compliance.model import Suitability as SuitabilityModel
from domains.compliance.monitoring_schema import MonitoringMutation, MonitoringQuery
from domains.compliance.retention_schema import RetentionMutation, RetentionQuery
from domains.compliance.service import ComplianceService, KycApplication
from domains.compliance.types import (
    Info,
    KycLevel,
    KycLevelInput,
    KycProfile,
    SubmitKycInput,
    Suitability,
    SuitabilityInput,
)
from domains.shared.context import Role
from domains.shared.errors import NotFoundError
from domains.shared.relay import Connection, build_connection, page_request
from domains.shared.scalars import utcnow

STAFF = (Role.COMPLIANCE, Role.TENANT_ADMIN)


@dataclass(frozen=True)
class CustomerRef:
    """A customer the caller may see: its id and tenant (accounts owns the rest)."""

    id: str
    tenant_id: str
    display_name: str


async def visible_customer(info: Info, customer_id: str) -> CustomerRef:
    """The customer if the caller may see it (NOT_FOUND otherwise, same as nonexistent)."""
    found = await info.context.get(AccountsService).customers(info.context.scope(), [customer_id])
    if not found:
        raise NotFoundError("no such customer", id=customer_id)
    return CustomerRef(found[0].id, found[0].tenant_id, found[0].display_name)


@strawberry.type(description="Compliance mutations: KYC.")
class KycMutation:
    @strawberry.mutation(description="Record a KYC decision for a customer (compliance officers).")
    async def set_kyc_status(
        self,
        info: Info,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="The customer.")],
        status: Annotated[KycStatus, strawberry.argument(description="The new workflow state.")],
        level: Annotated[int, strawberry.argument(description="Level granted when VERIFIED.")] = 1,
        note: Annotated[
            str | None, strawberry.argument(description="The reviewer's reasoning.")
        ] = None,
    ) -> KycProfile:
        principal = info.context.require(Role.COMPLIANCE)
        customer = await visible_customer(info, str(customer_id))
        service = info.context.get(ComplianceService)
        current = (await service.kyc_of(info.context.scope(), [customer.id]))[0]
        remember_before(info.context.transport, str(info.path.key),
                        {"customerId": customer.id, "status": current.status.value,
                         "level": current.level})  # fmt: skip
        profile = await service.set_kyc_status(
            info.context.scope(), customer.id, customer.tenant_id, status, level,
            principal.key_id, note[:2000] if note else None,
        )  # fmt: skip
        return KycProfile.from_model(profile)

    @strawberry.mutation(
        description=(
            "Submit a KYC application (the customer itself or its institution): the customer "
            "goes PENDING, is screened against sanctions lists, and waits for review."
        )
    )
    async def submit_kyc(
        self,
        info: Info,
        input: Annotated[SubmitKycInput, strawberry.argument(description="The application.")],
    ) -> KycProfile:
        principal = info.context.require(Role.TRADER, Role.TENANT_ADMIN)
        customer = await visible_customer(info, str(input.customer_id))
        application = KycApplication(
            input.legal_name, input.date_of_birth, input.nationality,
            tuple(d.to_model() for d in input.documents),
        )  # fmt: skip
        profile = await info.context.get(ComplianceService).submit_kyc(
            info.context.scope(), customer.id, customer.tenant_id, application, principal.key_id
        )
        return KycProfile.from_model(profile)

    @strawberry.mutation(description="Configure what one KYC level allows in your institution.")
    async def set_kyc_level(
        self,
        info: Info,
        input: Annotated[KycLevelInput, strawberry.argument(description="The level.")],
    ) -> KycLevel:
        principal = info.context.require(*STAFF)
        tenant = info.context.scope().tenant_id or ""
        limits = {a.asset.strip().upper(): a.amount for a in input.daily_withdrawal}
        level = KycLevelModel(tenant, input.level, input.name.strip()[:80],
                              frozenset(p.strip().upper() for p in input.products), limits,
                              updated_by=principal.key_id)  # fmt: skip
        return KycLevel.from_model(await info.context.get(ComplianceService).set_level(level))

    @strawberry.mutation(
        description="Record a derivatives suitability assessment and its risk acknowledgement."
    )
    async def record_suitability(
        self,
        info: Info,
        input: Annotated[SuitabilityInput, strawberry.argument(description="The assessment.")],
    ) -> Suitability:
        principal = info.context.require(Role.TRADER, *STAFF)
        customer = await visible_customer(info, str(input.customer_id))
        record = SuitabilityModel(
            customer.id, customer.tenant_id, input.questionnaire_version.strip()[:40],
            input.score, input.passed, input.disclosure_version.strip()[:40],
            input.acknowledged_at, principal.key_id, utcnow(),
        )  # fmt: skip
        saved = await info.context.get(ComplianceService).record_suitability(record)
        return Suitability.from_model(saved)


@strawberry.type(description="Compliance queries: KYC.")
class KycQuery:
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

    @strawberry.field(description="PENDING KYC applications of your institution, for review.")
    async def kyc_review_queue(
        self,
        info: Info,
        first: Annotated[int | None, strawberry.argument(description="Page size.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[KycProfile]:
        info.context.require(*STAFF)
        page = page_request(first, after)
        rows = await info.context.get(ComplianceService).review_queue(
            info.context.scope(), page.first + 1, page.after_key
        )
        return build_connection(rows, page, lambda p: p.customer_id, KycProfile.from_model)

    @strawberry.field(description="The KYC levels of your institution and what each allows.")
    async def kyc_levels(self, info: Info) -> list[KycLevel]:
        tenant = info.context.scope().tenant_id
        if tenant is None:
            return []
        levels = await info.context.get(ComplianceService).levels(tenant)
        return [KycLevel.from_model(lv) for lv in levels]

    @strawberry.field(description="A customer's derivatives suitability, or null if none.")
    async def suitability(
        self,
        info: Info,
        customer_id: Annotated[strawberry.ID, strawberry.argument(description="Customer.")],
    ) -> Suitability | None:
        customer = await visible_customer(info, str(customer_id))
        found = await info.context.get(ComplianceService).suitability_of(
            info.context.scope(), customer.id
        )
        return Suitability.from_model(found) if found else None


@strawberry.type(description="Compliance mutations.")
class ComplianceMutation(
    KycMutation, AlertMutation, MonitoringMutation, AuditMutation, RetentionMutation
):
    pass


@strawberry.type(description="Compliance queries.")
class ComplianceQuery(KycQuery, AlertQuery, MonitoringQuery, AuditQuery, RetentionQuery):
    pass


@strawberry.type(description="Compliance subscriptions.")
class ComplianceSubscription(AlertSubscription):
    pass
