"""The hub on the real Redis: a killed pub/sub connection becomes RESYNC, then delivery resumes."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from subscriptions.broker import RESYNC
from subscriptions.hub import StreamHub
from subscriptions.redis import RedisBroker
from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.redis]


async def _kill_own_subscriber_connections(admin: Redis, client_name: str) -> int:
    """CLIENT KILL, by id, the subscribed connections named ``client_name`` (ours only)."""
    killed = 0
    for client in await admin.client_list():
        if client.get("name") == client_name and int(client.get("sub", 0)) > 0:
            await admin.client_kill_filter(_id=client["id"])
            killed += 1
    return killed


async def test_a_lost_redis_subscription_resyncs_its_subscribers_and_resumes() -> None:
    name = f"test-hub-{uuid.uuid4().hex[:8]}"
    broker = RedisBroker(REDIS_URL, prefix=f"test:{name}:")
    broker._redis = Redis.from_url(REDIS_URL, client_name=name)  # to find its connections
    admin = Redis.from_url(REDIS_URL)
    hub = StreamHub(broker)
    try:
        await broker.start()
        async with hub.subscribe("book.X") as queue:
            await hub.publish("book.X", b'{"n":1}')
            async with asyncio.timeout(5):
                assert await queue.get() == b'{"n":1}'
            assert await _kill_own_subscriber_connections(admin, name) == 1
            async with asyncio.timeout(10):
                assert await queue.get() == RESYNC
                while True:  # resubscribed: what is published from now on arrives again
                    await hub.publish("book.X", b'{"n":2}')
                    try:
                        async with asyncio.timeout(0.5):
                            assert await queue.get() == b'{"n":2}'
                        break
                    except TimeoutError:
                        continue
    finally:
        await hub.close()
        await broker.close()
        await admin.aclose()
