"""Market streams over graphql-transport-ws: book rebuild, fan-out equivalence, conflation,
authorisation and malformed messages."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import orjson
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect
from starlette.applications import Starlette

from graph.ops.seed import DemoKey
from graph.streams.watch import LocalBook
from tests.e2e.test_isolation import _ok
from tests.e2e.test_subscriptions import ws_session
from tests.graphql_client import gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

BOOK = """subscription($m: ID!, $d: Int!) { orderBook(market: $m, depth: $d) {
  kind sequence firstSequence lastSequence conflated reason
  bids { price quantity } asks { price quantity } } }"""
# the same selections through a fragment at the root: never grouped, so normal execution
BOOK_NORMAL = """subscription($m: ID!, $d: Int!) { ...B } fragment B on Subscription {
  orderBook(market: $m, depth: $d) { kind sequence firstSequence lastSequence conflated reason
  bids { price quantity } asks { price quantity } } }"""
TRADES_NORMAL = """subscription($m: ID!) { ...T } fragment T on Subscription {
  trades(market: $m) { id sequence price quantity takerSide } }"""
TRADES = """subscription($m: ID!) { trades(market: $m) { id sequence price quantity takerSide } }"""
SNAPSHOT = """query($m: ID!, $d: Int!) { orderBook(market: $m, depth: $d) { sequence
  bids { price quantity } asks { price quantity } } }"""
PLACE = """mutation($a: ID!, $s: Side!, $p: Decimal!, $q: Decimal!) { placeOrder(input: {
  accountId: $a, market: "BTC-USDT", side: $s, type: LIMIT, quantity: $q, price: $p})
  { order { id status } } }"""
CANCEL = "mutation($id: ID!) { cancelOrder(id: $id) { order { id status } } }"


@asynccontextmanager
async def _session(app: Starlette, key: DemoKey) -> AsyncIterator[AsyncWebSocketSession]:
    async with ws_session(app, {"Authorization": f"Bearer {key.token}"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        yield ws


async def _subscribe(ws: AsyncWebSocketSession, sub_id: str, query: str, **variables: Any) -> None:
    payload = {"query": query, "variables": variables}
    await ws.send_json({"id": sub_id, "type": "subscribe", "payload": payload})


async def _drain(ws: AsyncWebSocketSession, quiet_s: float = 0.5) -> list[dict[str, Any]]:
    received = []
    while True:
        try:
            received.append(await ws.receive_json(timeout=quiet_s))
        except TimeoutError:
            return received


async def _random_flow(http: httpx.AsyncClient, keys: list[DemoKey], steps: int, seed: int) -> None:
    """Random limit orders around 60,000 and cancels of resting ones, from several clients."""
    rng = random.Random(seed)
    resting: list[tuple[DemoKey, str]] = []
    for _ in range(steps):
        key = rng.choice(keys)
        if resting and rng.random() < 0.3:
            owner, order_id = resting.pop(rng.randrange(len(resting)))
            await gql(http, CANCEL, {"id": order_id}, key=owner)
            continue
        side = rng.choice(["BUY", "SELL"])
        price = Decimal(60_000 + rng.randrange(-20, 21) * 10)
        quantity = Decimal(rng.randrange(1, 20)) / 1000
        variables = {"a": key.account_id, "s": side, "p": str(price), "q": str(quantity)}
        body = await gql(http, PLACE, variables, key=key)
        order = ((body.get("data") or {}).get("placeOrder") or {}).get("order")
        if order and order["status"] in ("NEW", "PARTIALLY_FILLED"):
            resting.append((key, order["id"]))


async def test_a_client_rebuilds_the_book_from_deltas_and_matches_the_snapshot_query(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    async with _session(app, alice) as ws:
        await _subscribe(ws, "book", BOOK, m="BTC-USDT", d=500)
        first = await ws.receive_json(timeout=5)
        book = LocalBook()
        book.apply(first["payload"]["data"]["orderBook"])
        assert first["payload"]["data"]["orderBook"]["kind"] == "SNAPSHOT"
        await _random_flow(http, [alice, bob], steps=80, seed=7)
        for message in await _drain(ws):
            assert message["type"] == "next" and message["id"] == "book", message
            book.apply(message["payload"]["data"]["orderBook"])
        snapshot = await _ok(http, SNAPSHOT, {"m": "BTC-USDT", "d": 500}, alice)
        assert book.sequence == snapshot["orderBook"]["sequence"]
        assert book.diverges_from(snapshot["orderBook"]) == []
        assert book.deltas > 10 and book.gaps == 0


async def test_fanout_messages_equal_normal_execution_of_the_same_document(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    async with AsyncExitStack() as stack:
        sockets = [await stack.enter_async_context(_session(app, alice)) for _ in range(3)]
        for ws, query in zip(sockets, (BOOK, BOOK, BOOK_NORMAL), strict=True):
            await _subscribe(ws, "s1", query, m="BTC-USDT", d=50)
            trades = TRADES if query is BOOK else TRADES_NORMAL
            await _subscribe(ws, "t1", trades, m="BTC-USDT")
        await asyncio.sleep(0.2)
        await _random_flow(http, [alice, bob], steps=30, seed=11)
        streams = [await _drain(ws) for ws in sockets]
        assert streams[0] == streams[1] == streams[2]
        assert len([m for m in streams[0] if m["id"] == "s1"]) > 5
        assert any(m["id"] == "t1" for m in streams[0])


async def test_an_unlisted_market_is_the_same_error_on_both_paths(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    create = """mutation { createMarket(input: {baseAsset: "DOGE", quoteAsset: "USDT",
      tickSize: "0.0001", lotSize: "1", minNotional: "1"}) { id } }"""
    await gql(http, create, {}, key=demo_keys["operator"])
    async with _session(app, demo_keys["alice"]) as ws:
        await _subscribe(ws, "fast", BOOK, m="DOGE-USDT", d=5)
        await _subscribe(ws, "normal", BOOK_NORMAL, m="DOGE-USDT", d=5)
        await _subscribe(ws, "trades", TRADES, m="NOPE-USDT")
        received = {m["id"]: m for m in await _drain(ws) if m["type"] != "complete"}
        assert set(received) == {"fast", "normal", "trades"}
        for message in received.values():
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["extensions"]["code"] in ("MARKET_NOT_LISTED", "NOT_FOUND"), message
        assert received["fast"]["payload"] == received["normal"]["payload"]
        await ws.send_json({"type": "ping"})
        assert (await ws.receive_json(timeout=5))["type"] == "pong"  # the socket lives on


async def test_a_consumer_that_falls_behind_gets_a_conflated_snapshot(
    app: Starlette, demo_keys: dict[str, DemoKey]
) -> None:
    platform = app.state.platform
    async with _session(app, demo_keys["alice"]) as ws:
        await _subscribe(ws, "fast", BOOK, m="ETH-USDT", d=10)
        await _subscribe(ws, "normal", BOOK_NORMAL, m="ETH-USDT", d=10)
        initial = [await ws.receive_json(timeout=5) for _ in range(2)]
        assert {m["payload"]["data"]["orderBook"]["reason"] for m in initial} == {"INITIAL"}
        # a burst larger than any queue, published faster than anyone reads it
        for n in range(1_000):
            delta = {"market": "ETH-USDT", "first": 10**6 + n, "last": 10**6 + n,
                     "bids": [["1", "1"]], "asks": []}  # fmt: skip
            await platform.broker.publish("book.ETH-USDT", orjson.dumps(delta))
        messages = await _drain(ws)
        for sub_id in ("fast", "normal"):
            books = [m["payload"]["data"]["orderBook"] for m in messages if m["id"] == sub_id]
            conflated = [b for b in books if b["kind"] == "SNAPSHOT"]
            assert conflated and conflated[0]["conflated"] and conflated[0]["reason"] == "CONFLATED"
            assert len(books) < 1_000


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ({"type": "subscribe", "id": "x", "payload": {"query": 5}}, 4400),
        ({"type": "subscribe", "id": "", "payload": {"query": BOOK}}, 4400),
        ({"type": "subscribe", "id": "x", "payload": {"query": BOOK, "variables": []}}, 4400),
        ({"type": "next", "id": "x", "payload": {}}, 4400),
    ],
)
async def test_malformed_subscribe_messages_close_with_protocol_codes(
    app: Starlette, demo_keys: dict[str, DemoKey], message: dict[str, Any], code: int
) -> None:
    async with _session(app, demo_keys["alice"]) as ws:
        await ws.send_json(message)
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_json(timeout=5)
        assert closed.value.code == code


async def test_bad_stream_arguments_are_operation_errors_not_crashes(
    app: Starlette, demo_keys: dict[str, DemoKey]
) -> None:
    async with _session(app, demo_keys["alice"]) as ws:
        await _subscribe(ws, "depth", BOOK, m="BTC-USDT", d=0)
        await _subscribe(ws, "syntax", "subscription { orderBook(market: ", m="BTC-USDT")
        await _subscribe(ws, "var", BOOK, m="BTC-USDT", d="deep")
        received = {m["id"]: m for m in await _drain(ws) if m["type"] != "complete"}
        assert set(received) == {"depth", "syntax", "var"}
        for message in received.values():
            errors = (
                message["payload"] if message["type"] == "error" else message["payload"]["errors"]
            )
            assert errors[0]["extensions"]["code"] == "VALIDATION", message


RESUME = """subscription($m: ID!, $a: Int) { trades(market: $m, afterSequence: $a) {
  id sequence price quantity takerSide } }"""
TAPE = """query($m: ID!) { trades(market: $m, first: 200) { nodes { id sequence price quantity
  takerSide } } }"""


async def test_a_trade_subscriber_resumes_after_a_sequence_without_a_gap(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    """Trades made while no one listened are sent first (as the query shows them), then
    the live ones, each once; a resume point past the last trade sends only live ones."""
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    await _random_flow(http, [alice, bob], steps=60, seed=5)
    tape = (await _ok(http, TAPE, {"m": "BTC-USDT"}, alice))["trades"]["nodes"][::-1]
    assert len(tape) >= 6, "the flow traded"
    resume_at = tape[len(tape) // 2]["sequence"]
    async with _session(app, alice) as ws, _session(app, bob) as ahead:
        await _subscribe(ws, "r", RESUME, m="BTC-USDT", a=resume_at)
        await _subscribe(ahead, "r", RESUME, m="BTC-USDT", a=tape[-1]["sequence"])
        backlog = [m["payload"]["data"]["trades"] for m in await _drain(ws)]
        assert backlog == [t for t in tape if t["sequence"] > resume_at]
        assert await _drain(ahead, 0.3) == []
        await _random_flow(http, [alice, bob], steps=40, seed=6)
        live = [m["payload"]["data"]["trades"] for m in await _drain(ws)]
        live_ahead = [m["payload"]["data"]["trades"] for m in await _drain(ahead, 0.2)]
    after = (await _ok(http, TAPE, {"m": "BTC-USDT"}, alice))["trades"]["nodes"][::-1]
    numbers = [t["sequence"] for t in backlog + live]
    assert live and numbers == [t["sequence"] for t in after if t["sequence"] > resume_at]
    assert live_ahead == live


async def test_a_negative_resume_point_is_a_validation_error(
    app: Starlette, demo_keys: dict[str, DemoKey]
) -> None:
    async with _session(app, demo_keys["alice"]) as ws:
        await _subscribe(ws, "neg", RESUME, m="BTC-USDT", a=-1)
        message = (await _drain(ws))[0]
        assert message["type"] == "next" and message["id"] == "neg", message
        assert message["payload"]["errors"][0]["extensions"]["code"] == "VALIDATION"
        assert message["payload"]["errors"][0]["extensions"]["field"] == "afterSequence"
