"""Hostile graphql-transport-ws frames through the ASGI app: every wrong shape closes the
socket with the protocol's 44xx codes (4400 bad message, 4401 subscribe before the
acknowledgement, 4409 duplicate id, 4429 second init; 1009 for a frame over the size
limit) or answers that operation with a typed error, and never a 1011 or a crash. A fixed
corpus with the exact outcome, and hypothesis frames after the acknowledgement."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from graph.ops.seed import DemoKey
from graph.ws import protocol_violation
from tests.e2e.hostile_input import TRIED, error_codes_of, json_values, request_objects

pytestmark = [pytest.mark.e2e, pytest.mark.store]

PROTOCOL = "graphql-transport-ws"
OPEN = None  # the connection stays open (it answers a ping)
SUBSCRIPTION = "subscription { orderUpdates { order { id } } }"
TIMEOUT_S = 5.0

# ("json", value) | ("text", str) | ("bytes", bytes) | ("recv", None) | ("init", None): a
# connection_init with alice's credentials, so her subscriptions stay open
Step = tuple[str, Any]


@dataclass(frozen=True)
class Outcome:
    code: int | None  # the close code, or OPEN
    messages: list[dict[str, Any]]

    @property
    def types(self) -> list[str]:
        return [m.get("type", "?") for m in self.messages]


@asynccontextmanager
async def connect(
    app: Starlette, path: str = "/graphql", protocols: tuple[str, ...] = (PROTOCOL,)
) -> AsyncIterator[AsyncWebSocketSession]:
    async with httpx.AsyncClient(transport=ASGIWebSocketTransport(app=app)) as client:
        session: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
            f"http://testserver{path}", client, subprotocols=list(protocols)
        )
        async with session as ws:
            yield ws


async def _step(
    ws: AsyncWebSocketSession, kind: str, value: Any, token: str
) -> dict[str, Any] | None:
    if kind == "init":
        payload = {"Authorization": f"Bearer {token}"}
        await ws.send_text(json.dumps({"type": "connection_init", "payload": payload}))
    elif kind == "json":
        await ws.send_text(json.dumps(value))
    elif kind == "text":
        await ws.send_text(value)
    elif kind == "bytes":
        await ws.send_bytes(value)
    else:
        message: dict[str, Any] = await ws.receive_json(timeout=TIMEOUT_S)
        return message
    return None


async def converse(
    app: Starlette, token: str, steps: list[Step], path: str = "/graphql",
    protocols: tuple[str, ...] = (PROTOCOL,),
) -> Outcome:  # fmt: skip
    """Run ``steps``, then ping: what came back, and the close code or OPEN if it pongs."""
    messages: list[dict[str, Any]] = []
    TRIED["websocket conversations"] += 1
    async with connect(app, path, protocols) as ws:
        try:
            for kind, value in steps:
                message = await _step(ws, kind, value, token)
                if message is not None:
                    messages.append(message)
            await ws.send_text('{"type": "ping"}')
            while (message := await ws.receive_json(timeout=TIMEOUT_S))["type"] != "pong":
                messages.append(message)
        except WebSocketDisconnect as closed:
            return Outcome(closed.code, messages)
    return Outcome(OPEN, messages)


@pytest.fixture(scope="module")
def alice(demo_keys: dict[str, DemoKey]) -> str:
    return demo_keys["alice"].token


def after_ack(*steps: Step) -> list[Step]:
    return [("init", None), ("recv", None), *steps]


def subscribe(id_: Any = "1", query: Any = SUBSCRIPTION, **payload: Any) -> Step:
    return ("json", {"id": id_, "type": "subscribe", "payload": {"query": query, **payload}})


def _bad_messages() -> dict[str, tuple[list[Step], int | None, list[str]]]:
    """Frames the protocol refuses: 4400 after the acknowledgement."""
    frames: dict[str, Step] = {
        "not JSON": ("text", "{not json"),
        "empty text": ("text", ""),
        "a binary frame": ("bytes", b'{"type": "ping"}'),
        "JSON null": ("text", "null"),
        "JSON array": ("text", "[]"),
        "JSON string": ("text", '"ping"'),
        "JSON number": ("text", "5"),
        "NaN": ("text", '{"type": "ping", "payload": {"x": NaN}}'),
        "JSON nested 10,000 deep": ("text", '{"type": "ping", "payload": {"x": '
                                    + "[" * 10_000 + "]" * 10_000 + "}}"),
        "no type": ("json", {"id": "1"}),
        "a numeric type": ("json", {"type": 5}),
        "an unknown type": ("json", {"type": "bogus"}),
        "a server type (next)": ("json", {"type": "next", "id": "1", "payload": {}}),
        "a server type (connection_ack)": ("json", {"type": "connection_ack"}),
        "ping payload a number": ("json", {"type": "ping", "payload": 5}),
        "pong payload a string": ("json", {"type": "pong", "payload": "x"}),
        "complete without id": ("json", {"type": "complete"}),
        "subscribe without id": ("json", {"type": "subscribe", "payload": {"query": SUBSCRIPTION}}),
        "subscribe with an empty id": subscribe(""),
        "subscribe with a numeric id": subscribe(1),
        "subscribe with a list id": subscribe([1]),
        "subscribe with a null id": subscribe(None),
        "subscribe without payload": ("json", {"id": "1", "type": "subscribe"}),
        "subscribe with a string payload": ("json", {"id": "1", "type": "subscribe",
                                                     "payload": "x"}),
        "subscribe with a list payload": ("json", {"id": "1", "type": "subscribe",
                                                   "payload": []}),
        "subscribe without query": ("json", {"id": "1", "type": "subscribe", "payload": {}}),
        "subscribe with a numeric query": subscribe("1", 5),
        "subscribe with a list query": subscribe("1", [SUBSCRIPTION]),
        "subscribe with string variables": subscribe(variables="x"),
        "subscribe with list variables": subscribe(variables=[]),
        "subscribe with string extensions": subscribe(extensions="x"),
        "subscribe with a numeric operationName": subscribe(operationName=5),
    }  # fmt: skip
    return {
        f"{name}: 4400": (after_ack(step), 4400, ["connection_ack"])
        for name, step in frames.items()
    }


def _protocol_states() -> dict[str, tuple[list[Step], int | None, list[str]]]:
    ack, huge = ["connection_ack"], "x" * (1024 * 1024 + 1)
    init_payload = {"type": "connection_init", "payload": "x"}
    return {
        "subscribe before connection_init: 4401": ([subscribe()], 4401, []),
        "a second connection_init: 4429": (after_ack(("init", None)), 4429, ack),
        "connection_init with a string payload: 4400": ([("json", init_payload)], 4400, []),
        "connection_init with a list payload: 4400": (
            [("json", {"type": "connection_init", "payload": []})], 4400, []),
        "a duplicate subscription id: 4409": (after_ack(subscribe(), subscribe()), 4409, ack),
        "a frame over 1 MiB: 1009": (after_ack(("text", huge)), 1009, ack),
        "a binary frame before init: 4400": ([("bytes", b"\x00\xff")], 4400, []),
        "connection_init with a null payload is acknowledged": (
            [("json", {"type": "connection_init", "payload": None}), ("recv", None)], OPEN, ack),
        "ping before init gets a pong": ([], OPEN, []),
        "complete of an unknown id is ignored": (
            after_ack(("json", {"id": "zz", "type": "complete"})), OPEN, ack),
        "an id can be used again after complete": (
            after_ack(subscribe(), ("json", {"id": "1", "type": "complete"}), subscribe()),
            OPEN, ack),
    }  # fmt: skip


def _operation_errors() -> dict[str, tuple[list[Step], int | None, list[str]]]:
    """Request errors over the socket: an ``error`` message for that operation, still open."""
    error = ["connection_ack", "error"]
    repeats = "subscription { " + "orderUpdates { order { id } } " * 25 + "}"
    two = "subscription A { orderUpdates { order { id } } } query B { __typename }"
    return {
        "a syntax error": (after_ack(subscribe("1", "subscription {"), ("recv", None)),
                           OPEN, error),
        "an unknown field": (after_ack(subscribe("1", "subscription { nope }"), ("recv", None)),
                             OPEN, error),
        "too many field repeats": (after_ack(subscribe("1", repeats), ("recv", None)), OPEN, error),
        "two operations, no operationName": (after_ack(subscribe("1", two), ("recv", None)),
                                             OPEN, error),
        "an unknown operationName closes with 4400": (
            after_ack(subscribe("1", two, operationName="C")), 4400, ["connection_ack"]),
        "wrong variable types": (after_ack(subscribe(
            "1", "subscription($a: ID) { orderUpdates(account: $a) { order { id } } }",
            variables={"a": {"x": 1}}), ("recv", None)), OPEN, error),
        "a query over the socket: next, complete": (
            after_ack(subscribe("q", "{ __typename }"), ("recv", None), ("recv", None)),
            OPEN, ["connection_ack", "next", "complete"]),
    }  # fmt: skip


CORPUS = {**_bad_messages(), **_protocol_states(), **_operation_errors()}
ERROR_CODES = {
    "a syntax error": "VALIDATION",
    "an unknown field": "VALIDATION",
    "too many field repeats": "TOO_MANY_FIELD_REPEATS",
    "two operations, no operationName": "VALIDATION",
}


def assert_typed_messages(messages: list[dict[str, Any]]) -> None:
    """Every ``error`` and every ``next`` with errors carries stable codes, none INTERNAL."""
    for message in messages:
        if message.get("type") == "error":
            assert "INTERNAL" not in error_codes_of(message["payload"]), message
        elif message.get("type") == "next" and "errors" in message["payload"]:
            assert "INTERNAL" not in error_codes_of(message["payload"]["errors"]), message


@pytest.mark.parametrize("path", ["/graphql", "/subgraphs/orders/graphql"])
@pytest.mark.parametrize("name", list(CORPUS))
async def test_every_hostile_frame_gets_the_protocol_answer(
    app: Starlette, alice: str, name: str, path: str
) -> None:
    steps, code, types = CORPUS[name]
    outcome = await converse(app, alice, steps, path)
    assert (outcome.code, outcome.types) == (code, types), outcome.messages
    assert_typed_messages(outcome.messages)
    if name in ERROR_CODES:
        assert error_codes_of(outcome.messages[-1]["payload"]) == [ERROR_CODES[name]]


async def test_without_the_subprotocol_the_socket_closes_with_4406(
    app: Starlette, alice: str
) -> None:
    assert (await converse(app, alice, [], protocols=())).code == 4406
    assert (await converse(app, alice, [], protocols=("graphql-ws-nope",))).code == 4406


async def test_the_server_still_serves_after_the_corpus(app: Starlette, alice: str) -> None:
    query = after_ack(subscribe("q", "{ viewer { role } }"), ("recv", None))
    outcome = await converse(app, alice, query)
    assert (outcome.code, outcome.types) == (OPEN, ["connection_ack", "next", "complete"])
    assert outcome.messages[1]["payload"] == {"data": {"viewer": {"role": "TRADER"}}}


async def test_a_subscription_completed_at_once_leaves_no_task_running(
    app: Starlette, alice: str
) -> None:
    """A ``complete`` right after ``subscribe`` cancels the operation while its stream is
    being set up; the cancellation must not be lost (the task would stream on, unseen)."""
    before = asyncio.all_tasks()
    complete: list[Step] = [("json", {"id": "1", "type": "complete"})]
    outcome = await converse(app, alice, after_ack(subscribe(), *complete, subscribe(), *complete))
    await asyncio.sleep(0.05)
    running = [
        task for task in asyncio.all_tasks() - before
        if task.get_coro().__qualname__.endswith("run_operation")  # type: ignore[union-attr]
    ]  # fmt: skip
    assert (outcome.code, running) == (OPEN, [])


ws_messages = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["connection_init", "ping", "pong", "subscribe", "complete"])
        | json_values,
        "id": st.sampled_from(["1", "2", ""]) | json_values,
        "payload": request_objects | json_values,
    },
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


def assert_protocol_answer(frame: object, outcome: Outcome) -> None:
    """A frame the protocol refuses closes with 4400; a valid one leaves the socket open
    (or closes it for a second init, 4429); never anything else."""
    assert_typed_messages(outcome.messages)
    if protocol_violation(frame) is not None:
        assert outcome.code == 4400, (frame, outcome)
    elif isinstance(frame, dict) and frame.get("type") == "connection_init":
        assert outcome.code == 4429, (frame, outcome)
    else:
        assert outcome.code is OPEN, (frame, outcome)


@FUZZ
@given(frame=json_values | ws_messages)
async def test_any_json_frame_after_the_acknowledgement_gets_a_protocol_answer(
    app: Starlette, alice: str, frame: object
) -> None:
    outcome = await converse(app, alice, after_ack(("json", frame)))
    assert_protocol_answer(frame, outcome)


@FUZZ
@given(text=st.text(max_size=60))
async def test_any_text_frame_gets_a_protocol_answer(app: Starlette, alice: str, text: str) -> None:
    outcome = await converse(app, alice, after_ack(("text", text)))
    try:
        frame: object = json.loads(text)
    except ValueError:
        assert outcome.code == 4400, outcome
        return
    assert_protocol_answer(frame, outcome)


@FUZZ
@given(data=st.binary(max_size=60))
async def test_any_binary_frame_closes_with_4400(app: Starlette, alice: str, data: bytes) -> None:
    assert (await converse(app, alice, after_ack(("bytes", data)))).code == 4400
