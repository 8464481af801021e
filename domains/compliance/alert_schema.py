"""Root fields for alerts, cases and sanctions screening (parse -> service -> map)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from domains.compliance.alert_model import AlertStatus, CaseStatus
from domains.compliance.alert_repository import alert_sort_key
from domains.compliance.alert_service import AlertService, alert_from_payload
from domains.compliance.alert_types import (
    Alert,
    Case,
    SanctionsMatch,
    SanctionsReload,
    UpdateCaseInput,
)
from domains.compliance.audit import remember_before
from domains.compliance.screening import SanctionsScreening
from domains.compliance.types import Info
from domains.shared.context import Role
from domains.shared.errors import ValidationError
from domains.shared.relay import Connection, build_connection, page_request

OFFICERS = (Role.COMPLIANCE,)


@strawberry.type(description="Compliance queries: alerts, cases, screening.")
class AlertQuery:
    @strawberry.field(description="Alerts of your institution, newest first (compliance).")
    async def compliance_alerts(
        self,
        info: Info,
        status: Annotated[
            AlertStatus | None, strawberry.argument(description="Only alerts in this state.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[Alert]:
        info.context.require(*OFFICERS)
        page = page_request(first, after)
        rows = await info.context.get(AlertService).alerts(
            info.context.scope(), status, page.first + 1, page.after_key
        )
        return build_connection(rows, page, alert_sort_key, Alert.from_model)

    @strawberry.field(description="Cases of your institution, newest first (compliance).")
    async def compliance_cases(
        self,
        info: Info,
        status: Annotated[
            CaseStatus | None, strawberry.argument(description="Only cases in this state.")
        ] = None,
        first: Annotated[int | None, strawberry.argument(description="Page size.")] = None,
        after: Annotated[str | None, strawberry.argument(description="Cursor.")] = None,
    ) -> Connection[Case]:
        info.context.require(*OFFICERS)
        page = page_request(first, after)
        rows = await info.context.get(AlertService).cases(
            info.context.scope(), status, page.first + 1, page.after_key
        )
        return build_connection(rows, page, lambda c: c.id, Case.from_model)

    @strawberry.field(description="Screen a name against the sanctions lists (no alert raised).")
    async def sanctions_screen(
        self,
        info: Info,
        name: Annotated[str, strawberry.argument(description="Full name to screen.")],
        date_of_birth: Annotated[
            dt.date | None, strawberry.argument(description="Date of birth, if known.")
        ] = None,
    ) -> list[SanctionsMatch]:
        info.context.require(*OFFICERS)
        if not name.strip() or len(name) > 300:
            raise ValidationError("give a name of 1 to 300 characters", field="name")
        lists = info.context.get(SanctionsScreening).current
        return [SanctionsMatch.from_model(m) for m in lists.match_name(name, date_of_birth)]


@strawberry.type(description="Compliance mutations: cases and sanctions lists.")
class AlertMutation:
    @strawberry.mutation(description="Group open alerts into a new case (compliance).")
    async def open_case(
        self,
        info: Info,
        title: Annotated[str, strawberry.argument(description="Short title.")],
        alert_ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="Open alerts to group.")
        ],
        assignee: Annotated[
            str | None, strawberry.argument(description="Who works the case.")
        ] = None,
    ) -> Case:
        principal = info.context.require(*OFFICERS)
        case = await info.context.get(AlertService).open_case(
            info.context.scope(), title, [str(a) for a in alert_ids], principal.key_id, assignee
        )
        return Case.from_model(case)

    @strawberry.mutation(description="Assign, annotate, move or decide a case (compliance).")
    async def update_case(
        self,
        info: Info,
        input: Annotated[UpdateCaseInput, strawberry.argument(description="The changes.")],
    ) -> Case:
        principal = info.context.require(*OFFICERS)
        service = info.context.get(AlertService)
        current = await service.case(info.context.scope(), str(input.case_id))
        remember_before(info.context.transport, str(info.path.key), {
            "caseId": current.id, "status": current.status.value, "assignee": current.assignee,
            "notes": len(current.notes),
        })  # fmt: skip
        case = await service.update_case(
            info.context.scope(), str(input.case_id), principal.key_id, assignee=input.assignee,
            status=input.status, decision=input.decision, note=input.note,
        )  # fmt: skip
        return Case.from_model(case)

    @strawberry.mutation(
        description=(
            "Reload the sanctions lists from their files and re-screen every customer and "
            "known withdrawal destination (operators)."
        )
    )
    async def reload_sanctions_lists(self, info: Info) -> SanctionsReload:
        info.context.require(Role.OPERATOR)
        report = await info.context.get(SanctionsScreening).reload()
        return SanctionsReload.from_model(report)


@strawberry.type(description="Compliance subscriptions.")
class AlertSubscription:
    @strawberry.subscription(description="New alerts of your institution as they are raised.")
    async def compliance_alerts(self, info: Info) -> AsyncGenerator[Alert, None]:
        principal = info.context.require(*OFFICERS)
        if principal.tenant_id is None:
            raise ValidationError("alert streams are per tenant; use a tenant's key")
        async with info.context.get(AlertService).subscribe(principal.tenant_id) as stream:
            async for payload in stream:
                alert = alert_from_payload(payload)
                if alert.tenant_id == principal.tenant_id:
                    yield Alert.from_model(alert)
