"""The writer's order books in Redis, for processes that keep no engine (role ``edge``).

``BookViewPublisher`` is a writer listener: after each batch it writes, for every market whose
book the batch changed, the top ``BOOK_VIEW_DEPTH`` levels a side (integer ticks and lots) and
the book sequence they reflect to one Redis key, ``<prefix>book:<market index>``, in one
pipeline. A new writer writes every market once before it takes commands. ``RedisBookReader``
is what an edge process reads order books from (the ``orderBook`` query and stream snapshots):
one GET, no engine, no Numba. The stream contract does not depend on the order of this write
and the delta's publication: a snapshot older than a delta the subscriber already dropped shows
as a gap on the next delta and is taken again (Binance's depth-stream rules, domains/orders/
streams.py). Best effort like the other publications: a Redis error is logged once and the
edge processes' snapshots wait for the sequence they need, then answer with what they have.
Must not import the engine at module level (edge processes import this).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from domains.orders.trading_schema import MAX_DEPTH
from engine import codes
from engine.layout import Records
from graph.writer.sequencer import EngineWriter, Notes

if TYPE_CHECKING:
    from engine.core import Engine

log = logging.getLogger("caas.book_view")

BOOK_VIEW_KEY = "book:"  # after the key prefix, + the market's engine index
BOOK_VIEW_DEPTH = MAX_DEPTH  # levels a side: the deepest orderBook a client may ask for
Levels = list[tuple[int, int]]


def encode_view(sequence: int, bids: Levels, asks: Levels) -> bytes:
    """A book view as stored: the sequence and [price ticks, qty lots] pairs, best first."""
    return orjson.dumps({"seq": sequence, "bids": bids, "asks": asks})


class BookViewPublisher:
    """Writer listener: the changed markets' books to Redis after each batch."""

    def __init__(
        self, writer: EngineWriter, redis: Redis, prefix: str, depth: int = BOOK_VIEW_DEPTH
    ) -> None:
        self._writer = writer
        self._redis = redis
        self._prefix = prefix + BOOK_VIEW_KEY
        self._depth = depth
        self._failing = False

    async def __call__(self, batch: Records, events: Records, notes: Notes) -> None:
        """Write the books this batch changed."""
        changed = events["market"][events["kind"] == codes.EV_BOOK_DELTA]
        if len(changed):
            await self._write(sorted({int(m) for m in changed.tolist()}))

    async def publish_all(self) -> None:
        """Every market the engine knows (a new writer, before it takes commands)."""
        engine = self._writer.engine
        markets = range(engine.config.max_markets)
        await self._write([m for m in markets if engine.market_state(m) is not None])

    async def _write(self, markets: list[int]) -> None:
        engine: Engine = self._writer.engine
        pipe = self._redis.pipeline(transaction=False)
        for market in markets:
            bids, asks = engine.book(market, self._depth)
            view = encode_view(int(engine.market_seq(market)), bids, asks)
            pipe.set(f"{self._prefix}{market}", view)
        try:
            await pipe.execute()
        except (RedisError, OSError):
            if not self._failing:
                log.warning("cannot write order books to Redis; edge processes serve stale ones")
            self._failing = True
            return
        self._failing = False


class RedisBookReader:
    """Order books as the writer last wrote them (``BookReader`` of domains/orders/trading).

    Concurrent reads of one market share one GET (a thousand subscribers arriving at once
    take a thousand snapshots: one round trip, not a thousand pooled connections).
    """

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix + BOOK_VIEW_KEY
        self._reading: dict[int, asyncio.Task[bytes | str | None]] = {}

    async def book(self, market: int, depth: int) -> tuple[int, Levels, Levels]:
        """(sequence, bids, asks) to ``depth`` levels a side; (0, [], []) before any write."""
        reading = self._reading.get(market)
        if reading is None:
            reading = asyncio.create_task(self._get(market))
            self._reading[market] = reading
        raw = await asyncio.shield(reading)
        if raw is None:
            return 0, [], []
        view = orjson.loads(raw)
        bids = [(int(p), int(q)) for p, q in view["bids"][:depth]]
        asks = [(int(p), int(q)) for p, q in view["asks"][:depth]]
        return int(view["seq"]), bids, asks

    async def _get(self, market: int) -> bytes | str | None:
        try:
            raw: bytes | str | None = await self._redis.get(f"{self._prefix}{market}")
            return raw
        finally:
            del self._reading[market]
