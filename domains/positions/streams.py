"""The positions domain's live topics, merged and conflated for the risk subscriptions.

Topics: ``positions.<tenant>`` (positions and liquidation steps of one tenant, and the
funding rounds that paid its accounts as one summary per round: market, sequence, number
of payments, written by the projector) and ``marks`` (which perpetuals' mark prices
changed). A
subscriber waits for the next change, then takes everything else already pending at once:
a slow consumer gets one fresh view per wake-up instead of a backlog (conflation).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson

from domains.positions.projection import MARK_TOPIC, POSITION_STREAM
from domains.shared.events import tenant_topic
from subscriptions.broker import OVERFLOW, RESYNC
from subscriptions.hub import StreamHub


@dataclass
class Changes:
    """What changed since the last wake-up (``everything``: events may have been lost)."""

    everything: bool = False
    markets: set[str] = field(default_factory=set)  # mark price changed
    funded: set[str] = field(default_factory=set)  # a funding round paid positions of these
    positions: list[dict[str, Any]] = field(default_factory=list)
    liquidations: list[dict[str, Any]] = field(default_factory=list)

    def add(self, topic: str, payload: bytes) -> None:
        if payload in (OVERFLOW, RESYNC):
            self.everything = True
            return
        doc = orjson.loads(payload)
        if topic == MARK_TOPIC:
            self.markets.update(doc.get("markets", ()))
            return
        self.positions.extend(doc.get("positions", ()))
        self.liquidations.extend(doc.get("liquidations", ()))
        self.funded.update(r["market_id"] for r in doc.get("rounds", ()))


class ChangeFeed:
    """Conflated changes of several topics."""

    def __init__(self, queue: asyncio.Queue[tuple[str, bytes]]) -> None:
        self._queue = queue

    async def next(self) -> Changes:
        """Wait for a change, then fold in everything else pending."""
        changes = Changes()
        topic, payload = await self._queue.get()
        changes.add(topic, payload)
        while not self._queue.empty():
            topic, payload = self._queue.get_nowait()
            changes.add(topic, payload)
        return changes


class PositionStreams:
    """Subscribes to a tenant's position changes and (optionally) every mark change."""

    def __init__(self, hub: StreamHub) -> None:
        self._hub = hub

    @asynccontextmanager
    async def changes(self, tenant_id: str, marks: bool = True) -> AsyncIterator[ChangeFeed]:
        topics: Sequence[str] = [tenant_topic(POSITION_STREAM, tenant_id)]
        if marks:
            topics = [*topics, MARK_TOPIC]
        merged: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
        async with contextlib.AsyncExitStack() as stack:
            tasks = []
            for topic in topics:
                queue = await stack.enter_async_context(self._hub.subscribe(topic))
                tasks.append(asyncio.create_task(_pump(topic, queue, merged)))
            try:
                yield ChangeFeed(merged)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)


async def _pump(topic: str, queue: AsyncIterator[bytes] | Any, out: asyncio.Queue[Any]) -> None:
    async for payload in queue:
        out.put_nowait((topic, payload))
