"""Dense engine indices for accounts, assets and markets, persisted and cached in memory.

The engine speaks small integers; the API speaks ids. Indices are assigned once, atomically
(a counter document per kind), and never reused. Index 0 of accounts is the platform's fee
account. Owns the engine_* collections; read by the orders domain through EngineDirectory.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.errors import DuplicateKeyError

from domains.shared.engine_port import AccountRef, AssetInfo
from domains.shared.mongo import CollectionIndexes, Database

PLATFORM_FEE_ACCOUNT = AccountRef(0, "platform:fees", "platform", "platform")
DEFAULT_ASSETS = (("USDT", 8), ("BTC", 8), ("ETH", 9))
ANNOUNCE = "announce"  # on an account document until its on_new_account listeners ran
# tenant_accounts (a wind-down lists every account of one tenant) selects on tenant_id
INDEXES: tuple[CollectionIndexes, ...] = (
    CollectionIndexes("engine_accounts", (IndexModel([("tenant_id", ASCENDING)]),)),
)


class DirectoryFullError(RuntimeError):
    """No free engine index left for a kind (raise the engine's capacity)."""


class MongoEngineDirectory:
    """Implements domains.shared.engine_port.EngineDirectory over MongoDB."""

    def __init__(self, db: Database, max_accounts: int, max_assets: int, max_markets: int) -> None:
        self._db = db
        self._limits = {"accounts": max_accounts, "assets": max_assets, "markets": max_markets}
        self._accounts: dict[int, AccountRef] = {0: PLATFORM_FEE_ACCOUNT}
        self._account_ids: dict[str, int] = {PLATFORM_FEE_ACCOUNT.account_id: 0}
        self._assets: dict[str, AssetInfo] = {}
        self._markets: dict[str, int] = {}
        self._market_ids: dict[int, str] = {}  # the reverse of _markets (market_id)
        # called once an account got a new index (the wind-down gives it its tenant's mode)
        self.on_new_account: list[Callable[[AccountRef], Awaitable[None]]] = []

    async def load(self) -> None:
        """Read every assigned index into memory; create the default assets."""
        async for doc in self._db.engine_accounts.find():
            self._remember(doc)
        async for doc in self._db.engine_assets.find():
            self._assets[doc["_id"]] = AssetInfo(doc["_id"], doc["index"], doc["decimals"])
        async for doc in self._db.engine_markets.find():
            self._markets[doc["_id"]] = doc["index"]
        for code, decimals in DEFAULT_ASSETS:
            await self.ensure_asset(code, decimals)

    def _remember(self, doc: Mapping[str, Any]) -> None:
        ref = AccountRef(doc["index"], doc["_id"], doc["tenant_id"], doc["customer_id"])
        self._accounts[ref.index] = ref
        if not doc.get(ANNOUNCE):  # else account_index announces it first
            self._account_ids[ref.account_id] = ref.index

    async def learn(self, accounts: Iterable[int], markets: Iterable[int]) -> None:
        """Load the indices among these that another process assigned since ``load``.

        The engine writer calls it before applying commands relayed from API processes,
        whose order entry assigns account and market indices the writer has not seen.
        """
        unknown_accounts = sorted({int(a) for a in accounts} - self._accounts.keys())
        known_markets = set(self._markets.values())
        unknown_markets = sorted({int(m) for m in markets} - known_markets)
        if unknown_accounts:
            query = {"index": {"$in": unknown_accounts}}
            async for doc in self._db.engine_accounts.find(query):
                self._remember(doc)
        if unknown_markets:
            async for doc in self._db.engine_markets.find({"index": {"$in": unknown_markets}}):
                self._markets[doc["_id"]] = doc["index"]

    async def _next(self, kind: str, first: int) -> int:
        doc = await self._db.engine_counters.find_one_and_update(
            {"_id": kind},
            {"$inc": {"next": 1}, "$setOnInsert": {"first": first}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None
        index = int(doc["next"]) - 1 + first
        if index >= self._limits[kind]:
            raise DirectoryFullError(
                f"no free engine index for {kind} (limit {self._limits[kind]})"
            )
        return index

    async def _assign(self, kind: str, key: str, first: int, extra: Mapping[str, object]) -> int:
        collection = self._db[f"engine_{kind}"]
        existing = await collection.find_one({"_id": key})
        if existing is not None:
            return int(existing["index"])
        index = await self._next(kind, first)
        try:
            await collection.insert_one({"_id": key, "index": index, **extra})
        except DuplicateKeyError:  # another process assigned it first: take theirs
            found = await collection.find_one({"_id": key})
            assert found is not None
            return int(found["index"])
        return index

    async def account_index(self, account_id: str, tenant_id: str, customer_id: str) -> int:
        known = self._account_ids.get(account_id)
        if known is not None:
            return known
        extra: dict[str, object] = {"tenant_id": tenant_id, "customer_id": customer_id}
        if self.on_new_account:
            extra[ANNOUNCE] = True
        index = await self._assign("accounts", account_id, 1, extra)
        ref = AccountRef(index, account_id, tenant_id, customer_id)
        self._accounts[index] = ref
        await self._announce(ref)
        self._account_ids[account_id] = index
        return index

    async def _announce(self, ref: AccountRef) -> None:
        """Run ``on_new_account`` for an account whose document is still marked (new, or its
        listeners failed last time: they run again), then clear the mark."""
        if not self.on_new_account:
            return
        accounts = self._db.engine_accounts
        doc = await accounts.find_one({"_id": ref.account_id, ANNOUNCE: True}, {"_id": 1})
        if doc is None:
            return
        for listener in self.on_new_account:
            await listener(ref)
        await accounts.update_one({"_id": ref.account_id}, {"$unset": {ANNOUNCE: ""}})

    async def tenant_accounts(self, tenant_id: str) -> list[AccountRef]:
        """Every account of a tenant with an engine index (from the store: other processes
        assign indices too), by index."""
        refs = [
            AccountRef(doc["index"], doc["_id"], doc["tenant_id"], doc["customer_id"])
            async for doc in self._db.engine_accounts.find({"tenant_id": tenant_id})
        ]
        return sorted(refs, key=lambda r: r.index)

    def account(self, index: int) -> AccountRef | None:
        return self._accounts.get(index)

    def accounts(self) -> list[AccountRef]:
        """Every account with an engine index, by index."""
        return [self._accounts[i] for i in sorted(self._accounts)]

    def assets(self) -> list[AssetInfo]:
        return sorted(self._assets.values(), key=lambda a: a.index)

    async def ensure_asset(self, code: str, decimals: int) -> AssetInfo:
        known = self._assets.get(code)
        if known is not None:
            return known
        index = await self._assign("assets", code, 1, {"decimals": decimals})
        doc = await self._db.engine_assets.find_one({"_id": code})
        assert doc is not None
        info = AssetInfo(code, index, int(doc["decimals"]))
        self._assets[code] = info
        return info

    def asset(self, code: str) -> AssetInfo | None:
        return self._assets.get(code)

    def asset_by_index(self, index: int) -> AssetInfo | None:
        return next((a for a in self._assets.values() if a.index == index), None)

    async def market_index(self, market_id: str) -> int:
        known = self._markets.get(market_id)
        if known is not None:
            return known
        index = await self._assign("markets", market_id, 0, {})
        self._markets[market_id] = index
        return index

    def market_id(self, index: int) -> str | None:
        """The market of an engine index (asked once per event by the projectors: a map
        rebuilt when a market was added since, not a scan of every market each time)."""
        if len(self._market_ids) != len(self._markets):
            self._market_ids = {i: m for m, i in self._markets.items()}
        return self._market_ids.get(index)
