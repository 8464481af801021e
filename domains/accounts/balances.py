"""The balance read model: per account and asset, projected from engine events.

Accounts owns the ledger view; the engine owns the truth. Each batch's last
BALANCE_CHANGED per (account, asset) is written with the sequence it reflects.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from decimal import Decimal

import orjson
from pymongo import ASCENDING, IndexModel, UpdateOne

from domains.shared.context import TenantScope
from domains.shared.engine_port import EngineDirectory, yielding
from domains.shared.events import EventBus, tenant_topic
from domains.shared.mongo import CollectionIndexes, Database, Document, bulk_write_chunked
from engine import codes
from engine.layout import Records

INDEXES = (
    CollectionIndexes(
        "balances", (IndexModel([("tenant_id", ASCENDING), ("account_id", ASCENDING)]),)
    ),
)


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
        query = {**scope.owner_filter(), "account_id": {"$in": list(account_ids)}}
        cursor = self._db.balances.find(query).sort([("account_id", 1), ("asset", 1)])
        return [_balance(doc) async for doc in cursor]

    async def write(self, updates: Sequence[UpdateOne]) -> None:
        if updates:
            await bulk_write_chunked(self._db.balances, list(updates), ordered=False)


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
        latest: dict[tuple[int, int], tuple[int, int, int]] = {}
        for seq, account, asset, available, locked in zip(
            changed["seq"].tolist(), changed["account"].tolist(), changed["asset"].tolist(),
            changed["value_a"].tolist(), changed["value_b"].tolist(), strict=True,
        ):  # fmt: skip
            latest[(account, asset)] = (seq, available, locked)
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
            updates.append(
                UpdateOne({"_id": f"{ref.account_id}:{asset.code}"}, {"$set": fields}, upsert=True)
            )
            published.setdefault(ref.tenant_id, []).append(fields)
        await self._balances.write(updates)
        if self._events is not None:
            bus = self._events
            await asyncio.gather(*(
                bus.publish(tenant_topic(BALANCE_STREAM, tenant_id),
                               orjson.dumps({"balances": changed_balances}))
                for tenant_id, changed_balances in published.items()
            ))  # fmt: skip


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
