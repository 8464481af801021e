"""Persistence of alerts and cases: compliance_alerts, compliance_cases (owned here only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import BulkWriteError

from domains.compliance.alert_model import (
    Alert,
    AlertRule,
    AlertStatus,
    Case,
    CaseDecision,
    CaseNote,
    CaseStatus,
    Evidence,
    Severity,
)
from domains.shared.context import TenantScope
from domains.shared.mongo import DUPLICATE_KEY, CollectionIndexes, Database, Document, page_filter

INDEXES = (
    CollectionIndexes(
        "compliance_alerts",
        (
            IndexModel([("tenant_id", ASCENDING), ("sort_key", DESCENDING)]),
            IndexModel([("tenant_id", ASCENDING), ("detected_at", ASCENDING)]),
        ),
    ),
    CollectionIndexes("compliance_cases", (IndexModel([("tenant_id", ASCENDING)]),)),
)


def alert_document(alert: Alert) -> Document:
    return {
        "_id": alert.id,
        "tenant_id": alert.tenant_id,
        "rule": alert.rule.value,
        "severity": alert.severity.value,
        "summary": alert.summary,
        "customer_id": alert.customer_id,
        "evidence": [{"kind": e.kind, "ref": e.ref, "detail": e.detail} for e in alert.evidence],
        "detected_at": alert.detected_at,
        "market_id": alert.market_id,
        "seq": alert.seq,
        "status": alert.status.value,
        "case_id": alert.case_id,
        "sort_key": alert_sort_key(alert),
    }


def alert_sort_key(alert: Alert) -> str:
    """Newest-first paging key: detection time (ms) then id."""
    return f"{int(alert.detected_at.timestamp() * 1000):014d}:{alert.id}"


def document_alert(doc: Document) -> Alert:
    """An alert from its stored (or published) document."""
    return Alert(
        id=doc["_id"],
        tenant_id=doc["tenant_id"],
        rule=AlertRule(doc["rule"]),
        severity=Severity(doc["severity"]),
        summary=doc["summary"],
        customer_id=doc.get("customer_id"),
        evidence=tuple(Evidence(e["kind"], e["ref"], e.get("detail")) for e in doc["evidence"]),
        detected_at=doc["detected_at"],
        market_id=doc.get("market_id"),
        seq=doc.get("seq"),
        status=AlertStatus(doc["status"]),
        case_id=doc.get("case_id"),
    )


def case_document(case: Case) -> Document:
    return {
        "_id": case.id,
        "tenant_id": case.tenant_id,
        "title": case.title,
        "alert_ids": list(case.alert_ids),
        "status": case.status.value,
        "created_by": case.created_by,
        "created_at": case.created_at,
        "updated_at": case.updated_at,
        "assignee": case.assignee,
        "decision": case.decision.value if case.decision else None,
        "notes": [{"author": n.author, "text": n.text, "at": n.at} for n in case.notes],
        "customer_id": case.customer_id,
    }


def _case(doc: Document) -> Case:
    return Case(
        id=doc["_id"],
        tenant_id=doc["tenant_id"],
        title=doc["title"],
        alert_ids=tuple(doc["alert_ids"]),
        status=CaseStatus(doc["status"]),
        created_by=doc["created_by"],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        assignee=doc.get("assignee"),
        decision=CaseDecision(doc["decision"]) if doc.get("decision") else None,
        notes=tuple(CaseNote(n["author"], n["text"], n["at"]) for n in doc.get("notes") or ()),
        customer_id=doc.get("customer_id"),
    )


class MongoAlertRepository:
    """Alerts and cases in MongoDB; every read is scoped to a tenant."""

    def __init__(self, db: Database, inserts: Database | None = None) -> None:
        """``inserts``: where ``insert_alerts`` writes (a client without retryable writes will
        do: an alert's id is deterministic and a duplicate is skipped), ``db`` by default."""
        self._alerts = db.compliance_alerts
        self._new_alerts = (inserts if inserts is not None else db).compliance_alerts
        self._cases = db.compliance_cases

    async def insert_alert(self, alert: Alert) -> bool:
        """Insert unless an alert with this id exists; True when it was new."""
        result = await self._alerts.update_one(
            {"_id": alert.id}, {"$setOnInsert": alert_document(alert)}, upsert=True
        )
        return result.upserted_id is not None

    async def insert_alerts(self, alerts: Sequence[Alert]) -> list[Alert]:
        """Insert those whose id is not stored yet, in one unordered insert (the store's fast
        path; an alert already raised is a duplicate key, skipped); returns the new ones."""
        if not alerts:
            return []
        try:
            await self._new_alerts.insert_many([alert_document(a) for a in alerts], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            known = {int(e["index"]) for e in errors}
            return [a for i, a in enumerate(alerts) if i not in known]
        return list(alerts)

    async def alerts(
        self, scope: TenantScope, ids: Sequence[str] | None = None, *,
        status: AlertStatus | None = None, first: int = 50, after: str | None = None,
    ) -> list[Alert]:  # fmt: skip
        query: dict[str, Any] = scope.filter()
        if ids is not None:
            query["_id"] = {"$in": list(ids)}
        if status is not None:
            query["status"] = status.value
        if after is not None:
            query["sort_key"] = {"$lt": after}
        cursor = self._alerts.find(query).sort("sort_key", DESCENDING).limit(first)
        return [document_alert(doc) async for doc in cursor]

    async def unresolved(
        self, tenant_id: str, customer_id: str, rules: Sequence[AlertRule]
    ) -> list[Alert]:
        """The customer's alerts of ``rules`` that are OPEN or IN_CASE."""
        undecided = [AlertStatus.OPEN.value, AlertStatus.IN_CASE.value]
        query = {
            "tenant_id": tenant_id,
            "customer_id": customer_id,
            "rule": {"$in": [r.value for r in rules]},
            "status": {"$in": undecided},
        }
        return [document_alert(doc) async for doc in self._alerts.find(query).limit(20)]

    async def stream_alerts(
        self, tenant_id: str, since: dt.datetime, until: dt.datetime
    ) -> AsyncIterator[Alert]:
        query = {"tenant_id": tenant_id, "detected_at": {"$gte": since, "$lt": until}}
        async for doc in self._alerts.find(query).sort("detected_at", ASCENDING):
            yield document_alert(doc)

    async def set_alerts_case(
        self, tenant_id: str, ids: Sequence[str], case_id: str | None, status: AlertStatus
    ) -> None:
        await self._alerts.update_many(
            {"tenant_id": tenant_id, "_id": {"$in": list(ids)}},
            {"$set": {"case_id": case_id, "status": status.value}},
        )

    async def save_case(self, case: Case) -> None:
        await self._cases.replace_one(
            {"_id": case.id, "tenant_id": case.tenant_id}, case_document(case), upsert=True
        )

    async def cases(
        self, scope: TenantScope, ids: Sequence[str] | None = None, *,
        status: CaseStatus | None = None, first: int = 50, after: str | None = None,
    ) -> list[Case]:  # fmt: skip
        query: dict[str, Any] = scope.filter()
        if ids is not None:
            query["_id"] = {"$in": list(ids)}
        if status is not None:
            query["status"] = status.value
        cursor = self._cases.find(page_filter(query, after)).sort("_id", DESCENDING).limit(first)
        return [_case(doc) async for doc in cursor]

    async def stream_cases(
        self, tenant_id: str, since: dt.datetime, until: dt.datetime
    ) -> AsyncIterator[Case]:
        query = {"tenant_id": tenant_id, "created_at": {"$gte": since, "$lt": until}}
        async for doc in self._cases.find(query).sort("created_at", ASCENDING):
            yield _case(doc)
