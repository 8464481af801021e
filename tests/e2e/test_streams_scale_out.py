"""Streams across processes: two `caas serve` on one store and the real Redis.

An order placed through one process reaches a websocket subscriber of the other as a book
delta, a trade and an order update: the writer publishes each batch once, to Redis, and every
process's hub fans it out to its own subscribers.
"""

from __future__ import annotations

import asyncio
import time
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Any

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from graph.streams.watch import LocalBook, watch
from tests.e2e.test_scale_out import Servers, _gql, _keys, env, servers  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.store, pytest.mark.redis, pytest.mark.slow]

BOOK = """subscription { orderBook(market: "BTC-USDT", depth: 20) { kind sequence
  firstSequence lastSequence reason bids { price quantity } asks { price quantity } } }"""
TRADES = """subscription { trades(market: "BTC-USDT") { id sequence price quantity takerSide } }"""
UPDATES = """subscription { orderUpdates { order { id status filledQuantity } } }"""
SNAPSHOT = """query { orderBook(market: "BTC-USDT", depth: 20) { sequence
  bids { price quantity } asks { price quantity } } }"""
PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id status } } }"""


async def _collect(
    ws: AsyncWebSocketSession, until: float, done: Any
) -> dict[str, list[dict[str, Any]]]:
    """Messages by operation id until ``done(received)`` holds or the deadline passes."""
    received: dict[str, list[dict[str, Any]]] = {"book": [], "trades": [], "updates": []}
    while not done(received) and time.monotonic() < until:
        try:
            message = await ws.receive_json(timeout=max(until - time.monotonic(), 0.01))
        except TimeoutError:
            break
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        received[message["id"]].append(next(iter(message["payload"]["data"].values())))
    return received


async def test_an_order_placed_through_one_process_streams_through_the_other(
    env: dict[str, str],  # noqa: F811 (fixture)
    servers: Servers,  # noqa: F811 (fixture)
) -> None:
    keys = await asyncio.to_thread(_keys, env)
    alice, bob = keys["alice"], keys["bob"]
    writer = await asyncio.to_thread(servers.start, "writer", expect="writer")
    other = await asyncio.to_thread(servers.start, "other", expect="standby")

    headers = {"Authorization": f"Bearer {alice['token']}"}
    async with httpx.AsyncClient(timeout=20) as client:
        connect: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
            f"{other}/graphql", client, subprotocols=["graphql-transport-ws"]
        )
        async with connect as ws:
            await ws.send_json({"type": "connection_init", "payload": headers})
            assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
            for sub_id, query in (("book", BOOK), ("trades", TRADES), ("updates", UPDATES)):
                payload = {"query": query}
                await ws.send_json({"id": sub_id, "type": "subscribe", "payload": payload})
            first = await ws.receive_json(timeout=10)
            assert first["id"] == "book", first
            book = LocalBook()
            book.apply(first["payload"]["data"]["orderBook"])
            assert book.snapshots == 1
            await asyncio.sleep(0.3)  # the other subscriptions are in place

            ask = {"accountId": bob["account_id"], "market": "BTC-USDT", "side": "SELL",
                   "type": "LIMIT", "price": "61000", "quantity": "0.002"}  # fmt: skip
            bid = {**ask, "accountId": alice["account_id"], "side": "BUY", "quantity": "0.001"}
            placed = [
                (await _gql(client, writer, key, PLACE, {"i": order}))["data"]["placeOrder"]
                for key, order in ((bob, ask), (alice, bid))
            ]
            alice_order = placed[1]["order"]["id"]

            def done(got: dict[str, list[dict[str, Any]]]) -> bool:
                filled = [u for u in got["updates"] if u["order"]["status"] == "FILLED"]
                return len(got["book"]) >= 2 and bool(got["trades"]) and bool(filled)

            received = await _collect(ws, time.monotonic() + 15, done)

        assert received["trades"], received
        trade = received["trades"][0]
        assert (trade["price"], trade["quantity"], trade["takerSide"]) == ("61000", "0.001", "BUY")
        updates = [u["order"] for u in received["updates"]]
        assert {u["id"] for u in updates} == {alice_order}, "only alice's own orders"
        assert updates[-1]["status"] == "FILLED"
        deltas = received["book"]
        assert deltas and all(d["kind"] == "DELTA" for d in deltas), deltas
        for delta in deltas:
            book.apply(delta)
        assert book.gaps == 0
        assert book.asks == {Decimal("61000"): Decimal("0.001")}, "the ask's remainder"
        snapshot = (await _gql(client, other, alice, SNAPSHOT))["data"]["orderBook"]
        if snapshot["sequence"] == book.sequence:
            assert book.diverges_from(snapshot) == []
        writer_book = (await _gql(client, writer, alice, SNAPSHOT))["data"]["orderBook"]
        assert writer_book["sequence"] == book.sequence
        assert book.diverges_from(writer_book) == []

        # `caas watch` on the other process while orders flow through the writer
        reports: list[str] = []
        watcher = asyncio.create_task(
            watch(other, alice["token"], "BTC-USDT", every_s=0.5, depth=50,
                  report=reports.append, duration_s=5.0)
        )  # fmt: skip
        await asyncio.sleep(0.5)
        for n in range(20):
            key = (alice, bob)[n % 2]
            side = "BUY" if key is alice else "SELL"
            price = str(60_000 + (n % 5) * 10 if side == "BUY" else 61_000 + (n % 5) * 10)
            order = {**ask, "accountId": key["account_id"], "side": side, "price": price}
            await _gql(client, writer, key, PLACE, {"i": order})
        divergences = await watcher
    assert divergences == 0, reports
    assert any("in sync" in line for line in reports), reports
