"""Custody governance persistence: approvers, address book, policies, treasury setup,
freezes, the blocklist, used approval signatures and published proofs of reserves."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from domains.custody.model import (
    AddressBookEntry,
    Approval,
    Approver,
    CustodyMode,
    CustodySetup,
    TreasuryLimits,
)
from domains.custody.policy import (
    ApprovalRequirement,
    DestinationKind,
    Policy,
    PolicyAction,
    PolicyRule,
    PolicyStatus,
)
from domains.shared.mongo import CollectionIndexes, Database, Document

GOVERNANCE_INDEXES = (
    CollectionIndexes("custody_approvers", (IndexModel([("tenant_id", ASCENDING)]),)),
    CollectionIndexes(
        "custody_address_book",
        (
            IndexModel(
                [("tenant_id", ASCENDING), ("asset", ASCENDING), ("address", ASCENDING)],
                unique=True,
            ),
        ),
    ),
    CollectionIndexes(
        "custody_policies",
        (IndexModel([("tenant_id", ASCENDING), ("version", DESCENDING)], unique=True),),
    ),
    CollectionIndexes(
        "custody_reserves",
        (
            IndexModel(
                [("tenant_id", ASCENDING), ("asset", ASCENDING), ("published_at", DESCENDING)]
            ),
        ),
    ),
)


def _approvals(docs: list[Document]) -> tuple[Approval, ...]:
    return tuple(Approval(d["approver_id"], d["signature"], d["approved_at"]) for d in docs)


def _approval_docs(approvals: Sequence[Approval]) -> list[Document]:
    return [
        {"approver_id": a.approver_id, "signature": a.signature, "approved_at": a.approved_at}
        for a in approvals
    ]


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _rule_doc(rule: PolicyRule) -> Document:
    dec = _text
    return {
        "name": rule.name,
        "action": rule.action.value,
        "assets": list(rule.assets),
        "min_amount": dec(rule.min_amount),
        "max_amount": dec(rule.max_amount),
        "velocity_window_seconds": rule.velocity_window_seconds,
        "velocity_max_amount": dec(rule.velocity_max_amount),
        "destination": rule.destination.value,
        "initiator_roles": list(rule.initiator_roles),
        "requirement": None if rule.requirement is None else rule.requirement.as_doc(),
    }


def _rule(doc: Document) -> PolicyRule:
    dec = _decimal
    req = doc.get("requirement")
    return PolicyRule(
        name=doc["name"],
        action=PolicyAction(doc["action"]),
        assets=tuple(doc["assets"]),
        min_amount=dec(doc.get("min_amount")),
        max_amount=dec(doc.get("max_amount")),
        velocity_window_seconds=doc.get("velocity_window_seconds"),
        velocity_max_amount=dec(doc.get("velocity_max_amount")),
        destination=DestinationKind(doc["destination"]),
        initiator_roles=tuple(doc["initiator_roles"]),
        requirement=None if req is None else ApprovalRequirement.from_doc(req),
    )


def _policy(doc: Document) -> Policy:
    return Policy(
        doc["tenant_id"],
        int(doc["version"]),
        PolicyStatus(doc["status"]),
        tuple(_rule(r) for r in doc["rules"]),
        doc["created_by"],
        doc["created_at"],
        doc.get("published_at"),
    )


def _entry(doc: Document) -> AddressBookEntry:
    return AddressBookEntry(
        doc["_id"],
        doc["tenant_id"],
        doc["asset"],
        doc["address"],
        doc["label"],
        doc["proposed_by"],
        doc["created_at"],
        _approvals(doc.get("approvals", [])),
        int(doc["quorum"]),
        doc.get("active_from"),
    )


def _approver(doc: Document) -> Approver:
    return Approver(
        doc["_id"],
        doc["tenant_id"],
        doc["name"],
        doc["public_key"],
        tuple(doc["groups"]),
        doc.get("key_id"),
        doc.get("created_at"),
    )


def _setup(tenant_id: str, doc: Document | None) -> CustodySetup:
    if doc is None:
        return CustodySetup(tenant_id)
    limits = {
        asset: TreasuryLimits(*(int(v) for v in values))
        for asset, values in doc.get("limits", {}).items()
    }
    return CustodySetup(
        tenant_id,
        limits,
        int(doc["treasury_quorum"]),
        int(doc["cooling_off_seconds"]),
        int(doc["withdrawal_ttl_seconds"]),
        CustodyMode(doc.get("mode", CustodyMode.SEGREGATED.value)),
    )


class MongoGovernanceStore:
    """The governance collections in MongoDB."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def signature_used(self, digest: str, owner: str) -> str | None:
        """Record a signature's digest for ``owner``; the earlier owner if it was used."""
        try:
            await self._db.custody_used_signatures.insert_one({"_id": digest, "owner": owner})
            return None
        except DuplicateKeyError:
            doc = await self._db.custody_used_signatures.find_one({"_id": digest})
            return None if doc is None else str(doc["owner"])

    async def signature_owner(self, digest: str) -> str | None:
        doc = await self._db.custody_used_signatures.find_one({"_id": digest})
        return None if doc is None else str(doc["owner"])

    # --- approvers, address book, policies, setup, freezes, blocklist ------------------
    async def insert_approver(self, a: Approver) -> None:
        await self._db.custody_approvers.insert_one(
            {
                "_id": a.id,
                "tenant_id": a.tenant_id,
                "name": a.name,
                "public_key": a.public_key,
                "groups": list(a.groups),
                "key_id": a.key_id,
                "created_at": a.created_at,
            }
        )

    async def approvers(self, tenant_id: str) -> list[Approver]:
        cursor = self._db.custody_approvers.find({"tenant_id": tenant_id}).sort("_id", 1)
        return [_approver(doc) async for doc in cursor]

    async def insert_entry(self, e: AddressBookEntry) -> None:
        await self._db.custody_address_book.insert_one(
            {
                "_id": e.id,
                "tenant_id": e.tenant_id,
                "asset": e.asset,
                "address": e.address,
                "label": e.label,
                "proposed_by": e.proposed_by,
                "created_at": e.created_at,
                "approvals": [],
                "quorum": e.quorum,
                "active_from": None,
            }
        )

    async def entry(self, tenant_id: str, entry_id: str) -> AddressBookEntry | None:
        doc = await self._db.custody_address_book.find_one(
            {"_id": entry_id, "tenant_id": tenant_id}
        )
        return None if doc is None else _entry(doc)

    async def entry_for(self, tenant_id: str, asset: str, address: str) -> AddressBookEntry | None:
        doc = await self._db.custody_address_book.find_one(
            {"tenant_id": tenant_id, "asset": asset, "address": address}
        )
        return None if doc is None else _entry(doc)

    async def entries(self, tenant_id: str) -> list[AddressBookEntry]:
        cursor = self._db.custody_address_book.find({"tenant_id": tenant_id}).sort("_id", 1)
        return [_entry(doc) async for doc in cursor]

    async def save_entry_approvals(self, e: AddressBookEntry, previous: int) -> bool:
        result = await self._db.custody_address_book.update_one(
            {"_id": e.id, "approvals": {"$size": previous}},
            {"$set": {"approvals": _approval_docs(e.approvals), "active_from": e.active_from}},
        )
        return result.modified_count == 1

    async def policies(self, tenant_id: str) -> list[Policy]:
        cursor = self._db.custody_policies.find({"tenant_id": tenant_id}).sort("version", -1)
        return [_policy(doc) async for doc in cursor]

    async def published_policy(self, tenant_id: str) -> Policy | None:
        doc = await self._db.custody_policies.find_one(
            {"tenant_id": tenant_id, "status": PolicyStatus.PUBLISHED.value}
        )
        return None if doc is None else _policy(doc)

    async def save_draft(self, policy: Policy) -> Policy:
        """Replace the tenant's draft, or add one with the next version number."""
        latest = await self.policies(policy.tenant_id)
        draft = next((p for p in latest if p.status is PolicyStatus.DRAFT), None)
        version = draft.version if draft else (latest[0].version + 1 if latest else 1)
        policy = replace(policy, version=version)
        await self._db.custody_policies.replace_one(
            {"tenant_id": policy.tenant_id, "version": version},
            {
                "tenant_id": policy.tenant_id,
                "version": version,
                "status": PolicyStatus.DRAFT.value,
                "rules": [_rule_doc(r) for r in policy.rules],
                "created_by": policy.created_by,
                "created_at": policy.created_at,
                "published_at": None,
            },
            upsert=True,
        )
        return policy

    async def publish(self, tenant_id: str, version: int, at: dt.datetime) -> bool:
        found = await self._db.custody_policies.update_one(
            {"tenant_id": tenant_id, "version": version, "status": PolicyStatus.DRAFT.value},
            {"$set": {"status": PolicyStatus.PUBLISHED.value, "published_at": at}},
        )
        if found.modified_count != 1:
            return False
        await self._db.custody_policies.update_many(
            {
                "tenant_id": tenant_id,
                "status": PolicyStatus.PUBLISHED.value,
                "version": {"$ne": version},
            },
            {"$set": {"status": PolicyStatus.RETIRED.value}},
        )
        return True

    async def setup(self, tenant_id: str) -> CustodySetup:
        return _setup(tenant_id, await self._db.custody_setup.find_one({"_id": tenant_id}))

    async def save_setup(self, setup: CustodySetup) -> None:
        limits = {
            a: [
                v.hot_tx_limit_minor,
                v.hot_daily_limit_minor,
                v.sweep_threshold_minor,
                v.hot_target_minor,
            ]
            for a, v in setup.limits.items()
        }
        await self._db.custody_setup.update_one(
            {"_id": setup.tenant_id},
            {
                "$set": {
                    "limits": {a: [str(x) for x in v] for a, v in limits.items()},
                    "treasury_quorum": setup.treasury_quorum,
                    "cooling_off_seconds": setup.cooling_off_seconds,
                    "withdrawal_ttl_seconds": setup.withdrawal_ttl_seconds,
                }
            },
            upsert=True,
        )

    async def set_mode(self, tenant_id: str, mode: CustodyMode) -> None:
        """The tenant's custody mode (a field of its setup; limits keep their defaults)."""
        defaults = CustodySetup(tenant_id)
        await self._db.custody_setup.update_one(
            {"_id": tenant_id},
            {
                "$set": {"mode": mode.value},
                "$setOnInsert": {
                    "limits": {},
                    "treasury_quorum": defaults.treasury_quorum,
                    "cooling_off_seconds": defaults.cooling_off_seconds,
                    "withdrawal_ttl_seconds": defaults.withdrawal_ttl_seconds,
                },
            },
            upsert=True,
        )

    async def set_account_frozen(
        self, tenant_id: str, account_id: str, frozen: bool, reason: str
    ) -> None:
        await self._db.custody_frozen_accounts.replace_one(
            {"_id": account_id},
            {"tenant_id": tenant_id, "frozen": frozen, "reason": reason},
            upsert=True,
        )

    async def account_frozen(self, account_id: str) -> bool:
        doc = await self._db.custody_frozen_accounts.find_one({"_id": account_id})
        return bool(doc and doc.get("frozen"))

    async def blocked(self, tenant_id: str, address: str) -> bool:
        doc = await self._db.custody_blocklist.find_one(
            {"address": address.lower(), "tenant_id": {"$in": [tenant_id, "*"]}}
        )
        return doc is not None

    async def set_blocked(self, tenant_id: str, address: str, blocked: bool, reason: str) -> None:
        key = {"_id": f"{tenant_id}:{address.lower()}"}
        if blocked:
            await self._db.custody_blocklist.replace_one(
                key,
                {"tenant_id": tenant_id, "address": address.lower(), "reason": reason},
                upsert=True,
            )
        else:
            await self._db.custody_blocklist.delete_one(key)

    # --- proof of reserves --------------------------------------------------------------
    async def insert_reserve(self, doc: Document) -> None:
        await self._db.custody_reserves.insert_one(doc)

    async def reserve(self, tenant_id: str, asset: str, snapshot_id: str | None) -> Document | None:
        query: dict[str, Any] = {"tenant_id": tenant_id, "asset": asset}
        if snapshot_id is not None:
            query["_id"] = snapshot_id
        return await self._db.custody_reserves.find_one(query, sort=[("published_at", -1)])
