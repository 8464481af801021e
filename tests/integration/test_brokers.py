"""One contract for every Broker: the in-process one and Redis pub/sub on the real server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from subscriptions.broker import Broker
from subscriptions.memory import MemoryBroker
from subscriptions.redis import RedisBroker
from tests.conftest import REDIS_URL

pytestmark = pytest.mark.asyncio(loop_scope="session")


def _memory_pair() -> tuple[Broker, Broker]:
    shared = MemoryBroker()
    return shared, shared


def _redis_pair() -> tuple[Broker, Broker]:
    return RedisBroker(REDIS_URL), RedisBroker(REDIS_URL)


@pytest_asyncio.fixture(
    loop_scope="session",
    params=[
        pytest.param(_memory_pair, id="memory"),
        pytest.param(_redis_pair, id="redis", marks=pytest.mark.redis),
    ],
)
async def brokers(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[Broker, Broker]]:
    factory: Callable[[], tuple[Broker, Broker]] = request.param
    publisher, receiver = factory()
    await publisher.start()
    await receiver.start()
    yield publisher, receiver
    await publisher.close()
    await receiver.close()


async def _receive(broker: Broker, topic: str, count: int, ready: asyncio.Event) -> list[bytes]:
    received: list[bytes] = []
    async with broker.subscribe(topic) as subscription:
        ready.set()
        async for payload in subscription:
            received.append(payload)
            if len(received) == count:
                break
    return received


async def test_a_message_published_by_one_broker_reaches_a_subscriber_of_another(
    brokers: tuple[Broker, Broker],
) -> None:
    publisher, receiver = brokers
    topic = f"test.{uuid.uuid4().hex}"
    ready = asyncio.Event()
    task = asyncio.create_task(_receive(receiver, topic, 3, ready))
    await asyncio.wait_for(ready.wait(), 5)
    await asyncio.sleep(0.05)  # Redis confirms SUBSCRIBE asynchronously
    for n in range(3):
        await publisher.publish(topic, f"m{n}".encode())
    assert await asyncio.wait_for(task, 5) == [b"m0", b"m1", b"m2"]


async def test_subscribers_of_other_topics_receive_nothing(
    brokers: tuple[Broker, Broker],
) -> None:
    publisher, receiver = brokers
    mine, other = f"test.{uuid.uuid4().hex}", f"test.{uuid.uuid4().hex}"
    ready = asyncio.Event()
    task = asyncio.create_task(_receive(receiver, mine, 1, ready))
    await asyncio.wait_for(ready.wait(), 5)
    await asyncio.sleep(0.05)
    await publisher.publish(other, b"not for you")
    await publisher.publish(mine, b"for you")
    assert await asyncio.wait_for(task, 5) == [b"for you"]


async def test_brokers_answer_ping(brokers: tuple[Broker, Broker]) -> None:
    assert await brokers[0].ping() and await brokers[1].ping()


async def test_redis_broker_reports_unreachable_server_as_not_ready() -> None:
    broker = RedisBroker("redis://127.0.0.1:1/0")
    assert await broker.ping() is False
    await broker.close()


async def test_a_full_memory_subscriber_drops_instead_of_blocking_the_publisher() -> None:
    broker = MemoryBroker(queue_size=2)
    async with broker.subscribe("t") as subscription:
        for n in range(5):
            await broker.publish("t", bytes([n]))
        assert subscription.dropped == 3
    await broker.close()
