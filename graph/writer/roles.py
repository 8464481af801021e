"""The engine's role in this process: writer, standby or API-only, and the moves between them.

- writer: holds the lease, runs the ``EngineWriter`` and (with Redis) the relay consumer;
- standby: follows the journal with a replica, forwards commands over Redis if it can
  (else refuses them), and continues from the replica's state when it takes over;
- api: never writes; forwards every command over Redis, reads its replica.
- edge: reads and streams only: no engine at all (no replica, no Numba); order books come
  from the writer's book view in Redis (graph/writer/book_view.py); commands and reads of the
  engine's live state answer UNAVAILABLE (send them to an api process or the writer).

``ProcessBus`` is the ``CommandBus`` the services hold: it routes to whichever applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from domains.shared.engine_port import Submitted
from engine.layout import EngineConfig, Records
from graph.settings import Settings
from graph.writer.book_view import BookViewPublisher
from graph.writer.calls import WriterCalls, WriterCallServer
from graph.writer.command_relay import (
    CommandRelayConsumer,
    IndexLearner,
    NotesJournal,
    RedisCommandBus,
)
from graph.writer.consistency import ProjectedPublisher, ReadYourWrites, RemoteProjections
from graph.writer.replica import EngineReplica, JournalNotifier
from graph.writer.sequencer import EngineWriter, EventListener, Journal, Note, WriterStoppedError
from subscriptions.redis_batches import RedisOutbox
from subscriptions.redis_client import redis_client

if TYPE_CHECKING:
    from engine.core import Engine

log = logging.getLogger("caas.roles")

ROLE_ALL = "all"  # writer when holding the lease, else standby (the default)
ROLE_API = "api"  # API only: commands go to the writer over Redis
ROLE_EDGE = "edge"  # reads and streams only, no engine: books from the writer's Redis view
ROLES = (ROLE_ALL, ROLE_API, ROLE_EDGE)
EDGE_REFUSAL = (
    "this process serves reads and streams only (role edge, no engine): send commands and "
    "live engine reads to an api process or the writer"
)


class RelayJournal(Journal, NotesJournal, Protocol):
    """The journal a relaying writer needs: the writer's, plus notes by time."""


class ProcessBus:
    """The ``CommandBus`` of this process: the local writer while it writes, else the relay
    (or a refusal without Redis); reads from the writer's engine or the replica's."""

    def __init__(
        self, writer: EngineWriter, replica: EngineReplica, relay: RedisCommandBus | None
    ) -> None:
        self._writer = writer
        self._replica = replica
        self._relay = relay
        self.local = False
        self.edge = False  # no engine here (role edge): engine reads and commands refused
        self.last_seq = 0  # the highest sequence the writer answered this process with

    @property
    def engine(self) -> Engine:
        """The engine to read: the writer's while writing here, else the replica's."""
        if self.edge:
            raise WriterStoppedError(EDGE_REFUSAL)
        return self._writer.engine if self.local else self._replica.engine

    async def submit(self, command: Records, note: Note | None = None) -> Submitted:
        """Sequence one command through the local writer or the relay."""
        if self.local:
            return await self._writer.submit(command, note)
        submitted = await self._forward().submit(command, note)
        self.last_seq = max(self.last_seq, submitted.seq)
        return submitted

    async def submit_many(
        self, commands: Records, notes: Sequence[Note | None] | None = None
    ) -> list[Submitted]:
        """A contiguous command group through the local writer or the relay."""
        if self.local:
            return await self._writer.submit_many(commands, notes)
        results = await self._forward().submit_many(commands, notes)
        self.last_seq = max([self.last_seq, *(r.seq for r in results)])
        return results

    def _forward(self) -> RedisCommandBus:
        if self.edge:
            raise WriterStoppedError(EDGE_REFUSAL)
        if self._relay is None:
            raise WriterStoppedError(
                "this server does not run the engine writer (standby or stopping); retry"
            )
        return self._relay


class EngineRoles:
    """Owns the replica, the relay (both ends) and the hand-over between roles."""

    def __init__(
        self,
        settings: Settings,
        journal: RelayJournal,
        writer: EngineWriter,
        directory: IndexLearner,
        config: EngineConfig,
        consumer_name: str,
    ) -> None:
        self.writer = writer
        self.prefix = settings.relay_prefix
        self.redis = redis_client(settings.redis_url) if settings.redis_url else None
        # the writer's own publications (replicas' wake-up, the book view, the projected
        # sequence): queued, never awaited, so Redis cannot hold back an acknowledgement
        self.fanout = RedisOutbox(self.redis, "writer-fanout") if self.redis is not None else None
        self.replica = EngineReplica(journal, config, poll_interval_s=settings.replica_poll_seconds)
        self.relay: RedisCommandBus | None = None
        self.consumer: CommandRelayConsumer | None = None
        if self.redis is not None:
            self.relay = RedisCommandBus(
                self.redis, self.replica, prefix=self.prefix,
                timeout_s=settings.relay_timeout_seconds,
            )  # fmt: skip
            self.consumer = CommandRelayConsumer(
                self.redis, writer, journal, directory, consumer=consumer_name, prefix=self.prefix
            )
        self.bus = ProcessBus(writer, self.replica, self.relay)
        self.immediate: list[EventListener] = []
        self.projectors: list[EventListener] = []
        # calls that must run in the writer's process (custody's chain), forwarded like commands
        self.writer_calls = WriterCalls(
            lambda: self.bus.local, self.redis, self.replica, prefix=self.prefix,
            timeout_s=settings.relay_timeout_seconds,
        )  # fmt: skip
        self.call_server = (
            WriterCallServer(self.redis, writer, consumer=consumer_name, prefix=self.prefix)
            if self.redis is not None
            else None
        )
        self.book_view: BookViewPublisher | None = None  # the writer's books for edge processes
        # how far the writer's read models are, seen from here when another process writes
        self.remote_projections = (
            RemoteProjections(self.redis, self.prefix) if self.redis is not None else None
        )

    def add_projectors(
        self, immediate: Sequence[EventListener], after_answer: Sequence[EventListener],
        deferred: Sequence[EventListener],
    ) -> None:  # fmt: skip
        """The writer's listeners: ``immediate`` ones before callers are answered (what they
        read back at once), ``after_answer`` ones right after (streams), ``deferred`` ones
        (the read models) in bulk behind the journal; plus, with Redis, the replicas'
        wake-up and the book view (after answering)."""
        self.immediate, self.projectors = [*immediate, *after_answer], list(deferred)
        for listener in immediate:
            self.writer.add_listener(listener)
        for listener in after_answer:
            self.writer.add_listener(listener, after_answer=True)
        for projector in self.projectors:
            self.writer.add_projection(projector)
        if self.fanout is not None:
            self.writer.add_listener(JournalNotifier(self.fanout, self.prefix), after_answer=True)
            self.writer.projections.on_projected.append(
                ProjectedPublisher(self.fanout, self.prefix)
            )
            self.book_view = BookViewPublisher(self.writer, self.fanout, self.prefix)
            self.writer.add_listener(self.book_view, after_answer=True)

    def consistency(self) -> ReadYourWrites:
        """Read-your-writes for this process: against the local writer's read models while
        it writes here, else against what the writer publishes (graph/writer/consistency.py)."""
        local, remote, bus = self.writer.projections, self.remote_projections, self.bus

        def written() -> int:
            return local.pushed_seq if bus.local else bus.last_seq

        def projected() -> int:
            if bus.local:
                return local.projected_seq
            return remote.projected_seq if remote is not None else 1 << 62  # no view: no wait

        async def reached(seq: int) -> None:
            if bus.local:
                await local.reached(seq)
            elif remote is not None:
                await remote.reached(seq)

        return ReadYourWrites(written, reached, projected, writes_here=lambda: bus.local)

    async def follow(self, engine: Engine | None = None) -> None:
        """API or standby: a replica following the journal; the relay if there is Redis."""
        await self.replica.start(engine, self.redis, self.prefix)
        if self.relay is not None:
            await self.relay.start()
        if self.remote_projections is not None:
            self.remote_projections.start()
        await self.writer_calls.start()

    async def become_writer(self) -> None:
        """Holding the lease: continue from the replica (re-projecting its last batches, which
        a writer that died may not have projected), catch up, take commands."""
        if self.replica.running:
            self.writer.engine = await self.replica.stop()
            for applied in list(self.replica.recent):
                for stage in (self.immediate, self.projectors):
                    await asyncio.gather(*(p(applied.commands, applied.events, applied.notes)
                                           for p in stage))  # fmt: skip
            self.replica.recent.clear()
        await self.writer.start()  # (the relay keeps reading: replies to requests in flight)
        if self.book_view is not None:
            await self.book_view.publish_all()
        self.bus.local = True
        if self.consumer is not None:
            await self.consumer.start()
        if self.call_server is not None:
            await self.call_server.start()

    async def stop_relaying(self) -> None:
        """Stop taking relayed commands and calls (those in flight finish first)."""
        if self.call_server is not None:
            await self.call_server.stop()
        if self.consumer is not None:
            await self.consumer.stop()

    async def step_down(self) -> None:
        """Lease lost: stop writing at once, then follow the journal from where we stand."""
        self.bus.local = False
        await self.stop_relaying()
        await self.writer.stop()
        await self.follow(self.writer.engine)

    async def close(self) -> None:
        """Stop following and relaying; close the Redis connections."""
        await self.stop_relaying()
        await self.replica.stop()
        if self.remote_projections is not None:
            await self.remote_projections.stop()
        if self.relay is not None:
            await self.relay.close()
        await self.writer_calls.close()
        if self.fanout is not None:
            await self.fanout.close()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
