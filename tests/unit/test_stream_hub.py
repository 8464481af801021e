"""StreamHub: bounded queues that overflow into a marker, and RESYNC after a broker reconnect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from subscriptions.broker import OVERFLOW, RESYNC
from subscriptions.hub import HubQueue, StreamHub
from subscriptions.memory import MemoryBroker


async def _settle() -> None:
    """Let the hub's pump task copy what the broker holds."""
    for _ in range(20):
        await asyncio.sleep(0)


def _pending(queue: HubQueue) -> list[bytes]:
    items = []
    while len(queue):
        item = queue.get_nowait()
        assert item is not None
        items.append(item)
    return items


def test_a_full_queue_drops_what_is_pending_and_says_so_once() -> None:
    queue = HubQueue(maxsize=3)
    for n in range(3):
        queue.offer(b"%d" % n)
    queue.offer(b"3")  # the queue is full: 0..2 are dropped
    queue.offer(b"4")
    assert _pending(queue) == [OVERFLOW, b"4"]
    assert queue.overflows == 1


async def test_a_slow_subscriber_overflows_and_a_fast_one_of_the_same_topic_gets_everything() -> (
    None
):
    hub = StreamHub(MemoryBroker(), queue_size=4)
    async with hub.subscribe("book.X") as slow, hub.subscribe("book.X", maxsize=100) as fast:
        for n in range(10):
            await hub.publish("book.X", b"%d" % n)
        await _settle()
        slow_items = _pending(slow)
        fast_items = _pending(fast)
    assert fast_items == [b"%d" % n for n in range(10)]
    assert slow_items[0] == OVERFLOW and slow_items[-1] == b"9"
    assert len(slow_items) <= 4 and slow.overflows >= 1
    assert hub.subscribers("book.X") == 0, "leaving the context unsubscribes"


async def test_a_closed_queue_ends_its_reader_after_draining() -> None:
    queue = HubQueue(maxsize=4)
    queue.offer(b"a")
    queue.close()
    assert [item async for item in queue] == [b"a"]


class _FlakyBroker:
    """A broker whose first subscription breaks after one payload (a lost connection)."""

    def __init__(self) -> None:
        self.inner = MemoryBroker()
        self.subscriptions = 0
        self.resubscribed = asyncio.Event()

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        await self.inner.close()

    async def ping(self) -> bool:
        return True

    async def publish(self, topic: str, payload: bytes) -> None:
        await self.inner.publish(topic, payload)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[AsyncIterator[bytes]]:
        self.subscriptions += 1
        async with self.inner.subscribe(topic) as subscription:
            if self.subscriptions == 1:
                yield self._breaking(subscription.__aiter__())
            else:
                self.resubscribed.set()
                yield subscription.__aiter__()

    @staticmethod
    async def _breaking(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        yield await source.__anext__()
        raise ConnectionError("connection reset by peer")


async def test_after_a_broker_reconnect_every_subscriber_is_told_to_resync() -> None:
    broker = _FlakyBroker()
    hub = StreamHub(broker)
    async with hub.subscribe("book.X") as first, hub.subscribe("book.X") as second:
        await hub.publish("book.X", b"before")  # delivered, then the connection breaks
        await asyncio.wait_for(broker.resubscribed.wait(), timeout=5)
        await _settle()
        await hub.publish("book.X", b"after")
        async with asyncio.timeout(5):
            received = [[await queue.get() for _ in range(3)] for queue in (first, second)]
    assert received == [[b"before", RESYNC, b"after"]] * 2


@pytest.mark.parametrize("payload", [OVERFLOW, RESYNC])
def test_markers_can_never_be_mistaken_for_json_payloads(payload: bytes) -> None:
    assert not payload.startswith((b"{", b"["))
