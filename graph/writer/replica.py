"""A read replica of the engine: follows the journal the writer appends, never writes it.

API processes read order books, market states and fee rates from it; a standby keeps one
so its reads are current and it can take over as writer from where the replica stands.
It applies journaled batches to its own ``Engine`` (the engine is deterministic, so the
state matches the writer's at the same sequence) and runs no listeners: read models are
the writer's job. Wake-ups: a short poll, a nudge from ``wait_for`` (a caller knows the
journal reached a sequence) and, with Redis, the writer's "journal advanced" message.
Must not import domains' services or the writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from redis.exceptions import RedisError

from engine.layout import EngineConfig, Records
from graph.writer.journal import JournalGapError, until_the_store_answers
from graph.writer.sequencer import Journal, Notes, restore_snapshot
from subscriptions.redis_batches import RedisOutbox

if TYPE_CHECKING:
    from engine.core import Engine

log = logging.getLogger("caas.replica")

JOURNAL_CHANNEL = "engine:journal"  # after the key prefix; payload: the last journaled seq


@dataclass(frozen=True)
class AppliedBatch:
    """A batch the replica applied, kept briefly so a new writer can re-project it."""

    commands: Records
    events: Records
    notes: Notes


class EngineReplica:
    """An ``Engine`` kept in step with the journal by tailing it."""

    def __init__(
        self,
        journal: Journal,
        config: EngineConfig | None = None,
        *,
        poll_interval_s: float = 0.1,
        keep_batches: int = 16,
    ) -> None:
        self._config = config
        self._engine: Engine | None = None
        self._journal = journal
        self._poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self._advanced = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._catch_up_lock = asyncio.Lock()
        self.recent: deque[AppliedBatch] = deque(maxlen=keep_batches)

    @property
    def engine(self) -> Engine:
        """The engine, allocated (and Numba loaded) on first use: a process that never
        reads this one (an API process, a writer that never followed) never pays for it."""
        if self._engine is None:
            from engine.core import Engine

            self._engine = Engine(self._config)
        return self._engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self._engine = engine

    @property
    def last_seq(self) -> int:
        """The last sequence applied here."""
        return self.engine.last_seq

    @property
    def running(self) -> bool:
        """Whether the follower loop runs."""
        return self._task is not None and not self._task.done()

    async def recover(self) -> None:
        """Start from the latest snapshot (if newer than the state held) and catch up."""
        latest = await self._journal.latest_snapshot()
        if latest is not None and latest[0].last_seq > self.engine.last_seq:
            engine = restore_snapshot(*latest)
            if engine is not None:  # else (an older snapshot format): replay from the start
                self.engine = engine
                self.recent.clear()
        await self.catch_up()

    async def start(
        self, engine: Engine | None = None, redis: Redis | None = None, prefix: str = "caas:"
    ) -> None:
        """Recover (or continue from ``engine``, e.g. a writer stepping down), then follow.

        With ``redis``, the writer's "journal advanced" messages wake the follower at once.
        """
        if engine is not None:
            self.engine = engine
            self.recent.clear()
        await until_the_store_answers(self.recover, "replica recovery")  # resumable
        self._task = asyncio.create_task(self._follow(), name="engine-replica")
        if redis is not None:
            self._listener = asyncio.create_task(
                self._listen(redis, prefix + JOURNAL_CHANNEL), name="engine-replica-notify"
            )

    async def stop(self) -> Engine:
        """Stop following; return the engine (a new writer continues from it)."""
        for task in (self._listener, self._task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._listener = None
        return self.engine

    def nudge(self) -> None:
        """Read the journal now rather than at the next poll."""
        self._wake.set()

    async def wait_for(self, seq: int, timeout_s: float) -> bool:
        """Wait until the replica applied ``seq``; False if it did not within ``timeout_s``."""
        if self.engine.last_seq >= seq:
            return True
        self.nudge()
        try:
            async with asyncio.timeout(timeout_s), self._advanced:
                await self._advanced.wait_for(lambda: self.engine.last_seq >= seq)
        except TimeoutError:
            return self.engine.last_seq >= seq
        return True

    async def catch_up(self) -> int:
        """Apply every batch journaled after the current state; return how many commands."""
        applied = 0
        async with self._catch_up_lock:
            async for batch, notes in self._journal.batches_after(self.engine.last_seq):
                events = self.engine.apply(batch)
                self.recent.append(AppliedBatch(batch, events, notes))
                applied += len(batch)
        if applied:
            async with self._advanced:
                self._advanced.notify_all()
        return applied

    async def _follow(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_interval_s):
                    await self._wake.wait()
            self._wake.clear()
            try:
                await self.catch_up()
            except JournalGapError:
                log.exception("journal gap while following; retrying")
                await asyncio.sleep(1)
            except Exception:
                log.exception("replica could not read the journal; retrying")
                await asyncio.sleep(self._poll_interval_s * 5)

    async def _listen(self, redis: Redis, channel: str) -> None:
        """Wake on the writer's messages; polling covers any message lost meanwhile."""
        while True:
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._wake.set()
            except (RedisError, OSError):
                log.warning("journal notifications unavailable; polling only", exc_info=True)
                await asyncio.sleep(1)
            finally:
                with contextlib.suppress(RedisError, OSError):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]


class JournalNotifier:
    """A writer listener that tells replicas, through Redis pub/sub, that the journal grew.

    Best effort and never waiting: the message is queued on the writer's fan-out outbox
    (subscriptions/redis_batches.py ``RedisOutbox``); one lost is covered by the replicas'
    polling."""

    def __init__(self, outbox: RedisOutbox, prefix: str = "caas:") -> None:
        self._outbox = outbox
        self._channel = prefix + JOURNAL_CHANNEL

    async def __call__(self, batch: Records, events: Records, notes: Notes) -> None:
        """Queue the batch's last sequence for the replicas."""
        seq, channel = str(int(batch["seq"][-1])), self._channel
        self._outbox.offer(lambda pipe: pipe.publish(channel, seq))
