"""Root fields of the audit trail: read, verify, and the retention period (compliance)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
import strawberry

from domains.compliance.audit import (
    CLIENT_ADDRESS,
    PLATFORM_CHAIN,
    AuditEntry,
    AuditProblem,
    Verification,
    remember_before,
)
from domains.compliance.audit_trail import AuditTrail
from domains.compliance.types import Info
from domains.shared.context import Principal, Role
from domains.shared.graphql import described_enum
from domains.shared.relay import Connection, build_connection, page_request
from domains.shared.scalars import utcnow

described_enum(
    AuditProblem,
    "What verification found wrong in an audit chain.",
    ALTERED="A record's content no longer matches its hash.",
    MISSING="Positions are missing: records were removed.",
    BROKEN_LINK="A record does not link to the one before it: records were reordered or replaced.",
    TRUNCATED="The chain ends before its recorded head: the newest records were removed.",
)


def _json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


@strawberry.type(description="One audit record: who did what, when, from where, and the outcome.")
class AuditRecord:
    position: int = strawberry.field(description="Position in the tenant's chain (from 1).")
    at: str = strawberry.field(description="When, ISO-8601 UTC with milliseconds.")
    actor: str = strawberry.field(description="Key id of the caller (or system:...).")
    role: str = strawberry.field(description="The caller's role.")
    source_ip: str = strawberry.field(description="The caller's address.")
    operation: str = strawberry.field(description="e.g. `mutation setKycStatus`, `report.export`.")
    outcome: str = strawberry.field(description="OK or the error code.")
    request_id: str = strawberry.field(description="The request's correlation id.")
    arguments: str = strawberry.field(description="Arguments as JSON (a digest if it failed).")
    before: str | None = strawberry.field(description="State before, as JSON, when known.")
    after: str | None = strawberry.field(description="Result after, as JSON.")
    prev_hash: str = strawberry.field(description="SHA-256 of the previous record.")
    hash: str = strawberry.field(description="SHA-256 of this record's canonical JSON.")

    @classmethod
    def from_document(cls, d: dict[str, Any]) -> AuditRecord:
        return cls(
            position=int(d["n"]), at=d["at"], actor=d["actor"], role=d["role"],
            source_ip=d["source_ip"], operation=d["operation"], outcome=d["outcome"],
            request_id=d.get("request_id") or "", arguments=_json(d.get("arguments")) or "{}",
            before=_json(d.get("before")), after=_json(d.get("after")),
            prev_hash=d["prev_hash"], hash=d["hash"],
        )  # fmt: skip


@strawberry.type(description="A problem verification found.")
class AuditFinding:
    problem: AuditProblem = strawberry.field(description="What is wrong.")
    position: int = strawberry.field(description="Where in the chain.")
    detail: str = strawberry.field(description="In words.")


@strawberry.type(description="The result of verifying your institution's audit chain.")
class AuditVerification:
    intact: bool = strawberry.field(description="True when nothing was altered, removed or moved.")
    checked: int = strawberry.field(description="Records checked.")
    first_position: int = strawberry.field(description="First retained position (0: none).")
    last_position: int = strawberry.field(description="Last position (0: none).")
    findings: list[AuditFinding] = strawberry.field(description="Every problem found.")

    @classmethod
    def from_model(cls, v: Verification) -> AuditVerification:
        return cls(
            intact=v.intact, checked=v.checked, first_position=v.first_n, last_position=v.last_n,
            findings=[AuditFinding(problem=f.problem, position=f.n, detail=f.detail)
                      for f in v.findings],
        )  # fmt: skip


def chain_of(principal: Principal) -> str:
    return principal.tenant_id or PLATFORM_CHAIN


async def record_action(info: Info, principal: Principal, operation: str, after: Any) -> None:
    """Append a compliance action that is not a mutation (e.g. a verification)."""
    transport = info.context.transport
    await info.context.get(AuditTrail).append(AuditEntry(
        tenant_id=chain_of(principal), actor=principal.key_id, role=principal.role.value,
        at=utcnow(), source_ip=str(transport.get(CLIENT_ADDRESS, "unknown")),
        operation=operation, outcome="OK", request_id=info.context.request_id, after=after,
    ))  # fmt: skip


@strawberry.type(description="Compliance queries: the audit trail.")
class AuditQuery:
    @strawberry.field(description="Your institution's audit records, newest first (compliance).")
    async def audit_trail(
        self,
        info: Info,
        operation: Annotated[
            str | None, strawberry.argument(description="Only this operation.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[AuditRecord]:
        principal = info.context.require(Role.COMPLIANCE, Role.OPERATOR)
        page = page_request(first, after)
        before_n = int(page.after_key) if page.after_key and page.after_key.isdigit() else None
        docs = await info.context.get(AuditTrail).records(
            chain_of(principal), page.first + 1, before_n, operation
        )
        return build_connection(docs, page, lambda d: str(d["n"]), AuditRecord.from_document)

    @strawberry.field(
        description="Verify your institution's audit chain: altered, removed, reordered records."
    )
    async def verify_audit_trail(self, info: Info) -> AuditVerification:
        principal = info.context.require(Role.COMPLIANCE, Role.OPERATOR)
        result = await info.context.get(AuditTrail).verify(chain_of(principal))
        await record_action(info, principal, "query verifyAuditTrail",
                            {"intact": result.intact, "checked": result.checked})  # fmt: skip
        return AuditVerification.from_model(result)

    @strawberry.field(description="How long your institution keeps audit records, in days.")
    async def audit_retention_days(self, info: Info) -> int:
        principal = info.context.require(Role.COMPLIANCE, Role.OPERATOR)
        return await info.context.get(AuditTrail).retention_days(chain_of(principal))


@strawberry.type(description="Compliance mutations: the audit trail.")
class AuditMutation:
    @strawberry.mutation(
        description="Set how long audit records are kept: the AUDIT kind of "
        "`setRetentionPolicy`, at least 1827 days (5 years; RETENTION_BELOW_MINIMUM) and at "
        "most 36500 (compliance)."
    )
    async def set_audit_retention(
        self,
        info: Info,
        days: Annotated[int, strawberry.argument(description="Retention in days.")],
    ) -> int:
        principal = info.context.require(Role.COMPLIANCE)
        trail = info.context.get(AuditTrail)
        before = await trail.retention_days(chain_of(principal))
        remember_before(info.context.transport, str(info.path.key), {"retentionDays": before})
        return await trail.set_retention_days(chain_of(principal), days)

    @strawberry.mutation(
        description="Delete audit records older than the retention period; returns how many."
    )
    async def purge_expired_audit_records(self, info: Info) -> int:
        principal = info.context.require(Role.COMPLIANCE)
        return await info.context.get(AuditTrail).purge_expired(chain_of(principal), utcnow())
