"""Redis pub/sub broker through redis.asyncio: fan-out across server processes and hosts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis
from redis.exceptions import RedisError

from subscriptions.broker import RESYNC
from subscriptions.redis_batches import OutboxStats, RedisOutbox
from subscriptions.redis_client import redis_client


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
    """Publishes once to Redis; every process's subscribers receive through Redis pub/sub.

    Publishing never waits for Redis (``RedisOutbox``): the engine writer's projections
    publish from its batch loop, and a Redis that does not answer must not hold back its
    acknowledgements. Messages that cannot be sent are dropped and counted
    (``caas_fanout_dropped``); subscribers detect the gap by sequence (a book snapshot, the
    trades read back from the read model)."""

    def __init__(self, url: str, prefix: str = "caas:", max_pending: int = 10_000) -> None:
        self._url = url
        self._prefix = prefix
        self._max_pending = max_pending
        self._redis: Redis | None = None
        self._outbox: RedisOutbox | None = None
        self._closed_stats = OutboxStats()  # outboxes closed before (a restarted broker)

    @property
    def redis(self) -> Redis:
        if self._redis is None:
            self._redis = redis_client(self._url)
        return self._redis

    @property
    def outbox(self) -> RedisOutbox:
        if self._outbox is None:
            self._outbox = RedisOutbox(self.redis, "broker-publish", self._max_pending)
        return self._outbox

    def figures(self) -> OutboxStats:
        """Sent, dropped and failed publications so far, and (``pending``) queued now."""
        current = self._outbox.stats if self._outbox is not None else OutboxStats()
        closed = self._closed_stats
        return OutboxStats(
            closed.sent + current.sent, closed.dropped + current.dropped,
            closed.failures + current.failures,
        )  # fmt: skip

    @property
    def pending(self) -> int:
        return self._outbox.pending if self._outbox is not None else 0

    async def start(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        if self._outbox is not None:
            await self._outbox.close()  # what is queued goes out first (for up to 1 s)
            self._closed_stats = self.figures()
            self._outbox = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except (RedisError, OSError):
            return False

    async def publish(self, topic: str, payload: bytes) -> None:
        """Queue the message and return at once: what is queued goes out in order, one
        pipelined round trip per turn; never raises, never waits (see the class)."""
        channel = self._prefix + topic
        self.outbox.offer(lambda pipe: pipe.publish(channel, payload))

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
