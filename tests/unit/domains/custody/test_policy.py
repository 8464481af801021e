"""The policy engine as a matrix: each condition, first match, AND/OR groups, velocity edges."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from domains.custody.policy import (
    ANY_GROUP,
    ApprovalRequirement,
    DestinationKind,
    GroupJoin,
    GroupQuorum,
    Policy,
    PolicyAction,
    PolicyRule,
    PolicyStatus,
    WithdrawalFacts,
    evaluate,
)
from domains.shared.errors import ValidationError

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
TWO_OF_OPS = ApprovalRequirement(GroupJoin.ALL, (GroupQuorum("ops", 2),))
ALLOW = PolicyAction.ALLOW


def policy(*rules: PolicyRule) -> Policy:
    return Policy("ten_1", 3, PolicyStatus.PUBLISHED, rules, "k", NOW)


def facts(
    amount: str = "1",
    asset: str = "BTC",
    book: bool = False,
    role: str = "TRADER",
    recent: tuple[tuple[dt.datetime, Decimal], ...] = (),
) -> WithdrawalFacts:
    return WithdrawalFacts(asset, Decimal(amount), book, role, NOW, recent)


BOOK, ONE_TIME = DestinationKind.ADDRESS_BOOK, DestinationKind.ONE_TIME


@pytest.mark.parametrize(
    ("rule", "case", "hit"),
    [
        (PolicyRule("a", ALLOW, assets=("BTC",)), facts(), True),
        (PolicyRule("a", ALLOW, assets=("ETH",)), facts(), False),
        (PolicyRule("a", ALLOW, min_amount=Decimal(1)), facts("1"), True),
        (PolicyRule("a", ALLOW, min_amount=Decimal(1)), facts("0.99"), False),
        (PolicyRule("a", ALLOW, max_amount=Decimal(1)), facts("1"), True),
        (PolicyRule("a", ALLOW, max_amount=Decimal(1)), facts("1.0001"), False),
        (PolicyRule("a", ALLOW, destination=BOOK), facts(book=True), True),
        (PolicyRule("a", ALLOW, destination=BOOK), facts(book=False), False),
        (PolicyRule("a", ALLOW, destination=ONE_TIME), facts(book=False), True),
        (PolicyRule("a", ALLOW, destination=ONE_TIME), facts(book=True), False),
        (
            PolicyRule("a", ALLOW, initiator_roles=("TENANT_ADMIN",)),
            facts(role="TENANT_ADMIN"),
            True,
        ),
        (PolicyRule("a", ALLOW, initiator_roles=("TENANT_ADMIN",)), facts(), False),
    ],
)
def test_each_condition_decides_whether_a_rule_matches(
    rule: PolicyRule, case: WithdrawalFacts, hit: bool
) -> None:
    decision = evaluate(policy(rule), case)
    assert (decision.action is ALLOW) is hit
    assert decision.rule_name == ("a" if hit else None)
    assert decision.version == 3


def test_the_first_matching_rule_wins_and_no_match_blocks() -> None:
    big = PolicyRule(
        "big", PolicyAction.REQUIRE_APPROVALS, min_amount=Decimal(10), requirement=TWO_OF_OPS
    )
    rules = (big, PolicyRule("any", ALLOW), PolicyRule("never", PolicyAction.BLOCK))
    assert evaluate(policy(*rules), facts("10")).rule_name == "big"
    assert evaluate(policy(*rules), facts("10")).requirement == TWO_OF_OPS
    assert evaluate(policy(*rules), facts("9")).action is ALLOW
    assert evaluate(policy(big), facts("9")).action is PolicyAction.BLOCK
    assert evaluate(None, facts()).action is PolicyAction.BLOCK


def test_velocity_counts_the_half_open_window_exactly_at_its_edge() -> None:
    rule = PolicyRule(
        "velocity", PolicyAction.BLOCK, velocity_window_seconds=3600, velocity_max_amount=Decimal(5)
    )
    edge = NOW - dt.timedelta(seconds=3600)
    inside = edge + dt.timedelta(microseconds=1)
    assert evaluate(policy(rule), facts("1", recent=((edge, Decimal(5)),))).rule_name is None
    assert evaluate(policy(rule), facts("1", recent=((inside, Decimal(4)),))).rule_name is None
    hit = evaluate(policy(rule), facts("1", recent=((inside, Decimal("4.01")),)))
    assert hit.action is PolicyAction.BLOCK and hit.rule_name == "velocity"
    assert evaluate(policy(rule), facts("5.01")).rule_name == "velocity"


def test_group_quorums_combine_with_and_or() -> None:
    quorums = (GroupQuorum("ops", 2), GroupQuorum("risk", 1))
    both = ApprovalRequirement(GroupJoin.ALL, quorums)
    either = ApprovalRequirement(GroupJoin.ANY, quorums)
    ops_two = [("ops",), ("ops",)]
    assert not both.satisfied(ops_two) and either.satisfied(ops_two)
    assert both.satisfied([("ops",), ("ops", "risk")])
    assert either.satisfied([("risk",)]) and not both.satisfied([("risk",)])
    assert not either.satisfied([("ops",)])
    anyone = ApprovalRequirement(GroupJoin.ANY, (GroupQuorum(ANY_GROUP, 2),))
    assert anyone.satisfied([("x",), ("y",)]) and not anyone.satisfied([("x",)])


ZERO_QUORUM = ApprovalRequirement(GroupJoin.ALL, (GroupQuorum("ops", 0),))


@pytest.mark.parametrize(
    "rule",
    [
        PolicyRule("", ALLOW),
        PolicyRule("a", ALLOW, min_amount=Decimal(-1)),
        PolicyRule("a", ALLOW, velocity_window_seconds=60),
        PolicyRule("a", ALLOW, velocity_window_seconds=0, velocity_max_amount=Decimal(1)),
        PolicyRule("a", PolicyAction.REQUIRE_APPROVALS),
        PolicyRule("a", ALLOW, requirement=TWO_OF_OPS),
        PolicyRule("a", PolicyAction.REQUIRE_APPROVALS, requirement=ZERO_QUORUM),
    ],
)
def test_malformed_rules_are_refused(rule: PolicyRule) -> None:
    with pytest.raises(ValidationError):
        rule.check()
