"""Alerts and cases: what monitoring, surveillance and screening found, and how officers work
it; no strawberry, no pymongo."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from dataclasses import dataclass, field


class AlertRule(enum.Enum):
    """Which rule raised an alert. Codes are API: add, never rename."""

    SANCTIONS_NAME = "SANCTIONS_NAME"
    SANCTIONS_ADDRESS = "SANCTIONS_ADDRESS"
    AML_LARGE_TRANSACTION = "AML_LARGE_TRANSACTION"
    AML_STRUCTURING = "AML_STRUCTURING"
    AML_RAPID_IN_OUT = "AML_RAPID_IN_OUT"
    AML_VELOCITY = "AML_VELOCITY"
    AML_LISTED_COUNTERPARTY = "AML_LISTED_COUNTERPARTY"
    SURVEILLANCE_WASH_TRADE = "SURVEILLANCE_WASH_TRADE"
    SURVEILLANCE_CIRCULAR_TRADE = "SURVEILLANCE_CIRCULAR_TRADE"
    SURVEILLANCE_SPOOFING = "SURVEILLANCE_SPOOFING"


class Severity(enum.Enum):
    """How urgent an alert is."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class AlertStatus(enum.Enum):
    """Where an alert is in its review."""

    OPEN = "OPEN"
    IN_CASE = "IN_CASE"
    CLOSED = "CLOSED"


class CaseStatus(enum.Enum):
    """Where a case is."""

    OPEN = "OPEN"
    INVESTIGATING = "INVESTIGATING"
    ESCALATED = "ESCALATED"
    CLOSED = "CLOSED"


class CaseDecision(enum.Enum):
    """How a case was decided (required when it closes)."""

    FALSE_POSITIVE = "FALSE_POSITIVE"
    NO_ACTION = "NO_ACTION"
    CUSTOMER_RESTRICTED = "CUSTOMER_RESTRICTED"
    ACCOUNT_CLOSED = "ACCOUNT_CLOSED"
    REPORT_FILED = "REPORT_FILED"  # SAR/STR filed with the financial intelligence unit


@dataclass(frozen=True)
class Evidence:
    """A link to what an alert is about: ``kind`` (TRADE, ORDER, DEPOSIT, WITHDRAWAL, COMMAND,
    CUSTOMER, ACCOUNT, LIST_ENTRY, ADDRESS) and the object's id."""

    kind: str
    ref: str
    detail: str | None = None


@dataclass(frozen=True)
class Alert:
    """One hit of a rule. ``id`` is derived from the rule and what triggered it, so replaying
    the same engine batch raises the same alert once."""

    id: str
    tenant_id: str
    rule: AlertRule
    severity: Severity
    summary: str
    customer_id: str | None
    evidence: tuple[Evidence, ...]
    detected_at: dt.datetime
    market_id: str | None = None
    seq: int | None = None  # the engine command that completed the pattern, if any
    status: AlertStatus = AlertStatus.OPEN
    case_id: str | None = None


def alert_id(rule: AlertRule, tenant_id: str, key: str) -> str:
    """A stable id for the alert ``rule`` raises about ``key`` in ``tenant_id``."""
    digest = hashlib.blake2b(f"{rule.value}|{tenant_id}|{key}".encode(), digest_size=12)
    return f"alr_{digest.hexdigest()}"


@dataclass(frozen=True)
class CaseNote:
    """A note an officer added to a case."""

    author: str
    text: str
    at: dt.datetime


@dataclass(frozen=True)
class Case:
    """Alerts grouped for investigation."""

    id: str
    tenant_id: str
    title: str
    alert_ids: tuple[str, ...]
    status: CaseStatus
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    assignee: str | None = None
    decision: CaseDecision | None = None
    notes: tuple[CaseNote, ...] = field(default_factory=tuple)
    customer_id: str | None = None
