"""Market streams: the writer's book and trade publisher, and the per-subscriber stream logic.

``MarketStreamsProjector`` runs in the writer's batch loop and publishes, once per batch per
market, one book message (every level the batch changed, with its absolute quantity, 0 =
gone, and the first/last book sequence it covers) and one trades message. ``MarketStreams``
turns a topic into what a subscriber sees: a snapshot first, then deltas that continue it;
a gap, a broker reconnect or an overflowing queue becomes a fresh snapshot (Binance's
depth-stream contract). A trade stream has no snapshot: what the broker lost is read back
from the trades read model by trade number, so a subscriber never misses a fill. Knows
nothing of GraphQL.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import orjson

from domains.orders.spec import MarketSpec
from domains.orders.trading import TradingService
from domains.shared.context import Principal
from domains.shared.engine_port import EngineDirectory
from domains.shared.events import EventBus
from domains.shared.streams import (
    CONFLATED,
    INITIAL,
    RESYNC,
    SharedFeed,
    SnapshotOnly,
    slow_consumer,
    stream_role,
)
from engine import codes
from engine.layout import Records
from subscriptions.broker import OVERFLOW
from subscriptions.broker import RESYNC as RESYNC_MARKER

BOOK_STREAM = "book"
TRADE_STREAM = "trades"
STREAM_QUEUE_SIZE = 256  # pending messages per subscriber before conflation
HOPELESS_OVERFLOWS = 3  # overflows within HOPELESS_WINDOW_S: the subscriber is hopeless
HOPELESS_WINDOW_S = 10.0
MISSED_TRADES_LIMIT = 10_000  # trades a stream reads back after a reconnect or a gap
MISSED_TRADES_WAIT_S = 2.0  # how long a known gap waits for the read model to hold it
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
SpecLookup = Callable[[str], Awaitable[MarketSpec]]
Levels = list[tuple[str, str]]


def book_topic(market_id: str) -> str:
    """Topic of a market's book deltas, e.g. ``book.BTC-USDT``."""
    return f"{BOOK_STREAM}.{market_id}"


def trades_topic(market_id: str) -> str:
    """Topic of a market's trades, e.g. ``trades.BTC-USDT``."""
    return f"{TRADE_STREAM}.{market_id}"


@dataclass(frozen=True)
class BookMessage:
    """A snapshot (``reason`` set) or a delta of one market's book, prices and sizes decimal."""

    market_id: str
    first_sequence: int
    last_sequence: int
    bids: Levels
    asks: Levels
    reason: str | None = None  # INITIAL, CONFLATED or RESYNC for snapshots; None for deltas

    @property
    def is_snapshot(self) -> bool:
        return self.reason is not None


@dataclass(frozen=True)
class TradeMessage:
    """One trade of the market's own book; ``sequence`` is the market's trade number."""

    id: str
    market_id: str
    sequence: int
    price: str
    quantity: str
    taker_side: str
    executed_at_ns: int


def decode_book(payload: bytes) -> BookMessage:
    data = orjson.loads(payload)
    return BookMessage(
        market_id=data["market"], first_sequence=data["first"], last_sequence=data["last"],
        bids=[(p, q) for p, q in data["bids"]], asks=[(p, q) for p, q in data["asks"]],
    )  # fmt: skip


def decode_trades(payload: bytes) -> list[TradeMessage]:
    data = orjson.loads(payload)
    return [TradeMessage(market_id=data["market"], **trade) for trade in data["trades"]]


@dataclass
class _MarketBatch:
    first: int = 0
    last: int = 0
    levels: dict[tuple[int, int], int] = field(default_factory=dict)  # (side, price) -> qty
    trades: list[dict[str, int]] = field(default_factory=list)


class MarketStreamsProjector:
    """Writer listener: each batch's book deltas and trades, one message per market each."""

    def __init__(self, directory: EngineDirectory, spec_for: SpecLookup, events: EventBus) -> None:
        self._directory = directory
        self._spec_for = spec_for
        self._events = events

    async def __call__(
        self, batch: Records, events: Records, notes: dict[int, dict[str, str]]
    ) -> None:
        wanted = events[
            (events["kind"] == codes.EV_BOOK_DELTA) | (events["kind"] == codes.EV_TRADE)
        ]
        if not len(wanted):
            return
        ts_by_seq = dict(zip(batch["seq"].tolist(), batch["ts_ns"].tolist(), strict=True))
        markets: dict[int, _MarketBatch] = {}
        for e in wanted.tolist():
            self._collect(markets, dict(zip(wanted.dtype.names or (), e, strict=True)), ts_by_seq)
        for index, changes in markets.items():
            market_id = self._directory.market_id(index)
            if market_id is None:
                continue
            await self._publish(market_id, await self._spec_for(market_id), changes)

    @staticmethod
    def _collect(
        markets: dict[int, _MarketBatch], e: dict[str, int], ts_by_seq: dict[int, int]
    ) -> None:
        changes = markets.setdefault(int(e["market"]), _MarketBatch())
        if e["kind"] == codes.EV_BOOK_DELTA:
            changes.first = changes.first or int(e["market_seq"])
            changes.last = int(e["market_seq"])
            changes.levels[(int(e["side"]), int(e["price"]))] = int(e["qty"])
        else:
            changes.trades.append(dict(e, ts_ns=ts_by_seq.get(int(e["seq"]), 0)))

    async def _publish(self, market_id: str, spec: MarketSpec, changes: _MarketBatch) -> None:
        if changes.levels:
            sides: dict[int, Levels] = {codes.BUY: [], codes.SELL: []}
            for (side, price), qty in sorted(changes.levels.items()):
                sides[side].append((str(spec.price(price)), str(spec.quantity(qty))))
            message = {
                "market": market_id, "first": changes.first, "last": changes.last,
                "bids": sides[codes.BUY][::-1], "asks": sides[codes.SELL],
            }  # fmt: skip
            await self._events.publish(book_topic(market_id), orjson.dumps(message))
        if changes.trades:
            trades = [
                {
                    "id": f"{market_id}:{t['market_seq']:012d}",
                    "sequence": t["market_seq"],
                    "price": str(spec.price(t["price"])),
                    "quantity": str(spec.quantity(t["qty"])),
                    "taker_side": "BUY" if t["side"] == codes.BUY else "SELL",
                    "executed_at_ns": t["ts_ns"],
                }
                for t in changes.trades
            ]
            payload = orjson.dumps({"market": market_id, "trades": trades})
            await self._events.publish(trades_topic(market_id), payload)


class _Pace:
    """Counts a subscriber's overflows; too many within the window make it hopeless."""

    def __init__(self) -> None:
        self._times: list[float] = []

    def overflowed(self, what: str) -> None:
        now = time.monotonic()
        self._times = [t for t in self._times if now - t < HOPELESS_WINDOW_S] + [now]
        if len(self._times) >= HOPELESS_OVERFLOWS:
            raise slow_consumer(what)


class MarketStreams:
    """Book and trade streams of the markets the caller's institution lists."""

    def __init__(self, trading: TradingService, hub: EventBus) -> None:
        self._trading = trading
        self._hub = hub

    async def snapshot(
        self, spec: MarketSpec, index: int, depth: int, reason: str, min_sequence: int = 0
    ) -> BookMessage:
        """The book now; waits (briefly) for it to reflect ``min_sequence``."""
        view = await self._trading.order_book(spec, index, depth, min_sequence)
        return BookMessage(
            market_id=spec.market.id, first_sequence=view.sequence, last_sequence=view.sequence,
            bids=[(str(p), str(q)) for p, q in view.bids],
            asks=[(str(p), str(q)) for p, q in view.asks], reason=reason,
        )  # fmt: skip

    async def book(
        self, principal: Principal, market_id: str, depth: int, root: object
    ) -> AsyncIterator[BookMessage]:
        """Authorise, then the book stream in the role ``root`` asks for."""
        spec, index = await self._trading.listed_market(principal, market_id)
        role = stream_role(root)
        if isinstance(role, SnapshotOnly):
            role.authorised = True
            message = await self.snapshot(spec, index, depth, role.reason, role.min_sequence)
            role.sequence = message.last_sequence
            yield message
            return
        async with self._hub.subscribe(book_topic(spec.market.id)) as queue:
            if isinstance(role, SharedFeed):
                async for message in _shared_book(queue, role):
                    yield message
                return
            async for message in self._own_book(queue, spec, index, depth):
                yield message

    async def _own_book(
        self, queue: AsyncIterable[bytes], spec: MarketSpec, index: int, depth: int
    ) -> AsyncIterator[BookMessage]:
        """Snapshot, then deltas continuing it; a fresh snapshot whenever continuity breaks."""
        pace = _Pace()
        message = await self.snapshot(spec, index, depth, INITIAL)
        yield message
        last = message.last_sequence
        async for payload in queue:
            reason, wanted = None, 0
            if payload in (OVERFLOW, RESYNC_MARKER):
                if payload == OVERFLOW:
                    pace.overflowed(BOOK_STREAM)
                reason = CONFLATED if payload == OVERFLOW else RESYNC
            else:
                delta = decode_book(payload)
                if delta.last_sequence <= last:
                    continue  # already in the snapshot
                if delta.first_sequence > last + 1:
                    reason, wanted = RESYNC, delta.last_sequence
                else:
                    last = delta.last_sequence
                    yield delta
            if reason is not None:
                message = await self.snapshot(spec, index, depth, reason, wanted)
                last = message.last_sequence
                yield message

    async def trades(
        self, principal: Principal, market_id: str, root: object, after: int | None = None
    ) -> AsyncIterator[TradeMessage]:
        """Authorise, then the market's trades as they execute, without gaps: trades the
        broker lost (a Redis reconnect, a gap in the numbers) are read back from the trades
        read model and sent, in order, before the next live one. With ``after`` (a client
        resuming), first every trade numbered after it, read back once the live
        subscription is in place, so nothing falls between the two."""
        spec, _ = await self._trading.listed_market(principal, market_id)
        role = stream_role(root)
        if isinstance(role, SnapshotOnly):
            role.authorised = True
            return
        market = spec.market.id
        last: int | None = after  # the last trade number sent (or the client already has)
        async with self._hub.subscribe(trades_topic(market)) as queue:
            if isinstance(role, SharedFeed):
                role.on_ready()
            if after is not None:  # published before the subscription: in the read model
                async for trade in self._missed(spec, after, None):
                    last = trade.sequence
                    yield self._sent(role, trade)
            async for payload in queue:
                if payload == OVERFLOW:
                    if isinstance(role, SharedFeed):
                        continue
                    raise slow_consumer(TRADE_STREAM)  # trades cannot be conflated
                if payload == RESYNC_MARKER:
                    if last is not None:  # what was published while the broker was away
                        async for trade in self._missed(spec, last, None):
                            last = trade.sequence
                            yield self._sent(role, trade)
                    continue
                for trade in decode_trades(payload):
                    if last is not None and trade.sequence <= last:
                        continue  # already sent (read back after a reconnect)
                    if last is not None and trade.sequence > last + 1:
                        async for missed in self._missed(spec, last, trade.sequence):
                            yield self._sent(role, missed)
                    last = trade.sequence
                    yield self._sent(role, trade)

    @staticmethod
    def _sent(role: object, trade: TradeMessage) -> TradeMessage:
        if isinstance(role, SharedFeed):
            role.current = (trade.sequence, trade.sequence)
        return trade

    async def _missed(
        self, spec: MarketSpec, after: int, before: int | None
    ) -> AsyncIterator[TradeMessage]:
        """Trades numbered after ``after`` (and before ``before``) from the read model, which
        follows the stream by a few batches: waits up to MISSED_TRADES_WAIT_S for all of a
        known gap. More than MISSED_TRADES_LIMIT missing ends the stream (SLOW_CONSUMER: read
        them with the `trades` query and subscribe again)."""
        market, upto = spec.market.id, before if before is not None else 10**12
        deadline = time.monotonic() + MISSED_TRADES_WAIT_S
        while True:
            found = await self._trading.trades_between(market, after, upto, MISSED_TRADES_LIMIT + 1)
            if len(found) > MISSED_TRADES_LIMIT:
                raise slow_consumer(TRADE_STREAM)
            complete = before is None or len(found) == before - after - 1
            if complete or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.05)
        for trade in found:
            digits = trade.id.rpartition(":")[2]
            number = int(digits) if digits.isdigit() else 0
            if number <= after:
                continue
            after = number
            yield TradeMessage(
                id=trade.id, market_id=market, sequence=number, price=str(trade.price),
                quantity=str(trade.quantity), taker_side=trade.taker_side.value,
                executed_at_ns=(trade.executed_at - EPOCH) // dt.timedelta(microseconds=1) * 1000,
            )  # fmt: skip


async def _shared_book(queue: AsyncIterable[bytes], role: SharedFeed) -> AsyncIterator[BookMessage]:
    """A group's feed: every delta as published; lost ones make every member resynchronise."""
    role.on_ready()
    async for payload in queue:
        if payload in (OVERFLOW, RESYNC_MARKER):
            role.on_resync(CONFLATED if payload == OVERFLOW else RESYNC)
            continue
        delta = decode_book(payload)
        role.current = (delta.first_sequence, delta.last_sequence)
        yield delta
