"""Record retention: how long each tenant keeps each kind of record, the regulatory floors,
and the deletes of the compliance domain's own expired records; retention_policies owned
here only (audit_settings, the audit trail's older single setting, is read as a fallback).

A purge deletes in bulk (one ``delete_many`` per kind and tenant) and only what is finished:
closed cases and the alerts they hold, closed alerts, movements older than the period. The
other domains' kinds (orders and trades, refused credentials) are deleted by their owners,
called by the composition root's purge job (graph/writer/retention_job.py). Never retained
here, never purged anywhere: the journal and the ledger (the books; see the README section
"Retention and residency").
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from domains.shared.errors import ValidationError
from domains.shared.mongo import Database

MAX_DAYS = 36_500
FIVE_YEARS = 1827  # five calendar years, two leap days included


class RecordKind(enum.Enum):
    """A kind of record a retention period applies to. Codes are API: add, never rename."""

    AUDIT = "AUDIT"
    ORDERS = "ORDERS"
    TRADES = "TRADES"
    ALERTS_CASES = "ALERTS_CASES"
    MOVEMENTS = "MOVEMENTS"
    AUTH_FAILURES = "AUTH_FAILURES"


@dataclass(frozen=True)
class RetentionRule:
    """The floor and default of one kind, why, and what its purge deletes."""

    kind: RecordKind
    minimum_days: int
    default_days: int
    legal_basis: str
    deletes: str


RULES: dict[RecordKind, RetentionRule] = {r.kind: r for r in (
    RetentionRule(RecordKind.AUDIT, FIVE_YEARS, 7 * 365,
                  "MiCA art. 68(9) and MiFID II art. 16(6) with Delegated Regulation (EU) "
                  "2017/565 art. 72: records of all services, activities and transactions, "
                  "at least 5 years",
                  "whole audit blocks whose records are all older; the chain's anchor moves "
                  "so the rest still verifies"),
    RetentionRule(RecordKind.ORDERS, FIVE_YEARS, 7 * 365,
                  "MiCA art. 68(9), MiFIR art. 25(1): order data kept 5 years",
                  "finished orders (filled, cancelled, expired, rejected) last updated "
                  "before the period; open and stop orders are never deleted"),
    RetentionRule(RecordKind.TRADES, FIVE_YEARS, 7 * 365,
                  "MiCA art. 68(9), MiFIR art. 25(1): transaction data kept 5 years",
                  "trades executed before the period of every tenant that was party to them"),
    RetentionRule(RecordKind.ALERTS_CASES, FIVE_YEARS, 7 * 365,
                  "AMLD (Directive (EU) 2015/849) art. 40(1) and Delegated Regulation (EU) "
                  "2016/957 art. 3(8): evidence and analyses of suspicious activity, 5 years",
                  "closed cases last updated before the period, their alerts, and closed "
                  "alerts detected before it; open work is never deleted"),
    RetentionRule(RecordKind.MOVEMENTS, FIVE_YEARS, 7 * 365,
                  "AMLD art. 40(1)(b): records of transactions, 5 years after the transaction",
                  "deposits and withdrawals as transaction monitoring recorded them"),
    RetentionRule(RecordKind.AUTH_FAILURES, 90, 365,
                  "no statutory minimum: the platform's floor for security investigations "
                  "(the records hold IP addresses, personal data: GDPR art. 5(1)(e) argues "
                  "against keeping them long)",
                  "refused credentials (the authentication audit) older than the period"),
)}  # fmt: skip


class RetentionBelowMinimumError(ValidationError):
    """A retention period shorter than the kind's regulatory floor."""

    code = "RETENTION_BELOW_MINIMUM"


def check_days(kind: RecordKind, days: int) -> int:
    """``days`` if it is within the kind's floor and MAX_DAYS."""
    rule = RULES[kind]
    if days < rule.minimum_days:
        raise RetentionBelowMinimumError(
            f"{kind.value} records are kept at least {rule.minimum_days} days "
            f"({rule.legal_basis})",
            field="days", kind=kind.value, minimumDays=rule.minimum_days,
        )  # fmt: skip
    if days > MAX_DAYS:
        raise ValidationError(f"retention is at most {MAX_DAYS} days", field="days")
    return days


class RetentionPolicies:
    """Per tenant and kind, the retention in days (the kind's default when not set)."""

    def __init__(self, db: Database) -> None:
        self._policies = db.retention_policies
        self._legacy_audit = db.audit_settings

    async def days(self, tenant_id: str) -> dict[RecordKind, int]:
        """Every kind's retention for ``tenant_id``. A legacy audit setting (before
        policies) shorter than today's floor counts as the floor."""
        return (await self.days_of([tenant_id]))[tenant_id]

    async def set(self, tenant_id: str, days: Mapping[RecordKind, int]) -> dict[RecordKind, int]:
        """Set some kinds' periods (all checked first: one refused changes nothing)."""
        if not days:
            raise ValidationError("name at least one kind", field="rules")
        checked = {kind.value: check_days(kind, value) for kind, value in days.items()}
        await self._policies.update_one(
            {"_id": tenant_id},
            {"$set": {f"days.{kind}": value for kind, value in checked.items()}},
            upsert=True,
        )
        return await self.days(tenant_id)

    async def days_of(self, tenant_ids: list[str]) -> dict[str, dict[RecordKind, int]]:
        """``days`` of many tenants in two queries (the purge job's cutoffs)."""
        wanted = {"_id": {"$in": tenant_ids}}
        stored = {d["_id"]: d.get("days") or {} async for d in self._policies.find(wanted)}
        legacy = {d["_id"]: int(d["retention_days"]) async for d in self._legacy_audit.find(wanted)}
        out: dict[str, dict[RecordKind, int]] = {}
        for tenant in tenant_ids:
            days = stored.get(tenant, {})
            out[tenant] = {k: int(days.get(k.value, r.default_days)) for k, r in RULES.items()}
            if RecordKind.AUDIT.value not in days and tenant in legacy:
                out[tenant][RecordKind.AUDIT] = max(legacy[tenant], FIVE_YEARS)
        return out


class RecordPurge:
    """The purge of every kind for one tenant (the composition root implements it, since
    orders, trades and refused credentials are other domains' records; a base class, not a
    Protocol, so resolvers find it by type)."""

    async def purge_tenant(self, tenant_id: str, now: dt.datetime) -> dict[RecordKind, int]:
        """Delete ``tenant_id``'s expired records as of ``now``; how many per kind."""
        raise NotImplementedError


class CompliancePurge:
    """Bulk deletes of the compliance domain's expired records (not the audit trail: its
    blocks and anchor are AuditTrail's)."""

    def __init__(self, db: Database) -> None:
        self._alerts = db.compliance_alerts
        self._cases = db.compliance_cases
        self._movements = db.aml_transactions

    async def alerts_and_cases(self, tenant_id: str, cutoff: dt.datetime) -> int:
        """Closed cases updated before ``cutoff`` and their alerts, then closed alerts
        detected before it that no remaining case holds; how many documents."""
        closed = {"tenant_id": tenant_id, "status": "CLOSED", "updated_at": {"$lt": cutoff}}
        case_ids = [doc["_id"] async for doc in self._cases.find(closed, {"_id": 1})]
        deleted = 0
        if case_ids:
            cases = {"tenant_id": tenant_id, "_id": {"$in": case_ids}}
            deleted += (await self._cases.delete_many(cases)).deleted_count
            held = {"tenant_id": tenant_id, "case_id": {"$in": case_ids}}
            deleted += (await self._alerts.delete_many(held)).deleted_count
        loose = {"tenant_id": tenant_id, "status": "CLOSED", "detected_at": {"$lt": cutoff},
                 "case_id": None}  # fmt: skip
        deleted += (await self._alerts.delete_many(loose)).deleted_count
        return int(deleted)

    async def movements(self, tenant_id: str, cutoff: dt.datetime) -> int:
        query = {"tenant_id": tenant_id, "at": {"$lt": cutoff}}
        return int((await self._movements.delete_many(query)).deleted_count)
