"""Shared pieces of custody's resolvers: role sets, argument descriptions, mapping."""

from __future__ import annotations

import strawberry

from domains.custody.model import Withdrawal as WithdrawalModel
from domains.custody.policy import ApprovalRequirement as RequirementModel
from domains.custody.policy import GroupQuorum as QuorumModel
from domains.custody.policy import PolicyRule as RuleModel
from domains.custody.service import CustodyService
from domains.custody.types import Info
from domains.custody.types_ops import PolicyRuleInput, Withdrawal, WithdrawalPayload
from domains.shared.context import Role

STAFF = (Role.TENANT_ADMIN, Role.RISK, Role.COMPLIANCE)
ANYONE = (*STAFF, Role.TRADER)


def _desc(text: str) -> object:
    return strawberry.argument(description=text)


def _dec(info: Info, asset: str) -> int:
    return info.context.get(CustodyService).decimals(asset)


def _payload(info: Info, w: WithdrawalModel) -> WithdrawalPayload:
    return WithdrawalPayload(withdrawal=Withdrawal.from_model(w, _dec(info, w.asset)))


def _rule(r: PolicyRuleInput) -> RuleModel:
    req = None
    if r.approvals is not None:
        req = RequirementModel(
            r.approvals.join,
            tuple(QuorumModel(q.group.strip(), q.required) for q in r.approvals.quorums),
        )
    return RuleModel(
        name=r.name.strip(),
        action=r.action,
        assets=tuple(a.strip().upper() for a in r.assets or ()),
        min_amount=r.min_amount,
        max_amount=r.max_amount,
        velocity_window_seconds=r.velocity_window_seconds,
        velocity_max_amount=r.velocity_max_amount,
        destination=r.destination,
        initiator_roles=tuple(r.initiator_roles or ()),
        requirement=req,
    )
