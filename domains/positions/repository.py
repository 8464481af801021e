"""Positions persistence: positions, mark_prices, funding_payments, liquidations and
insurance_funds (owned here only; written by the positions projector)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from domains.positions.model import (
    FundingPayment,
    InsuranceFund,
    LiquidationEvent,
    LiquidationStep,
    MarginMode,
    MarkPrice,
    Position,
)
from domains.shared.context import TenantScope
from domains.shared.mongo import (
    CollectionIndexes,
    Database,
    Document,
    bulk_write_chunked,
    insert_new,
    page_filter,
)

INDEXES = (
    CollectionIndexes(
        "positions",
        (
            IndexModel([("tenant_id", ASCENDING), ("account_id", ASCENDING)]),
            IndexModel([("tenant_id", ASCENDING), ("open", ASCENDING), ("market_id", ASCENDING)]),
        ),
    ),
    CollectionIndexes(
        "funding_payments",
        (IndexModel([("tenant_id", ASCENDING), ("account_id", ASCENDING), ("_id", DESCENDING)]),),
    ),
    CollectionIndexes(
        "liquidations",
        (IndexModel([("tenant_id", ASCENDING), ("_id", DESCENDING)]),),
    ),
)


def _dec(value: str | None) -> Decimal | None:
    return Decimal(value) if value is not None else None


def position_document(p: Position) -> Document:
    return {
        "_id": p.id, "tenant_id": p.tenant_id, "customer_id": p.customer_id,
        "account_id": p.account_id, "market_id": p.market_id, "quantity": str(p.quantity),
        "entry_price": str(p.entry_price), "realized_pnl": str(p.realized_pnl),
        "cost": str(p.cost), "margin": str(p.margin), "leverage": p.leverage,
        "margin_mode": p.margin_mode.value, "quote_asset": p.quote_asset, "seq": p.seq,
        "open": p.quantity != 0, "updated_at": p.updated_at,
    }  # fmt: skip


def position_from_document(doc: Document) -> Position:
    return Position(
        id=doc["_id"], tenant_id=doc["tenant_id"], customer_id=doc["customer_id"],
        account_id=doc["account_id"], market_id=doc["market_id"],
        quantity=Decimal(doc["quantity"]), entry_price=Decimal(doc["entry_price"]),
        realized_pnl=Decimal(doc["realized_pnl"]), updated_at=doc.get("updated_at"),
        cost=Decimal(doc.get("cost", "0")), margin=Decimal(doc.get("margin", "0")),
        leverage=int(doc.get("leverage", 10)),
        margin_mode=MarginMode(doc.get("margin_mode", "CROSS")),
        quote_asset=doc.get("quote_asset", "USDT"), seq=int(doc.get("seq", 0)),
    )  # fmt: skip


def _mark(doc: Document) -> MarkPrice:
    return MarkPrice(
        market_id=doc["_id"], mark=Decimal(doc["mark"]), index=Decimal(doc["index"]),
        funding_rate=Decimal(doc["funding_rate"]), next_funding_at=doc.get("next_funding_at"),
        seq=int(doc["seq"]), updated_at=doc.get("updated_at"),
    )  # fmt: skip


def _funding(doc: Document) -> FundingPayment:
    return FundingPayment(
        id=doc["_id"], tenant_id=doc["tenant_id"], customer_id=doc["customer_id"],
        account_id=doc["account_id"], market_id=doc["market_id"],
        quantity=Decimal(doc["quantity"]), mark=Decimal(doc["mark"]), rate=Decimal(doc["rate"]),
        amount=Decimal(doc["amount"]), asset=doc["asset"], seq=int(doc["seq"]),
        paid_at=doc["paid_at"],
    )  # fmt: skip


def liquidation_from_document(doc: Document) -> LiquidationEvent:
    return LiquidationEvent(
        id=doc["_id"], tenant_id=doc["tenant_id"], customer_id=doc["customer_id"],
        account_id=doc["account_id"], market_id=doc.get("market_id"),
        step=LiquidationStep(doc["step"]), order_id=doc.get("order_id"),
        quantity=_dec(doc.get("quantity")), price=_dec(doc.get("price")),
        amount=Decimal(doc["amount"]), insurance_fund_after=Decimal(doc["insurance_fund_after"]),
        counterparty_account_id=doc.get("counterparty_account_id"), seq=int(doc["seq"]),
        at=doc["at"],
    )  # fmt: skip


def funding_document(f: FundingPayment) -> Document:
    return {
        "_id": f.id, "tenant_id": f.tenant_id, "customer_id": f.customer_id,
        "account_id": f.account_id, "market_id": f.market_id, "quantity": str(f.quantity),
        "mark": str(f.mark), "rate": str(f.rate), "amount": str(f.amount), "asset": f.asset,
        "seq": f.seq, "paid_at": f.paid_at,
    }  # fmt: skip


def liquidation_document(e: LiquidationEvent) -> Document:
    return {
        "_id": e.id, "tenant_id": e.tenant_id, "customer_id": e.customer_id,
        "account_id": e.account_id, "market_id": e.market_id, "step": e.step.value,
        "order_id": e.order_id, "quantity": None if e.quantity is None else str(e.quantity),
        "price": None if e.price is None else str(e.price), "amount": str(e.amount),
        "insurance_fund_after": str(e.insurance_fund_after),
        "counterparty_account_id": e.counterparty_account_id, "seq": e.seq, "at": e.at,
    }  # fmt: skip


async def _upsert(collection: AsyncCollection[Document], rows: Sequence[Document]) -> None:
    """Set each document by id, one unordered bulk write. Batches reach the projector in
    sequence order (a replay after a crash re-applies them in order too), so the last write
    of a document is always its latest state."""
    if rows:
        await bulk_write_chunked(
            collection,
            [UpdateOne({"_id": doc["_id"]}, {"$set": doc}, upsert=True) for doc in rows],
            ordered=False,
        )


class MongoPositionsRepository:
    """The positions domain's read models in MongoDB; every read takes the tenant scope."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def upsert(self, position: Position) -> None:
        await self.save_positions([position])

    async def save_positions(self, positions: Sequence[Position]) -> None:
        """Upsert each position (one write per position of the batch)."""
        await _upsert(self._db.positions, [position_document(p) for p in positions])

    async def for_accounts(self, scope: TenantScope, account_ids: Sequence[str]) -> list[Position]:
        query = {**scope.owner_filter(), "account_id": {"$in": list(account_ids)}}
        cursor = self._db.positions.find(query).sort("market_id", ASCENDING)
        return [position_from_document(doc) async for doc in cursor]

    async def open_positions(
        self, scope: TenantScope, market_ids: Sequence[str] | None = None
    ) -> list[Position]:
        """Every open position the scope sees (a tenant's for staff), optionally by market."""
        query: dict[str, Any] = {**scope.owner_filter(), "open": True}
        if market_ids is not None:
            query["market_id"] = {"$in": list(market_ids)}
        return [position_from_document(doc) async for doc in self._db.positions.find(query)]

    async def save_marks(self, marks: Sequence[MarkPrice]) -> None:
        if marks:
            await self._db.mark_prices.bulk_write([
                UpdateOne({"_id": m.market_id}, {"$set": {
                    "mark": str(m.mark), "index": str(m.index),
                    "funding_rate": str(m.funding_rate), "next_funding_at": m.next_funding_at,
                    "seq": m.seq, "updated_at": m.updated_at,
                }}, upsert=True) for m in marks
            ], ordered=False)  # fmt: skip

    async def marks(self, market_ids: Sequence[str] | None = None) -> dict[str, MarkPrice]:
        query = {} if market_ids is None else {"_id": {"$in": list(market_ids)}}
        return {doc["_id"]: _mark(doc) async for doc in self._db.mark_prices.find(query)}

    async def insert_funding(self, payments: Sequence[FundingPayment]) -> None:
        await insert_new(self._db.funding_payments, [funding_document(f) for f in payments])

    async def funding(
        self, scope: TenantScope, account_id: str, market_id: str | None, first: int,
        after_key: str | None,
    ) -> list[FundingPayment]:  # fmt: skip
        base: dict[str, Any] = {**scope.owner_filter(), "account_id": account_id}
        if market_id is not None:
            base["market_id"] = market_id
        cursor = self._db.funding_payments.find(page_filter(base, after_key))
        return [_funding(doc) async for doc in cursor.sort("_id", DESCENDING).limit(first + 1)]

    async def insert_liquidations(self, steps: Sequence[LiquidationEvent]) -> None:
        await insert_new(self._db.liquidations, [liquidation_document(e) for e in steps])

    async def liquidations(
        self, scope: TenantScope, account_id: str | None, market_id: str | None, first: int,
        after_key: str | None,
    ) -> list[LiquidationEvent]:  # fmt: skip
        base: dict[str, Any] = dict(scope.owner_filter())
        if account_id is not None:
            base["account_id"] = account_id
        if market_id is not None:
            base["market_id"] = market_id
        cursor = self._db.liquidations.find(page_filter(base, after_key))
        return [
            liquidation_from_document(doc)
            async for doc in cursor.sort("_id", DESCENDING).limit(first + 1)
        ]

    async def save_insurance(self, funds: Sequence[InsuranceFund]) -> None:
        await _upsert(self._db.insurance_funds, [
            {"_id": f.asset, "balance": str(f.balance), "seq": f.seq, "updated_at": f.updated_at}
            for f in funds
        ])  # fmt: skip

    async def insurance_funds(self) -> list[InsuranceFund]:
        return [
            InsuranceFund(
                doc["_id"], Decimal(doc["balance"]), int(doc["seq"]), doc.get("updated_at")
            )
            async for doc in self._db.insurance_funds.find().sort("_id", ASCENDING)
        ]
