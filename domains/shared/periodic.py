"""A background step on a fixed period: started and stopped with its owner, a failing step
logged and tried again at the next period (the writer's clockwork: countdowns, reconcile)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable


class Periodic:
    """Runs ``step`` every ``interval_s`` (after the first period) until stopped."""

    def __init__(
        self, name: str, interval_s: float, step: Callable[[], Awaitable[object]],
        log: logging.Logger,
    ) -> None:  # fmt: skip
        self.name, self.interval_s, self._step, self._log = name, interval_s, step, log
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (once; a period of 0 or less never starts it)."""
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._step()
            except Exception:  # the next period tries again; the owner never stops for this
                self._log.exception("%s failed", self.name)
