"""Redis pub/sub broker through redis.asyncio: fan-out across server processes and hosts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

from subscriptions.broker import RESYNC
from subscriptions.redis_batches import PipelineBatcher


class _RedisSubscription:
    """Yields the channel's payloads; ``RESYNC`` after redis-py reconnected underneath.

    redis-py re-subscribes by itself when the connection drops; whatever was published
    meanwhile is lost, so the reader is told to resynchronise instead of silently missing it.
    """

    def __init__(self, pubsub: object) -> None:
        self._pubsub = pubsub
        self._reconnected = False

    async def _on_reconnect(self, _: object) -> None:
        self._reconnected = True

    async def __aiter__(self) -> AsyncIterator[bytes]:
        pubsub = self._pubsub
        connection = getattr(pubsub, "connection", None)
        if connection is not None:
            connection.register_connect_callback(self._on_reconnect)
        async for message in pubsub.listen():  # type: ignore[attr-defined]
            if self._reconnected:
                self._reconnected = False
                yield RESYNC
            if message.get("type") == "message":
                yield bytes(message["data"])


class RedisBroker:
    """Publishes once to Redis; every process's subscribers receive through Redis pub/sub."""

    def __init__(self, url: str, prefix: str = "caas:") -> None:
        self._url = url
        self._prefix = prefix
        self._redis: Redis | None = None
        self._batcher: PipelineBatcher | None = None

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = Redis.from_url(self._url, socket_connect_timeout=2)
        return self._redis

    async def start(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        if self._batcher is not None:
            await self._batcher.close()
            self._batcher = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def publish(self, topic: str, payload: bytes) -> None:
        """Concurrent publishes (a projection publishing a batch's updates with gather) share
        one pipelined round trip, in the order they were called."""
        if self._batcher is None:
            self._batcher = PipelineBatcher(self.redis, "broker-publish")
        channel = self._prefix + topic
        await self._batcher.send(lambda pipe: pipe.publish(channel, payload))

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[_RedisSubscription]:
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(self._prefix + topic)
        try:
            yield _RedisSubscription(pubsub)
        finally:
            # best effort: on a lost connection, UNSUBSCRIBE fails; an error raised here would
            # replace the exception (or cancellation) that is ending the subscription
            with contextlib.suppress(RedisError, OSError):
                await pubsub.unsubscribe(self._prefix + topic)
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
