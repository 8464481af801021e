"""Clearing rollback: ``bustTrades`` reverses a range of a spot market's internal trades.

Owns ``trade_busts`` (one document per bust: the plan, every transfer with its attempt and
sequence, the outcome). The arithmetic is domains/orders/bust_plan.py; this module runs it
through the one command bus, so every step is a journaled engine command and a replay of
the journal gives the same balances:

1. a marker (SET_ACCOUNT_MODE NORMAL on the bust's own clearing account, a no-op) whose
   note names the market and the trade range: the trades projection marks exactly those
   trades BUSTED with the marker's sequence (the read model is a function of the journal);
2. TRANSFERs of what each debtor owes, at most its available balance, into the clearing
   account ``platform:bust:<id>`` (read from this process's engine; a transfer refused
   because the balance moved meanwhile is tried again with the new balance, at most
   ``ATTEMPTS`` times);
3. TRANSFERs out of the clearing account to the creditors (in full, or pro rata when
   something was short), which leaves the clearing account at zero.

Every transfer carries a client tag derived from the bust id, its index and its attempt, and
each attempt is saved before it is submitted: a bust interrupted by a crash is resumed at
start (``resume``) by submitting the saved attempt again, which the writer's idempotency
window answers with the first result instead of moving money twice.

Perpetual markets: before the collection the positions the trades touched are moved to
their replay without them by one journaled group of BUST_POSITION legs, and after it the
clearing account's flat cost is settled (domains/orders/perp_busts.py; the exactness rules
are in domains/orders/perp_bust_plan.py and the README). Trades routed to the external
venue are not busted (the venue's fill stands; they are counted as skipped).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from domains.orders import bust_plan as plan
from domains.orders.bust_plan import (
    LEG,
    NOTE_BUST,
    NOTE_BUST_FROM,
    NOTE_BUST_MARKET,
    NOTE_BUST_TO,
    NOTE_FEE_MAKER,
    NOTE_FEE_PAYER,
)
from domains.orders.model import MarketKind, Side, Trade, TradeStatus, Venue
from domains.orders.outcomes import outcome
from domains.orders.perp_bust_plan import PositionState
from domains.orders.perp_busts import AccountTrades, PerpBusts, PerpPlan
from domains.orders.routing import NOTE_LEG
from domains.orders.spec import MarketSpec
from domains.shared.context import Principal, Role
from domains.shared.engine_port import (
    CommandBus,
    EngineDirectory,
    ReadModels,
    Submitted,
    client_tag,
    engine_caught_up,
)
from domains.shared.errors import (
    ConflictError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from domains.shared.mongo import CollectionIndexes, Database, Document
from engine import codes
from engine import commands as cmd
from engine.layout import Records

if TYPE_CHECKING:
    pass

log = logging.getLogger("caas.busts")
plan_zero = PositionState()
INDEXES = (
    CollectionIndexes(
        "trade_busts",
        (
            IndexModel([("market_id", ASCENDING), ("requested_at", DESCENDING)]),
            # one bust at a time per market: the field exists only while one is running
            IndexModel([("active_market", ASCENDING)], unique=True, sparse=True),
            IndexModel([("status", ASCENDING)]),
        ),
    ),
)
MAX_TRADES = 10_000  # trades one bust may reverse
ATTEMPTS = 3  # tries of a debtor's transfer whose balance moved between read and apply
RESUME_EVERY_S, STALE_S = 30.0, 60.0  # the writer finishes busts idle for a minute
PLATFORM = "platform"
RETRY = "try again"
CLEARING_PREFIX = "platform:bust:"
PLANNED, COLLECTING, PAYING, COMPLETED = "PLANNED", "COLLECTING", "PAYING", "COMPLETED"
POSITIONS = "POSITIONS"  # a perpetual bust's legs are being journaled
PERPETUAL = "PERPETUAL"


class TradeSpecs(Protocol):
    async def spec(self, market_id: str) -> MarketSpec: ...


@dataclass(frozen=True)
class Amount:
    """An account's amount of an asset, for the report."""

    account_id: str
    asset: str
    amount_minor: int
    decimals: int


@dataclass(frozen=True)
class TradeBust:
    """A clearing rollback as stored."""

    id: str
    market_id: str
    from_number: int
    to_number: int
    reason: str
    requested_by: str
    requested_at: dt.datetime
    status: str
    trades: tuple[int, ...]
    skipped_external: int
    marker_seq: int | None
    last_seq: int | None
    shortfalls: tuple[Amount, ...] = ()
    unpaid: tuple[Amount, ...] = ()
    recovered: tuple[Amount, ...] = field(default=())
    positions: tuple[PositionLeg, ...] = ()  # perpetual markets: the legs applied
    inexact: tuple[InexactPosition, ...] = ()
    uncovered: tuple[Amount, ...] = ()


@dataclass(frozen=True)
class PositionLeg:
    """How a perpetual bust moved one position (signed deltas, decimal)."""

    account_id: str
    quantity: Decimal
    cost: Decimal
    realized_pnl: Decimal
    margin: Decimal


@dataclass(frozen=True)
class InexactPosition:
    """A position the trades alone do not explain (funding, liquidation, margin or a
    wind-down moved it): the bust kept that part as it happened."""

    account_id: str
    fields: tuple[str, ...]


def bust_id() -> str:
    return "bst_" + secrets.token_hex(8)


def _tag(bust: str, part: str) -> int:
    return client_tag(f"{bust}:{part}")


class TradeBustService:
    """Plans, runs, resumes and lists clearing rollbacks."""

    def __init__(
        self,
        db: Database,
        trades: AccountTrades,
        specs: TradeSpecs,
        bus: CommandBus,
        directory: EngineDirectory,
        read_models: ReadModels | None = None,
    ) -> None:
        self._busts = db.trade_busts
        self._trades = trades
        self._specs = specs
        self._bus = bus
        self._directory = directory
        self._read_models = read_models or ReadModels()
        self._perp = PerpBusts(trades, bus, directory)
        self._resuming: asyncio.Task[int] | None = None

    # --- the use case ----------------------------------------------------------------------
    async def bust(
        self, principal: Principal, market_id: str, first: int, last: int, reason: str
    ) -> TradeBust:
        """Reverse the market's internal trades numbered ``first`` to ``last`` (operators)."""
        if principal.role is not Role.OPERATOR:
            raise ForbiddenError("only operators bust trades")
        reason = reason.strip()
        if not reason:
            raise ValidationError("a bust needs a reason", field="reason")
        if len(reason) > 500:
            raise ValidationError("the reason is at most 500 characters", field="reason")
        if first < 1 or last < first:
            raise ValidationError("fromSequence must be >= 1 and <= toSequence",
                                  field="fromSequence")  # fmt: skip
        if last - first + 1 > MAX_TRADES:
            raise ValidationError(f"a bust reverses at most {MAX_TRADES} trades",
                                  field="toSequence")  # fmt: skip
        spec = await self._specs.spec(market_id)  # NOT_FOUND for an unknown market
        perpetual = spec.market.kind is MarketKind.PERPETUAL
        market = await self._directory.market_index(spec.market.id)
        state = self._bus.engine.market_state(market)
        if state is None or last > state["trade_seq"]:
            raise ValidationError(
                f"the market has {state['trade_seq'] if state else 0} trades", field="toSequence"
            )
        await self._read_models.settled()  # the range's trades are in the read model
        found = await self._trades.trades_between(spec.market.id, first - 1, last + 1,
                                                  MAX_TRADES + 1)  # fmt: skip
        internal = [t for t in found if t.venue is Venue.INTERNAL]
        live = [t for t in internal if t.status is not TradeStatus.BUSTED]
        if not live:
            raise NotFoundError("no trade in that range to bust", market=spec.market.id,
                                reason="NO_TRADES")  # fmt: skip
        fee_account = self._bus.engine.fee_account(market)
        perp: PerpPlan | None = None
        if perpetual:
            perp = await self._perp.plan(spec, market, live)
            reversal = perp.reversal
        else:
            trades = [await self._engine_trade(spec, t) for t in live]
            reversal = plan.reverse(trades, fee_account)
        ident = bust_id()
        clearing = await self._directory.account_index(CLEARING_PREFIX + ident, PLATFORM, PLATFORM)
        doc: Document = {
            "_id": ident, "market_id": spec.market.id, "market": market, "from": first,
            "to": last, "reason": reason, "by": principal.key_id,
            "requested_at": dt.datetime.now(dt.UTC), "updated_at": dt.datetime.now(dt.UTC),
            "status": PLANNED,
            "active_market": spec.market.id, "trades": [trade_number(t.id) for t in live],
            "skipped_external": len(found) - len(internal), "clearing": clearing,
            "fee_account": fee_account,
            "deltas": [[a, s, v] for (a, s), v in reversal.deltas.items()],
            "refunds": [[r.payer, r.asset, int(r.maker), r.amount] for r in reversal.fee_refunds],
        }  # fmt: skip
        if perp is not None:
            doc.update(_perp_fields(perp, spec))
        try:
            await self._busts.insert_one(doc)
        except DuplicateKeyError:
            raise ConflictError(f"a bust of {spec.market.id} is running; try again after it",
                                reason="BUST_RUNNING") from None  # fmt: skip
        return await self._run(doc)

    async def _engine_trade(self, spec: MarketSpec, t: Trade) -> plan.BustTrade:
        assert t.maker is not None  # internal trades have a maker
        taker = await self._directory.account_index(t.taker.account_id, t.taker.tenant_id,
                                                    t.taker.customer_id)  # fmt: skip
        maker = await self._directory.account_index(t.maker.account_id, t.maker.tenant_id,
                                                    t.maker.customer_id)  # fmt: skip
        lots, ticks = spec.qty_lots(t.quantity), spec.price_ticks(t.price)
        taker_fee = int(t.taker.fee.scaleb(spec.quote.decimals))
        maker_fee = int(t.maker.fee.scaleb(spec.quote.decimals))
        buy = t.taker_side is Side.BUY
        return plan.BustTrade(
            number=trade_number(t.id), buyer=taker if buy else maker,
            seller=maker if buy else taker, base_asset=spec.base.index,
            quote_asset=spec.quote.index, base_minor=lots * spec.base_per_lot,
            notional_minor=lots * ticks * spec.quote_per_tick_lot,
            buyer_fee=taker_fee if buy else maker_fee, seller_fee=maker_fee if buy else taker_fee,
            buyer_is_maker=not buy,
        )  # fmt: skip

    # --- running (and resuming) a planned bust ---------------------------------------------
    async def _run(self, doc: Document) -> TradeBust:
        ident, clearing = doc["_id"], int(doc["clearing"])
        base_note = {NOTE_BUST: ident, NOTE_LEG: LEG}
        if doc.get("marker_seq") is None:
            marker = cmd.set_account_mode(0, 0, account=clearing, mode=codes.ACCOUNT_MODE_NORMAL)
            marker["client_tag"] = _tag(ident, "marker")
            note = {NOTE_BUST: ident, NOTE_BUST_MARKET: doc["market_id"],
                    NOTE_BUST_FROM: str(doc["from"]), NOTE_BUST_TO: str(doc["to"])}  # fmt: skip
            submitted = await self._bus.submit(marker, note)
            doc = await self._save(doc, marker_seq=submitted.seq, status=COLLECTING)
        reversal = _reversal(doc)
        if doc.get("kind") == PERPETUAL and doc.get("legs_seq") is None:
            doc = await self._position_legs(doc)
        if doc.get("collected") is None:
            collected = await self._collect(doc, reversal, base_note)
            doc = await self._save(doc, status=PAYING,
                                   collected=[_collect_doc(c) for c in collected])  # fmt: skip
        else:  # resumed after the collection: the payouts follow from what it took
            collected = [_collect_of(c) for c in doc["collected"]]
        pools = None
        if doc.get("kind") == PERPETUAL:
            if doc.get("pool") is None:
                doc = await self._carry(doc)
            pools = {int(doc["quote"]): int(doc["pool"])}
        settlement = plan.settle(reversal, collected, pools)
        last = await self._pay(doc, settlement, base_note)
        doc = await self._save(
            doc, status=COMPLETED, last_seq=last or doc["marker_seq"],
            shortfalls=[[a, s, v] for (a, s), v in settlement.shortfalls.items()],
            unpaid=[[a, s, v] for (a, s), v in settlement.unpaid.items()],
            unset_active=True,
        )  # fmt: skip
        log.info("trades busted", extra={"bust": ident, "market": doc["market_id"],
                                         "trades": len(doc["trades"]),
                                         "shortfalls": len(settlement.shortfalls)})  # fmt: skip
        return self._model(doc)

    async def _position_legs(self, doc: Document) -> Document:
        """A perpetual bust's BUST_POSITION group, once (a resumed bust whose group was
        journaled before the crash finds the clearing account CANCEL_ONLY)."""
        ident, clearing = doc["_id"], int(doc["clearing"])
        if doc.get("status") == POSITIONS and self._perp.legs_applied(clearing):
            return await self._save(doc, legs_seq=int(doc["marker_seq"]))
        doc = await self._save(doc, status=POSITIONS)
        last = await self._perp.legs(ident, clearing, int(doc["market"]), doc["legs"])
        await engine_caught_up(self._bus, last.seq, RETRY)
        return await self._save(doc, legs_seq=last.seq, status=COLLECTING)

    async def _carry(self, doc: Document) -> Document:
        """Settle the clearing account's flat cost against what it collected; what it holds
        then is what the creditors share."""
        ident, clearing, market = doc["_id"], int(doc["clearing"]), int(doc["market"])
        done = await self._perp.carry(ident, clearing, market)
        await engine_caught_up(self._bus, done.seq, RETRY)
        pool, uncovered = self._perp.held(clearing, market, int(doc["quote"]))
        return await self._save(doc, pool=pool, uncovered=uncovered, carry_seq=done.seq)

    async def _collect(
        self, doc: Document, reversal: plan.Reversal, note: dict[str, str]
    ) -> list[plan.Collect]:
        """Take what each debtor owes (at most its available), attempt by attempt."""
        ident, clearing = doc["_id"], int(doc["clearing"])
        done: list[plan.Collect] = [_collect_of(c) for c in doc.get("collected_so_far", [])]
        attempt = int(doc.get("attempt", 0))
        pending = [_collect_of(c) for c in doc.get("pending", [])]
        if not doc.get("pending") and attempt == 0:  # first time here: plan attempt 0
            await engine_caught_up(self._bus, int(doc.get("legs_seq") or doc["marker_seq"]), RETRY)
            pending = plan.collects(reversal, self._available)
            doc = await self._save(doc, attempt=0, pending=[_collect_doc(c) for c in pending])
        while pending:
            results = await asyncio.gather(*(
                self._bus.submit(self._transfer(ident, f"c{attempt}:{i}", c.account, clearing,
                                                c), _collect_note(note, c))
                for i, c in enumerate(pending)
            ))  # fmt: skip
            refused = [c for c, r in zip(pending, results, strict=True) if not _accepted(r)]
            done += [c for c, r in zip(pending, results, strict=True) if _accepted(r)]
            attempt += 1
            if not refused or attempt >= ATTEMPTS:
                break
            # the balance moved between the read and the transfer: read it again
            await engine_caught_up(self._bus, max(r.seq for r in results), RETRY)
            owed = _owed(reversal, done)
            pending = plan.collects(plan.Reversal(owed, reversal.fee_account,
                                                  _refunds_left(reversal, done)),
                                    self._available)  # fmt: skip
            doc = await self._save(doc, attempt=attempt, pending=[_collect_doc(c) for c in pending],
                                   collected_so_far=[_collect_doc(c) for c in done])  # fmt: skip
        return done

    async def _pay(
        self, doc: Document, settlement: plan.Settlement, note: dict[str, str]
    ) -> int | None:
        ident, clearing = doc["_id"], int(doc["clearing"])
        payouts = sorted(settlement.payouts.items())
        results = await asyncio.gather(*(
            self._bus.submit(self._transfer(ident, f"p:{i}", clearing, account,
                                            plan.Collect(account, asset, amount)), dict(note))
            for i, ((account, asset), amount) in enumerate(payouts)
        ))  # fmt: skip
        refused = [r for r in results if not _accepted(r)]
        if refused:  # the clearing account is the bust's own: nothing else moves its funds
            raise UnavailableError(f"bust {ident}: {len(refused)} payouts refused; it is "
                                   "resumed at the next start")  # fmt: skip
        return max((r.seq for r in results), default=None)

    def _transfer(self, ident: str, part: str, source: int, target: int,
                  c: plan.Collect) -> Records:  # fmt: skip
        return cmd.transfer(0, 0, from_account=source, to_account=target, asset=c.asset,
                            amount_minor=c.amount, client_tag=_tag(ident, part))  # fmt: skip

    def _available(self, account: int, asset: int) -> int:
        return self._bus.engine.balance(account, asset)[0]

    async def _save(self, doc: Document, unset_active: bool = False, **fields: Any) -> Document:
        fields["updated_at"] = dt.datetime.now(dt.UTC)  # a bust idle for long is resumed
        update: dict[str, Any] = {"$set": fields}
        if unset_active:
            update["$unset"] = {"active_market": ""}
        await self._busts.update_one({"_id": doc["_id"]}, update)
        merged = {**doc, **fields}
        if unset_active:
            merged.pop("active_market", None)
        return merged

    # --- start-up and reads ----------------------------------------------------------------
    def start_resume(self) -> None:
        """The writer job: finish interrupted busts once writing, then every RESUME_EVERY_S
        those idle for STALE_S (a bust whose API process died part way)."""
        self._resuming = asyncio.create_task(self._resume_loop(), name="bust-resume")

    async def _resume_loop(self) -> int:
        resumed = await self.resume()
        while True:
            await asyncio.sleep(RESUME_EVERY_S)
            resumed += await self.resume(stale_s=STALE_S)

    async def stop_resume(self) -> None:
        task, self._resuming = self._resuming, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def resume(self, stale_s: float = 0.0) -> int:
        """Finish every bust a crash interrupted (the writer runs this when it starts, and
        for busts that did not move for ``stale_s`` while it runs)."""
        resumed = 0
        query: dict[str, Any] = {"status": {"$ne": COMPLETED}}
        if stale_s:
            query["updated_at"] = {"$lt": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=stale_s)}
        async for doc in self._busts.find(query).sort("requested_at", 1):
            try:
                await self._run(doc)
                resumed += 1
            except Exception:  # one stuck bust must not keep the others from finishing
                log.exception("bust %s could not be resumed", doc["_id"])
        return resumed

    async def get(self, ident: str) -> TradeBust:
        doc = await self._busts.find_one({"_id": ident})
        if doc is None:
            raise NotFoundError("no such bust", id=ident)
        return self._model(doc)

    async def recent(self, market_id: str | None, first: int) -> list[TradeBust]:
        query = {"market_id": market_id} if market_id else {}
        cursor = self._busts.find(query).sort("requested_at", DESCENDING).limit(first)
        return [self._model(d) async for d in cursor]

    def _model(self, doc: Document) -> TradeBust:
        return TradeBust(
            id=doc["_id"], market_id=doc["market_id"], from_number=int(doc["from"]),
            to_number=int(doc["to"]), reason=doc["reason"], requested_by=doc["by"],
            requested_at=doc["requested_at"], status=doc["status"],
            trades=tuple(int(n) for n in doc["trades"]),
            skipped_external=int(doc.get("skipped_external", 0)),
            marker_seq=doc.get("marker_seq"), last_seq=doc.get("last_seq"),
            shortfalls=self._amounts(doc.get("shortfalls", [])),
            unpaid=self._amounts(doc.get("unpaid", [])),
            recovered=self._amounts(_by_key(_collect_of(c) for c in doc.get("collected", []))),
            positions=tuple(self._leg(doc, g) for g in doc.get("legs", [])),
            inexact=tuple(InexactPosition(self._account_id(int(a)), tuple(f))
                          for a, f in doc.get("inexact", [])),
            uncovered=self._amounts([[doc["clearing"], doc["quote"], doc["uncovered"]]]
                                    if doc.get("uncovered") else []),
        )  # fmt: skip

    def _account_id(self, index: int) -> str:
        ref = self._directory.account(index)
        return ref.account_id if ref else f"engine:{index}"

    def _leg(self, doc: Document, g: list[int]) -> PositionLeg:
        account, qty, cost, realized, margin = (int(v) for v in g)
        lot, places = Decimal(doc["lot_quantity"]), -int(doc["quote_decimals"])
        return PositionLeg(self._account_id(account), qty * lot, Decimal(cost).scaleb(places),
                           Decimal(realized).scaleb(places),
                           Decimal(margin).scaleb(places))  # fmt: skip

    def _amounts(self, rows: Iterable[list[int]]) -> tuple[Amount, ...]:
        out = []
        for account, asset, amount in rows:
            ref, info = (
                self._directory.account(int(account)),
                self._directory.asset_by_index(int(asset)),
            )
            out.append(Amount(ref.account_id if ref else f"engine:{account}",
                              info.code if info else f"asset:{asset}", int(amount),
                              info.decimals if info else 0))  # fmt: skip
        return tuple(out)


def trade_number(trade_id: str) -> int:
    return int(trade_id.rsplit(":", 1)[1])


def _perp_fields(perp: PerpPlan, spec: MarketSpec) -> Document:
    """What a perpetual bust stores besides the money: the legs and the positions the trades
    alone do not explain."""
    legs = [[p.account, p.leg.qty, p.leg.cost, p.leg.realized, p.leg.margin]
            for p in perp.positions if p.leg != plan_zero]  # fmt: skip
    return {
        "kind": PERPETUAL, "legs": legs, "quote": spec.quote.index,
        "inexact": [[p.account, list(p.differs)] for p in perp.positions if p.differs],
        "targets": [[p.account, p.target.qty, p.target.cost, p.target.margin, p.target.realized]
                    for p in perp.positions],
        "history": perp.history, "lot_quantity": str(spec.quantity(1)),
        "quote_decimals": spec.quote.decimals,
    }  # fmt: skip


def _reversal(doc: Document) -> plan.Reversal:
    return plan.Reversal(
        {(int(a), int(s)): int(v) for a, s, v in doc["deltas"]}, int(doc["fee_account"]),
        tuple(plan.FeeRefund(int(p), int(s), bool(m), int(v)) for p, s, m, v in doc["refunds"]),
    )  # fmt: skip


def _collect_doc(c: plan.Collect) -> list[int]:
    r = c.refund
    return [c.account, c.asset, c.amount, *((r.payer, int(r.maker), r.amount) if r else ())]


def _collect_of(row: list[int]) -> plan.Collect:
    account, asset, amount, *refund = (int(v) for v in row)
    if refund:
        payer, maker, owed = refund
        return plan.Collect(account, asset, amount, plan.FeeRefund(payer, asset, bool(maker), owed))
    return plan.Collect(account, asset, amount)


def _collect_note(note: dict[str, str], c: plan.Collect) -> dict[str, str]:
    if c.refund is None:
        return dict(note)
    return {**note, NOTE_FEE_PAYER: str(c.refund.payer), NOTE_FEE_MAKER: str(int(c.refund.maker))}


def _owed(reversal: plan.Reversal, done: list[plan.Collect]) -> dict[plan.Key, int]:
    """The deltas still owed after what was collected (creditors unchanged)."""
    left = dict(reversal.deltas)
    for c in done:
        left[(c.account, c.asset)] += c.amount
    return {k: v for k, v in left.items() if v}


def _refunds_left(reversal: plan.Reversal, done: list[plan.Collect]) -> tuple[plan.FeeRefund, ...]:
    taken: dict[tuple[int, int, bool], int] = {}
    for c in done:
        if c.refund is not None:
            key = (c.refund.payer, c.asset, c.refund.maker)
            taken[key] = taken.get(key, 0) + c.amount
    out = []
    for r in reversal.fee_refunds:
        left = r.amount - taken.get((r.payer, r.asset, r.maker), 0)
        if left > 0:
            out.append(plan.FeeRefund(r.payer, r.asset, r.maker, left))
    return tuple(out)


def _by_key(collects: Iterable[plan.Collect]) -> list[list[int]]:
    total: dict[plan.Key, int] = {}
    for c in collects:
        total[(c.account, c.asset)] = total.get((c.account, c.asset), 0) + c.amount
    return [[a, s, v] for (a, s), v in sorted(total.items())]


def _accepted(submitted: Submitted) -> bool:
    return submitted.events is None or outcome(submitted.events).accepted
