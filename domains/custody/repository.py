"""Custody persistence: every collection the custody domain owns (and only it).

Every method that reads tenant data takes the tenant id or a TenantScope.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from domains.custody.chain_sim import SimTx
from domains.custody.model import (
    Deposit,
    DepositAddress,
    DepositStatus,
    Wallet,
    WalletTemperature,
    Withdrawal,
    WithdrawalKind,
    WithdrawalStatus,
)
from domains.custody.repository_governance import (
    GOVERNANCE_INDEXES,
    MongoGovernanceStore,
    _approval_docs,
    _approvals,
)
from domains.custody.repository_omnibus import OMNIBUS_INDEXES, MongoOmnibusStore
from domains.shared.context import TenantScope
from domains.shared.mongo import CollectionIndexes, Document

INDEXES = (
    *GOVERNANCE_INDEXES,
    *OMNIBUS_INDEXES,
    CollectionIndexes(
        "wallets",
        (
            IndexModel(
                [("tenant_id", ASCENDING), ("asset", ASCENDING), ("temperature", ASCENDING)],
                unique=True,
            ),
        ),
    ),
    CollectionIndexes(
        "custody_deposit_addresses",
        (  # one address per account, asset and wallet: a mode switch gives a new one
            IndexModel(
                [("account_id", ASCENDING), ("asset", ASCENDING), ("wallet_id", ASCENDING)],
                unique=True,
            ),
            IndexModel([("tenant_id", ASCENDING)]),
            IndexModel([("wallet_id", ASCENDING)]),
        ),
    ),
    CollectionIndexes(
        "custody_deposits",
        (
            IndexModel(
                [("tenant_id", ASCENDING), ("account_id", ASCENDING), ("seen_at", DESCENDING)]
            ),
            IndexModel([("status", ASCENDING)]),
        ),
    ),
    CollectionIndexes(
        "custody_withdrawals",
        (
            IndexModel([("tenant_id", ASCENDING), ("created_at", DESCENDING)]),
            IndexModel(
                [("account_id", ASCENDING), ("asset", ASCENDING), ("created_at", DESCENDING)]
            ),
            IndexModel([("status", ASCENDING)]),
            IndexModel(
                [("tenant_id", ASCENDING), ("idempotency_key", ASCENDING)],
                unique=True,
                partialFilterExpression={"idempotency_key": {"$type": "string"}},
            ),
        ),
    ),
)


def _wallet(doc: Document) -> Wallet:
    return Wallet(
        id=doc["_id"],
        tenant_id=doc["tenant_id"],
        asset=doc["asset"],
        temperature=WalletTemperature(doc["temperature"]),
        label=doc["label"],
        created_at=doc.get("created_at"),
        xpub=doc.get("xpub", ""),
        address=doc.get("address", ""),
        sealed_key=doc.get("sealed_key"),
        frozen=bool(doc.get("frozen", False)),
        next_index=int(doc.get("next_index", 0)),
    )


def _withdrawal(doc: Document) -> Withdrawal:
    return Withdrawal(
        id=doc["_id"],
        tenant_id=doc["tenant_id"],
        kind=WithdrawalKind(doc["kind"]),
        asset=doc["asset"],
        amount_minor=int(doc["amount_minor"]),
        destination=doc["destination"],
        status=WithdrawalStatus(doc["status"]),
        initiator_key_id=doc["initiator_key_id"],
        initiator_role=doc["initiator_role"],
        nonce=doc["nonce"],
        created_at=doc["created_at"],
        expires_at=doc["expires_at"],
        account_id=doc.get("account_id"),
        customer_id=doc.get("customer_id"),
        address_book_entry_id=doc.get("address_book_entry_id"),
        policy_version=doc.get("policy_version"),
        rule_name=doc.get("rule_name"),
        requirement=doc.get("requirement"),
        approvals=_approvals(doc.get("approvals", [])),
        source_wallet_id=doc.get("source_wallet_id"),
        unsigned_tx=doc.get("unsigned_tx"),
        tx_id=doc.get("tx_id"),
        reason=doc.get("reason"),
        frozen_from=doc.get("frozen_from"),
        idempotency_key=doc.get("idempotency_key"),
        hold_seq=doc.get("hold_seq"),
        debit_seq=doc.get("debit_seq"),
        confirmations=int(doc.get("confirmations", 0)),
        omnibus=bool(doc.get("omnibus", False)),
    )


def _withdrawal_doc(w: Withdrawal) -> Document:
    return {
        "_id": w.id,
        "tenant_id": w.tenant_id,
        "kind": w.kind.value,
        "asset": w.asset,
        "amount_minor": str(w.amount_minor),
        "destination": w.destination,
        "status": w.status.value,
        "initiator_key_id": w.initiator_key_id,
        "initiator_role": w.initiator_role,
        "nonce": w.nonce,
        "created_at": w.created_at,
        "expires_at": w.expires_at,
        "account_id": w.account_id,
        "customer_id": w.customer_id,
        "address_book_entry_id": w.address_book_entry_id,
        "policy_version": w.policy_version,
        "rule_name": w.rule_name,
        "requirement": w.requirement,
        "approvals": _approval_docs(w.approvals),
        "source_wallet_id": w.source_wallet_id,
        "unsigned_tx": w.unsigned_tx,
        "tx_id": w.tx_id,
        "reason": w.reason,
        "frozen_from": w.frozen_from,
        "idempotency_key": w.idempotency_key,
        "hold_seq": w.hold_seq,
        "debit_seq": w.debit_seq,
        "confirmations": w.confirmations,
        "omnibus": w.omnibus,
    }


def _deposit(doc: Document) -> Deposit:
    return Deposit(
        id=doc["_id"],
        tx_id=doc["tx_id"],
        tenant_id=doc["tenant_id"],
        account_id=doc["account_id"],
        customer_id=doc["customer_id"],
        asset=doc["asset"],
        address=doc["address"],
        amount_minor=int(doc["amount_minor"]),
        confirmations=int(doc["confirmations"]),
        required_confirmations=int(doc["required_confirmations"]),
        status=DepositStatus(doc["status"]),
        seen_at=doc.get("seen_at"),
        credited_at=doc.get("credited_at"),
        engine_seq=doc.get("engine_seq"),
    )


def _address(doc: Document) -> DepositAddress:
    slot = doc.get("tenant_slot")
    return DepositAddress(
        doc["_id"],
        doc["tenant_id"],
        doc["account_id"],
        doc["customer_id"],
        doc["asset"],
        doc["wallet_id"],
        int(doc["derivation_index"]),
        doc.get("created_at"),
        None if slot is None else int(slot),
    )


LEGACY_ADDRESS_INDEX = "account_id_1_asset_1"  # one address per account and asset (pre-omnibus)


class MongoCustodyRepository(MongoGovernanceStore, MongoOmnibusStore):
    """The custody collections in MongoDB (governance and omnibus ones through its bases)."""

    # --- wallets and addresses ---------------------------------------------------------
    async def insert_wallet(self, wallet: Wallet) -> None:
        await self._db.wallets.insert_one(
            {
                "_id": wallet.id,
                "tenant_id": wallet.tenant_id,
                "asset": wallet.asset,
                "temperature": wallet.temperature.value,
                "label": wallet.label,
                "created_at": wallet.created_at,
                "xpub": wallet.xpub,
                "address": wallet.address,
                "sealed_key": wallet.sealed_key,
                "frozen": wallet.frozen,
                "next_index": 0,
            }
        )

    async def wallets_of(self, scope: TenantScope, tenant_ids: Sequence[str]) -> list[Wallet]:
        wanted = [t for t in tenant_ids if scope.tenant_id in (None, t)]
        cursor = self._db.wallets.find({"tenant_id": {"$in": wanted}})
        return [_wallet(doc) async for doc in cursor.sort([("asset", 1), ("temperature", 1)])]

    async def all_wallets(self) -> list[Wallet]:
        return [_wallet(doc) async for doc in self._db.wallets.find({})]

    async def wallet_by_id(self, wallet_id: str) -> Wallet | None:
        doc = await self._db.wallets.find_one({"_id": wallet_id})
        return None if doc is None else _wallet(doc)

    async def migrate(self) -> None:
        """Drop the pre-omnibus unique index (one address per account and asset)."""
        try:
            names = [
                ix["name"] async for ix in await self._db.custody_deposit_addresses.list_indexes()
            ]
        except PyMongoError:
            return
        if LEGACY_ADDRESS_INDEX in names:
            await self._db.custody_deposit_addresses.drop_index(LEGACY_ADDRESS_INDEX)

    async def set_wallet_frozen(self, tenant_id: str, wallet_id: str, frozen: bool) -> bool:
        found = await self._db.wallets.update_one(
            {"_id": wallet_id, "tenant_id": tenant_id}, {"$set": {"frozen": frozen}}
        )
        return found.matched_count == 1

    async def next_address_index(self, wallet_id: str) -> int:
        doc = await self._db.wallets.find_one_and_update(
            {"_id": wallet_id}, {"$inc": {"next_index": 1}}, return_document=ReturnDocument.BEFORE
        )
        assert doc is not None
        return int(doc.get("next_index", 0))

    async def deposit_address(
        self, account_id: str, asset: str, wallet_id: str
    ) -> DepositAddress | None:
        doc = await self._db.custody_deposit_addresses.find_one(
            {"account_id": account_id, "asset": asset, "wallet_id": wallet_id}
        )
        return None if doc is None else _address(doc)

    async def insert_deposit_address(self, address: DepositAddress) -> DepositAddress:
        """Insert, or return the one a concurrent request made first."""
        try:
            await self._db.custody_deposit_addresses.insert_one(
                {
                    "_id": address.address,
                    "tenant_id": address.tenant_id,
                    "account_id": address.account_id,
                    "customer_id": address.customer_id,
                    "asset": address.asset,
                    "wallet_id": address.wallet_id,
                    "derivation_index": address.derivation_index,
                    "created_at": address.created_at,
                    "tenant_slot": address.tenant_slot,
                }
            )
        except DuplicateKeyError:
            existing = await self.deposit_address(
                address.account_id, address.asset, address.wallet_id
            )
            if existing is None:
                raise
            return existing
        return address

    async def addresses_by_ids(self, addresses: Sequence[str]) -> list[DepositAddress]:
        cursor = self._db.custody_deposit_addresses.find({"_id": {"$in": list(addresses)}})
        return [_address(doc) async for doc in cursor]

    async def all_deposit_addresses(self) -> list[DepositAddress]:
        return [_address(doc) async for doc in self._db.custody_deposit_addresses.find({})]

    async def wallet_deposit_addresses(self, wallet_ids: Sequence[str]) -> list[str]:
        """Every deposit address derived from these wallets (whoever's customers they serve)."""
        cursor = self._db.custody_deposit_addresses.find({"wallet_id": {"$in": list(wallet_ids)}})
        return [doc["_id"] async for doc in cursor]

    # --- deposits -----------------------------------------------------------------------
    async def upsert_pending_deposit(self, deposit: Deposit) -> Deposit:
        """Record a seen deposit (first sighting) or refresh its confirmations."""
        doc = await self._db.custody_deposits.find_one_and_update(
            {"_id": deposit.id},
            {
                "$setOnInsert": {
                    "tx_id": deposit.tx_id,
                    "tenant_id": deposit.tenant_id,
                    "account_id": deposit.account_id,
                    "customer_id": deposit.customer_id,
                    "asset": deposit.asset,
                    "address": deposit.address,
                    "amount_minor": str(deposit.amount_minor),
                    "required_confirmations": deposit.required_confirmations,
                    "status": DepositStatus.PENDING.value,
                    "seen_at": deposit.seen_at,
                },
                "$max": {"confirmations": deposit.confirmations},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None
        return _deposit(doc)

    async def credited_deposit_ids(self, deposit_ids: Sequence[str]) -> set[str]:
        cursor = self._db.custody_deposits.find(
            {"_id": {"$in": list(deposit_ids)}, "status": DepositStatus.CREDITED.value}, {"_id": 1}
        )
        return {doc["_id"] async for doc in cursor}

    async def pending_deposit_count(self, tenant_id: str) -> int:
        return await self._db.custody_deposits.count_documents(
            {"tenant_id": tenant_id, "status": DepositStatus.PENDING.value}
        )

    async def mark_credited(self, deposit_id: str, seq: int, at: dt.datetime) -> None:
        await self._db.custody_deposits.update_one(
            {"_id": deposit_id},
            {
                "$set": {
                    "status": DepositStatus.CREDITED.value,
                    "engine_seq": seq,
                    "credited_at": at,
                }
            },
        )

    async def deposits(
        self, scope: TenantScope, account_id: str | None, first: int, after: str | None
    ) -> list[Deposit]:
        query: dict[str, Any] = scope.owner_filter()
        if account_id is not None:
            query["account_id"] = account_id
        if after:
            query["_id"] = {"$lt": after}
        cursor = self._db.custody_deposits.find(query).sort("_id", -1).limit(first + 1)
        return [_deposit(doc) async for doc in cursor]

    # --- withdrawals --------------------------------------------------------------------
    async def insert_withdrawal(self, w: Withdrawal) -> None:
        await self._db.custody_withdrawals.insert_one(_withdrawal_doc(w))

    async def withdrawal(self, scope: TenantScope, withdrawal_id: str) -> Withdrawal | None:
        query = {"_id": withdrawal_id, **scope.owner_filter()}
        doc = await self._db.custody_withdrawals.find_one(query)
        return None if doc is None else _withdrawal(doc)

    async def withdrawal_by_key(self, tenant_id: str, key: str) -> Withdrawal | None:
        doc = await self._db.custody_withdrawals.find_one(
            {"tenant_id": tenant_id, "idempotency_key": key}
        )
        return None if doc is None else _withdrawal(doc)

    async def replace_withdrawal(self, w: Withdrawal, expected: Withdrawal) -> bool:
        """Write ``w`` if the stored one is still ``expected`` (status and approvals)."""
        result = await self._db.custody_withdrawals.replace_one(
            {
                "_id": w.id,
                "status": expected.status.value,
                "approvals": {"$size": len(expected.approvals)},
            },
            _withdrawal_doc(w),
        )
        return result.modified_count == 1

    async def withdrawals(
        self, scope: TenantScope, account_id: str | None, first: int, after: str | None
    ) -> list[Withdrawal]:
        query: dict[str, Any] = scope.owner_filter()
        if account_id is not None:
            query["account_id"] = account_id
        if after:
            query["_id"] = {"$lt": after}
        cursor = self._db.custody_withdrawals.find(query).sort("_id", -1).limit(first + 1)
        return [_withdrawal(doc) async for doc in cursor]

    async def withdrawals_in(self, statuses: Sequence[WithdrawalStatus]) -> list[Withdrawal]:
        cursor = self._db.custody_withdrawals.find({"status": {"$in": [s.value for s in statuses]}})
        return [_withdrawal(doc) async for doc in cursor]

    async def recent_withdrawals(
        self, account_id: str, asset: str, since: dt.datetime
    ) -> list[Withdrawal]:
        cursor = self._db.custody_withdrawals.find(
            {
                "account_id": account_id,
                "asset": asset,
                "created_at": {"$gt": since},
                "status": {
                    "$nin": [WithdrawalStatus.REJECTED.value, WithdrawalStatus.EXPIRED.value]
                },
            }
        )
        return [_withdrawal(doc) async for doc in cursor]

    async def hot_spent_since(self, wallet_id: str, since: dt.datetime) -> int:
        cursor = self._db.custody_withdrawals.find(
            {
                "source_wallet_id": wallet_id,
                "kind": WithdrawalKind.CUSTOMER.value,
                "created_at": {"$gt": since},
                "tx_id": {"$ne": None},
            }
        )
        return sum([int(doc["amount_minor"]) async for doc in cursor])

    # --- the simulated chain's own state -------------------------------------------------
    async def save_chain(self, txs: list[SimTx], height: int) -> None:
        for tx in txs:
            await self._db.chain_sim_txs.replace_one({"_id": tx.tx_id}, tx.as_doc(), upsert=True)
        await self._db.chain_sim_state.replace_one({"_id": "head"}, {"height": height}, upsert=True)

    async def load_chain(self) -> tuple[list[SimTx], int]:
        head = await self._db.chain_sim_state.find_one({"_id": "head"})
        txs = [SimTx.from_doc(doc) async for doc in self._db.chain_sim_txs.find({})]
        return txs, int(head["height"]) if head else 0
