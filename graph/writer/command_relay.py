"""Commands from API processes to the one engine writer over a Redis stream, and back.

API side: ``RedisCommandBus`` (a ``CommandBus``) XADDs each request to the commands stream
with its correlation id, this process's reply stream and a deadline, awaits the reply,
then waits until its engine replica applied the answered sequence, so a caller reads its
own write. Writer side: ``CommandRelayConsumer`` reads the stream in a consumer group,
submits to the local ``EngineWriter`` in stream order and XACKs after replying. A new
writer first claims what the previous one read but never acknowledged: requests whose
deadline passed are dropped (their callers got UNAVAILABLE), requests the journal already
holds (their id is journaled in a note) are answered as replays, the rest are executed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError, ResponseError

from domains.shared.engine_port import Submitted
from engine.layout import COMMAND_DTYPE, Records
from graph.writer import relay_wire as wire
from graph.writer.idempotency import DuplicateCommandError
from graph.writer.replica import EngineReplica
from graph.writer.sequencer import EngineWriter, WriterStoppedError
from subscriptions.redis_batches import PipelineBatcher

if TYPE_CHECKING:
    from engine.core import Engine

log = logging.getLogger("caas.relay")

COMMANDS_STREAM = "engine:commands"  # after the key prefix
REPLIES_STREAM = "engine:replies:"  # + the API process's id
WRITERS_GROUP = "engine-writers"
REPLY_TTL_S = 300  # an API process's reply stream outlives it by this much


def _check_group(commands: Records, notes: Sequence[wire.Note | None] | None) -> None:
    """The writer's own argument checks, made before anything is sent."""
    if commands.dtype != COMMAND_DTYPE or len(commands) == 0:
        raise ValueError("submit_many takes one or more COMMAND_DTYPE records")
    if np.any(commands["client_tag"] != 0):
        raise ValueError("commands of a group carry no client tag")
    if notes is not None and len(notes) != len(commands):
        raise ValueError("one note (or None) per command")


class RedisCommandBus:
    """The ``CommandBus`` of an API process: forwards to the writer, reads the replica."""

    def __init__(
        self,
        redis: Redis,
        replica: EngineReplica,
        *,
        prefix: str = "caas:",
        timeout_s: float = 10.0,
        read_wait_s: float = 5.0,
        max_stream_len: int = 100_000,
    ) -> None:
        self._redis = redis
        self._replica = replica
        self._stream = prefix + COMMANDS_STREAM
        self.reply_to = f"{prefix}{REPLIES_STREAM}{uuid.uuid4().hex}"
        self.timeout_s = timeout_s
        self._read_wait_s = read_wait_s
        self._max_stream_len = max_stream_len
        self._waiting: dict[str, asyncio.Future[wire.RelayReply]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._sender = PipelineBatcher(redis, "relay-requests")

    @property
    def engine(self) -> Engine:
        """The replica's engine (reads only; it follows the journal)."""
        return self._replica.engine

    async def start(self) -> None:
        """Start reading this process's reply stream (no-op if it is being read)."""
        if self._reader is not None and not self._reader.done():
            return
        self._reader = asyncio.create_task(self._read_replies(), name="relay-replies")

    async def close(self) -> None:
        """Stop reading replies; callers still waiting get UNAVAILABLE."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        await self._sender.close()
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(WriterStoppedError("this API process is shutting down"))
        self._waiting.clear()
        with contextlib.suppress(RedisError, OSError):
            await self._redis.delete(self.reply_to)

    async def submit(self, command: Records, note: wire.Note | None = None) -> Submitted:
        """Forward one command to the writer; its sequence and events once journaled."""
        if command.dtype != COMMAND_DTYPE or len(command) != 1:
            raise ValueError("submit takes exactly one COMMAND_DTYPE record")
        results = await self._request(command, [note], group=False)
        return results[0]

    async def submit_many(
        self, commands: Records, notes: Sequence[wire.Note | None] | None = None
    ) -> list[Submitted]:
        """Forward a contiguous, all-or-nothing group (see ``EngineWriter.submit_many``)."""
        _check_group(commands, notes)
        listed: list[wire.Note | None] = (
            list(notes) if notes is not None else [None] * len(commands)
        )
        return await self._request(commands, listed, group=True)

    async def _request(
        self, commands: Records, notes: list[wire.Note | None], *, group: bool
    ) -> list[Submitted]:
        if self._reader is None or self._reader.done():
            raise WriterStoppedError("the command relay is not running in this process")
        request = wire.RelayRequest(
            uuid.uuid4().hex, self.reply_to, wire.now_millis() + int(self.timeout_s * 1000),
            commands, notes, group,
        )  # fmt: skip
        future: asyncio.Future[wire.RelayReply] = asyncio.get_running_loop().create_future()
        self._waiting[request.request_id] = future
        try:
            async with asyncio.timeout(self.timeout_s):
                fields = request.to_fields()
                await self._sender.send(
                    lambda pipe: pipe.xadd(
                        self._stream,
                        fields,  # type: ignore[arg-type]
                        maxlen=self._max_stream_len,
                        approximate=True,
                    )
                )
                reply = await future
        except TimeoutError:
            raise WriterStoppedError(
                f"the engine writer did not answer within {self.timeout_s:g} s; the outcome is "
                "unknown: retry with the same clientOrderId, or look the order up"
            ) from None
        except (RedisError, OSError) as exc:
            raise WriterStoppedError("the command relay (Redis) is unavailable; retry") from exc
        finally:
            self._waiting.pop(request.request_id, None)
        return await self._outcome(reply)

    async def _outcome(self, reply: wire.RelayReply) -> list[Submitted]:
        if reply.status == wire.DUPLICATE:
            raise DuplicateCommandError(reply.original_seq)
        if reply.status == wire.UNAVAILABLE:
            raise WriterStoppedError(reply.message)
        if reply.status == wire.INVALID:
            raise ValueError(reply.message)
        if reply.status != wire.OK:
            raise RuntimeError(f"the engine writer failed the command: {reply.message}")
        last = max(r.seq for r in reply.results)
        if not await self._replica.wait_for(last, self._read_wait_s):
            log.warning("replica behind the acknowledged seq %d; reads may be stale", last)
        return reply.results

    async def _read_replies(self) -> None:
        last_id: bytes | str = "0-0"  # the stream is this process's own: read it all
        while True:
            try:
                response = await self._redis.xread({self.reply_to: last_id}, count=512, block=1000)
            except (RedisError, OSError):
                log.warning("cannot read relay replies; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for entry_id, fields in _entries(response):
                last_id = entry_id
                self._resolve(fields)

    def _resolve(self, fields: Mapping[bytes, bytes]) -> None:
        try:
            reply = wire.RelayReply.from_fields(fields)
        except wire.WireFormatError:
            log.exception("dropping a malformed relay reply")
            return
        future = self._waiting.get(reply.request_id)
        if future is not None and not future.done():
            future.set_result(reply)


def _entries(response: Any) -> Iterable[tuple[bytes, dict[bytes, bytes]]]:
    """(id, fields) of an XREAD / XREADGROUP answer (RESP2 list or RESP3 dict shape)."""
    streams = response.items() if isinstance(response, dict) else (response or [])
    for _name, entries in streams:
        for entry in entries or []:
            entry_id, fields = entry[0], entry[1]
            yield entry_id, fields


class IndexLearner(Protocol):
    """The engine directory's refresh of indices other processes assigned."""

    async def learn(self, accounts: Iterable[int], markets: Iterable[int]) -> None: ...


class NotesJournal(Protocol):
    """The journal's notes by time (graph.writer.journal.MongoJournal)."""

    def notes_since(self, ts_ns: int) -> AsyncIterator[dict[int, dict[str, str]]]: ...


class WritersGroupConsumer:
    """A reader of one stream in the writers' consumer group: joins the group, runs
    ``_run`` as a task, and on stop lets the handlers in flight finish (up to a deadline).
    Subclasses set ``_stream`` and ``_consumer`` and implement ``_run``."""

    _redis: Redis
    _stream: str
    _consumer: str
    _task_name = "writers-group-consumer"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Join the writers' group, then read on."""
        await self._ensure_group()
        self._task = asyncio.create_task(self._run(), name=self._task_name)

    async def stop(self, drain_s: float = 5.0) -> None:
        """Stop reading; let handlers in flight finish (up to ``drain_s``), then cancel."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._inflight:
            _done, late = await asyncio.wait(set(self._inflight), timeout=drain_s)
            for handler in late:
                handler.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self._stream, WRITERS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _run(self) -> None:
        raise NotImplementedError


class CommandRelayConsumer(WritersGroupConsumer):
    """The writer's side of the relay: stream -> EngineWriter -> reply stream."""

    _task_name = "relay-consumer"

    def __init__(
        self,
        redis: Redis,
        writer: EngineWriter,
        journal: NotesJournal,
        directory: IndexLearner,
        *,
        consumer: str,
        prefix: str = "caas:",
        max_inflight: int = 8192,
        recovery_margin_s: float = 60.0,
    ) -> None:
        super().__init__()
        self._redis = redis
        self._writer = writer
        self._journal = journal
        self._directory = directory
        self._consumer = consumer
        self._stream = prefix + COMMANDS_STREAM
        self._max_inflight = max_inflight
        self._margin_ms = int(recovery_margin_s * 1000)
        self._running: set[str] = set()  # request ids in flight (never claimed again)
        self._replies = PipelineBatcher(redis, "relay-replies")

    async def stop(self, drain_s: float = 5.0) -> None:
        """Stop reading; let commands in flight finish (up to ``drain_s``), then cancel.

        A cancelled request stays pending in the group: the next writer claims it (``_run``
        claims a previous writer's leftovers first).
        """
        await super().stop(drain_s)
        await self._replies.close()

    async def _run(self) -> None:
        recovering = True  # at start, and after any failure: entries read may be unhandled
        while True:
            try:
                if recovering:
                    await self._take_over()
                    recovering = False
                response = await self._redis.xreadgroup(
                    WRITERS_GROUP, self._consumer, {self._stream: ">"}, count=512, block=1000
                )
                await self._dispatch(list(_entries(response)))
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    log.exception("command stream error; retrying")
                    recovering = True
                await self._ensure_group()  # (the stream was deleted: start it again)
            except Exception:  # Redis or the store: keep the writer's intake alive
                log.warning("relay intake failed; retrying", exc_info=True)
                recovering = True
                await asyncio.sleep(0.5)

    async def _take_over(self) -> None:
        """Handle what earlier writers (or this one, before) read and never acknowledged."""
        claimed: list[tuple[bytes, dict[bytes, bytes]]] = []
        start: bytes | str = "0-0"
        while True:
            answer = await self._redis.xautoclaim(
                self._stream, WRITERS_GROUP, self._consumer, 0, start_id=start, count=512
            )
            start, entries = answer[0], answer[1]
            claimed.extend(
                (e[0], e[1])
                for e in entries
                if e and e[1] and e[1].get(b"id", b"").decode() not in self._running
            )
            if start in (b"0-0", "0-0"):
                break
        if claimed:
            log.warning("taking over %d unacknowledged relay requests", len(claimed))
            await self._dispatch(claimed, recovering=True)

    async def _journaled(self, oldest_ms: int) -> dict[str, int]:
        """Request id -> first seq of relayed requests journaled since ``oldest_ms``."""
        found: dict[str, int] = {}
        async for notes in self._journal.notes_since((oldest_ms - self._margin_ms) * 1_000_000):
            for seq, note in notes.items():
                if wire.RELAY_NOTE in note:
                    found[note[wire.RELAY_NOTE]] = seq
        return found

    async def _dispatch(
        self, entries: list[tuple[bytes, dict[bytes, bytes]]], *, recovering: bool = False
    ) -> None:
        """Decode, drop the expired, learn new indices, then submit in stream order."""
        live: list[tuple[bytes, wire.RelayRequest]] = []
        now_ms = wire.now_millis()
        for entry_id, fields in entries:
            try:
                request = wire.RelayRequest.from_fields(fields)
            except wire.WireFormatError as exc:
                log.error("dropping a malformed relay request %r: %s", entry_id, exc)
                await self._ack(entry_id, fields.get(b"reply"), fields.get(b"id"), str(exc))
                continue
            if request.expired(now_ms):
                await self._redis.xack(self._stream, WRITERS_GROUP, entry_id)
                continue
            live.append((entry_id, request))
        if not live:
            return
        done: dict[str, int] = {}
        if recovering:
            done = await self._journaled(min(int(e.split(b"-")[0]) for e, _ in live))
        commands = np.concatenate([r.commands for _, r in live])
        await self._directory.learn(
            np.concatenate([commands["account"], commands["account2"]]).tolist(),
            commands["market"].tolist(),
        )
        for entry_id, request in live:  # tasks start in creation order: stream order holds
            if len(self._inflight) >= self._max_inflight:
                await asyncio.wait(set(self._inflight), return_when=asyncio.FIRST_COMPLETED)
            first_seq = done.get(request.request_id)
            self._running.add(request.request_id)
            handler = asyncio.create_task(self._handle(entry_id, request, first_seq))
            self._inflight.add(handler)
            handler.add_done_callback(self._inflight.discard)

    async def _handle(
        self, entry_id: bytes, request: wire.RelayRequest, journaled: int | None
    ) -> None:
        rid = request.request_id
        try:
            if journaled is not None:  # executed before the previous writer could answer
                n = len(request.commands)
                results = [Submitted(journaled + i, None, True) for i in range(n)]
                reply = wire.ok_reply(rid, results)
            else:
                reply = await self._execute(request)
            await self._send(entry_id, request.reply_to, reply)
        finally:
            self._running.discard(rid)

    async def _execute(self, request: wire.RelayRequest) -> wire.Fields:
        rid, notes = request.request_id, request.journal_notes()
        try:
            if request.group:
                results = await self._writer.submit_many(request.commands, notes)
            else:
                results = [await self._writer.submit(request.commands, notes[0])]
        except DuplicateCommandError as exc:
            return wire.error_reply(rid, wire.DUPLICATE, str(exc), exc.original_seq)
        except WriterStoppedError as exc:
            return wire.error_reply(rid, wire.UNAVAILABLE, str(exc))
        except ValueError as exc:
            return wire.error_reply(rid, wire.INVALID, str(exc))
        except Exception as exc:
            log.exception("relayed request %s failed", rid)
            return wire.error_reply(rid, wire.INTERNAL, type(exc).__name__)
        return wire.ok_reply(rid, results)

    async def _send(self, entry_id: bytes, reply_to: str, reply: wire.Fields) -> None:
        """Reply, then acknowledge (a request answered but not acknowledged is claimed by the
        next writer and answered again from the journal: replies are idempotent)."""

        def stage(pipe: Pipeline) -> None:
            pipe.xadd(reply_to, reply, maxlen=10_000, approximate=True)  # type: ignore[arg-type]
            pipe.expire(reply_to, REPLY_TTL_S)
            pipe.xack(self._stream, WRITERS_GROUP, entry_id)

        try:
            await self._replies.send(stage)
        except (RedisError, OSError):
            log.exception("could not answer relayed request %r", entry_id)

    async def _ack(
        self, entry_id: bytes, reply_to: bytes | None, request_id: bytes | None, message: str
    ) -> None:
        if reply_to and request_id:
            reply = wire.error_reply(request_id.decode(errors="replace"), wire.INVALID, message)
            await self._send(entry_id, reply_to.decode(errors="replace"), reply)
        else:
            await self._redis.xack(self._stream, WRITERS_GROUP, entry_id)
