"""Calls that must run in the engine writer's process (custody: the chain lives there), from
API processes and standbys over a Redis stream, beside the command relay.

Client side (``WriterCalls``): XADD ``{id, reply, deadline_ms, name, body}`` to
``<prefix>engine:calls``, await the answer on this process's own reply stream, then wait
until the replica applied the writer's sequence at answer time (read-your-writes, as the
command relay does). Writer side (``WriterCallServer``): reads the stream in the
``engine-writers`` consumer group and acknowledges each entry as it reads it: a call runs
at most once. If the writer dies mid-call the caller gets UNAVAILABLE (outcome unknown):
retry with the same idempotencyKey, or look the object up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from domains.shared.errors import UnavailableError
from graph.writer.command_relay import WRITERS_GROUP, WritersGroupConsumer, _entries
from graph.writer.relay_wire import now_millis
from graph.writer.replica import EngineReplica
from graph.writer.sequencer import EngineWriter

log = logging.getLogger("caas.writer_calls")

CALLS_STREAM = "engine:calls"  # after the key prefix
CALL_REPLIES = "engine:call-replies:"  # + the calling process's id
REPLY_TTL_S = 300
JSON = Any
CallHandler = Callable[[str, JSON, dict[str, JSON]], Awaitable[JSON]]


class CallFailedError(RuntimeError):
    """The writer failed the call unexpectedly (masked as INTERNAL to the client)."""


class WriterCalls:
    """The dispatcher domains see: local while this process writes, else over Redis."""

    def __init__(
        self,
        is_local: Callable[[], bool],
        redis: Redis | None,
        replica: EngineReplica,
        *,
        prefix: str,
        timeout_s: float,
        read_wait_s: float = 5.0,
    ) -> None:
        self._is_local = is_local
        self._redis = redis
        self._replica = replica
        self._stream = prefix + CALLS_STREAM
        self.reply_to = f"{prefix}{CALL_REPLIES}{uuid.uuid4().hex}"
        self.timeout_s = timeout_s
        self._read_wait_s = read_wait_s
        self._waiting: dict[str, asyncio.Future[dict[bytes, bytes]]] = {}
        self._reader: asyncio.Task[None] | None = None

    @property
    def local(self) -> bool:
        return self._is_local()

    async def start(self) -> None:
        if self._redis is not None and (self._reader is None or self._reader.done()):
            self._reader = asyncio.create_task(self._read_replies(), name="writer-call-replies")

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(UnavailableError("this server process is shutting down"))
        self._waiting.clear()
        if self._redis is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._redis.delete(self.reply_to)

    async def call(self, name: str, principal: JSON, args: dict[str, JSON]) -> JSON:
        """Run ``name`` in the writer; its JSON answer (``{"result"}`` or ``{"error"}``)."""
        if self._redis is None or self._reader is None or self._reader.done():
            raise UnavailableError(
                "this server does not run the engine writer and cannot reach it (no REDIS_URL)"
            )
        request_id = uuid.uuid4().hex
        fields: dict[bytes | str, bytes | str | int] = {
            "id": request_id,
            "reply": self.reply_to,
            "deadline_ms": now_millis() + int(self.timeout_s * 1000),
            "name": name,
            "body": orjson.dumps({"principal": principal, "args": args}),
        }
        future: asyncio.Future[dict[bytes, bytes]] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._redis.xadd(
                    self._stream,
                    fields,  # type: ignore[arg-type]
                    maxlen=10_000,
                    approximate=True,
                )
                reply = await future
        except TimeoutError:
            raise UnavailableError(
                f"the engine writer did not answer within {self.timeout_s:g} s; the outcome "
                "is unknown: retry with the same idempotencyKey, or look it up"
            ) from None
        except (RedisError, OSError) as exc:
            raise UnavailableError("the writer relay (Redis) is unavailable; retry") from exc
        finally:
            self._waiting.pop(request_id, None)
        body = orjson.loads(reply[b"body"])
        if "internal" in body:
            raise CallFailedError(f"the engine writer failed {name}: {body['internal']}")
        seq = int(reply.get(b"seq", b"0"))
        if not await self._replica.wait_for(seq, self._read_wait_s):
            log.warning("replica behind the writer's seq %d; reads may be stale", seq)
        return body

    async def _read_replies(self) -> None:
        assert self._redis is not None
        last_id: bytes | str = "0-0"
        while True:
            try:
                response = await self._redis.xread({self.reply_to: last_id}, count=256, block=1000)
            except (RedisError, OSError):
                log.warning("cannot read writer call replies; retrying", exc_info=True)
                await asyncio.sleep(0.5)
                continue
            for entry_id, fields in _entries(response):
                last_id = entry_id
                future = self._waiting.get(fields.get(b"id", b"").decode())
                if future is not None and not future.done():
                    future.set_result(fields)


class WriterCallServer(WritersGroupConsumer):
    """The writer's side: runs forwarded calls with the handler the root registered."""

    _task_name = "writer-call-server"

    def __init__(self, redis: Redis, writer: EngineWriter, *, consumer: str, prefix: str) -> None:
        super().__init__()
        self._redis = redis
        self._writer = writer
        self._consumer = consumer
        self._stream = prefix + CALLS_STREAM
        self.handler: CallHandler | None = None

    async def _run(self) -> None:
        while True:
            try:
                response = await self._redis.xreadgroup(
                    WRITERS_GROUP, self._consumer, {self._stream: ">"}, count=64, block=1000
                )
                for entry_id, fields in _entries(response):
                    await self._redis.xack(self._stream, WRITERS_GROUP, entry_id)  # at most once
                    task = asyncio.create_task(self._handle(fields))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
            except ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    log.exception("writer call stream error; retrying")
                    await asyncio.sleep(0.5)
                await self._ensure_group()
            except Exception:
                log.warning("writer call intake failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)

    async def _handle(self, fields: dict[bytes, bytes]) -> None:
        try:
            request_id, reply_to = fields[b"id"].decode(), fields[b"reply"].decode()
            if now_millis() > int(fields[b"deadline_ms"]):
                return  # the caller gave up (it answered UNAVAILABLE): never run it late
            name, request = fields[b"name"].decode(), orjson.loads(fields[b"body"])
        except (KeyError, ValueError, UnicodeDecodeError):
            log.error("dropping a malformed writer call")
            return
        try:
            if self.handler is None:
                raise RuntimeError("no handler registered for writer calls")
            body = await self.handler(name, request["principal"], request["args"])
        except Exception as exc:
            log.exception("writer call %s (%s) failed", name, request_id)
            body = {"internal": type(exc).__name__}
        reply = {"id": request_id, "body": orjson.dumps(body), "seq": self._writer.engine.last_seq}
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.xadd(reply_to, reply, maxlen=10_000, approximate=True)  # type: ignore[arg-type]
                pipe.expire(reply_to, REPLY_TTL_S)
                await pipe.execute()
        except (RedisError, OSError):
            log.exception("could not answer writer call %s", request_id)
