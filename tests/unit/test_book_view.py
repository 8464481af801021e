"""The book view reader of edge processes: one GET for concurrent readers, sliced per depth."""

from __future__ import annotations

import asyncio
from typing import Any

from graph.writer.book_view import BOOK_VIEW_KEY, RedisBookReader, encode_view


class CountingRedis:
    """A Redis holding one key, counting GETs; a GET takes a moment (a round trip)."""

    def __init__(self, values: dict[str, bytes]) -> None:
        self.values = values
        self.gets = 0

    async def get(self, key: str) -> bytes | None:
        self.gets += 1
        await asyncio.sleep(0.01)
        return self.values.get(key)


async def test_a_thousand_concurrent_snapshots_share_one_get() -> None:
    bids = [(64_000 - i, 10 + i) for i in range(50)]
    asks = [(64_100 + i, 20 + i) for i in range(50)]
    redis = CountingRedis({f"p:{BOOK_VIEW_KEY}3": encode_view(41, bids, asks)})
    reader = RedisBookReader(redis, "p:")  # type: ignore[arg-type]
    views = await asyncio.gather(*(reader.book(3, 1 + i % 20) for i in range(1000)))
    assert redis.gets == 1
    for i, (sequence, got_bids, got_asks) in enumerate(views):
        depth = 1 + i % 20
        assert (sequence, got_bids, got_asks) == (41, bids[:depth], asks[:depth])
    await reader.book(3, 5)
    assert redis.gets == 2  # a later read reads again: nothing is cached


async def test_a_market_never_written_is_an_empty_book_at_sequence_zero() -> None:
    reader = RedisBookReader(CountingRedis({}), "p:")  # type: ignore[arg-type]
    assert await reader.book(7, 20) == (0, [], [])


def test_views_store_integer_ticks_and_lots() -> None:
    stored: Any = encode_view(5, [(1, 2)], [(3, 4)])
    assert stored == b'{"seq":5,"bids":[[1,2]],"asks":[[3,4]]}'
