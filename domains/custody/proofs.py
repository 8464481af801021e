"""Proof of reserves per tenant and asset: publish a Merkle sum tree, prove inclusion.

Liabilities are the engine's balances (available + locked) of every account of the
tenant; reserves are the chain balances of the tenant's wallets (hot address, deposit
addresses, cold address) and, for an omnibus tenant, its sub-ledger share of the
platform's shared wallets. A published snapshot keeps its leaves, so a past root stays
verifiable and its inclusion proofs can still be served.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from domains.custody import reserves
from domains.custody.chain import ChainAdapter
from domains.custody.model import PLATFORM_TENANT, CustodyMode, WalletTemperature
from domains.custody.money import CustodyMoney
from domains.custody.omnibus import SubLedger
from domains.custody.ports import Directory
from domains.custody.repository import MongoCustodyRepository
from domains.custody.service import CustodyService
from domains.shared.context import Principal, Role, TenantScope
from domains.shared.errors import ForbiddenError, NotFoundError, ValidationError
from domains.shared.ids import new_id
from domains.shared.scalars import utcnow


@dataclass(frozen=True)
class ReserveSnapshot:
    """A published root with the totals it commits to, in minor units."""

    id: str
    tenant_id: str
    asset: str
    root_hash: str
    total_liabilities_minor: int
    hot_minor: int
    cold_minor: int
    leaf_count: int
    published_at: dt.datetime
    mode: CustodyMode = CustodyMode.SEGREGATED
    omnibus_share_minor: int | None = None  # omnibus: the tenant's sub-ledger balance
    shared_total_minor: int | None = None  # omnibus: the platform's shared wallets in all

    @property
    def wallet_total_minor(self) -> int:
        """The reserves: the tenant's own wallets plus its omnibus share."""
        return self.hot_minor + self.cold_minor + (self.omnibus_share_minor or 0)


@dataclass(frozen=True)
class InclusionProof:
    """What a customer needs to check its leaf against a published root."""

    snapshot: ReserveSnapshot
    account_id: str
    salt: str
    balance_minor: int
    path: tuple[reserves.ProofStep, ...]


def _snapshot(doc: dict[str, Any]) -> ReserveSnapshot:
    return ReserveSnapshot(
        doc["_id"],
        doc["tenant_id"],
        doc["asset"],
        doc["root"],
        int(doc["total"]),
        int(doc["hot"]),
        int(doc["cold"]),
        len(doc["leaves"]),
        doc["published_at"],
        CustodyMode(doc.get("mode", CustodyMode.SEGREGATED.value)),
        _int(doc.get("omnibus_share")),
        _int(doc.get("shared_total")),
    )


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


class ReservesService:
    """Publishes proofs of reserves and serves inclusion proofs."""

    def __init__(
        self,
        repository: MongoCustodyRepository,
        custody: CustodyService,
        money: CustodyMoney,
        directory: Directory,
        chain: ChainAdapter,
        salt_secret: bytes,
        ledger: SubLedger,
    ) -> None:
        self._ledger = ledger
        self._repo = repository
        self._custody = custody
        self._money = money
        self._directory = directory
        self._chain = chain
        self._secret = salt_secret

    def liabilities(self, tenant_id: str, asset: str) -> list[tuple[str, int]]:
        """(account id, available + locked) of every engine account of the tenant."""
        index = self._money.asset_index(asset)
        engine = self._money.bus.engine
        rows = []
        for ref in self._directory.accounts():
            if ref.tenant_id == tenant_id:
                available, locked = engine.balance(ref.index, index)
                if available or locked:
                    rows.append((ref.account_id, available + locked))
        return sorted(rows)

    async def wallet_totals(self, tenant_id: str, asset: str) -> tuple[int, int]:
        """(hot, cold) chain balances of the tenant's own wallets (``PLATFORM_TENANT``: the
        shared ones): hot counts its own address and every address derived from it."""
        hot = cold = 0
        owned = await self._custody.wallets_by_tenant(TenantScope(tenant_id), [tenant_id])
        hot_ids = []
        for wallet in owned[tenant_id]:
            if wallet.asset != asset:
                continue
            held = await self._chain.balance(asset, wallet.address)
            if wallet.temperature is WalletTemperature.COLD:
                cold += held
            else:
                hot += held
                hot_ids.append(wallet.id)
        for address in await self._repo.wallet_deposit_addresses(hot_ids):
            hot += await self._chain.balance(asset, address)
        return hot, cold

    async def publish(self, principal: Principal, asset: str) -> ReserveSnapshot:
        if principal.role is not Role.TENANT_ADMIN or principal.tenant_id is None:
            raise ForbiddenError("proofs of reserves are published by tenant admins")
        asset = asset.strip().upper()
        self._custody.decimals(asset)
        snapshot_id = new_id("por")
        leaves = []
        for account_id, balance in self.liabilities(principal.tenant_id, asset):
            salt = reserves.leaf_salt(self._secret, snapshot_id, account_id)
            leaves.append({"account_id": account_id, "salt": salt, "balance": str(balance)})
        root_hash, total = reserves.root(self._leaves(leaves))
        hot, cold = await self.wallet_totals(principal.tenant_id, asset)
        mode = (await self._custody.setup(principal.tenant_id)).mode
        share = shared = None
        if mode is CustodyMode.OMNIBUS:
            share = await self._ledger.share(principal.tenant_id, asset)
            shared = sum(await self.wallet_totals(PLATFORM_TENANT, asset))
        doc = {
            "_id": snapshot_id,
            "tenant_id": principal.tenant_id,
            "asset": asset,
            "root": root_hash,
            "total": str(total),
            "hot": str(hot),
            "cold": str(cold),
            "leaves": leaves,
            "published_at": utcnow(),
            "mode": mode.value,
            "omnibus_share": None if share is None else str(share),
            "shared_total": None if shared is None else str(shared),
        }
        await self._repo.insert_reserve(doc)
        return _snapshot(doc)

    @staticmethod
    def _leaves(leaves: list[dict[str, str]]) -> list[tuple[str, int]]:
        return [
            (
                reserves.leaf_hash(
                    reserves.account_hash(x["account_id"], x["salt"]), int(x["balance"])
                ),
                int(x["balance"]),
            )
            for x in leaves
        ]

    async def snapshot(
        self, principal: Principal, asset: str, snapshot_id: str | None
    ) -> ReserveSnapshot | None:
        if principal.tenant_id is None:
            raise ValidationError("proofs of reserves are per tenant")
        doc = await self._repo.reserve(principal.tenant_id, asset.strip().upper(), snapshot_id)
        return None if doc is None else _snapshot(doc)

    async def inclusion_proofs(
        self, principal: Principal, asset: str, snapshot_id: str | None
    ) -> list[InclusionProof]:
        """The caller's leaves in a published snapshot (a customer's every account)."""
        if principal.role is not Role.TRADER or principal.customer_id is None:
            raise ForbiddenError("inclusion proofs are for customers")
        doc = await self._repo.reserve(
            principal.tenant_id or "", asset.strip().upper(), snapshot_id
        )
        if doc is None:
            raise NotFoundError("no proof of reserves is published for this asset", asset=asset)
        mine = {
            ref.account_id
            for ref in self._directory.accounts()
            if ref.customer_id == principal.customer_id and ref.tenant_id == principal.tenant_id
        }
        leaves, snapshot = self._leaves(doc["leaves"]), _snapshot(doc)
        return [
            InclusionProof(
                snapshot,
                leaf["account_id"],
                leaf["salt"],
                int(leaf["balance"]),
                tuple(reserves.inclusion_path(leaves, i)),
            )
            for i, leaf in enumerate(doc["leaves"])
            if leaf["account_id"] in mine
        ]
