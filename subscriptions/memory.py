"""In-process broker: one process, no dependencies; bounded queues per subscriber."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_CLOSED = b""


class _MemorySubscription:
    def __init__(self, maxsize: int) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=maxsize)
        self.dropped = 0

    def offer(self, payload: bytes) -> None:
        try:
            self.queue.put_nowait(payload)
        except asyncio.QueueFull:
            self.dropped += 1  # the receiver sees the gap through topic sequences

    def close(self) -> None:
        """End iteration: make room if needed, then enqueue the end marker."""
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(_CLOSED)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            payload = await self.queue.get()
            if payload is _CLOSED:
                return
            yield payload


class MemoryBroker:
    """Fan-out inside one process. A full subscriber queue drops (never blocks the publisher)."""

    def __init__(self, queue_size: int = 10_000) -> None:
        self._queue_size = queue_size
        self._topics: defaultdict[str, set[_MemorySubscription]] = defaultdict(set)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        for subscribers in self._topics.values():
            for sub in subscribers:
                sub.close()
        self._topics.clear()

    async def ping(self) -> bool:
        return True

    async def publish(self, topic: str, payload: bytes) -> None:
        for sub in tuple(self._topics.get(topic, ())):
            sub.offer(payload)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[_MemorySubscription]:
        sub = _MemorySubscription(self._queue_size)
        self._topics[topic].add(sub)
        try:
            yield sub
        finally:
            self._topics[topic].discard(sub)
            if not self._topics[topic]:
                del self._topics[topic]
