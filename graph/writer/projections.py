"""The read models behind the journal: batches the writer has journaled, applied and
answered queue here, and one task hands them to the projection listeners in sequence order,
every queued batch merged into one call (one bulk write per collection for all of them).

Invariants the writer relies on (graph/writer/sequencer.py):
- listeners see every batch once, in sequence order (replays after a crash again: they are
  idempotent, keyed by id); they run one after another, except those marked
  ``alongside_others`` (the ledger), which run beside that chain on the same merged batch;
- at most ``max_lag_batches`` batches wait (the writer is held back beyond that), fewer than
  a replica keeps (graph/writer/replica.py ``keep_batches``), so a standby taking over
  re-projects whatever a dead writer left unprojected;
- a snapshot is taken only once everything before it is projected (``drain``), so restart
  = snapshot + replaying the journal after it through the listeners rebuilds every read model.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pymongo.errors import ConnectionFailure

from engine.layout import Records

log = logging.getLogger("caas.projections")

Notes = dict[int, dict[str, str]]
Listener = Callable[[Records, Records, Notes], Awaitable[None]]


@dataclass
class ProjectionStats:
    """Counters for metrics and benchmarks."""

    flushes: int = 0
    batches: int = 0
    commands: int = 0
    seconds: float = 0.0
    largest_merge: int = 0
    by_listener: dict[str, float] = field(default_factory=dict)  # seconds per read model


def merge(batches: Sequence[tuple[Records, Records, Notes]]) -> tuple[Records, Records, Notes]:
    """Consecutive batches as one: commands and events concatenated (still in seq order)."""
    if len(batches) == 1:
        return batches[0]
    commands = np.concatenate([b[0] for b in batches])
    events = np.concatenate([b[1] for b in batches])
    notes: Notes = {}
    for _, _, batch_notes in batches:
        notes.update(batch_notes)
    return commands, events, notes


class ProjectionPipeline:
    """Runs ``listeners`` behind the writer; see the module docstring."""

    def __init__(
        self,
        listeners: Sequence[Listener] = (),
        *,
        max_lag_batches: int = 8,
        max_merge_commands: int = 65_536,
    ) -> None:
        self.listeners: list[Listener] = list(listeners)
        self.max_lag_batches = max_lag_batches
        self.max_merge_commands = max_merge_commands
        self.projected_seq = 0
        self.pushed_seq = 0
        self.stats = ProjectionStats()
        self._queue: deque[tuple[Records, Records, Notes]] = deque()
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # held while a flush or a checkpoint runs
        self._checkpoint: tuple[int, Callable[[], Awaitable[None]], asyncio.Future[bool]] | None = (
            None
        )
        # told the projected sequence after each flush (e.g. published for API processes)
        self.on_projected: list[Callable[[int], Awaitable[None]]] = []

    def add(self, listener: Listener) -> None:
        self.listeners.append(listener)

    @property
    def lag_batches(self) -> int:
        return len(self._queue)

    def push(self, commands: Records, events: Records, notes: Notes) -> None:
        """Queue an applied batch (never blocks; ``backpressure`` bounds the queue)."""
        if not len(commands):
            return
        self._queue.append((commands, events, notes))
        self.pushed_seq = int(commands["seq"][-1])
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="projections")
        self._wake.set()

    def recovered(self, seq: int) -> None:
        """The writer recovered to ``seq`` with nothing queued: everything up to it is in the
        read models (a snapshot covers only projected batches, a replay was drained). Without
        this a writer that replayed nothing stood at 0, and a checkpoint (``at``) at its
        sequence waited until the next command arrived."""
        if not self._queue:
            self.pushed_seq = max(self.pushed_seq, seq)
            self.projected_seq = max(self.projected_seq, seq)

    async def backpressure(self) -> None:
        """Wait while more than ``max_lag_batches`` batches are queued."""
        if len(self._queue) <= self.max_lag_batches:
            return
        async with self._progress:
            await self._progress.wait_for(lambda: len(self._queue) <= self.max_lag_batches // 2)

    async def reached(self, seq: int) -> None:
        """Return once every batch up to ``seq`` (that was pushed) is projected."""
        target = min(seq, self.pushed_seq)
        if self.projected_seq >= target:
            return
        async with self._progress:
            await self._progress.wait_for(lambda: self.projected_seq >= target)

    async def drain(self) -> None:
        """Return once everything pushed so far is projected."""
        await self.reached(self.pushed_seq)

    async def at(self, seq: int, check: Callable[[], Awaitable[None]]) -> bool:
        """Run ``check`` while the read models stand exactly at ``seq`` (a batch end), the
        projections paused meanwhile (the writer goes on, up to the lag bound); False when
        they had already passed it."""
        async with self._lock:
            if self.projected_seq > seq:
                return False
            if self.projected_seq == seq:
                await check()
                return True
            if self._checkpoint is not None and not self._checkpoint[2].done():
                self._checkpoint[2].set_result(False)  # one at a time; the older one is skipped
            done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            self._checkpoint = (seq, check, done)
        return await done

    async def stop(self) -> None:
        """Project what is queued, then stop. The cancellation is repeated until the task
        ends: one that lands while a listener is inside a client library can be swallowed
        there (seen with a Redis pipeline in ``on_projected``), and a single cancel then
        left this waiting forever (a writer stepping down never became a standby)."""
        task = self._task
        if task is not None and not task.done():
            await self.drain()
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
            if not task.cancelled() and task.exception() is not None:
                log.error("projections ended with an error", exc_info=task.exception())
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                taken = [self._queue.popleft()]
                size = len(taken[0][0])
                while (
                    self._queue
                    and size + len(self._queue[0][0]) <= self.max_merge_commands
                    and not self._at_checkpoint(taken[-1][0])
                ):
                    size += len(self._queue[0][0])
                    taken.append(self._queue.popleft())
                async with self._lock:
                    await self._project(taken)
                    await self._run_checkpoint()

    def _at_checkpoint(self, commands: Records) -> bool:
        """The merge stops at the batch a checkpoint waits for."""
        return self._checkpoint is not None and int(commands["seq"][-1]) >= self._checkpoint[0]

    async def _run_checkpoint(self) -> None:
        if self._checkpoint is None or self.projected_seq < self._checkpoint[0]:
            return
        seq, check, done = self._checkpoint
        self._checkpoint = None
        if self.projected_seq != seq:
            if not done.done():
                done.set_result(False)
            return
        try:
            await check()
        except Exception as exc:
            if not done.done():
                done.set_exception(exc)
        else:
            if not done.done():
                done.set_result(True)

    async def _project(self, taken: list[tuple[Records, Records, Notes]]) -> None:
        commands, events, notes = merge(taken)
        started = time.perf_counter()

        by = self.stats.by_listener

        async def timed(listener: Listener) -> None:
            began = time.perf_counter()
            await _project_one(listener, commands, events, notes)
            name = _name(listener)
            by[name] = by.get(name, 0.0) + time.perf_counter() - began

        async def chain() -> None:
            for listener in self.listeners:  # one at a time: the journal shares their store
                if not _alongside(listener):
                    await timed(listener)

        # a read model marked ``alongside_others`` (its own collections only) runs beside
        # that chain: the store writes one while this process computes the other, and at
        # most two requests of the read models are in the store ahead of a journal write
        await asyncio.gather(chain(), *(timed(x) for x in self.listeners if _alongside(x)))
        self.stats.seconds += time.perf_counter() - started
        self.stats.flushes += 1
        self.stats.batches += len(taken)
        self.stats.commands += len(commands)
        self.stats.largest_merge = max(self.stats.largest_merge, len(taken))
        async with self._progress:
            self.projected_seq = int(commands["seq"][-1])
            self._progress.notify_all()
        for tell in self.on_projected:
            try:
                await tell(self.projected_seq)
            except Exception:  # best effort: API processes also poll
                log.warning("could not publish the projected sequence", exc_info=True)


def _alongside(listener: Listener) -> bool:
    """Whether a read model runs beside the others (``alongside_others`` on it or on the
    object whose method it is): it reads and writes only its own collections."""
    return bool(getattr(getattr(listener, "__self__", listener), "alongside_others", False))


def _name(listener: Listener) -> str:
    """A read model's name for the figures: its class (or bound method's class) in snake case."""
    owner = getattr(listener, "__self__", listener)
    name = type(owner).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")


async def _project_one(
    listener: Listener, commands: Records, events: Records, notes: Notes
) -> None:
    """Run one read model on the batch. A store fault (the connection, not the data) is
    retried until the store answers: listeners are idempotent, and a batch skipped would
    leave a hole in the read model that nothing fills (a snapshot taken later covers it).
    Any other failure is logged and skipped: a failing read model never fails a command."""
    delay_s = 0.05
    while True:
        try:
            await listener(commands, events, notes)
            return
        except ConnectionFailure:
            log.warning("projection %r: store unavailable at seq %d; retrying", listener,
                        int(commands["seq"][-1]), exc_info=delay_s == 0.05)  # fmt: skip
        except Exception:
            log.exception("projection %r failed at seq %d", listener, int(commands["seq"][-1]))
            return
        await asyncio.sleep(delay_s)
        delay_s = min(delay_s * 2, 2.0)
