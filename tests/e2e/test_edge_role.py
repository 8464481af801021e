"""The edge role: a `caas serve --role edge` process beside the writer, on the real Redis.

It keeps no engine (no replica, Numba never loaded, so none of its ~170 MB), serves the
`orderBook` query and stream from the book view the writer keeps in Redis, everything else
from the read models, and refuses commands with UNAVAILABLE (nothing journaled).
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from graph.ops.servers import readyz
from graph.streams.watch import LocalBook
from tests.e2e.test_scale_out import (  # noqa: F401 (fixtures)
    BOOK,
    ORDER,
    Servers,
    _gql,
    _keys,
    _place,
    env,
    servers,
)

pytestmark = [pytest.mark.e2e, pytest.mark.store, pytest.mark.redis, pytest.mark.slow]

STREAM = """subscription { orderBook(market: "BTC-USDT", depth: 5) { kind sequence
  firstSequence lastSequence bids { price quantity } asks { price quantity } } }"""


def _maps(pid: int) -> str:
    """The shared objects and files a process has mapped."""
    return Path(f"/proc/{pid}/maps").read_text()


async def test_an_edge_process_serves_books_and_streams_without_an_engine(
    env: dict[str, str],  # noqa: F811 (fixture)
    servers: Servers,  # noqa: F811 (fixture)
) -> None:
    keys = await asyncio.to_thread(_keys, env)
    alice, bob = keys["alice"], keys["bob"]
    writer = await asyncio.to_thread(servers.start, "writer", expect="writer")
    edge = await asyncio.to_thread(servers.start, "edge", "--role", "edge", expect="edge")
    assert readyz(edge)["engineSeq"] is None
    maps = _maps(servers.processes[-1].pid)
    assert "libllvmlite" not in maps and "numba" not in maps
    assert "libllvmlite" in _maps(servers.processes[0].pid)

    async with httpx.AsyncClient(timeout=20) as client:
        placed = (await _place(client, writer, alice, 1))["data"]["placeOrder"]["order"]
        written = (await _gql(client, writer, alice, BOOK))["data"]["orderBook"]
        read = (await _gql(client, edge, alice, BOOK))["data"]["orderBook"]
        assert read == written and read["bids"] == [{"price": "64000", "quantity": "0.001"}]
        order = await _gql(client, edge, alice, ORDER, {"id": placed["id"]})
        assert order["data"]["order"]["id"] == placed["id"]  # read models need no engine

        refused = await _place(client, edge, bob, 1)
        assert refused["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        assert "role edge" in refused["errors"][0]["message"]
        unchanged = (await _gql(client, writer, alice, BOOK))["data"]["orderBook"]
        assert unchanged == written  # the refused order was never journaled

        connect: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
            f"{edge}/graphql", client, subprotocols=["graphql-transport-ws"]
        )
        async with connect as ws:
            init = {"Authorization": f"Bearer {alice['token']}"}
            await ws.send_json({"type": "connection_init", "payload": init})
            assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
            await ws.send_json({"id": "book", "type": "subscribe", "payload": {"query": STREAM}})
            book = LocalBook()
            snapshot = await _next(ws)
            assert snapshot["kind"] == "SNAPSHOT" and snapshot["sequence"] == written["sequence"]
            book.apply(snapshot)
            await _place(client, writer, bob, 2, price="64600")  # through the writer
            delta = await _next(ws)
            assert delta["kind"] == "DELTA" and delta["firstSequence"] == snapshot["sequence"] + 1
            book.apply(delta)
        after = (await _gql(client, edge, alice, BOOK))["data"]["orderBook"]
        assert after == (await _gql(client, writer, alice, BOOK))["data"]["orderBook"]
        assert after["sequence"] == delta["lastSequence"]
        bids, asks = book.levels(5)  # the local book, snapshot + delta, is the edge's book
        assert [(str(p), str(q)) for p, q in bids + asks] == [
            (level["price"], level["quantity"]) for level in after["bids"] + after["asks"]
        ]
    maps = _maps(servers.processes[-1].pid)
    assert "libllvmlite" not in maps  # still: nothing it served loaded the engine


async def _next(ws: AsyncWebSocketSession) -> dict[str, Any]:
    message = await ws.receive_json(timeout=10)
    assert message["type"] == "next" and "errors" not in message["payload"], message
    book: dict[str, Any] = message["payload"]["data"]["orderBook"]
    return book
