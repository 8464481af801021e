"""The double-entry ledger, projected from engine events: every fill, fee, deposit,
withdrawal and transfer is a set of postings that sums to zero per asset, each carrying
the sequence of the command that caused it.

Amounts are integer minor units (exact sums in the store). Money leaving or entering the
platform posts against the ``external`` contra account, so the ledger balances too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pymongo import ASCENDING, IndexModel

from domains.orders.routing import NOTE_LEG
from domains.orders.spec import MarketSpec
from domains.shared.engine_port import EngineDirectory
from domains.shared.mongo import CollectionIndexes, Database, insert_new
from engine import codes
from engine.events import Row, rows
from engine.layout import Records

EXTERNAL = "external"
INDEXES = (
    CollectionIndexes(
        "ledger_entries",
        (IndexModel([("account_id", ASCENDING), ("asset", ASCENDING)]), IndexModel([("seq", 1)])),
    ),
)
SpecLookup = Callable[[str], Awaitable[MarketSpec]]


@dataclass(frozen=True)
class Posting:
    """One leg: an account's change of one asset, in minor units (positive = credit)."""

    seq: int
    leg: int
    account_id: str
    asset: str
    amount_minor: int
    kind: str
    reference: str


class LedgerProjector:
    """Writer listener: events -> balanced postings in ``ledger_entries`` (idempotent)."""

    def __init__(self, db: Database, directory: EngineDirectory, spec_for: SpecLookup) -> None:
        self._entries = db.ledger_entries
        self._directory = directory
        self._spec_for = spec_for

    async def __call__(
        self, batch: Records, events: Records, notes: dict[int, dict[str, str]]
    ) -> None:
        commands = {row["seq"]: row for row in rows(batch)}
        postings: list[Posting] = []
        legs: dict[int, int] = {}
        for event in rows(events):
            found = await self._legs(event, commands, notes.get(event["seq"], {}))
            for account, asset, amount, kind, reference in found:
                seq = event["seq"]
                legs[seq] = legs.get(seq, 0) + 1
                postings.append(Posting(seq, legs[seq], account, asset, amount, kind, reference))
        if postings:
            await insert_new(
                self._entries, [{"_id": f"{p.seq}:{p.leg}", **vars(p)} for p in postings]
            )

    def _account(self, index: int) -> str:
        ref = self._directory.account(index)
        return ref.account_id if ref else f"engine:{index}"

    def _asset(self, index: int) -> str:
        info = self._directory.asset_by_index(index)
        return info.code if info else f"asset:{index}"

    async def _legs(
        self, e: Row, commands: dict[int, Row], note: dict[str, str]
    ) -> list[tuple[str, str, int, str, str]]:
        if e["kind"] == codes.EV_TRADE:
            return await self._trade_legs(e)
        if e["kind"] != codes.EV_ACCEPTED:
            return []
        command = commands[e["seq"]]
        kind, amount = command["kind"], command["amount"]
        account, asset = self._account(command["account"]), self._asset(command["asset"])
        reference = f"cmd:{e['seq']}"
        if kind == codes.DEPOSIT_CREDIT:
            return [(account, asset, amount, "DEPOSIT", reference),
                    (EXTERNAL, asset, -amount, "DEPOSIT", reference)]  # fmt: skip
        if kind == codes.WITHDRAWAL_DEBIT:
            return [(account, asset, -amount, "WITHDRAWAL", reference),
                    (EXTERNAL, asset, amount, "WITHDRAWAL", reference)]  # fmt: skip
        if kind == codes.TRANSFER:
            target = self._account(command["account2"])
            label = note.get(NOTE_LEG, "TRANSFER")  # EXTERNAL_TRADE / FEE of a venue route
            if NOTE_LEG in note:
                reference = f"route:{note['order_key']}:{e['seq']}"
            return [(account, asset, -amount, label, reference),
                    (target, asset, amount, label, reference)]  # fmt: skip
        return []

    async def _trade_legs(self, e: Row) -> list[tuple[str, str, int, str, str]]:
        market_id = self._directory.market_id(e["market"])
        if market_id is None:
            return []
        spec = await self._spec_for(market_id)
        base, quote = spec.base.code, spec.quote.code
        base_minor = e["qty"] * spec.base_per_lot
        quote_minor = e["price"] * e["qty"] * spec.quote_per_tick_lot
        maker_fee, taker_fee = e["value_a"], e["value_b"]
        taker, maker = self._account(e["account"]), self._account(e["maker_account"])
        buyer, seller = (taker, maker) if e["side"] == codes.BUY else (maker, taker)
        buyer_fee, seller_fee = (
            (taker_fee, maker_fee) if e["side"] == codes.BUY else (maker_fee, taker_fee)
        )
        reference = f"trade:{market_id}:{e['market_seq']}"
        return [
            (buyer, base, base_minor, "TRADE", reference),
            (seller, base, -base_minor, "TRADE", reference),
            (buyer, quote, -quote_minor - buyer_fee, "TRADE", reference),
            (seller, quote, quote_minor - seller_fee, "TRADE", reference),
            (self._account(0), quote, buyer_fee + seller_fee, "FEE", reference),
        ]


async def ledger_totals(db: Database) -> dict[tuple[str, str], int]:
    """Sum of postings per (account, asset), in minor units."""
    pipeline = [{"$group": {"_id": {"a": "$account_id", "s": "$asset"},
                            "total": {"$sum": "$amount_minor"}}}]  # fmt: skip
    cursor = await db.ledger_entries.aggregate(pipeline)
    return {(d["_id"]["a"], d["_id"]["s"]): int(d["total"]) async for d in cursor}
