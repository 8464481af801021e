"""Positions persistence: positions, mark_prices, funding_rounds, liquidations and
insurance_funds (owned here only; written by the positions projector).

A funding round is a few ``funding_rounds`` documents per market (funding_rounds.py), not a
write per position: reads of positions apply the newest round newer than each position's
document, and funding payments are read from the rounds' entries."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import OperationFailure

from domains.orders.spec import MarketSpec
from domains.positions.funding_rounds import (
    PPM,
    RoundHeader,
    apply_rounds,
    bucket_of,
    folded_fields,
    newest_states,
    payment,
    payment_entry,
    round_documents,
)
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
from domains.shared.errors import NotFoundError
from domains.shared.mongo import (
    CollectionIndexes,
    Database,
    Document,
    Pace,
    bulk_write_chunked,
    fold_writes,
    insert_new,
    no_pace,
    page_filter,
)

ROUND_DOCS_PER_INSERT = 4  # funding_rounds documents per request
INDEXES = (
    CollectionIndexes(
        "positions",
        (
            IndexModel([("tenant_id", ASCENDING), ("account_id", ASCENDING)]),
            IndexModel([("tenant_id", ASCENDING), ("open", ASCENDING), ("market_id", ASCENDING)]),
        ),
    ),
    CollectionIndexes(
        "funding_rounds",
        (
            IndexModel([("bucket", ASCENDING), ("market_id", ASCENDING), ("seq", DESCENDING)]),
            IndexModel([("bucket", ASCENDING), ("seq", DESCENDING)]),
            IndexModel([("seq", ASCENDING)]),  # folding: the rounds after a sequence
        ),
    ),
    CollectionIndexes(
        "liquidations",
        (IndexModel([("tenant_id", ASCENDING), ("_id", DESCENDING)]),),
    ),
)


log = logging.getLogger("caas.positions")
LEGACY_PAYMENTS = "funding_payments"  # one document per payment, before rounds per market
MIGRATED_PAYMENTS = "funding_payments_migrated"  # kept, renamed, once migrated
FOLD_CHUNK = 32  # position documents per folding write (the journal waits behind one)
PROJECTED_ENTRIES = 256  # up to this many accounts, a round read fetches only their entries
ROUND_HEADER = ("market_id", "seq", "bucket", "paid_at", "mark", "rate_ppm", "asset",
                "quote_decimals", "lot_size")  # fmt: skip


def _visible(scope: TenantScope, row: FundingPayment) -> bool:
    """A payment the scope may see (its tenant; a trader's own customer)."""
    if scope.tenant_id is not None and row.tenant_id != scope.tenant_id:
        return False
    return scope.customer_id is None or row.customer_id == scope.customer_id


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


def liquidation_from_document(doc: Document) -> LiquidationEvent:
    return LiquidationEvent(
        id=doc["_id"], tenant_id=doc["tenant_id"], customer_id=doc["customer_id"],
        account_id=doc["account_id"], market_id=doc.get("market_id"),
        step=LiquidationStep(doc["step"]), order_id=doc.get("order_id"),
        quantity=_dec(doc.get("quantity")), price=_dec(doc.get("price")),
        amount=Decimal(doc["amount"]), insurance_fund_after=Decimal(doc["insurance_fund_after"]),
        counterparty_account_id=doc.get("counterparty_account_id"), seq=int(doc["seq"]),
        at=doc["at"], count=doc.get("count"),
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
        "count": e.count,
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
        return await self._with_rounds([position_from_document(doc) async for doc in cursor])

    async def open_positions(
        self, scope: TenantScope, market_ids: Sequence[str] | None = None
    ) -> list[Position]:
        """Every open position the scope sees (a tenant's for staff), optionally by market."""
        query: dict[str, Any] = {**scope.owner_filter(), "open": True}
        if market_ids is not None:
            query["market_id"] = {"$in": list(market_ids)}
        found = [position_from_document(doc) async for doc in self._db.positions.find(query)]
        return await self._with_rounds(found)

    async def _with_rounds(self, positions: list[Position]) -> list[Position]:
        """The positions as the funding rounds after their documents left them: per market
        and bucket, the rounds newer than the oldest open position's document, newest
        first, until each position has found its newest round (or none is newer)."""
        groups: dict[tuple[str, int], list[Position]] = {}
        for p in positions:
            if p.quantity != 0:
                groups.setdefault((p.market_id, bucket_of(p.account_id)), []).append(p)
        rounds: list[Document] = []
        for (market_id, bucket), held in groups.items():
            rounds.extend(await self._rounds_for(market_id, bucket, held))
        return apply_rounds(positions, rounds) if rounds else positions

    async def _rounds_for(
        self, market_id: str, bucket: int, held: list[Position]
    ) -> list[Document]:
        pending = {p.account_id: p.seq for p in held}
        query = {"bucket": bucket, "market_id": market_id,
                 "seq": {"$gt": min(pending.values())}}  # fmt: skip
        fields: dict[str, Any] | None = None
        if len(pending) <= PROJECTED_ENTRIES:
            fields = {**dict.fromkeys(ROUND_HEADER, 1), **{f"entries.{a}": 1 for a in pending}}
        found: list[Document] = []
        async for doc in self._db.funding_rounds.find(query, fields).sort("seq", DESCENDING):
            found.append(doc)
            seq, entries = int(doc["seq"]), doc["entries"]
            for account_id in [a for a, since in pending.items() if since >= seq or a in entries]:
                del pending[account_id]  # its newest round (or none newer than its document)
            if not pending:
                break
        return found

    async def insert_rounds(self, documents: Sequence[Document]) -> None:
        """A funding round's documents (immutable; a replay's duplicates are skipped), a
        few per request: a bucket of 10,000 positions is ~600 entries, and the journal's
        writes wait behind the request the store is on."""
        await insert_new(self._db.funding_rounds, documents, ROUND_DOCS_PER_INSERT)

    async def rounds_since(self, after_seq: int) -> int:
        """The most rounds of one market after ``after_seq`` (what a position read of that
        market may have to apply, its document folded at ``after_seq``)."""
        seqs: dict[str, set[int]] = {}
        query = {"seq": {"$gt": after_seq}}
        async for doc in self._db.funding_rounds.find(query, {"market_id": 1, "seq": 1}):
            seqs.setdefault(doc["market_id"], set()).add(int(doc["seq"]))
        return max((len(found) for found in seqs.values()), default=0)

    async def fold_rounds(self, after_seq: int, up_to_seq: int, pace: Pace = no_pace) -> int:
        """Fold the rounds of sequences in (after_seq, up_to_seq] into the position
        documents: each position's newest such round that carries its state is written into
        its document, unless the document is already as new (a later trade, an earlier
        fold). Reads are the same before and after (a round no newer than a document is not
        applied to it), and cost one round less per position each time. The round documents
        stay (``fundingPayments`` reads them). Idempotent, in chunks of FOLD_CHUNK writes,
        ``pace`` awaited after each (told its seconds); the number of documents written."""
        query = {"seq": {"$gt": after_seq, "$lte": up_to_seq}}
        newest: dict[str, tuple[Mapping[str, Any], dict[str, Any]]] = {}
        async for doc in self._db.funding_rounds.find(query).sort("seq", ASCENDING):
            newest.update(newest_states([doc]))  # oldest first: a later round replaces
            await asyncio.sleep(0)  # a document's entries at a time: the writer goes on
        updates = (
            UpdateOne({"_id": key, "seq": {"$lt": int(doc["seq"])}},
                      {"$set": folded_fields(doc, entry)})
            for key, (doc, entry) in sorted(newest.items())
        )  # fmt: skip
        return await fold_writes(self._db.positions, updates, FOLD_CHUNK, pace)

    async def migrate_payments(self, spec_for: Callable[[str], Awaitable[MarketSpec]]) -> int:
        """Funding history stored before rounds were per market (``funding_payments``, one
        document per payment) as round entries, so ``fundingPayments`` keeps showing it:
        per (market, round) the bucket documents the projector writes, with each payment's
        entry (its ordinal the payment's rank in the round, as the projector numbers them)
        and no position state (the old scheme wrote every position's document itself).
        Then the old collection is renamed ``funding_payments_migrated``. Idempotent: run
        again (or after a crash half way) it inserts only what is missing. The number of
        round documents inserted; a market no longer listed keeps its payments (and the
        old collection) for the next run."""
        if LEGACY_PAYMENTS not in await self._db.list_collection_names():
            return 0
        by_round: dict[tuple[str, int], list[Document]] = {}
        async for doc in self._db[LEGACY_PAYMENTS].find({}):
            by_round.setdefault((doc["market_id"], int(doc["seq"])), []).append(doc)
        documents: list[Document] = []
        missing: set[str] = set()
        for (market_id, seq), paid in sorted(by_round.items()):
            try:
                spec = await spec_for(market_id)
            except NotFoundError:
                missing.add(market_id)
                continue
            documents += _migrated_round(spec, seq, paid)
        await insert_new(self._db.funding_rounds, documents)
        if missing:
            log.warning("funding payments of unknown markets not migrated",
                        extra={"markets": sorted(missing)})  # fmt: skip
            return len(documents)
        try:
            await self._db[LEGACY_PAYMENTS].rename(MIGRATED_PAYMENTS, dropTarget=True)
        except OperationFailure:  # another process renamed it first
            if LEGACY_PAYMENTS in await self._db.list_collection_names():
                raise
        log.info("funding payments migrated into rounds", extra={"documents": len(documents)})
        return len(documents)

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

    async def funding(
        self, scope: TenantScope, account_id: str, market_id: str | None, first: int,
        after_key: str | None,
    ) -> list[FundingPayment]:  # fmt: skip
        """The account's payments, newest first (ids sort by round), from the rounds'
        entries: one document per round of the account's bucket."""
        if "." in account_id or account_id.startswith("$"):
            return []
        entry = f"entries.{account_id}"
        query: dict[str, Any] = {"bucket": bucket_of(account_id), entry: {"$exists": True}}
        if market_id is not None:
            query["market_id"] = market_id
        if after_key:
            query["seq"] = {"$lte": int(after_key.split(":", 1)[0])}
        fields = {**dict.fromkeys(ROUND_HEADER, 1), entry: 1}
        out: list[FundingPayment] = []
        async for doc in self._db.funding_rounds.find(query, fields).sort("seq", DESCENDING):
            row = payment(doc, account_id, doc["entries"][account_id])
            if (after_key and row.id >= after_key) or not _visible(scope, row):
                continue
            out.append(row)
            if len(out) > first:
                break
        return out

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


def _migrated_round(spec: MarketSpec, seq: int, paid: list[Document]) -> list[Document]:
    """One round's old payment documents as the round's bucket documents."""
    paid = sorted(paid, key=lambda d: tuple(int(part) for part in str(d["_id"]).split(":")))
    first, decimals, lot = paid[0], spec.quote.decimals, spec.market.lot_size
    header = RoundHeader(
        market_id=spec.market.id, seq=seq, paid_at=first["paid_at"],
        mark=Decimal(first["mark"]), rate_ppm=int(Decimal(first["rate"]) * PPM),
        asset=first["asset"], quote_decimals=decimals, lot_size=lot,
    )  # fmt: skip
    entries = {
        doc["account_id"]: payment_entry(
            ordinal,
            doc["tenant_id"],
            doc["customer_id"],
            int(Decimal(doc["quantity"]) / lot),
            int(Decimal(doc["amount"]).scaleb(decimals)),
        )
        for ordinal, doc in enumerate(paid)
    }
    return [{**doc, "migrated": True} for doc in round_documents(header, entries)]
