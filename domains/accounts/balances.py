"""The balance read model: per account and asset, projected from engine events.

Accounts owns the ledger view; the engine owns the truth. Each batch's last
BALANCE_CHANGED per (account, asset) is written with the sequence it reflects, except
the balances a funding round changed: those are a few ``balance_rounds`` documents per
round and asset (each account's balance after the round, by account bucket) instead of a
write per account, and reads take the newest round newer than a balance's document.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import orjson
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne

from domains.shared.context import TenantScope
from domains.shared.engine_port import EngineDirectory, yielding
from domains.shared.events import EventBus, tenant_topic
from domains.shared.mongo import (
    CollectionIndexes,
    Database,
    Document,
    Pace,
    bulk_write_chunked,
    fold_writes,
    insert_new,
    no_pace,
)
from engine import codes
from engine.layout import Records

INDEXES = (
    CollectionIndexes(
        "balances", (IndexModel([("tenant_id", ASCENDING), ("account_id", ASCENDING)]),)
    ),
    CollectionIndexes(
        "balance_rounds",
        (
            IndexModel([("asset", ASCENDING), ("bucket", ASCENDING), ("seq", DESCENDING)]),
            IndexModel([("seq", ASCENDING)]),  # folding: the rounds after a sequence
        ),
    ),
)
FOLD_CHUNK = 32  # balance documents per folding write (the journal waits behind one)
ROUND_BUCKETS = 16
ROUND_DOCS_PER_INSERT = 4  # balance_rounds documents per request
EVENTS_PER_STEP = 512  # a round's balance events taken between two hand-backs of the loop
PROJECTED_ENTRIES = 256  # up to this many accounts, a round read fetches only their entries


def round_bucket(account_id: str) -> int:
    """An account's bucket in ``balance_rounds`` (stable across processes)."""
    return zlib.crc32(account_id.encode()) % ROUND_BUCKETS


BALANCE_STREAM = "balances"


@dataclass(frozen=True)
class Balance:
    """What an account holds of one asset: available to trade or withdraw, and locked."""

    account_id: str
    asset: str
    available: Decimal
    locked: Decimal
    seq: int
    updated_at: dt.datetime | None = None

    @property
    def total(self) -> Decimal:
        return self.available + self.locked


IN_LIMIT = 256  # more account ids than this: read the scope's balances and keep theirs


async def _balances(cursor: AsyncIterable[Document]) -> AsyncIterator[Balance]:
    async for doc in cursor:
        yield _balance(doc)


def _balance(doc: Document) -> Balance:
    return Balance(
        account_id=doc["account_id"],
        asset=doc["asset"],
        available=Decimal(doc["available"]),
        locked=Decimal(doc["locked"]),
        seq=int(doc["seq"]),
        updated_at=doc.get("updated_at"),
    )


class MongoBalances:
    """Balances in MongoDB, written by the projector, read per account (scoped)."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def of_accounts(self, scope: TenantScope, account_ids: Sequence[str]) -> list[Balance]:
        wanted = set(account_ids)
        query: dict[str, object] = dict(scope.owner_filter())
        if len(wanted) <= IN_LIMIT:  # the embedded store's $in costs ids x documents: a
            query["account_id"] = {"$in": sorted(wanted)}  # 10,000-id $in took minutes
        cursor = self._db.balances.find(query).sort([("account_id", 1), ("asset", 1)])
        found = [b async for b in _balances(cursor) if b.account_id in wanted]
        groups: dict[tuple[str, int], dict[str, int]] = {}
        for b in found:
            groups.setdefault((b.asset, round_bucket(b.account_id)), {})[b.account_id] = b.seq
        newest: dict[tuple[str, str], Balance] = {}
        for (asset, bucket), pending in groups.items():
            await self._rounds_for(asset, bucket, pending, newest)
        return [newest.get((b.account_id, b.asset), b) for b in found]

    async def _rounds_for(
        self,
        asset: str,
        bucket: int,
        pending: dict[str, int],
        newest: dict[tuple[str, str], Balance],
    ) -> None:
        """The newest funding round newer than each balance's document, if any: rounds of
        the bucket newest first, until every balance has found one or is newer."""
        query = {"asset": asset, "bucket": bucket, "seq": {"$gt": min(pending.values())}}
        fields = None
        if len(pending) <= PROJECTED_ENTRIES:
            fields = {"seq": 1, "decimals": 1, "updated_at": 1,
                      **{f"entries.{a}": 1 for a in pending if "." not in a}}  # fmt: skip
        async for doc in self._db.balance_rounds.find(query, fields).sort("seq", DESCENDING):
            seq, scale, entries = int(doc["seq"]), -int(doc["decimals"]), doc["entries"]
            for account_id in [a for a, since in pending.items() if since >= seq or a in entries]:
                if pending.pop(account_id) >= seq:
                    continue  # its document is newer than every round left
                available, locked = entries[account_id]
                newest[(account_id, asset)] = Balance(
                    account_id, asset, Decimal(format(Decimal(available).scaleb(scale), "f")),
                    Decimal(format(Decimal(locked).scaleb(scale), "f")), seq,
                    doc.get("updated_at"),
                )  # fmt: skip
            if not pending:
                return

    async def write(self, updates: Sequence[UpdateOne]) -> None:
        if updates:
            await bulk_write_chunked(self._db.balances, list(updates), ordered=False)

    async def insert_rounds(self, documents: Sequence[Document]) -> None:
        """Funding rounds' balance documents (immutable; a replay's are skipped), a few
        per request (the journal's writes wait behind the request the store is on)."""
        await insert_new(self._db.balance_rounds, documents, ROUND_DOCS_PER_INSERT)

    async def rounds_since(self, after_seq: int) -> int:
        """The most rounds of one asset after ``after_seq`` (what a balance read of that
        asset may have to apply, its document folded at ``after_seq``)."""
        seqs: dict[str, set[int]] = {}
        query = {"seq": {"$gt": after_seq}}
        async for doc in self._db.balance_rounds.find(query, {"asset": 1, "seq": 1}):
            seqs.setdefault(doc["asset"], set()).add(int(doc["seq"]))
        return max((len(found) for found in seqs.values()), default=0)

    async def fold_rounds(self, after_seq: int, up_to_seq: int, pace: Pace = no_pace) -> int:
        """Fold the rounds of sequences in (after_seq, up_to_seq] into the balance
        documents: each balance's newest such round is written into its document unless the
        document is as new already. Reads are the same before and after (``of_accounts``
        applies only rounds newer than a document) and no longer read those rounds. The
        round documents stay. Idempotent, in chunks of FOLD_CHUNK writes, ``pace``
        awaited after each (told its seconds); the number of documents written."""
        newest: dict[str, tuple[int, int, int, int, dt.datetime | None]] = {}
        query = {"seq": {"$gt": after_seq, "$lte": up_to_seq}}
        async for doc in self._db.balance_rounds.find(query).sort("seq", ASCENDING):
            seq, scale, asset = int(doc["seq"]), -int(doc["decimals"]), doc["asset"]
            for account_id, (available, locked) in doc["entries"].items():
                key = f"{account_id}:{asset}"  # oldest round first: a later one replaces
                newest[key] = (seq, scale, available, locked, doc.get("updated_at"))
            await asyncio.sleep(0)  # a document's entries at a time: the writer goes on
        updates = (
            UpdateOne({"_id": key, "seq": {"$lt": seq}}, {"$set": {
                "available": format(Decimal(available).scaleb(scale), "f"),
                "locked": format(Decimal(locked).scaleb(scale), "f"),
                "seq": seq, "updated_at": at,
            }})
            for key, (seq, scale, available, locked, at) in sorted(newest.items())
        )  # fmt: skip
        return await fold_writes(self._db.balances, updates, FOLD_CHUNK, pace)


class BalancesProjector:
    """Writer listener: BALANCE_CHANGED events -> the balances read model."""

    def __init__(
        self, balances: MongoBalances, directory: EngineDirectory, events: EventBus | None = None
    ) -> None:
        self._balances = balances
        self._directory = directory
        self._events = events

    async def __call__(
        self, batch: Records, events: Records, notes: dict[int, dict[str, str]]
    ) -> None:
        changed = events[events["kind"] == codes.EV_BALANCE_CHANGED]
        by_round = settled_mask(events, changed).tolist()
        latest: dict[tuple[int, int], tuple[int, int, int]] = {}
        written: dict[tuple[int, int], tuple[int, int, int]] = {}
        rounds: dict[tuple[int, int], dict[int, tuple[int, int]]] = {}  # (seq, asset): account
        for n, (seq, account, asset, available, locked, in_round) in enumerate(zip(
            changed["seq"].tolist(), changed["account"].tolist(), changed["asset"].tolist(),
            changed["value_a"].tolist(), changed["value_b"].tolist(), by_round, strict=True,
        ), 1):  # fmt: skip
            latest[(account, asset)] = (seq, available, locked)
            if in_round:
                rounds.setdefault((seq, asset), {})[account] = (available, locked)
            else:
                written[(account, asset)] = (seq, available, locked)
            if n % EVENTS_PER_STEP == 0:
                await asyncio.sleep(0)  # a round's 10,000 in slices: the writer goes on
        now = dt.datetime.now(dt.UTC)
        updates: list[UpdateOne] = []
        published: dict[str, list[dict[str, object]]] = {}
        async for (account, asset_index), (seq, available, locked) in yielding(latest.items()):
            ref, asset = (
                self._directory.account(account),
                self._directory.asset_by_index(asset_index),
            )
            if ref is None or asset is None:
                continue
            scale = -asset.decimals
            fields = {
                "tenant_id": ref.tenant_id, "customer_id": ref.customer_id,
                "account_id": ref.account_id, "asset": asset.code,
                "available": format(Decimal(available).scaleb(scale), "f"),
                "locked": format(Decimal(locked).scaleb(scale), "f"),
                "seq": seq, "updated_at": now,
            }  # fmt: skip
            published.setdefault(ref.tenant_id, []).append(fields)
            stored = written.get((account, asset_index))
            if stored is None:
                continue  # only a funding round's document has it
            if stored[0] != seq:
                fields = {**fields, "seq": stored[0],
                          "available": format(Decimal(stored[1]).scaleb(scale), "f"),
                          "locked": format(Decimal(stored[2]).scaleb(scale), "f")}  # fmt: skip
            updates.append(
                UpdateOne({"_id": f"{ref.account_id}:{asset.code}"}, {"$set": fields}, upsert=True)
            )
        await self._balances.write(updates)
        await self._balances.insert_rounds(self._round_documents(rounds, now))
        if self._events is not None:
            bus = self._events
            await asyncio.gather(*(
                bus.publish(tenant_topic(BALANCE_STREAM, tenant_id),
                               orjson.dumps({"balances": changed_balances}))
                for tenant_id, changed_balances in published.items()
            ))  # fmt: skip

    def _round_documents(
        self, rounds: dict[tuple[int, int], dict[int, tuple[int, int]]], now: dt.datetime
    ) -> list[Document]:
        """One document per funding round, asset and account bucket: each account's
        balance after the round, in minor units."""
        docs: list[Document] = []
        for (seq, asset_index), accounts in sorted(rounds.items()):
            asset = self._directory.asset_by_index(asset_index)
            if asset is None:
                continue
            buckets: dict[int, dict[str, list[int]]] = {}
            for account, (available, locked) in accounts.items():
                ref = self._directory.account(account)
                if ref is not None:
                    bucket = buckets.setdefault(round_bucket(ref.account_id), {})
                    bucket[ref.account_id] = [available, locked]
            docs.extend(
                {"_id": f"{asset.code}:{seq:016d}:{b:02d}", "asset": asset.code, "seq": seq,
                 "bucket": b, "decimals": asset.decimals, "updated_at": now, "entries": found}
                for b, found in sorted(buckets.items())
            )  # fmt: skip
        return docs


def settled_mask(events: Records, changed: Records) -> np.ndarray:
    """Which of the BALANCE_CHANGED events ``changed`` (of ``events``) a funding round's
    document carries: the round paid the account (a FUNDING event of the same command) and
    did not liquidate or deleverage it (as the account or the counterparty)."""
    paid = events[events["kind"] == codes.EV_FUNDING]
    if len(paid) == 0 or len(changed) == 0:
        return np.zeros(len(changed), dtype=bool)
    liq = events[events["kind"] == codes.EV_LIQUIDATION]
    excluded = np.concatenate([_keys(liq["seq"], liq["account"]),
                               _keys(liq["seq"], liq["maker_account"])])  # fmt: skip
    keys = _keys(changed["seq"], changed["account"])
    found: np.ndarray = np.isin(keys, _keys(paid["seq"], paid["account"])) & ~np.isin(
        keys, excluded
    )
    return found


def _keys(seqs: np.ndarray, accounts: np.ndarray) -> np.ndarray:
    """(seq, engine account) as one int64 (an account is an int32, NIL included)."""
    return (seqs.astype(np.int64) << 32) | accounts.astype(np.uint32).astype(np.int64)


@dataclass(frozen=True)
class BalanceChange:
    """One balance after a batch, as published on the tenant's ``balances.<tenant>`` topic."""

    tenant_id: str
    customer_id: str | None
    balance: Balance


def balance_changes(payload: bytes) -> list[BalanceChange]:
    """Decode a ``balances.<tenant>`` payload."""
    result = []
    for doc in orjson.loads(payload)["balances"]:
        doc["updated_at"] = dt.datetime.fromisoformat(doc["updated_at"])
        result.append(BalanceChange(doc["tenant_id"], doc.get("customer_id"), _balance(doc)))
    return result


class BalanceStreams:
    """Subscribes to a tenant's balance changes (payloads decode with ``balance_changes``)."""

    def __init__(self, events: EventBus) -> None:
        self._events = events

    def subscribe(self, tenant_id: str) -> AbstractAsyncContextManager[AsyncIterable[bytes]]:
        return self._events.subscribe(tenant_topic(BALANCE_STREAM, tenant_id))
