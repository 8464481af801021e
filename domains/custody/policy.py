"""The withdrawal policy engine: rules as data, first matching rule wins, fail closed.

Pure: no I/O. Amounts in rules and facts are Decimals in asset units (never floats);
a velocity window is half-open, ``(now - window, now]``.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domains.shared.errors import ValidationError

ANY_GROUP = "*"  # a quorum any approver of the tenant counts towards


class PolicyAction(enum.Enum):
    """What a matching rule decides."""

    ALLOW = "ALLOW"
    BLOCK = "BLOCK"
    REQUIRE_APPROVALS = "REQUIRE_APPROVALS"


class DestinationKind(enum.Enum):
    """Which destinations a rule covers."""

    ANY = "ANY"
    ADDRESS_BOOK = "ADDRESS_BOOK"
    ONE_TIME = "ONE_TIME"


class GroupJoin(enum.Enum):
    """How the quorums of several approver groups combine."""

    ALL = "ALL"  # AND: every group's quorum
    ANY = "ANY"  # OR: one group's quorum suffices


class PolicyStatus(enum.Enum):
    """A policy version's life: edited as a draft, published once, retired by the next."""

    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    RETIRED = "RETIRED"


@dataclass(frozen=True)
class GroupQuorum:
    """M approvals from the members of one named group."""

    group: str
    required: int


@dataclass(frozen=True)
class ApprovalRequirement:
    """Quorums of named groups joined by AND (ALL) or OR (ANY)."""

    join: GroupJoin
    quorums: tuple[GroupQuorum, ...]

    def satisfied(self, approver_groups: Sequence[Sequence[str]]) -> bool:
        """Whether distinct approvers (each listed by its groups) meet the requirement."""
        met = [
            sum(1 for groups in approver_groups if q.group in (*groups, ANY_GROUP)) >= q.required
            for q in self.quorums
        ]
        return all(met) if self.join is GroupJoin.ALL else any(met)

    def as_doc(self) -> dict[str, Any]:
        return {
            "join": self.join.value,
            "quorums": [{"group": q.group, "required": q.required} for q in self.quorums],
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ApprovalRequirement:
        quorums = tuple(GroupQuorum(str(q["group"]), int(q["required"])) for q in doc["quorums"])
        return cls(GroupJoin(doc["join"]), quorums)


@dataclass(frozen=True)
class PolicyRule:
    """Conditions (all must hold; an empty one holds always) and an action."""

    name: str
    action: PolicyAction
    assets: tuple[str, ...] = ()
    min_amount: Decimal | None = None  # inclusive
    max_amount: Decimal | None = None  # inclusive
    velocity_window_seconds: int | None = None
    velocity_max_amount: Decimal | None = None  # matches when window total + amount exceeds it
    destination: DestinationKind = DestinationKind.ANY
    initiator_roles: tuple[str, ...] = ()
    requirement: ApprovalRequirement | None = None

    def check(self) -> None:
        """VALIDATION unless the rule is well formed."""
        if not self.name.strip() or len(self.name) > 100:
            raise ValidationError("a rule needs a name of 1-100 characters", field="name")
        for label, value in (
            ("minAmount", self.min_amount),
            ("maxAmount", self.max_amount),
            ("velocityMaxAmount", self.velocity_max_amount),
        ):
            if value is not None and value < 0:
                raise ValidationError(f"{label} must not be negative", field=label)
        if (self.velocity_window_seconds is None) != (self.velocity_max_amount is None):
            raise ValidationError("velocity needs both a window and a maximum", field="velocity")
        if self.velocity_window_seconds is not None and self.velocity_window_seconds <= 0:
            raise ValidationError("the velocity window must be positive", field="velocity")
        needs = self.action is PolicyAction.REQUIRE_APPROVALS
        if needs != (self.requirement is not None):
            raise ValidationError(
                "approver groups go with REQUIRE_APPROVALS and only with it", field="approvals"
            )
        if self.requirement is not None and (
            not self.requirement.quorums or any(q.required < 1 for q in self.requirement.quorums)
        ):
            raise ValidationError(
                "each approver group needs at least one approval", field="approvals"
            )


@dataclass(frozen=True)
class Policy:
    """One version of a tenant's withdrawal policy."""

    tenant_id: str
    version: int
    status: PolicyStatus
    rules: tuple[PolicyRule, ...]
    created_by: str
    created_at: dt.datetime
    published_at: dt.datetime | None = None


@dataclass(frozen=True)
class WithdrawalFacts:
    """What the policy looks at: the withdrawal and the initiator's recent withdrawals."""

    asset: str
    amount: Decimal
    to_address_book: bool
    initiator_role: str
    now: dt.datetime
    recent: tuple[tuple[dt.datetime, Decimal], ...] = ()  # same account and asset

    def window_total(self, seconds: int) -> Decimal:
        start = self.now - dt.timedelta(seconds=seconds)
        return sum((amount for at, amount in self.recent if start < at <= self.now), Decimal(0))


@dataclass(frozen=True)
class Decision:
    """The policy's answer: the action, the rule that matched (None: no rule) and version."""

    action: PolicyAction
    rule_name: str | None
    requirement: ApprovalRequirement | None
    version: int | None


def matches(rule: PolicyRule, facts: WithdrawalFacts) -> bool:
    """Whether every condition of ``rule`` holds for ``facts``."""
    if rule.assets and facts.asset not in rule.assets:
        return False
    if rule.min_amount is not None and facts.amount < rule.min_amount:
        return False
    if rule.max_amount is not None and facts.amount > rule.max_amount:
        return False
    if rule.velocity_window_seconds is not None and rule.velocity_max_amount is not None:
        total = facts.window_total(rule.velocity_window_seconds) + facts.amount
        if total <= rule.velocity_max_amount:
            return False
    if rule.destination is DestinationKind.ADDRESS_BOOK and not facts.to_address_book:
        return False
    if rule.destination is DestinationKind.ONE_TIME and facts.to_address_book:
        return False
    return not rule.initiator_roles or facts.initiator_role in rule.initiator_roles


def evaluate(policy: Policy | None, facts: WithdrawalFacts) -> Decision:
    """The first matching rule's decision; BLOCK when no policy or no rule matches."""
    if policy is None:
        return Decision(PolicyAction.BLOCK, None, None, None)
    for rule in policy.rules:
        if matches(rule, facts):
            return Decision(rule.action, rule.name, rule.requirement, policy.version)
    return Decision(PolicyAction.BLOCK, None, None, policy.version)
