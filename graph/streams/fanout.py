"""Serialize-once fan-out of market streams behind graphql-transport-ws.

Normal execution runs a subscription's selection once per subscriber per event (~330 µs a
message). Subscribers whose documents are identical (query text, operation name, variables)
and whose authorisation-relevant identity is the same (tenant, role, customer, scopes) see
identical ``next`` payloads, so a ``FanoutGroup`` executes the document once per event in the
``SharedFeed`` role, encodes the payload once, and each member splices its operation id into
the pre-built text. Each member still runs its own execution in the ``SnapshotOnly`` role
(authorisation, rate limit, the snapshot), so errors and first messages are exactly those of
normal execution; documents this module cannot group run normally.

Direct sends: on hypercorn's HTTP/1.1 websockets (found by ``raw_writer``), a member whose
queue is empty is *live*: the group writes each event's pre-built frame (built once per
distinct operation id) straight to the member's socket transport, synchronously, in its own
loop over the members, with no task switch, no ASGI, wsproto or drain per message. A member
goes back to its queue (and its task sends through ASGI, as before) when its transport's
write buffer is above ``DIRECT_BUFFER_LIMIT`` (a consumer not reading), when a sequence gap
shows, or when it needs a snapshot or ends; once its queue is drained it is live again.
Elsewhere (another server, the ASGI test transport) every message goes through the queue.

Flow control: a member's queue is bounded; when it overflows, its pending deltas are dropped
and it takes a fresh snapshot (CONFLATED); too many overflows end the operation with
SLOW_CONSUMER; a send that stalls closes the socket (1013, "slow consumer").
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from types import MethodType
from typing import Any

import orjson
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, OperationType, parse
from graphql.error import GraphQLSyntaxError
from strawberry.types import ExecutionResult

from domains.shared.context import Principal
from domains.shared.streams import CONFLATED, SharedFeed

log = logging.getLogger("caas.fanout")

GROUPABLE_FIELDS = frozenset({"orderBook", "trades"})  # resolvers that honour the roles
SEQUENCED_FIELDS = frozenset({"orderBook"})  # snapshot + contiguous deltas
UNSHARED_ARGUMENTS = frozenset({"afterSequence"})  # what makes a document one caller's
MEMBER_QUEUE_SIZE = 256
HOPELESS_OVERFLOWS = 3
HOPELESS_WINDOW_S = 10.0
SEND_TIMEOUT_S = 10.0
SLOW_CONSUMER_CLOSE_CODE = 1013  # "try again later": graphql-ws clients reconnect
READY_TIMEOUT_S = 5.0
DIRECT_BUFFER_LIMIT = 64 * 1024  # bytes pending in a transport before direct sends stop


@functools.lru_cache(maxsize=512)
def groupable_field(query: str, operation_name: str | None) -> str | None:
    """The root field of a subscription document the fan-out can group, else None."""
    try:
        document = parse(query)
    except GraphQLSyntaxError:
        return None
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1 or operations[0].operation is not OperationType.SUBSCRIPTION:
        return None
    selections = operations[0].selection_set.selections
    if len(selections) != 1 or not isinstance(selections[0], FieldNode):
        return None
    node = selections[0]
    if node.directives or node.name.value not in GROUPABLE_FIELDS:
        return None
    if any(a.name.value in UNSHARED_ARGUMENTS for a in node.arguments or ()):
        return None  # a resume point is one subscriber's: run normally
    return node.name.value


def identity_of(principal: Principal | None) -> tuple[object, ...] | None:
    """What authorisation depends on; None (not grouped) for anonymous callers."""
    if principal is None:
        return None
    return (
        principal.tenant_id, principal.role.value, principal.customer_id,
        tuple(sorted(principal.scopes)), principal.key_id if principal.signed else None,
    )  # fmt: skip


def encode_payload(result: ExecutionResult) -> str:
    """The ``payload`` of a ``next`` message, as strawberry's ``send_next`` builds it."""
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        payload["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        payload["extensions"] = result.extensions
    return orjson.dumps(payload).decode()


def next_frame(id_json: str, payload: str) -> str:
    """A ``next`` message for one operation: its id spliced into the pre-encoded payload."""
    return '{"id":' + id_json + ',"type":"next","payload":' + payload + "}"


def text_frame(text: str) -> bytes:
    """An unmasked, unfragmented websocket text frame (RFC 6455 5.2), as a server sends it."""
    data = text.encode()
    length = len(data)
    if length < 126:
        return bytes((0x81, length)) + data
    if length < 65536:
        return bytes((0x81, 126)) + length.to_bytes(2, "big") + data
    return bytes((0x81, 127)) + length.to_bytes(8, "big") + data


RawWriter = Callable[[bytes], bool]


def raw_writer(send: object) -> RawWriter | None:
    """A direct writer of whole frames to the socket behind an ASGI websocket ``send``.

    Only for hypercorn's HTTP/1.1 websockets: ``send`` is (possibly wrapped by middleware
    closures) the bound ``WSStream.app_send`` whose stream writes through ``H11Protocol`` to
    ``TCPServer.writer``. The writer returns False, writing nothing, when the stream is no
    longer open or its transport holds more than ``DIRECT_BUFFER_LIMIT`` bytes. None when
    ``send`` is anything else.
    """
    try:
        from hypercorn.protocol.h11 import H11Protocol
        from hypercorn.protocol.ws_stream import ASGIWebsocketState, WSStream
        from wsproto.connection import ConnectionState
    except ImportError:  # pragma: no cover
        return None
    for _ in range(4):  # middleware wrappers: closures holding the next ``send``
        if isinstance(send, MethodType) and isinstance(send.__self__, WSStream):
            break
        cells = [c.cell_contents for c in getattr(send, "__closure__", None) or ()]
        inner = [c for c in cells if callable(c)]
        if len(inner) != 1:
            return None
        send = inner[0]
    else:
        return None
    stream = send.__self__
    if not all(hasattr(stream, name) for name in ("closed", "state", "connection", "send")):
        return None  # another hypercorn: the queue path
    protocol = getattr(stream.send, "__self__", None)
    if not isinstance(protocol, H11Protocol):
        return None
    writer = getattr(getattr(protocol.send, "__self__", None), "writer", None)
    transport = getattr(writer, "transport", None)
    if not isinstance(transport, asyncio.WriteTransport):
        return None
    connected, open_ = ASGIWebsocketState.CONNECTED, ConnectionState.OPEN

    def write(frame: bytes) -> bool:
        if (
            stream.closed or stream.state is not connected
            or stream.connection is None or stream.connection.state is not open_
            or transport.is_closing() or transport.get_write_buffer_size() > DIRECT_BUFFER_LIMIT
        ):  # fmt: skip
            return False
        transport.write(frame)
        return True

    return write


@dataclass(eq=False)
class Member:
    """One subscriber of a group: a bounded queue of (first, last, payload) to send.

    With a ``direct`` writer, the member is ``live`` while its task idles with an empty
    queue: events are then written to its socket as they come (``deliver``), ``sequence``
    being the last one sent.
    """

    id_json: str
    sequenced: bool
    direct: RawWriter | None = None
    live: bool = False
    sequence: int = 0
    queue: deque[tuple[int, int, str]] = field(default_factory=deque)
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    resync: str | None = None  # a fresh snapshot is needed, and why
    final: str | None = None  # the group ended with this payload (errors) or ""
    overflow_times: list[float] = field(default_factory=list)

    def deliver(self, first: int, last: int, payload: str, frames: dict[str, bytes]) -> None:
        """Write the event straight to the socket when live; else queue it for the task."""
        if self.live and self.direct is not None:
            if self.sequenced:
                if last <= self.sequence:
                    return  # already in the snapshot
                if first > self.sequence + 1:
                    self.live = False  # a gap: the task resynchronises
                    self.offer(first, last, payload)
                    return
            frame = frames.get(self.id_json)
            if frame is None:
                frame = frames[self.id_json] = text_frame(next_frame(self.id_json, payload))
            if self.direct(frame):
                self.sequence = last
                return
            self.live = False  # not reading, or closing: the task's sends apply flow control
        self.offer(first, last, payload)

    def offer(self, first: int, last: int, payload: str) -> None:
        if len(self.queue) >= MEMBER_QUEUE_SIZE:
            self.queue.clear()
            self.overflow_times.append(time.monotonic())
            self.resync = CONFLATED if self.sequenced else "OVERFLOW"
        else:
            self.queue.append((first, last, payload))
        self.wakeup.set()

    def need_snapshot(self, reason: str) -> None:
        self.live = False
        self.queue.clear()
        self.resync = self.resync or reason
        self.wakeup.set()

    def end(self, payload: str) -> None:
        self.live = False
        self.final = payload
        self.wakeup.set()

    def hopeless(self) -> bool:
        now = time.monotonic()
        self.overflow_times = [t for t in self.overflow_times if now - t < HOPELESS_WINDOW_S]
        return len(self.overflow_times) >= HOPELESS_OVERFLOWS or self.resync == "OVERFLOW"


class FanoutGroup:
    """Subscribers of one document, variables and identity: one execution per event."""

    def __init__(self, registry: FanoutRegistry, key: tuple[object, ...], sequenced: bool) -> None:
        self.registry = registry
        self.key = key
        self.sequenced = sequenced
        self.members: set[Member] = set()
        self.ready = asyncio.Event()
        self.failed = False
        self.task: asyncio.Task[None] | None = None

    def start(self, stream: Callable[[SharedFeed], Awaitable[Any]]) -> None:
        self.task = asyncio.create_task(self._run(stream), name="fanout-group")

    async def _run(self, stream: Callable[[SharedFeed], Awaitable[Any]]) -> None:
        feed = SharedFeed(on_ready=self.ready.set, on_resync=self._resync)
        final = ""
        try:
            results = await stream(feed)
            async with aclosing(results):
                async for result in results:
                    if not isinstance(result, ExecutionResult) or not self.ready.is_set():
                        self.failed = True  # refused before streaming: members run normally
                        return
                    payload = encode_payload(result)
                    if result.errors:
                        final = payload
                        return
                    first, last = feed.current or (0, 0)
                    frames: dict[str, bytes] = {}  # the frame of each distinct operation id
                    for member in tuple(self.members):
                        member.deliver(first, last, payload, frames)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("fan-out group stream failed")
            self.failed = True
        finally:
            self.ready.set()
            self.registry.forget(self)
            for member in tuple(self.members):
                member.end(final)

    def _resync(self, reason: str) -> None:
        for member in tuple(self.members):
            member.need_snapshot(reason)

    def join(self, member: Member) -> None:
        self.members.add(member)

    def leave(self, member: Member) -> None:
        self.members.discard(member)
        if not self.members:
            self.registry.forget(self)
            if self.task is not None:
                self.task.cancel()


class FanoutRegistry:
    """This endpoint's live groups by key."""

    def __init__(self) -> None:
        self.groups: dict[tuple[object, ...], FanoutGroup] = {}

    def group(
        self, key: tuple[object, ...], sequenced: bool,
        stream: Callable[[SharedFeed], Awaitable[Any]],
    ) -> FanoutGroup:  # fmt: skip
        found = self.groups.get(key)
        if found is None or found.failed:
            found = self.groups[key] = FanoutGroup(self, key, sequenced)
            found.start(stream)
        return found

    def forget(self, group: FanoutGroup) -> None:
        if self.groups.get(group.key) is group:
            del self.groups[group.key]


def slow_consumer_payload(field_name: str) -> str:
    """What normal execution sends when a stream's resolver raises SlowConsumerError."""
    error = GraphQLError(
        "slow consumer: could not keep up with the stream; reconnect and subscribe again",
        path=[field_name],
        extensions={"code": "SLOW_CONSUMER"},
    )
    return orjson.dumps({"data": None, "errors": [error.formatted]}).decode()
