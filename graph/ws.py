"""graphql-transport-ws as the protocol defines it, where strawberry's handler falls short.

https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md. Strawberry 0.341's handler
answers a few malformed messages with an internal error (close 1011) or not at all: a binary
frame, a JSON value that is not an object, a subscribe whose ``id`` is not a non-empty
string, or whose ``query`` is not a string. It also refuses ``connection_init`` with a
``null`` payload (the protocol allows it), and with our ParserCache a document that does not
parse ends the operation with a bare ``complete``. Here:

- every message is checked against the protocol's message shapes first (as the reference
  server's ``validateMessage`` does); an invalid one closes the socket with 4400;
- ``connection_init`` / ``ping`` / ``pong`` payloads may be absent, ``null`` or an object;
- a syntax error is a GraphQL request error: an ``error`` message for that operation, with
  ``extensions.code`` VALIDATION, and the connection stays open for the others;
- ``pong`` echoes the ``ping`` payload, like the reference server;
- close reasons are cut to the 123 bytes a WebSocket close frame can carry.

Credentials: once acknowledged, a connection re-checks its credential whenever it expires
and every few seconds (graph/context.recheck_seconds); an expired token or key, or a revoked
key, closes the socket with 4403 and a reason such as "token expired". 4403 rather than
4401: graphql-ws clients treat 4401 as fatal but retry after 4403, calling a
``connectionParams`` function again, which is how a front end supplies a fresh token.

Unchanged from strawberry: 4401 subscribe before ``connection_ack``, 4403 refused
``connection_init``, 4406 no acceptable subprotocol, 4408 init timeout, 4409 duplicate
operation id, 4429 a second ``connection_init``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncGenerator
from contextlib import aclosing
from json import JSONDecodeError
from typing import Any

import orjson
from graphql import GraphQLError, GraphQLSyntaxError
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    PingMessage,
)
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError

from domains.shared.context import RequestContext
from domains.shared.streams import INITIAL, RESYNC, SharedFeed, SnapshotOnly
from graph.context import credential_problem, recheck_seconds
from graph.streams.fanout import (
    READY_TIMEOUT_S,
    SEND_TIMEOUT_S,
    SEQUENCED_FIELDS,
    SLOW_CONSUMER_CLOSE_CODE,
    FanoutRegistry,
    Member,
    groupable_field,
    identity_of,
    next_frame,
    raw_writer,
    slow_consumer_payload,
)

MAX_CLOSE_REASON_BYTES = 123
CREDENTIAL_CLOSE_CODE = 4403
CLIENT_MESSAGE_TYPES = frozenset({"connection_init", "ping", "pong", "subscribe", "complete"})
SERVER_MESSAGE_TYPES = frozenset({"connection_ack", "next", "error"})


def _optional(value: object, kind: type) -> bool:
    return value is None or isinstance(value, kind)


def _valid_id(value: object) -> bool:
    return isinstance(value, str) and value != ""


def protocol_violation(message: object) -> str | None:
    """Why ``message`` is not a valid client message of graphql-transport-ws, or None."""
    if not isinstance(message, dict):
        return "Message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "Message must have a string `type`"
    if kind in SERVER_MESSAGE_TYPES:
        return f"Unexpected message of type {kind} received"
    if kind not in CLIENT_MESSAGE_TYPES:
        return f"Unknown message type: {kind}"
    if kind in ("connection_init", "ping", "pong"):
        if not _optional(message.get("payload"), dict):
            return f"Invalid {kind} payload: must be an object or null"
        return None
    if not _valid_id(message.get("id")):
        return f"Invalid {kind} message: `id` must be a non-empty string"
    if kind == "complete":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return "Invalid subscribe message: `payload` must be an object"
    if not isinstance(payload.get("query"), str):
        return "Invalid subscribe message: `payload.query` must be a string"
    for name, kind_of in (("variables", dict), ("extensions", dict), ("operationName", str)):
        if not _optional(payload.get(name), kind_of):
            return f"Invalid subscribe message: `payload.{name}` has the wrong type"
    return None


def close_reason(reason: str) -> str:
    """``reason`` cut to what a close frame carries (123 bytes of UTF-8)."""
    encoded = reason.encode("utf-8")
    if len(encoded) <= MAX_CLOSE_REASON_BYTES:
        return reason
    return encoded[:MAX_CLOSE_REASON_BYTES].decode("utf-8", errors="ignore")


class WebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's ASGI adapter, telling binary frames apart from text ones.

    Hypercorn sends ``{"text": None, "bytes": b"..."}`` for a binary frame, which strawberry's
    adapter hands to the JSON decoder (a TypeError, close 1011) instead of refusing it.
    """

    async def iter_json(
        self, *, ignore_parsing_errors: bool = False
    ) -> AsyncGenerator[object, None]:
        while self.ws.application_state != WebSocketState.DISCONNECTED:
            try:
                frame = await self.ws.receive()
            except WebSocketDisconnect:
                return
            if frame["type"] == "websocket.disconnect":
                return
            text = frame.get("text")
            if not isinstance(text, str):
                raise NonTextMessageReceived
            try:
                decoded = self.view.decode_json(text)
            except JSONDecodeError as error:
                if ignore_parsing_errors:
                    continue
                raise NonJsonMessageReceived from error
            yield decoded

    async def close(self, code: int, reason: str) -> None:
        await super().close(code, close_reason(reason))


class GraphQLTransportWSHandler(BaseGraphQLTransportWSHandler[RequestContext, None]):
    """Strawberry's graphql-transport-ws handler, strict about message shapes."""

    async def handle_message(self, message: Message) -> None:
        problem = protocol_violation(message)
        if problem is not None:
            await self.handle_invalid_message(problem)
            return
        await super().handle_message(message)

    _credential_watch: asyncio.Task[None] | None = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if message.get("payload") is None:
            message = {"type": "connection_init", "payload": {}}
        await super().handle_connection_init(message)
        if self.connection_acknowledged and self._credential_watch is None:
            self._credential_watch = asyncio.create_task(
                self._watch_credential(), name="ws-credential-watch"
            )

    async def _watch_credential(self) -> None:
        """Close the socket when the connection's credential expires or is revoked."""
        principal = self.context.principal
        if principal is None:
            return
        while True:
            delay = recheck_seconds(self.context)
            if principal.expires_at is not None:
                remaining = (principal.expires_at - dt.datetime.now(dt.UTC)).total_seconds()
                delay = min(delay, max(remaining, 0.0) + 0.001)
            await asyncio.sleep(delay)
            try:
                problem = await credential_problem(self.context)
            except Exception:  # the store did not answer: keep the socket, check again
                continue
            if problem is not None:
                await self.websocket.close(CREDENTIAL_CLOSE_CODE, problem.message)
                return

    async def cleanup_operation(self, operation_id: str) -> None:
        """A completed (or closed) operation sends nothing more and forgets no other id.

        Strawberry only cancels the task; one that outlives its cancellation would still
        send ``complete`` and de-register whatever operation reuses the id (a KeyError once
        the socket is gone).
        """
        operation = self.operations.get(operation_id)
        if operation is not None:
            operation.completed = True
        await super().cleanup_operation(operation_id)

    async def shutdown(self) -> None:
        if self._credential_watch is not None:
            self._credential_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._credential_watch
        await super().shutdown()

    async def handle_ping(self, message: PingMessage) -> None:
        payload = message.get("payload")
        if payload is not None:
            await self.send_message({"type": "pong", "payload": payload})
        else:
            await self.send_message({"type": "pong"})

    # --- serialize-once fan-out (graph/streams/fanout.py) -----------------------------------

    async def run_operation(self, operation: Operation[RequestContext, None]) -> None:
        """Groupable market streams go through the fan-out; everything else runs normally."""
        registry = getattr(self.view, "fanout", None)
        field_name = groupable_field(operation.query, operation.operation_name)
        identity = identity_of(self.context.principal) if field_name else None
        if not isinstance(registry, FanoutRegistry) or field_name is None or identity is None:
            await super().run_operation(operation)
            return
        try:
            if not await self._run_grouped(operation, registry, field_name, identity):
                await super().run_operation(operation)
        except _OperationStreamClosed:
            return

    async def _run_grouped(
        self, operation: Operation[RequestContext, None], registry: FanoutRegistry,
        field_name: str, identity: tuple[object, ...],
    ) -> bool:  # fmt: skip
        """Serve the operation from its group; False when the group could not stream."""
        variables = orjson.dumps(operation.variables or {}, option=orjson.OPT_SORT_KEYS)
        key = (id(self.schema), operation.query, operation.operation_name, variables, identity)
        sequenced = field_name in SEQUENCED_FIELDS

        def feed(role: SharedFeed) -> Any:
            return self.schema.stream(
                operation.query, variable_values=operation.variables, context_value=self.context,
                root_value=role, operation_name=operation.operation_name,
            )  # fmt: skip

        group = registry.group(key, sequenced, feed)
        with contextlib.suppress(TimeoutError):  # not wait_for: it can lose a cancellation
            async with asyncio.timeout(READY_TIMEOUT_S):
                await group.ready.wait()
        if group.failed or not group.ready.is_set():
            return False  # normal execution reports whatever refused it
        socket = self.websocket.ws  # type: ignore[attr-defined]
        direct = raw_writer(getattr(socket, "_send", None))
        member = Member(
            id_json=orjson.dumps(operation.id).decode(), sequenced=sequenced, direct=direct
        )
        group.join(member)
        try:
            reason, min_sequence = INITIAL, 0
            while True:
                member.resync = None
                role = SnapshotOnly(reason=reason, min_sequence=min_sequence)
                if not await self._first_messages(operation, role):
                    return True
                resync = await self._pump(operation, member, role.sequence or 0, field_name)
                if resync is None:
                    return True
                reason, min_sequence = resync
        finally:
            group.leave(member)

    async def _first_messages(
        self, operation: Operation[RequestContext, None], role: SnapshotOnly
    ) -> bool:
        """This subscriber's own execution (authorisation, snapshot); False if it ended."""
        source = await self.schema.stream(
            operation.query, variable_values=operation.variables, context_value=self.context,
            root_value=role, operation_name=operation.operation_name,
        )  # fmt: skip
        errored = False
        async with aclosing(source):
            async for result in source:
                if isinstance(result, PreExecutionError):
                    await self._handle_pre_execution_error(operation, result)
                    return False
                if not isinstance(result, ExecutionResult):
                    await self._reject_incremental_delivery(operation)
                    return False
                await operation.send_next(result)
                errored = errored or bool(result.errors)
        if errored or not role.authorised:
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
            return False
        return True

    async def _pump(
        self, operation: Operation[RequestContext, None], member: Member, sequence: int,
        field_name: str,
    ) -> tuple[str, int] | None:  # fmt: skip
        """Send the group's pre-encoded messages; (reason, min sequence) when a snapshot is due."""
        socket = self.websocket.ws  # type: ignore[attr-defined]
        while True:
            if member.resync is not None:
                if member.hopeless():
                    await socket.send_text(
                        next_frame(member.id_json, slow_consumer_payload(field_name))
                    )
                    await operation.send_operation_message({"id": operation.id, "type": "complete"})
                    return None
                return member.resync, 0
            if member.queue:
                first, last, payload = member.queue.popleft()
                if member.sequenced:
                    if last <= sequence:
                        continue  # already in the snapshot
                    if first > sequence + 1:
                        return RESYNC, last
                    sequence = last
                try:
                    async with asyncio.timeout(SEND_TIMEOUT_S):
                        await socket.send_text(next_frame(member.id_json, payload))
                except TimeoutError:
                    reason = "slow consumer: messages were not read for 10 s"
                    await self.websocket.close(SLOW_CONSUMER_CLOSE_CODE, reason)
                    return None
                continue
            if member.final is not None:
                if member.final:
                    await socket.send_text(next_frame(member.id_json, member.final))
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
                return None
            member.wakeup.clear()
            if member.direct is not None:  # the group writes to the socket until woken
                member.sequence, member.live = sequence, True
            await member.wakeup.wait()
            if member.direct is not None:
                sequence, member.live = member.sequence, False

    @staticmethod
    def _get_pre_execution_close_reason(error: GraphQLError) -> str | None:
        """A syntax error is a request error for that operation (an ``error`` message).

        Strawberry closes the whole socket with 4400 for it; the reference server does not.
        Errors that make the operation type undeterminable still close with 4400.
        """
        if isinstance(error, GraphQLSyntaxError):
            return None
        return BaseGraphQLTransportWSHandler._get_pre_execution_close_reason(error)
