"""The engine's single writer: queue -> sequence -> journal (group commit) -> apply -> answer.

Callers ``submit`` one command and await its events. The writer drains everything queued
(up to ``max_batch``), stamps sequence numbers and time, journals the batch durably in one
write, applies it to the engine, runs the immediate listeners (in-memory state a caller
reads back at once: recent orders), answers every caller with its own events, runs the
after-answer listeners (streams, replicas' wake-up, the book view), and queues the batch
for the read models (graph/writer/projections.py), which write it in bulk behind the
journal, never on the acknowledgement path. While one
batch is being journaled the next one queues up: that is the group commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError, WriteConcernError

from domains.shared.engine_port import Submitted
from domains.shared.errors import UnavailableError
from engine import codes
from engine.layout import COMMAND_DTYPE, EngineConfig, Records
from graph.writer.idempotency import DuplicateCommandError, IdempotencyWindow, tagged_key
from graph.writer.journal import SnapshotInfo, until_the_store_answers
from graph.writer.projections import ProjectionPipeline

if TYPE_CHECKING:
    from engine.core import Engine

log = logging.getLogger("caas.sequencer")
# a journal write that raised one of these may have landed all the same (a lost reply)
UNCONFIRMED = (ConnectionFailure, WriteConcernError, DuplicateKeyError)

Note = dict[str, str]
Notes = dict[int, Note]
EventListener = Callable[[Records, Records, Notes], Awaitable[None]]


class Journal(Protocol):
    """What the writer needs from durable storage (graph.writer.journal.MongoJournal)."""

    async def append(self, batch: Records, notes: Notes | None = None) -> None: ...
    async def batch_at(self, first_seq: int) -> Records | None: ...
    async def last_seq(self) -> int: ...
    def batches_after(self, seq: int) -> AsyncIterator[tuple[Records, Notes]]: ...
    def batches_since(self, ts_ns: int, up_to_seq: int) -> AsyncIterator[Records]: ...
    async def save_snapshot(self, last_seq: int, state_hash: str, data: bytes) -> SnapshotInfo: ...
    async def latest_snapshot(self) -> tuple[SnapshotInfo, bytes] | None: ...


class WriterStoppedError(UnavailableError):
    """The writer is not running here (stopped, or this process is a standby); the command
    was not journaled and may be retried against the writer."""


class JournalUnavailableError(UnavailableError):
    """The store did not confirm the journal write in time: the command's outcome is unknown
    until the store answers again (the writer keeps writing that batch until it is in, so
    it will have run); look it up by clientOrderId, or retry with the same one."""


class JournalConflictError(RuntimeError):
    """The journal holds another batch at this batch's sequence: another writer appended."""


@dataclass
class _Pending:
    command: Records
    future: asyncio.Future[Submitted]
    note: Note | None = None
    group_end: bool = True  # False inside a submit_many group: never cut a batch there


@dataclass
class WriterStats:
    """Counters for metrics and benchmarks."""

    batches: int = 0
    commands: int = 0
    journal_seconds: float = 0.0
    apply_seconds: float = 0.0  # the engine (and the idempotency window) on the batch
    listener_seconds: float = 0.0  # immediate listeners, on the acknowledgement path
    backpressure_seconds: float = 0.0  # waiting for the read models to catch up
    replayed: int = 0  # commands replayed by recoveries (start-ups, takeovers)
    last_replayed: int = 0  # by the last recovery
    last_snapshot_seq: int = 0  # the sequence the latest snapshot (stored or taken) covers
    snapshots: int = 0  # snapshots this writer stored
    sizes: list[int] = field(default_factory=list)


def restore_snapshot(info: SnapshotInfo, data: bytes) -> Engine | None:
    """The engine of a stored snapshot, or None when this version cannot read it (e.g. a
    snapshot written before an engine layout change: SNAPSHOT_VERSION differs). The journal
    keeps every command, so the caller then replays it from the start, which rebuilds the
    same state. A snapshot that reads but fails its recorded hash is corruption: an error."""
    from engine.core import Engine, SnapshotError

    try:
        engine = Engine.restore(data)
    except SnapshotError as exc:
        log.warning(
            "snapshot unreadable; replaying the whole journal instead",
            extra={"snapshot_seq": info.last_seq, "reason": str(exc)},
        )
        return None
    if engine.state_hash() != info.state_hash:
        raise RuntimeError(f"snapshot at seq {info.last_seq} does not match its hash")
    return engine


def _unknown(waiting: Sequence[_Pending]) -> None:
    """Answer the callers of a batch the journal has not confirmed yet: outcome unknown."""
    for pending in waiting:
        if not pending.future.done():
            pending.future.set_exception(JournalUnavailableError(
                "the store did not confirm this command in time; its outcome is unknown: "
                "look it up by clientOrderId, or retry with the same one"
            ))  # fmt: skip


class EngineWriter:
    """Owns the engine; the only code that changes it."""

    # how long callers wait for the journal to confirm their batch before they get
    # JournalUnavailableError (outcome unknown); the writer still writes it until it is in
    unknown_after_s: float = 5.0

    def __init__(
        self,
        journal: Journal,
        config: EngineConfig | None = None,
        *,
        max_batch: int = 8192,
        snapshot_every: int = 200_000,
        snapshot_after_replay: int = 10_000,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._config = config
        self._engine: Engine | None = None
        self._journal = journal
        self._max_batch = max_batch
        self._snapshot_every = snapshot_every
        self._snapshot_after_replay = snapshot_after_replay
        self._clock = clock
        self._queue: list[_Pending] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[EventListener] = []
        self._after_answer: list[EventListener] = []
        self.projections = ProjectionPipeline()
        self.more_figures: list[Callable[[], dict[str, float]]] = []  # e.g. the reconciliation
        self._snapshot_task: asyncio.Task[None] | None = None
        self.stats = WriterStats()
        self.window = IdempotencyWindow()

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

    def add_listener(self, listener: EventListener, *, after_answer: bool = False) -> None:
        """Called with (commands, events, notes) of every applied batch, in sequence order,
        before the batch's callers are answered (what they read back at once), or with
        ``after_answer`` right after (streams, notifications), before the next batch; keep
        it short and in memory: store writes belong in ``add_projection``."""
        (self._after_answer if after_answer else self._listeners).append(listener)

    def add_projection(self, listener: EventListener) -> None:
        """A read model: called behind the acknowledgement path with one or more applied
        batches merged, in sequence order (graph/writer/projections.py)."""
        self.projections.add(listener)

    async def start(self) -> None:
        """Recover (latest snapshot + journal replay through the listeners), then run.

        Add listeners before starting: they see the replayed batches too. Starting a writer
        that runs (a takeover retried after a failure part way) does nothing: two loops
        would hand out the same sequence numbers.
        """
        if self._task is not None and not self._task.done():
            return
        await until_the_store_answers(self.recover, "engine writer recovery")  # resumable
        behind = self.engine.last_seq - self.stats.last_snapshot_seq
        if 0 < self._snapshot_after_replay <= behind:
            # the next start would replay all of that again (and it grows with every
            # restart that ends in a crash): snapshot now, the upload behind the commands
            log.info("snapshot after recovery", extra={"commands_after_snapshot": behind})
            self._start_snapshot()
        self._task = asyncio.create_task(self._run(), name="engine-writer")

    async def stop(self) -> None:
        """Finish the batch in flight, fail what is still queued, wait for a snapshot upload."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for pending in self._queue:
            if not pending.future.done():
                pending.future.set_exception(WriterStoppedError("engine writer stopped"))
        self._queue.clear()
        await self.projections.stop()  # what was applied reaches the read models
        if self._snapshot_task is not None:
            await self._snapshot_task

    async def submit(self, command: Records, note: Note | None = None) -> Submitted:
        """Sequence, journal and apply one command; return its events (durable once returned).

        A PLACE with ``order_id`` 0 gets its sequence number as order id. A PLACE whose
        ``client_tag`` was seen within the idempotency window is not executed again (same
        payload) or refused with DuplicateCommandError (different payload).

        ``note`` is journaled with the command (e.g. the caller's clientOrderId string) and
        handed to listeners, so read models rebuilt from the journal carry it too. Callers
        are answered after the immediate listeners ran (a caller reads its own order back
        from memory) and before the read models are written (``projections.reached``).
        """
        self._ensure_running()
        if command.dtype != COMMAND_DTYPE or len(command) != 1:
            raise ValueError("submit takes exactly one COMMAND_DTYPE record")
        future: asyncio.Future[Submitted] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(command, future, note))
        self._wake.set()
        return await future

    async def submit_many(
        self, commands: Records, notes: Sequence[Note | None] | None = None
    ) -> list[Submitted]:
        """Sequence, journal and apply several commands as one contiguous group.

        The group gets consecutive sequence numbers, is journaled in the same batch (all
        or nothing) and nothing else is sequenced between its commands, so a group such as
        "release a hold, then transfer" cannot be interleaved by another caller. Group
        commands carry no client tag (idempotency belongs to the caller's own command).
        """
        self._ensure_running()
        if commands.dtype != COMMAND_DTYPE or len(commands) == 0:
            raise ValueError("submit_many takes one or more COMMAND_DTYPE records")
        if np.any(commands["client_tag"] != 0):
            raise ValueError("commands of a group carry no client tag")
        if notes is not None and len(notes) != len(commands):
            raise ValueError("one note (or None) per command")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Submitted]] = []
        for i in range(len(commands)):
            future: asyncio.Future[Submitted] = loop.create_future()
            note = notes[i] if notes is not None else None
            last = i == len(commands) - 1
            self._queue.append(_Pending(commands[i : i + 1], future, note, group_end=last))
            futures.append(future)
        self._wake.set()
        return list(await asyncio.gather(*futures))

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            raise WriterStoppedError(
                "this server does not run the engine writer (standby or stopping); retry"
            )

    async def recover(self) -> None:
        """Load the latest snapshot and replay the journal after it (no commands taken)."""
        latest = await self._journal.latest_snapshot()
        if latest is not None and latest[0].last_seq > self.engine.last_seq:
            # (an engine handed over by a replica may already be past the latest snapshot)
            restored = restore_snapshot(*latest)
            if restored is not None:
                self.engine = restored
        if latest is not None and latest[0].last_seq <= self.engine.last_seq:
            # the state the next start would restore (unless this engine's is older)
            self.stats.last_snapshot_seq = max(self.stats.last_snapshot_seq, latest[0].last_seq)
        replayed = 0
        # what must be replayed at least; a live writer elsewhere (read-only tools such as
        # `caas reconcile` next to a running server) may append more meanwhile
        journaled = await self._journal.last_seq()
        since = self._clock() - self.window.window_ns
        async for batch in self._journal.batches_since(since, self.engine.last_seq):
            self.window.record(batch, None)
        async for batch, notes in self._journal.batches_after(self.engine.last_seq):
            events = self.engine.apply(batch)
            self.window.record(batch, events)
            replayed += len(batch)
            # listeners are idempotent: a batch journaled just before a crash may not have
            # reached the read models; replaying it through them closes that gap
            await self._notify(batch, events, notes)
            await self._notify(batch, events, notes, self._after_answer)
            self.projections.push(batch, events, notes)
            await self.projections.backpressure()
        await self.projections.drain()
        self.projections.recovered(self.engine.last_seq)
        if self.engine.last_seq < journaled:
            raise RuntimeError(f"replay ended at {self.engine.last_seq}, journal at {journaled}")
        self.stats.replayed += replayed
        self.stats.last_replayed = replayed
        log.info("engine recovered", extra={"last_seq": self.engine.last_seq, "replayed": replayed})

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                cut = min(self._max_batch, len(self._queue))
                while not self._queue[cut - 1].group_end:  # a group is journaled whole
                    cut += 1
                taken = self._queue[:cut]
                del self._queue[:cut]
                await self._process(taken)

    async def _process(self, taken: list[_Pending]) -> None:
        now_ns = self._clock()
        fresh, followers = self._deduplicate(taken, now_ns)
        if not fresh:
            return
        try:
            await self._process_fresh(fresh, followers, now_ns)
        except BaseException:  # stopped (cancelled) mid-batch: nobody may wait forever
            for pending in (*fresh, *followers):
                if not pending.future.done():
                    pending.future.set_exception(WriterStoppedError(
                        "the engine writer stopped while this command was in flight; its "
                        "outcome is unknown: retry with the same clientOrderId"
                    ))  # fmt: skip
            raise

    async def _process_fresh(
        self, fresh: list[_Pending], followers: list[_Pending], now_ns: int
    ) -> None:
        batch = np.concatenate([p.command for p in fresh])
        first = self.engine.last_seq + 1
        batch["seq"] = np.arange(first, first + len(batch), dtype=np.int64)
        batch["ts_ns"] = now_ns
        new_orders = (batch["kind"] == codes.PLACE_ORDER) & (batch["order_id"] == 0)
        batch["order_id"][new_orders] = batch["seq"][new_orders]
        notes = {int(seq): p.note for seq, p in zip(batch["seq"], fresh, strict=True) if p.note}
        started = time.perf_counter()
        waiting = (*fresh, *followers)
        # callers wait for the journal at most unknown_after_s; the write itself goes on
        timer = asyncio.get_running_loop().call_later(self.unknown_after_s, _unknown, waiting)
        try:
            await self._journal.append(batch, notes)
        except UNCONFIRMED:  # it may have landed (a lost reply): find out before going on
            log.exception("journal write failed; resolving %d commands", len(fresh))
            await self._resolve_append(batch, notes)
        except Exception as exc:  # not durable: nobody may see an effect
            log.exception("journal write failed; failing %d commands", len(fresh))
            for pending in waiting:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        finally:
            timer.cancel()
        self.stats.journal_seconds += time.perf_counter() - started
        started = time.perf_counter()
        events = self.engine.apply(batch)
        self.window.record(batch, events)
        self.stats.apply_seconds += time.perf_counter() - started
        self.stats.batches += 1
        self.stats.commands += len(batch)
        started = time.perf_counter()
        await self._notify(batch, events, notes)
        self.stats.listener_seconds += time.perf_counter() - started
        self.projections.push(batch, events, notes)
        self._answer(fresh, batch, events)
        self._deduplicate([p for p in followers if not p.future.done()], now_ns)
        await self._notify(batch, events, notes, self._after_answer)
        if self.engine.last_seq - self.stats.last_snapshot_seq >= self._snapshot_every:
            await self.projections.drain()  # a snapshot never covers an unprojected batch
            self._start_snapshot()
        started = time.perf_counter()
        await self.projections.backpressure()
        self.stats.backpressure_seconds += time.perf_counter() - started

    async def _resolve_append(self, batch: Records, notes: Notes) -> None:
        """A journal write the store did not confirm may still have landed: until the
        journal says, nothing else may take these sequence numbers (or the journal and the
        engine part ways, and every later batch collides with this one). So write the same
        batch again (same ``_id``, same bytes: idempotent) until it is in. Raises
        JournalConflictError (the writer stops) if another writer took the sequence."""
        delay_s = 0.05
        while True:
            try:
                if await self._journaled(batch):
                    return
                await self._journal.append(batch, notes)
                return
            except DuplicateKeyError:
                continue  # landed meanwhile (or another writer's): _journaled tells
            except PyMongoError:
                log.warning("journal unavailable; retrying seq %d", int(batch["seq"][0]))
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, 1.0)

    async def _journaled(self, batch: Records) -> bool:
        """Whether the journal holds exactly ``batch``; JournalConflictError if it holds
        something else at its first sequence."""
        stored = await self._journal.batch_at(int(batch["seq"][0]))
        if stored is None:
            return False
        if stored.tolist() != batch.tolist():  # fields only: the dtype's padding may differ
            raise JournalConflictError(f"another batch is journaled at seq {batch['seq'][0]}")
        return True

    def figures(self) -> dict[str, float]:
        """The writer's and the read models' counters, for /metrics and the benchmarks."""
        s, p = self.stats, self.projections.stats
        return {
            "caas_writer_batches": s.batches, "caas_writer_commands": s.commands,
            "caas_writer_journal_seconds": s.journal_seconds,
            "caas_writer_apply_seconds": s.apply_seconds,
            "caas_writer_listener_seconds": s.listener_seconds,
            "caas_writer_backpressure_seconds": s.backpressure_seconds,
            "caas_writer_replayed": s.last_replayed, "caas_writer_snapshots": s.snapshots,
            "caas_writer_last_snapshot_seq": s.last_snapshot_seq,
            "caas_projection_flushes": p.flushes, "caas_projection_batches": p.batches,
            "caas_projection_commands": p.commands, "caas_projection_seconds": p.seconds,
            "caas_projection_lag_batches": self.projections.lag_batches,
            **{f"caas_projection_{name}_seconds": v for name, v in p.by_listener.items()},
            **{k: v for more in self.more_figures for k, v in more().items()},
        }  # fmt: skip

    async def _notify(
        self, batch: Records, events: Records, notes: Notes,
        listeners: list[EventListener] | None = None,
    ) -> None:  # fmt: skip
        """Run the (before-answer, by default) listeners one after another, awaited in
        place: they are short and in memory, so most return without suspending and the
        writer keeps the event loop (a task each, as ``asyncio.gather`` made, handed the
        loop to whatever was ready, a read model's next slice of a funding round among
        them, before the next batch). A failing listener never fails an applied command."""
        for listener in self._listeners if listeners is None else listeners:
            try:
                await listener(batch, events, notes)
            except Exception:
                log.exception("listener %r failed at seq %d", listener, int(batch["seq"][-1]))

    def _deduplicate(
        self, taken: list[_Pending], now_ns: int
    ) -> tuple[list[_Pending], list[_Pending]]:
        """Answer retries from the window; return (to execute, same-batch repeats)."""
        fresh: list[_Pending] = []
        followers: list[_Pending] = []
        keys: set[tuple[int, int]] = set()
        for pending in taken:
            try:
                prior = self.window.lookup(pending.command, now_ns)
            except DuplicateCommandError as exc:
                pending.future.set_exception(exc)
                continue
            if prior is not None:
                pending.future.set_result(Submitted(prior.seq, prior.events, replayed=True))
                continue
            key = tagged_key(pending.command)
            if key is not None and key in keys:
                followers.append(pending)  # answered once the first one is applied
                continue
            if key is not None:
                keys.add(key)
            fresh.append(pending)
        return fresh, followers

    @staticmethod
    def _answer(taken: list[_Pending], batch: Records, events: Records) -> None:
        ts_ns = int(batch["ts_ns"][0]) if len(batch) else 0  # one stamp per batch
        bounds = np.searchsorted(events["seq"], batch["seq"], side="left")
        ends = np.searchsorted(events["seq"], batch["seq"], side="right")
        for pending, seq, start, end in zip(taken, batch["seq"], bounds, ends, strict=True):
            if not pending.future.done():
                pending.future.set_result(
                    Submitted(int(seq), events[start:end].copy(), ts_ns=ts_ns)
                )

    def _start_snapshot(self) -> None:
        if self._snapshot_task is not None and not self._snapshot_task.done():
            return
        data, seq, digest = self.engine.snapshot(), self.engine.last_seq, self.engine.state_hash()
        self.stats.last_snapshot_seq = seq

        async def upload() -> None:
            try:
                await self._journal.save_snapshot(seq, digest, data)
                self.stats.snapshots += 1
            except Exception:
                log.exception("snapshot at seq %d failed; the journal still covers it", seq)

        self._snapshot_task = asyncio.create_task(upload(), name=f"snapshot-{seq}")

    async def snapshot_now(self) -> None:
        """Take and store a snapshot of the current state (e.g. on orderly shutdown)."""
        await self.projections.drain()
        self._start_snapshot()
        if self._snapshot_task is not None:
            await self._snapshot_task
