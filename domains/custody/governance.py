"""Who may approve, what is whitelisted, which policy applies, which addresses are blocked.

Approvers (Ed25519 keys in named groups), the address book (its own quorum and a
cooling-off period), versioned withdrawal policies (drafts, then publish) and the
screening blocklist: the hook the compliance domain's sanctions screening will feed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import Decimal

from domains.custody import approvals, keys
from domains.custody.errors import (
    ApprovalDuplicateError,
    ApprovalInvalidError,
    ApprovalReplayedError,
    SelfApprovalError,
)
from domains.custody.model import (
    AddressBookEntry,
    AddressBookStatus,
    Approval,
    Approver,
    Withdrawal,
)
from domains.custody.policy import (
    ANY_GROUP,
    ApprovalRequirement,
    Decision,
    GroupJoin,
    GroupQuorum,
    Policy,
    PolicyRule,
    PolicyStatus,
    WithdrawalFacts,
    evaluate,
)
from domains.custody.repository import MongoCustodyRepository
from domains.shared.context import Principal, Role
from domains.shared.errors import ConflictError, ForbiddenError, NotFoundError, ValidationError
from domains.shared.ids import new_id
from domains.shared.scalars import utcnow

GROUP_NAME_MAX = 40


def _tenant_admin(principal: Principal) -> str:
    if principal.role is not Role.TENANT_ADMIN or principal.tenant_id is None:
        raise ForbiddenError("this needs a tenant admin")
    return principal.tenant_id


class Governance:
    """Approvers, address book, policies and the blocklist of each tenant."""

    def __init__(
        self, repository: MongoCustodyRepository, platform_blocklist: Sequence[str] = ()
    ) -> None:
        self._repo = repository
        self._platform_blocked = frozenset(a.strip().lower() for a in platform_blocklist if a)

    # --- approvers ----------------------------------------------------------------------
    async def register_approver(
        self,
        principal: Principal,
        name: str,
        public_key: str,
        groups: Sequence[str],
        key_id: str | None,
    ) -> Approver:
        tenant_id = _tenant_admin(principal)
        approvals.parse_public_key(public_key)
        cleaned = tuple(sorted({g.strip() for g in groups if g.strip()}))
        if not cleaned or any(len(g) > GROUP_NAME_MAX or g == ANY_GROUP for g in cleaned):
            raise ValidationError(
                "an approver is in 1+ groups named 1-40 characters", field="groups"
            )
        roster = await self._repo.approvers(tenant_id)
        if any(a.public_key == public_key.strip() for a in roster):
            raise ConflictError("this public key is registered already")
        approver = Approver(
            new_id("apv"),
            tenant_id,
            name.strip()[:100] or "approver",
            public_key.strip(),
            cleaned,
            key_id,
            utcnow(),
        )
        await self._repo.insert_approver(approver)
        return approver

    async def approvers(self, tenant_id: str) -> list[Approver]:
        return await self._repo.approvers(tenant_id)

    async def verify_signer(
        self, roster: Sequence[Approver], signature: str, payload: bytes, owner: str
    ) -> Approver:
        """The approver whose key verifies ``signature``; forged and replayed ones refused."""
        digest = hashlib.sha256(signature.strip().encode()).hexdigest()
        signer = next(
            (a for a in roster if approvals.verifies(a.public_key, signature, payload)), None
        )
        if signer is None:
            used = await self._repo.signature_owner(digest)
            if used is not None and used != owner:
                raise ApprovalReplayedError("this signature approved another request already")
            raise ApprovalInvalidError("the signature verifies under no approver of the tenant")
        earlier = await self._repo.signature_used(digest, owner)
        if earlier is not None and earlier != owner:
            raise ApprovalReplayedError("this signature approved another request already")
        return signer

    def treasury_requirement(self, quorum: int) -> ApprovalRequirement:
        return ApprovalRequirement(GroupJoin.ANY, (GroupQuorum(ANY_GROUP, quorum),))

    # --- address book -------------------------------------------------------------------
    async def propose_entry(
        self,
        principal: Principal,
        asset: str,
        address: str,
        label: str,
        decimals_of: Callable[[str], int],
    ) -> AddressBookEntry:
        tenant_id = _tenant_admin(principal)
        asset = asset.strip().upper()
        decimals_of(asset)
        if not keys.valid_address(asset, address.strip()):
            raise ValidationError(f"not a valid {asset} address", field="address")
        if await self._repo.entry_for(tenant_id, asset, address.strip()) is not None:
            raise ConflictError("this address is in the address book already")
        setup = await self._repo.setup(tenant_id)
        entry = AddressBookEntry(
            new_id("adr"),
            tenant_id,
            asset,
            address.strip(),
            label.strip()[:100],
            principal.key_id,
            utcnow(),
            quorum=setup.treasury_quorum,
        )
        await self._repo.insert_entry(entry)
        return entry

    async def approve_entry(
        self, principal: Principal, entry_id: str, signature: str
    ) -> AddressBookEntry:
        if principal.tenant_id is None or principal.role is Role.TRADER:
            raise ForbiddenError("address-book entries are approved by the institution's staff")
        entry = await self._repo.entry(principal.tenant_id, entry_id)
        if entry is None:
            raise NotFoundError("no such address-book entry", id=entry_id)
        if entry.active_from is not None:
            raise ConflictError("the entry has its quorum already")
        roster = await self._repo.approvers(entry.tenant_id)
        signer = await self.verify_signer(
            roster, signature, approvals.address_book_payload(entry), entry.id
        )
        if any(a.approver_id == signer.id for a in entry.approvals):
            raise ApprovalDuplicateError("this approver has approved already", approver=signer.id)
        if signer.key_id is not None and signer.key_id == entry.proposed_by:
            raise SelfApprovalError("the proposer cannot approve its own entry")
        now = utcnow()
        added = (*entry.approvals, Approval(signer.id, signature, now))
        cooling = (await self._repo.setup(entry.tenant_id)).cooling_off_seconds
        active = now + dt.timedelta(seconds=cooling) if len(added) >= entry.quorum else None
        updated = replace(entry, approvals=added, active_from=active)
        if not await self._repo.save_entry_approvals(updated, len(entry.approvals)):
            raise ConflictError("the entry changed meanwhile; retry")
        return updated

    async def entries(self, tenant_id: str) -> list[AddressBookEntry]:
        return await self._repo.entries(tenant_id)

    # --- policies -----------------------------------------------------------------------
    async def save_draft(self, principal: Principal, rules: Sequence[PolicyRule]) -> Policy:
        tenant_id = _tenant_admin(principal)
        if not rules or len(rules) > 100:
            raise ValidationError("a policy has 1-100 rules", field="rules")
        for rule in rules:
            rule.check()
        draft = Policy(tenant_id, 0, PolicyStatus.DRAFT, tuple(rules), principal.key_id, utcnow())
        return await self._repo.save_draft(draft)

    async def publish(self, principal: Principal, version: int) -> Policy:
        """Publish a draft: every approver group it names must be able to meet its quorum."""
        tenant_id = _tenant_admin(principal)
        draft = next(
            (p for p in await self._repo.policies(tenant_id) if p.version == version), None
        )
        if draft is None or draft.status is not PolicyStatus.DRAFT:
            raise NotFoundError("no such draft", version=version)
        roster = await self._repo.approvers(tenant_id)
        for rule in draft.rules:
            for quorum in rule.requirement.quorums if rule.requirement else ():
                members = sum(1 for a in roster if quorum.group in (*a.groups, ANY_GROUP))
                if members < quorum.required:
                    raise ValidationError(
                        f"group {quorum.group} has {members} approvers; rule "
                        f"{rule.name} needs {quorum.required}",
                        field="rules",
                    )
        if not await self._repo.publish(tenant_id, version, utcnow()):
            raise ConflictError("the draft was published or replaced meanwhile")
        published = await self._repo.published_policy(tenant_id)
        assert published is not None
        return published

    async def policies(self, tenant_id: str) -> list[Policy]:
        return await self._repo.policies(tenant_id)

    async def decide(
        self, w: Withdrawal, amount_minor: int, decimals: int
    ) -> tuple[Decision, str | None]:
        """The published policy's decision for ``w`` and the address-book entry it used."""
        policy = await self._repo.published_policy(w.tenant_id)
        entry = await self._repo.entry_for(w.tenant_id, w.asset, w.destination)
        listed = entry is not None and entry.status(w.created_at) is AddressBookStatus.ACTIVE
        windows = [
            r.velocity_window_seconds
            for r in (policy.rules if policy else ())
            if r.velocity_window_seconds
        ]
        recent: list[tuple[dt.datetime, Decimal]] = []
        if windows and w.account_id is not None:
            since = w.created_at - dt.timedelta(seconds=max(windows))
            recent = [
                (r.created_at, Decimal(r.amount_minor).scaleb(-decimals))
                for r in await self._repo.recent_withdrawals(w.account_id, w.asset, since)
            ]
        facts = WithdrawalFacts(
            w.asset,
            Decimal(amount_minor).scaleb(-decimals),
            listed,
            w.initiator_role,
            w.created_at,
            tuple(recent),
        )
        return evaluate(policy, facts), entry.id if listed and entry else None

    # --- screening ----------------------------------------------------------------------
    async def blocked(self, tenant_id: str, address: str) -> bool:
        """The screening hook: the platform blocklist (environment) and the tenant's own."""
        if address.strip().lower() in self._platform_blocked:
            return True
        return await self._repo.blocked(tenant_id, address.strip())

    async def set_blocked(
        self, principal: Principal, address: str, blocked: bool, reason: str
    ) -> bool:
        if principal.role not in (Role.COMPLIANCE, Role.TENANT_ADMIN) or not principal.tenant_id:
            raise ForbiddenError("the blocklist is kept by compliance")
        if not address.strip() or len(address) > 128:
            raise ValidationError("address is 1-128 characters", field="address")
        await self._repo.set_blocked(principal.tenant_id, address.strip(), blocked, reason[:300])
        return blocked
