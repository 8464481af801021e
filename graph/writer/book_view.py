"""The writer's order books in Redis, for processes that keep no engine (role ``edge``).

``BookViewPublisher`` is a writer listener: after each batch it writes, for every market whose
book the batch changed, the top ``BOOK_VIEW_DEPTH`` levels a side (integer ticks and lots) and
the book sequence they reflect to one Redis key, ``<prefix>book:<market index>``, in one
pipeline. A new writer writes every market once before it takes commands. ``RedisBookReader``
is what an edge process reads order books from (the ``orderBook`` query and stream snapshots):
one GET, no engine, no Numba. The stream contract does not depend on the order of this write
and the delta's publication: a snapshot older than a delta the subscriber already dropped shows
as a gap on the next delta and is taken again (Binance's depth-stream rules, domains/orders/
streams.py). Best effort like the other publications, and never waiting for Redis: the views
are taken from the engine in the writer's batch loop and queued on the writer's fan-out
outbox (subscriptions/redis_batches.py); a write dropped there (Redis away) makes the next
batch write every market again, and the edge processes' snapshots meanwhile wait for the
sequence they need, then answer with what they have. Must not import the engine at module
level (edge processes import this).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import orjson
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from domains.orders.trading_schema import MAX_DEPTH
from engine import codes
from engine.layout import Records
from graph.writer.sequencer import EngineWriter, Notes
from subscriptions.redis_batches import RedisOutbox

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
        self, writer: EngineWriter, outbox: RedisOutbox, prefix: str,
        depth: int = BOOK_VIEW_DEPTH,
    ) -> None:  # fmt: skip
        self._writer = writer
        self._outbox = outbox
        self._prefix = prefix + BOOK_VIEW_KEY
        self._depth = depth
        self._stale = False  # a write was dropped: the next one writes every market

    async def __call__(self, batch: Records, events: Records, notes: Notes) -> None:
        """Write the books this batch changed (every market after a dropped write)."""
        if self._stale:
            await self.publish_all()
            return
        changed = events["market"][events["kind"] == codes.EV_BOOK_DELTA]
        if len(changed):
            self._write(sorted({int(m) for m in changed.tolist()}))

    async def publish_all(self) -> None:
        """Every market the engine knows (a new writer, before it takes commands)."""
        engine = self._writer.engine
        markets = range(engine.config.max_markets)
        self._stale = False
        self._write([m for m in markets if engine.market_state(m) is not None])

    def _write(self, markets: list[int]) -> None:
        engine: Engine = self._writer.engine
        views = {
            f"{self._prefix}{market}": encode_view(int(engine.market_seq(market)), *books)
            for market in markets
            for books in (engine.book(market, self._depth),)
        }

        def stage(pipe: Pipeline) -> None:
            for key, view in views.items():
                pipe.set(key, view)

        if views:
            self._outbox.offer(stage, on_dropped=self._dropped)

    def _dropped(self) -> None:
        if not self._stale:
            log.warning("cannot write order books to Redis; edge processes serve stale ones")
        self._stale = True


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
