"""Alerts and cases use cases: raise (idempotent, published to the tenant's alert stream),
list, and work cases; knows nothing of GraphQL."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import orjson

from domains.compliance.alert_model import (
    Alert,
    AlertRule,
    AlertStatus,
    Case,
    CaseDecision,
    CaseNote,
    CaseStatus,
)
from domains.compliance.alert_repository import alert_document, document_alert
from domains.shared.context import TenantScope
from domains.shared.errors import ConflictError, NotFoundError, ValidationError
from domains.shared.events import EventBus, tenant_topic
from domains.shared.ids import new_id
from domains.shared.scalars import utcnow

ALERT_STREAM = "compliance_alerts"
MAX_CASE_ALERTS = 500


class AlertRepository(Protocol):
    """What the alert service needs from storage (MongoAlertRepository)."""

    async def insert_alert(self, alert: Alert) -> bool: ...
    async def insert_alerts(self, alerts: Sequence[Alert]) -> list[Alert]: ...
    async def alerts(
        self, scope: TenantScope, ids: Sequence[str] | None = None, *,
        status: AlertStatus | None = None, first: int = 50, after: str | None = None,
    ) -> list[Alert]: ...  # fmt: skip
    async def set_alerts_case(
        self, tenant_id: str, ids: Sequence[str], case_id: str | None, status: AlertStatus
    ) -> None: ...
    async def unresolved(
        self, tenant_id: str, customer_id: str, rules: Sequence[AlertRule]
    ) -> list[Alert]: ...
    async def save_case(self, case: Case) -> None: ...
    async def cases(
        self, scope: TenantScope, ids: Sequence[str] | None = None, *,
        status: CaseStatus | None = None, first: int = 50, after: str | None = None,
    ) -> list[Case]: ...  # fmt: skip


def alert_payload(alert: Alert) -> bytes:
    """An alert as published on the tenant's stream."""
    doc = alert_document(alert)
    doc["detected_at"] = alert.detected_at.isoformat()
    return orjson.dumps(doc)


def alert_from_payload(payload: bytes) -> Alert:
    """The alert a stream message carries."""
    doc = orjson.loads(payload)
    doc["detected_at"] = dt.datetime.fromisoformat(doc["detected_at"])
    return document_alert(doc)


class AlertService:
    """Raises alerts and manages cases, per tenant."""

    def __init__(self, repository: AlertRepository, events: EventBus) -> None:
        self._repo = repository
        self._events = events

    async def raise_alert(self, alert: Alert) -> bool:
        """Record an alert once (same id: ignored) and publish it when new."""
        created = await self._repo.insert_alert(alert)
        if created:
            await self._events.publish(tenant_topic(ALERT_STREAM, alert.tenant_id),
                                       alert_payload(alert))  # fmt: skip
        return created

    async def raise_alerts(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Record many alerts in one write (same id: ignored); publish and return the new."""
        unique = list({a.id: a for a in alerts}.values())
        created = await self._repo.insert_alerts(unique)
        for alert in created:
            await self._events.publish(tenant_topic(ALERT_STREAM, alert.tenant_id),
                                       alert_payload(alert))  # fmt: skip
        return created

    def subscribe(self, tenant_id: str) -> AbstractAsyncContextManager[AsyncIterable[bytes]]:
        return self._events.subscribe(tenant_topic(ALERT_STREAM, tenant_id))

    async def alerts(
        self, scope: TenantScope, status: AlertStatus | None, first: int, after: str | None
    ) -> list[Alert]:
        return await self._repo.alerts(scope, status=status, first=first, after=after)

    async def sanctions_blockers(self, tenant_id: str, customer_id: str) -> list[str]:
        """Ids of the customer's sanctions alerts not yet decided (they block verification)."""
        found = await self._repo.unresolved(
            tenant_id, customer_id, (AlertRule.SANCTIONS_NAME, AlertRule.SANCTIONS_ADDRESS)
        )
        return [a.id for a in found]

    async def alerts_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Alert]:
        return await self._repo.alerts(scope, ids, first=len(ids) or 1)

    async def cases(
        self, scope: TenantScope, status: CaseStatus | None, first: int, after: str | None
    ) -> list[Case]:
        return await self._repo.cases(scope, status=status, first=first, after=after)

    async def case(self, scope: TenantScope, case_id: str) -> Case:
        found = await self._repo.cases(scope, [case_id], first=1)
        if not found:
            raise NotFoundError("no such case", id=case_id)
        return found[0]

    async def open_case(
        self, scope: TenantScope, title: str, alert_ids: Sequence[str], actor: str,
        assignee: str | None = None,
    ) -> Case:  # fmt: skip
        """Group OPEN alerts of the tenant into a new case."""
        ids = list(dict.fromkeys(alert_ids))
        if not ids or len(ids) > MAX_CASE_ALERTS:
            raise ValidationError(f"a case groups 1 to {MAX_CASE_ALERTS} alerts", field="alertIds")
        found = await self.alerts_by_ids(scope, ids)
        if len(found) != len(ids):
            missing = sorted(set(ids) - {a.id for a in found})
            raise NotFoundError("no such alert", ids=missing)
        taken = [a.id for a in found if a.status is not AlertStatus.OPEN]
        if taken:
            raise ConflictError("alerts already belong to a case or are closed", ids=taken)
        customers = {a.customer_id for a in found if a.customer_id}
        now, tenant = utcnow(), found[0].tenant_id
        case = Case(
            id=new_id("case"), tenant_id=tenant, title=title.strip()[:200] or "Untitled case",
            alert_ids=tuple(ids), status=CaseStatus.OPEN, created_by=actor, created_at=now,
            updated_at=now, assignee=assignee,
            customer_id=customers.pop() if len(customers) == 1 else None,
        )  # fmt: skip
        await self._repo.save_case(case)
        await self._repo.set_alerts_case(tenant, ids, case.id, AlertStatus.IN_CASE)
        return case

    async def update_case(
        self, scope: TenantScope, case_id: str, actor: str, *,
        assignee: str | None = None, status: CaseStatus | None = None,
        decision: CaseDecision | None = None, note: str | None = None,
    ) -> Case:  # fmt: skip
        """Assign, annotate, move or decide a case; closing needs a decision; closed is final."""
        case = await self.case(scope, case_id)
        if case.status is CaseStatus.CLOSED:
            raise ConflictError("the case is closed", id=case_id)
        closing = status is CaseStatus.CLOSED
        if closing and decision is None:
            raise ValidationError("closing a case needs a decision", field="decision")
        if decision is not None and not closing:
            raise ValidationError("a decision closes the case: set status CLOSED", field="status")
        notes = case.notes
        if note is not None and note.strip():
            notes = (*notes, CaseNote(actor, note.strip()[:4000], utcnow()))
        updated = dataclasses.replace(
            case, assignee=assignee if assignee is not None else case.assignee,
            status=status or case.status, decision=decision, notes=notes, updated_at=utcnow(),
        )  # fmt: skip
        await self._repo.save_case(updated)
        if closing:
            await self._repo.set_alerts_case(
                case.tenant_id, case.alert_ids, case.id, AlertStatus.CLOSED
            )
        return updated
