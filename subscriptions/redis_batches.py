"""One pipelined Redis round trip for many concurrent callers, in the order they called
(``PipelineBatcher``: callers wait for it), and the fire-and-forget version for fan-out
(``RedisOutbox``: nobody waits; bounded; what cannot be sent is dropped and counted)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

log = logging.getLogger("caas.redis")
Stage = Callable[[Pipeline], object]


class PipelineBatcher:
    """Sends queued Redis calls in one pipelined round trip per turn, in the order queued.

    Thousands of concurrent requests (or replies) then share one connection and one round
    trip instead of exhausting the connection pool.
    """

    def __init__(self, redis: Redis, name: str) -> None:
        self._redis = redis
        self._name = name
        self._queue: list[tuple[Callable[[Pipeline], object], asyncio.Future[None]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def send(self, stage: Callable[[Pipeline], object]) -> None:
        """Queue ``stage`` (which adds commands to a pipeline); return once it was sent."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((stage, future))
        self._wake.set()
        await future

    async def close(self) -> None:
        """Stop sending; calls still queued fail with a ConnectionError."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for _stage, future in self._queue:
            if not future.done():
                future.set_exception(RedisConnectionError("the relay is closing"))
        self._queue.clear()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                taken, self._queue = self._queue[:1024], self._queue[1024:]
                error: BaseException | None = None
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for stage, _future in taken:
                            stage(pipe)
                        await pipe.execute()
                except (RedisError, OSError) as exc:
                    error = exc
                for _stage, future in taken:
                    if future.done():
                        continue
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)


@dataclass
class OutboxStats:
    """Counters of one outbox (``caas_fanout_*`` on /metrics)."""

    sent: int = 0  # stages Redis took
    dropped: int = 0  # stages given up: the outbox was full, or their pipeline failed
    failures: int = 0  # pipelines that failed (a timeout, a lost connection)


class RedisOutbox:
    """Fan-out to Redis that never makes its caller wait: ``offer`` queues a stage (which
    adds commands to a pipeline) and returns at once; one task sends what is queued, in
    order, one pipeline per turn. Bounded: beyond ``max_pending`` stages an offer is
    dropped; a pipeline that fails (Redis away, a blackhole past the socket timeout) is
    dropped too, never retried (pub/sub is at-most-once: subscribers detect the gap by
    sequence and repair it; keys are rewritten by their next write). Every drop is counted
    and told to the stage's ``on_dropped``.

    The engine writer publishes through these, so Redis can never hold back its
    acknowledgements (graph/writer/sequencer.py).
    """

    def __init__(self, redis: Redis, name: str, max_pending: int = 10_000) -> None:
        self._redis = redis
        self._name = name
        self.max_pending = max_pending
        self._queue: deque[tuple[Stage, Callable[[], None] | None]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._warned_at = 0.0
        self.stats = OutboxStats()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def offer(self, stage: Stage, on_dropped: Callable[[], None] | None = None) -> bool:
        """Queue ``stage`` without waiting; False (and counted) when the outbox is full."""
        if len(self._queue) >= self.max_pending:
            self._drop(1, "full", on_dropped)
            return False
        self._queue.append((stage, on_dropped))
        self._idle.clear()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=self._name)
        self._wake.set()
        return True

    async def flush(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until everything offered was sent or dropped."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._idle.wait()
        return self._idle.is_set()

    async def close(self, timeout_s: float = 1.0) -> None:
        """Send what is queued (for up to ``timeout_s``), then stop; the rest is dropped."""
        await self.flush(timeout_s)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._drop_all("closing")

    def _drop(self, count: int, why: str, *callbacks: Callable[[], None] | None) -> None:
        self.stats.dropped += count
        for callback in callbacks:
            if callback is not None:
                callback()
        now = time.monotonic()
        if now - self._warned_at > 10:  # a Redis outage logs once per 10 s, not per batch
            self._warned_at = now
            log.warning("%s: dropped %d Redis messages (%s); %d dropped so far", self._name,
                        count, why, self.stats.dropped)  # fmt: skip

    def _drop_all(self, why: str) -> None:
        taken = list(self._queue)
        self._queue.clear()
        if taken:
            self._drop(len(taken), why, *(callback for _, callback in taken))
        self._idle.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                taken = [self._queue.popleft() for _ in range(min(1024, len(self._queue)))]
                try:
                    async with self._redis.pipeline(transaction=False) as pipe:
                        for stage, _ in taken:
                            stage(pipe)
                        await pipe.execute()
                except (RedisError, OSError) as exc:
                    self.stats.failures += 1
                    self._drop(len(taken), f"{type(exc).__name__}: {exc}",
                               *(callback for _, callback in taken))  # fmt: skip
                else:
                    self.stats.sent += len(taken)
            self._idle.set()
