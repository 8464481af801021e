"""Persistence of monitoring: aml_transactions (movements seen on the event stream),
aml_rules and surveillance_params per tenant (owned here only)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from pymongo import ASCENDING, IndexModel

from domains.compliance.aml import AmlRules, Movement, Transaction
from domains.compliance.surveillance import SurveillanceParams
from domains.shared.mongo import CollectionIndexes, Database, Document, insert_new

INDEXES = (
    CollectionIndexes(
        "aml_transactions",
        (
            IndexModel([("tenant_id", ASCENDING), ("customer_id", ASCENDING), ("at", ASCENDING)]),
            IndexModel([("tenant_id", ASCENDING), ("at", ASCENDING)]),
        ),
    ),
    CollectionIndexes("aml_rules", ()),
    CollectionIndexes("surveillance_params", (IndexModel([("tenant_id", ASCENDING)]),)),
)


def _tx_document(tx: Transaction) -> Document:
    return {
        "_id": f"{tx.seq}",
        "seq": tx.seq,
        "tenant_id": tx.tenant_id,
        "customer_id": tx.customer_id,
        "account_id": tx.account_id,
        "kind": tx.kind.value,
        "asset": tx.asset,
        "amount": str(tx.amount),
        "at": tx.at,
        "counterparty": tx.counterparty,
        "reference": tx.reference,
    }


def _tx(doc: Document) -> Transaction:
    return Transaction(
        seq=int(doc["seq"]), tenant_id=doc["tenant_id"], customer_id=doc["customer_id"],
        account_id=doc["account_id"], kind=Movement(doc["kind"]), asset=doc["asset"],
        amount=Decimal(doc["amount"]), at=doc["at"], counterparty=doc.get("counterparty"),
        reference=doc.get("reference"),
    )  # fmt: skip


def _seconds(value: dt.timedelta) -> int:
    return int(value.total_seconds())


def _rules(doc: Document) -> AmlRules:
    return AmlRules(
        tenant_id=doc["_id"],
        large_amount=MappingProxyType({a: Decimal(v) for a, v in doc["large_amount"].items()}),
        structuring_count=doc["structuring_count"],
        structuring_window=dt.timedelta(seconds=doc["structuring_window_s"]),
        structuring_floor_pct=doc["structuring_floor_pct"],
        rapid_window=dt.timedelta(seconds=doc["rapid_window_s"]),
        rapid_min_pct=doc["rapid_min_pct"],
        velocity_max_count=doc["velocity_max_count"],
        velocity_window=dt.timedelta(seconds=doc["velocity_window_s"]),
        watch_addresses=frozenset(doc.get("watch_addresses") or ()),
        updated_by=doc.get("updated_by"),
        updated_at=doc.get("updated_at"),
    )


def _params(doc: Document) -> SurveillanceParams:
    return SurveillanceParams(
        tenant_id=doc["tenant_id"], market_id=doc["market_id"], wash_trading=doc["wash_trading"],
        circular_window=dt.timedelta(seconds=doc["circular_window_s"]),
        circular_qty_tolerance_pct=doc["circular_qty_tolerance_pct"],
        spoof_min_notional=Decimal(doc["spoof_min_notional"]),
        spoof_near_touch_bps=doc["spoof_near_touch_bps"],
        spoof_max_lifetime=dt.timedelta(seconds=doc["spoof_max_lifetime_s"]),
        spoof_min_cancels=doc["spoof_min_cancels"],
        spoof_window=dt.timedelta(seconds=doc["spoof_window_s"]),
        spoof_require_opposite_fill=doc["spoof_require_opposite_fill"],
        updated_by=doc.get("updated_by"), updated_at=doc.get("updated_at"),
    )  # fmt: skip


class MongoMonitoringRepository:
    """Movements, rules and parameters in MongoDB."""

    def __init__(self, db: Database, inserts: Database | None = None) -> None:
        """``inserts``: where ``record`` writes (a client without retryable writes will do:
        the inserts are idempotent), ``db`` by default."""
        self._tx = (inserts if inserts is not None else db).aml_transactions
        self._rules = db.aml_rules
        self._params = db.surveillance_params

    async def record(self, transactions: Sequence[Transaction]) -> None:
        """Record movements once (the id is the engine sequence: replays are skipped)."""
        await insert_new(self._tx, [_tx_document(t) for t in transactions])

    async def history(
        self, tenant_id: str, customer_id: str, since: dt.datetime
    ) -> list[Transaction]:
        query = {"tenant_id": tenant_id, "customer_id": customer_id, "at": {"$gte": since}}
        return [_tx(doc) async for doc in self._tx.find(query).sort("seq", ASCENDING)]

    async def stream(
        self, tenant_id: str, since: dt.datetime, until: dt.datetime
    ) -> AsyncIterator[Transaction]:
        query = {"tenant_id": tenant_id, "at": {"$gte": since, "$lt": until}}
        async for doc in self._tx.find(query).sort("seq", ASCENDING):
            yield _tx(doc)

    async def destinations(self) -> AsyncIterator[tuple[str, str, str]]:
        """Distinct (tenant, customer, address) of every withdrawal seen."""
        pipeline: list[dict[str, Any]] = [
            {"$match": {"kind": Movement.WITHDRAWAL.value, "counterparty": {"$ne": None}}},
            {"$group": {"_id": {"t": "$tenant_id", "c": "$customer_id", "a": "$counterparty"}}},
        ]
        async for doc in await self._tx.aggregate(pipeline):
            yield doc["_id"]["t"], doc["_id"]["c"], doc["_id"]["a"]

    async def rules(self, tenant_id: str) -> AmlRules | None:
        doc = await self._rules.find_one({"_id": tenant_id})
        return _rules(doc) if doc else None

    async def save_rules(self, rules: AmlRules) -> None:
        await self._rules.replace_one({"_id": rules.tenant_id}, {
            "_id": rules.tenant_id,
            "large_amount": {a: str(v) for a, v in rules.large_amount.items()},
            "structuring_count": rules.structuring_count,
            "structuring_window_s": _seconds(rules.structuring_window),
            "structuring_floor_pct": rules.structuring_floor_pct,
            "rapid_window_s": _seconds(rules.rapid_window),
            "rapid_min_pct": rules.rapid_min_pct,
            "velocity_max_count": rules.velocity_max_count,
            "velocity_window_s": _seconds(rules.velocity_window),
            "watch_addresses": sorted(rules.watch_addresses),
            "updated_by": rules.updated_by,
            "updated_at": rules.updated_at,
        }, upsert=True)  # fmt: skip

    async def params(self, tenant_id: str) -> list[SurveillanceParams]:
        return [_params(doc) async for doc in self._params.find({"tenant_id": tenant_id})]

    async def save_params(self, p: SurveillanceParams) -> None:
        key = f"{p.tenant_id}:{p.market_id}"
        await self._params.replace_one({"_id": key}, {
            "_id": key, "tenant_id": p.tenant_id, "market_id": p.market_id,
            "wash_trading": p.wash_trading, "circular_window_s": _seconds(p.circular_window),
            "circular_qty_tolerance_pct": p.circular_qty_tolerance_pct,
            "spoof_min_notional": str(p.spoof_min_notional),
            "spoof_near_touch_bps": p.spoof_near_touch_bps,
            "spoof_max_lifetime_s": _seconds(p.spoof_max_lifetime),
            "spoof_min_cancels": p.spoof_min_cancels,
            "spoof_window_s": _seconds(p.spoof_window),
            "spoof_require_opposite_fill": p.spoof_require_opposite_fill,
            "updated_by": p.updated_by, "updated_at": p.updated_at,
        }, upsert=True)  # fmt: skip
