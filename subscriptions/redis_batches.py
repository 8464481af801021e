"""One pipelined Redis round trip for many concurrent callers, in the order they called."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError


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
