"""Per-process fan-out: one broker subscription per topic, shared by every local subscriber.

Imports no domain and no GraphQL: payloads are opaque bytes. Events reach the broker once
(the writer's projectors publish them); each server process subscribes to a topic once, here,
and copies every payload into the bounded queue of each of its own subscribers. A queue that
is full never blocks the pump nor the other subscribers: it is marked ``overflowed``, emptied,
and its reader receives ``OVERFLOW`` (book streams conflate into a fresh snapshot; others end).
When the broker connection breaks, the pump reconnects and every queue of the topic receives
``RESYNC`` (deltas may have been lost meanwhile: book streams resynchronise with a snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from subscriptions.broker import OVERFLOW, RESYNC, Broker

log = logging.getLogger("caas.streams")

DEFAULT_QUEUE_SIZE = 256
RECONNECT_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)
CLOSE_TIMEOUT_S = 2.0


class HubQueue:
    """One local subscriber's bounded queue of payloads (and RESYNC / OVERFLOW markers)."""

    def __init__(self, maxsize: int) -> None:
        self._items: deque[bytes] = deque()
        self._maxsize = maxsize
        self._wakeup = asyncio.Event()
        self.overflows = 0
        self.closed = False

    def offer(self, payload: bytes) -> None:
        """Append without blocking; when full, drop what is pending and mark OVERFLOW."""
        if len(self._items) >= self._maxsize:
            self._items.clear()
            self._items.append(OVERFLOW)
            self.overflows += 1
        else:
            self._items.append(payload)
        self._wakeup.set()

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()

    def __len__(self) -> int:
        return len(self._items)

    def get_nowait(self) -> bytes | None:
        """The next pending payload or marker; None when nothing is pending."""
        return self._items.popleft() if self._items else None

    async def get(self) -> bytes | None:
        """The next payload or marker; None once closed and drained."""
        while not self._items:
            if self.closed:
                return None
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._items.popleft()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        while (item := await self.get()) is not None:
            yield item


class _Topic:
    """A topic this process listens to: its subscribers and the task pumping the broker."""

    def __init__(self) -> None:
        self.queues: set[HubQueue] = set()
        self.task: asyncio.Task[None] | None = None
        self.live = asyncio.Event()  # the broker subscription is in place


class StreamHub:
    """Shares one broker subscription per topic among this process's subscribers."""

    def __init__(self, broker: Broker, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._broker = broker
        self._queue_size = queue_size
        self._topics: dict[str, _Topic] = {}

    async def publish(self, topic: str, payload: bytes) -> None:
        """Publish through the broker (every process's hub receives it)."""
        await self._broker.publish(topic, payload)

    @asynccontextmanager
    async def subscribe(self, topic: str, maxsize: int | None = None) -> AsyncIterator[HubQueue]:
        """A queue receiving the topic's payloads published after this returns."""
        queue = HubQueue(maxsize or self._queue_size)
        entry = self._topics.get(topic)
        if entry is None:
            entry = self._topics[topic] = _Topic()
            entry.task = asyncio.create_task(self._pump(topic, entry), name=f"hub:{topic}")
        entry.queues.add(queue)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for loses a cancellation
            # that arrives as the event is set, and the cancelled subscriber streams on
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await entry.live.wait()
            yield queue
        finally:
            queue.close()
            entry.queues.discard(queue)
            if not entry.queues and self._topics.get(topic) is entry:
                del self._topics[topic]
                if entry.task is not None:
                    entry.task.cancel()

    def subscribers(self, topic: str) -> int:
        """How many local queues listen to ``topic``."""
        entry = self._topics.get(topic)
        return len(entry.queues) if entry is not None else 0

    async def close(self) -> None:
        """End every local subscription and stop the pumps (before the broker closes)."""
        tasks = []
        for entry in list(self._topics.values()):
            for queue in list(entry.queues):
                queue.close()
            if entry.task is not None:
                entry.task.cancel()
                tasks.append(entry.task)
        self._topics.clear()
        if tasks:
            await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT_S)

    async def _pump(self, topic: str, entry: _Topic) -> None:
        """Copy the topic's payloads into every local queue; reconnect and RESYNC on failure."""
        attempt = 0
        while True:
            try:
                async with self._broker.subscribe(topic) as subscription:
                    if attempt:
                        log.warning("stream %s resubscribed; resynchronising", topic)
                        for queue in tuple(entry.queues):
                            queue.offer(RESYNC)
                    attempt = 0
                    entry.live.set()
                    async for payload in subscription:
                        for queue in tuple(entry.queues):
                            queue.offer(payload)
                return  # the broker closed: the process is stopping
            except asyncio.CancelledError:
                raise
            except Exception:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from None  # stopping, not a lost connection
                log.warning("stream %s lost its broker subscription", topic, exc_info=True)
                entry.live.set()  # readers must not wait for a broker that is down
                await asyncio.sleep(RECONNECT_DELAYS_S[min(attempt, len(RECONNECT_DELAYS_S) - 1)])
                attempt += 1
