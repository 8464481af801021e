"""GraphQL surface of alerts, cases and sanctions screening."""

from __future__ import annotations

import datetime as dt

import strawberry

from domains.compliance.alert_model import Alert as AlertModel
from domains.compliance.alert_model import (
    AlertRule,
    AlertStatus,
    CaseDecision,
    CaseStatus,
    Severity,
)
from domains.compliance.alert_model import Case as CaseModel
from domains.compliance.alert_model import CaseNote as CaseNoteModel
from domains.compliance.alert_model import Evidence as EvidenceModel
from domains.compliance.sanctions import NameMatch
from domains.compliance.screening import ReloadReport
from domains.shared.graphql import described_enum

described_enum(
    AlertRule,
    "The rule that raised an alert. New rules may be added: accept unknown values.",
    SANCTIONS_NAME="A customer's name (and date of birth) matches a sanctions list entry.",
    SANCTIONS_ADDRESS="A withdrawal destination or counterparty address is on a sanctions list.",
    AML_LARGE_TRANSACTION="A single deposit or withdrawal at or above the tenant's threshold.",
    AML_STRUCTURING="Several transactions just under the large-transaction threshold.",
    AML_RAPID_IN_OUT="A deposit withdrawn again within the tenant's window.",
    AML_VELOCITY="More transactions in the window than the tenant allows.",
    AML_LISTED_COUNTERPARTY="A counterparty address on the tenant's watch list.",
    SURVEILLANCE_WASH_TRADE="A trade whose buyer and seller have the same beneficial owner.",
    SURVEILLANCE_CIRCULAR_TRADE="Two owners trading the same quantity back and forth.",
    SURVEILLANCE_SPOOFING="Large orders near the touch cancelled before they could execute.",
)
described_enum(
    Severity,
    "How urgent an alert is.",
    LOW="Informational; review in bulk.",
    MEDIUM="Review within the institution's normal service level.",
    HIGH="Review promptly.",
    CRITICAL="Review now; the activity may have to be stopped.",
)
described_enum(
    AlertStatus,
    "Where an alert is in its review.",
    OPEN="Not yet in a case.",
    IN_CASE="Grouped into a case that is being worked.",
    CLOSED="Its case was decided.",
)
described_enum(
    CaseStatus,
    "Where a case is.",
    OPEN="Created, not yet worked.",
    INVESTIGATING="An officer is investigating.",
    ESCALATED="Escalated to the MLRO or management.",
    CLOSED="Decided; final.",
)
described_enum(
    CaseDecision,
    "How a case was decided.",
    FALSE_POSITIVE="The alerts were not what they seemed.",
    NO_ACTION="Genuine but within policy; no action needed.",
    CUSTOMER_RESTRICTED="The customer's activity was restricted.",
    ACCOUNT_CLOSED="The relationship was ended.",
    REPORT_FILED="A suspicious activity report was filed with the authority.",
)


@strawberry.type(description="A link to what an alert is about.")
class Evidence:
    kind: str = strawberry.field(
        description="TRADE, ORDER, DEPOSIT, WITHDRAWAL, COMMAND, CUSTOMER, ACCOUNT, ADDRESS ..."
    )
    ref: str = strawberry.field(description="The object's id (or the address, list entry).")
    detail: str | None = strawberry.field(description="Context, e.g. amounts or the program.")

    @classmethod
    def from_model(cls, e: EvidenceModel) -> Evidence:
        return cls(kind=e.kind, ref=e.ref, detail=e.detail)


@strawberry.type(description="One hit of a monitoring, surveillance or screening rule.")
class Alert:
    id: strawberry.ID = strawberry.field(description="Alert id (stable for the same hit).")
    rule: AlertRule = strawberry.field(description="The rule that fired.")
    severity: Severity = strawberry.field(description="How urgent it is.")
    summary: str = strawberry.field(description="What was found, in words.")
    customer_id: strawberry.ID | None = strawberry.field(description="The customer concerned.")
    market: str | None = strawberry.field(description="The market concerned, if any.")
    sequence: str | None = strawberry.field(
        description="Engine sequence of the command that completed the pattern (a string)."
    )
    evidence: list[Evidence] = strawberry.field(description="Links to what it is about.")
    detected_at: dt.datetime = strawberry.field(description="When it was raised.")
    status: AlertStatus = strawberry.field(description="Review state.")
    case_id: strawberry.ID | None = strawberry.field(description="Its case, if grouped.")

    @classmethod
    def from_model(cls, a: AlertModel) -> Alert:
        return cls(
            id=strawberry.ID(a.id), rule=a.rule, severity=a.severity, summary=a.summary,
            customer_id=strawberry.ID(a.customer_id) if a.customer_id else None,
            market=a.market_id, sequence=str(a.seq) if a.seq is not None else None,
            evidence=[Evidence.from_model(e) for e in a.evidence], detected_at=a.detected_at,
            status=a.status, case_id=strawberry.ID(a.case_id) if a.case_id else None,
        )  # fmt: skip


@strawberry.type(description="A note an officer added to a case.")
class CaseNote:
    author: str = strawberry.field(description="Key id of the author.")
    text: str = strawberry.field(description="The note.")
    at: dt.datetime = strawberry.field(description="When it was added.")

    @classmethod
    def from_model(cls, n: CaseNoteModel) -> CaseNote:
        return cls(author=n.author, text=n.text, at=n.at)


@strawberry.type(description="Alerts grouped for investigation.")
class Case:
    id: strawberry.ID = strawberry.field(description="Case id.")
    title: str = strawberry.field(description="Short title.")
    alert_ids: list[strawberry.ID] = strawberry.field(description="The alerts of this case.")
    status: CaseStatus = strawberry.field(description="Where the case is.")
    decision: CaseDecision | None = strawberry.field(description="The decision, once closed.")
    assignee: str | None = strawberry.field(description="Who works it (an officer's id).")
    customer_id: strawberry.ID | None = strawberry.field(
        description="The customer, when all alerts concern one."
    )
    notes: list[CaseNote] = strawberry.field(description="Notes, oldest first.")
    created_by: str = strawberry.field(description="Key id that opened it.")
    created_at: dt.datetime = strawberry.field(description="When it was opened.")
    updated_at: dt.datetime = strawberry.field(description="Last change.")

    @classmethod
    def from_model(cls, c: CaseModel) -> Case:
        return cls(
            id=strawberry.ID(c.id), title=c.title,
            alert_ids=[strawberry.ID(a) for a in c.alert_ids], status=c.status,
            decision=c.decision, assignee=c.assignee,
            customer_id=strawberry.ID(c.customer_id) if c.customer_id else None,
            notes=[CaseNote.from_model(n) for n in c.notes], created_by=c.created_by,
            created_at=c.created_at, updated_at=c.updated_at,
        )  # fmt: skip


@strawberry.input(description="Changes to a case; fields left null stay as they are.")
class UpdateCaseInput:
    case_id: strawberry.ID = strawberry.field(description="The case.")
    assignee: str | None = strawberry.field(default=None, description="New assignee.")
    status: CaseStatus | None = strawberry.field(default=None, description="New status.")
    decision: CaseDecision | None = strawberry.field(
        default=None, description="The decision (with status CLOSED)."
    )
    note: str | None = strawberry.field(default=None, description="A note to add.")


@strawberry.type(description="A sanctions list entry a name matched.")
class SanctionsMatch:
    list_name: str = strawberry.field(description="The list, e.g. OFAC-SDN.")
    entry_id: str = strawberry.field(description="The entry's id on that list.")
    name: str = strawberry.field(description="The listed name or alias that matched.")
    programs: list[str] = strawberry.field(description="Sanctions programs of the entry.")
    score: float = strawberry.field(description="Name similarity, 0 to 100.")
    date_of_birth_confirmed: bool = strawberry.field(
        description="True when both sides had a date of birth and it agreed."
    )

    @classmethod
    def from_model(cls, m: NameMatch) -> SanctionsMatch:
        return cls(
            list_name=m.entry.list_name, entry_id=m.entry.entry_id, name=m.matched_name,
            programs=list(m.entry.programs), score=m.score, date_of_birth_confirmed=m.dob_confirmed,
        )  # fmt: skip


@strawberry.type(description="A sanctions list reload and the re-screening it triggered.")
class SanctionsReload:
    list_name: str = strawberry.field(description="The list loaded.")
    entries: int = strawberry.field(description="Entries loaded.")
    addresses: int = strawberry.field(description="Crypto addresses loaded.")
    checksum: str = strawberry.field(description="SHA-256 of the list files.")
    loaded_at: dt.datetime = strawberry.field(description="When it was loaded.")
    customers_screened: int = strawberry.field(description="Customers re-screened.")
    addresses_screened: int = strawberry.field(description="Known destinations re-screened.")
    new_alerts: int = strawberry.field(description="Alerts the re-screening raised.")

    @classmethod
    def from_model(cls, r: ReloadReport) -> SanctionsReload:
        return cls(
            list_name=r.list_name, entries=r.entries, addresses=r.addresses, checksum=r.checksum,
            loaded_at=r.loaded_at, customers_screened=r.customers_screened,
            addresses_screened=r.addresses_screened, new_alerts=r.new_alerts,
        )  # fmt: skip
