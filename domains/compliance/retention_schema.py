"""Root fields of record retention: read and set a tenant's retention policy, purge its
expired records (compliance officers for their tenant, operators naming one)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domains.accounts.service import AccountsService
from domains.compliance.audit import PLATFORM_CHAIN, remember_before
from domains.compliance.audit_trail import AuditTrail
from domains.compliance.retention import RULES, RecordKind, RecordPurge
from domains.compliance.types import Info
from domains.shared.context import Principal, Role, TenantScope
from domains.shared.errors import ForbiddenError, NotFoundError, ValidationError
from domains.shared.graphql import described_enum
from domains.shared.scalars import utcnow

described_enum(
    RecordKind,
    'A kind of record a retention period applies to (README "Retention and residency"). '
    "The journal and the ledger are not among them: they are never purged.",
    AUDIT="The audit trail (every mutation and compliance action).",
    ORDERS="Finished orders (filled, cancelled, expired, rejected).",
    TRADES="Trades (deleted once expired for every tenant party to them).",
    ALERTS_CASES="Closed cases with their alerts, and closed alerts.",
    MOVEMENTS="Deposits and withdrawals as transaction monitoring recorded them.",
    AUTH_FAILURES="Refused credentials (the authentication audit: the API request log).",
)
TENANT = ("The tenant: operators name it (omitted: the platform's own records); compliance "
          "officers may omit it or name their own (any other is FORBIDDEN).")  # fmt: skip
NEVER_PURGED = ("journal", "ledger")


@strawberry.type(description="How long one kind of record is kept, and why at least that long.")
class RetentionPeriod:
    kind: RecordKind = strawberry.field(description="The kind of record.")
    days: int = strawberry.field(description="Kept this many days after the record's time.")
    minimum_days: int = strawberry.field(description="The regulatory floor (shorter is refused).")
    default_days: int = strawberry.field(description="The period when none was set.")
    legal_basis: str = strawberry.field(description="Where the floor comes from.")
    deletes: str = strawberry.field(description="What the purge deletes for this kind.")


@strawberry.type(description="A tenant's retention policy: every kind's period.")
class RetentionPolicy:
    tenant: strawberry.ID = strawberry.field(description="The tenant (or `platform`).")
    periods: list[RetentionPeriod] = strawberry.field(description="One per kind of record.")
    never_purged: list[str] = strawberry.field(
        description="What no retention applies to: the journal (the source of truth, compacted "
        "by snapshots only) and the ledger (the books)."
    )


@strawberry.type(description="How many records of one kind a purge deleted.")
class PurgedRecords:
    kind: RecordKind = strawberry.field(description="The kind of record.")
    deleted: int = strawberry.field(description="Records (documents) deleted.")


@strawberry.input(description="One kind's retention period.")
class RetentionPeriodInput:
    kind: RecordKind = strawberry.field(description="The kind of record.")
    days: int = strawberry.field(
        description="Days, from the kind's minimum (RETENTION_BELOW_MINIMUM below it) to 36500."
    )


@strawberry.input(description="Retention periods to set; kinds not named keep theirs.")
class SetRetentionPolicyInput:
    tenant: strawberry.ID | None = strawberry.field(default=None, description=TENANT)
    periods: list[RetentionPeriodInput] = strawberry.field(
        description="The periods, each kind at most once."
    )


async def policy_tenant(info: Info, tenant: strawberry.ID | None) -> str:
    """The tenant a retention field is about, if the caller may reach it."""
    principal: Principal = info.context.require(Role.COMPLIANCE, Role.OPERATOR)
    if principal.tenant_id is not None:
        if tenant is not None and str(tenant) != principal.tenant_id:
            raise ForbiddenError("a tenant's officers reach only its own retention policy")
        return principal.tenant_id
    if tenant is None:
        return PLATFORM_CHAIN
    found = await info.context.get(AccountsService).tenants(TenantScope(None), [str(tenant)])
    if not found:
        raise NotFoundError("no such tenant", id=str(tenant))
    return str(tenant)


async def _policy(info: Info, tenant_id: str) -> RetentionPolicy:
    days = await info.context.get(AuditTrail).policies.days(tenant_id)
    periods = [RetentionPeriod(kind=k, days=days[k], minimum_days=r.minimum_days,
                               default_days=r.default_days, legal_basis=r.legal_basis,
                               deletes=r.deletes) for k, r in RULES.items()]  # fmt: skip
    return RetentionPolicy(tenant=strawberry.ID(tenant_id), periods=periods,
                           never_purged=list(NEVER_PURGED))  # fmt: skip


@strawberry.type(description="Compliance queries: record retention.")
class RetentionQuery:
    @strawberry.field(description="A tenant's retention policy (compliance, operators).")
    async def retention_policy(
        self,
        info: Info,
        tenant: Annotated[strawberry.ID | None, strawberry.argument(description=TENANT)] = None,
    ) -> RetentionPolicy:
        return await _policy(info, await policy_tenant(info, tenant))


@strawberry.type(description="Compliance mutations: record retention.")
class RetentionMutation:
    @strawberry.mutation(
        description="Set how long kinds of records are kept. A period below the kind's "
        "regulatory minimum is refused (RETENTION_BELOW_MINIMUM) and then nothing changes."
    )
    async def set_retention_policy(
        self,
        info: Info,
        input: Annotated[SetRetentionPolicyInput, strawberry.argument(description="Periods.")],
    ) -> RetentionPolicy:
        tenant_id = await policy_tenant(info, input.tenant)
        kinds = [p.kind for p in input.periods]
        if len(set(kinds)) != len(kinds):
            raise ValidationError("each kind at most once", field="periods")
        policies = info.context.get(AuditTrail).policies
        before = await policies.days(tenant_id)
        remember_before(info.context.transport, str(info.path.key),
                        {k.value: before[k] for k in kinds})  # fmt: skip
        await policies.set(tenant_id, {p.kind: p.days for p in input.periods})
        return await _policy(info, tenant_id)

    @strawberry.mutation(
        description="Delete the tenant's records older than its retention policy now (the "
        "writer also does it on a timer); how many of each kind. Never the journal or ledger."
    )
    async def purge_expired_records(
        self,
        info: Info,
        tenant: Annotated[strawberry.ID | None, strawberry.argument(description=TENANT)] = None,
    ) -> list[PurgedRecords]:
        tenant_id = await policy_tenant(info, tenant)
        counts = await info.context.get(RecordPurge).purge_tenant(tenant_id, utcnow())
        return [PurgedRecords(kind=k, deleted=n) for k, n in counts.items()]
