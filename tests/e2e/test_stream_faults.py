"""Fan-out under faults: Redis restarted and websockets dropped while orders trade.

A `caas serve` on its own Redis (a private `redis-server`, killed with SIGKILL and started
again mid-run) and two trade subscribers: one stays connected through the Redis restart (the
server reads back what the broker lost), one drops its connection twice and resumes with
`afterSequence` as the README says. Both end with every trade number exactly once. (Reading
the missed trades with the `trades` query and then subscribing, which this test did first,
loses the trades between the read and the subscription: it failed about one run in three
under load.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws

from graph.ops.embedded_store import free_port
from tests.e2e.test_scale_out import Servers, _gql, _keys

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.store,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]

TRADES = """subscription { trades(market: "BTC-USDT") { sequence } }"""
RESUME = """subscription($a: Int) { trades(market: "BTC-USDT", afterSequence: $a) { sequence } }"""
TAPE = """query($after: String) { trades(market: "BTC-USDT", first: 200, after: $after) {
  nodes { sequence } pageInfo { hasNextPage endCursor } } }"""
PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id status } } }"""
PAIRS = 60


class PrivateRedis:
    """A redis-server of this test's own (nothing on disk), to kill and start again."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.workdir = free_port(), workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                   "--save", "", "--appendonly", "no", "--dir", str(self.workdir)]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), _redis_answers(self.port) as answered:
                if answered:
                    return
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def restart(self) -> None:
        self.kill()
        time.sleep(0.5)
        self.start()
        self.restarts += 1


@contextlib.contextmanager
def _redis_answers(port: int) -> Iterator[bool]:
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
        s.sendall(b"PING\r\n")
        yield s.recv(16).startswith(b"+PONG")


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


async def _tape(client: httpx.AsyncClient, url: str, key: dict[str, Any], after: int) -> list[int]:
    """Trade numbers above ``after`` from the `trades` query (pages newest first)."""
    numbers: list[int] = []
    cursor = None
    while True:
        body = await _gql(client, url, key, TAPE, {"after": cursor})
        page = body["data"]["trades"]
        numbers += [n["sequence"] for n in page["nodes"] if n["sequence"] > after]
        if not page["pageInfo"]["hasNextPage"] or page["nodes"][-1]["sequence"] <= after:
            return sorted(numbers)
        cursor = page["pageInfo"]["endCursor"]


async def _subscribe(ws: AsyncWebSocketSession, token: str, after: int | None = None) -> None:
    await ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
    payload = {"query": TRADES} if after is None else {"query": RESUME, "variables": {"a": after}}
    await ws.send_json({"id": "t", "type": "subscribe", "payload": payload})


async def _stay(client: httpx.AsyncClient, url: str, token: str, got: list[int],
                stop: asyncio.Event) -> None:  # fmt: skip
    """One connection for the whole run: what it receives, in order."""
    connect: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
        f"{url}/graphql", client, subprotocols=["graphql-transport-ws"]
    )
    async with connect as ws:
        await _subscribe(ws, token)
        while not stop.is_set():
            try:
                message = await ws.receive_json(timeout=0.2)
            except TimeoutError:
                continue
            assert message["type"] == "next" and "errors" not in message["payload"], message
            got.append(message["payload"]["data"]["trades"]["sequence"])


async def _drop_and_repair(
    client: httpx.AsyncClient, url: str, key: dict[str, Any], got: list[int],
    stop: asyncio.Event, drops: list[int],
) -> None:  # fmt: skip
    """Connects, reads a while, drops the connection; each reconnect resumes with
    `afterSequence` = the last trade it got (the README's procedure): the server sends what
    was missed, then the live trades. Everything received is kept as received."""
    while not stop.is_set():
        connect: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
            f"{url}/graphql", client, subprotocols=["graphql-transport-ws"]
        )
        async with connect as ws:
            await _subscribe(ws, key["token"], got[-1] if got else None)
            until = time.monotonic() + (1.5 if len(drops) < 2 else 1e9)
            while not stop.is_set() and time.monotonic() < until:
                try:
                    message = await ws.receive_json(timeout=0.2)
                except TimeoutError:
                    continue
                except WebSocketDisconnect:
                    break
                assert message["type"] == "next" and "errors" not in message["payload"], message
                got.append(message["payload"]["data"]["trades"]["sequence"])
        if not stop.is_set():
            drops.append(len(got))


async def _trade(client: httpx.AsyncClient, url: str, keys: dict[str, Any],
                 outcomes: dict[str, int]) -> None:  # fmt: skip
    """PAIRS crossing pairs at one price: each pair is one trade, balances do not drift."""
    for n in range(PAIRS):
        for name, side in (("alice", "BUY"), ("bob", "SELL")):
            order = {"accountId": keys[name]["account_id"], "market": "BTC-USDT", "side": side,
                     "type": "LIMIT", "price": "64250", "quantity": "0.001",
                     "clientOrderId": f"fault-{name}-{n}"}  # fmt: skip
            try:
                body = await _gql(client, url, keys[name], PLACE, {"i": order})
            except (httpx.HTTPError, AssertionError):
                outcomes["transport"] += 1
                continue
            if body.get("errors"):
                code = body["errors"][0].get("extensions", {}).get("code", "?")
                assert code != "INTERNAL", body
                outcomes[code] = outcomes.get(code, 0) + 1
            else:
                outcomes["ok"] += 1
        await asyncio.sleep(0.03)


async def test_trade_subscribers_miss_nothing_through_a_redis_restart_and_dropped_sockets(
    mongodb_uri: str, redis_server: PrivateRedis, tmp_path: Path
) -> None:
    env = {**os.environ, "MONGODB_URI": mongodb_uri, "MONGODB_DB": f"test_faults_{os.getpid()}",
           "REDIS_URL": redis_server.url, "CAAS_REDIS_PREFIX": "faults:", "LOG_LEVEL": "WARNING",
           "CAAS_RATE_LIMIT_MUTATIONS": "100000/minute"}  # fmt: skip
    keys = await asyncio.to_thread(_keys, env)
    servers = Servers(env, tmp_path)
    try:
        url = await asyncio.to_thread(servers.start, "writer", expect="writer")
        stop = asyncio.Event()
        stayed: list[int] = []
        dropped: list[int] = []
        drops: list[int] = []
        outcomes = {"ok": 0, "transport": 0}
        async with httpx.AsyncClient(timeout=20) as client:
            tasks = [
                asyncio.create_task(_stay(client, url, keys["alice"]["token"], stayed, stop)),
                asyncio.create_task(_drop_and_repair(client, url, keys["bob"], dropped, stop,
                                                     drops)),
            ]  # fmt: skip
            await asyncio.sleep(1.0)  # both subscribed
            trading = asyncio.create_task(_trade(client, url, keys, outcomes))
            while len(stayed) < PAIRS // 3 and not trading.done():  # noqa: ASYNC110 (a count)
                await asyncio.sleep(0.05)
            await asyncio.to_thread(redis_server.restart)  # SIGKILL, then a fresh server
            await trading
            deadline = time.monotonic() + 15
            while True:  # the tape (a read model) and both subscribers end at the last trade
                tape = await _tape(client, url, keys["alice"], 0)
                ends = {
                    tape[-1] if tape else 0,
                    *(got[-1] if got else 0 for got in (stayed, dropped)),
                }
                if len(ends) == 1 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            stop.set()
            await asyncio.gather(*tasks)
    finally:
        await asyncio.to_thread(servers.stop_all)
    print(
        f"\nfaults: 1 Redis restart, {len(drops)} socket drops; orders {outcomes}; "
        f"{len(tape)} trades, stayed {len(stayed)}, dropped-and-repaired {len(dropped)}"
    )
    assert outcomes["ok"] >= PAIRS, outcomes  # trading went on around the restart
    assert redis_server.restarts == 1 and len(drops) >= 2
    for got in (stayed, dropped):
        missing = sorted(set(tape) - set(got) - {n for n in tape if n < got[0]})
        assert got == sorted(set(got)), f"every trade once, in order: {got}"
        assert not missing, f"no gap from the first trade seen on; missing {missing}, drops {drops}"
        assert got[-1] == tape[-1]
