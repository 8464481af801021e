"""Scale-out with real processes on the real Redis: a writer, an API-only process, a standby.

Orders placed through the API process are forwarded over the Redis stream to the one
writer, acknowledged with their sequence numbers and visible through every process; the
standby's replica follows them, and takes over as writer when the writer is killed.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis

from graph.ops.embedded_store import free_port
from graph.ops.servers import readyz
from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.e2e, pytest.mark.store, pytest.mark.redis, pytest.mark.slow]

PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) {
  replayed order { id status clientOrderId price quantity } } }"""
ORDER = "query($id: ID!) { order(id: $id) { id status clientOrderId } }"
BOOK = """query { orderBook(market: "BTC-USDT", depth: 5) { sequence
  bids { price quantity } asks { price quantity } } }"""


class Servers:
    """`caas serve` subprocesses sharing one store database and one Redis."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str, expect: str) -> str:
        """Start a server; wait until /readyz reports ``expect`` as its engine role."""
        port = free_port()
        log = self.logs / f"{name}.log"
        with log.open("ab") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "graph.ops.cli", "serve", *args],
                env={**self.env, "PORT": str(port)},
                stdout=subprocess.DEVNULL,
                stderr=output,
            )
        self.processes.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(log.read_text()[-3000:])
            if readyz(url).get("engine") == expect:
                return url
            time.sleep(0.2)
        raise AssertionError(f"{name} did not become {expect}: {log.read_text()[-3000:]}")

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def env(mongodb_uri: str) -> Iterator[dict[str, str]]:
    database = f"test_scale_{uuid.uuid4().hex[:8]}"
    prefix = f"test:{database}:"
    yield {
        **os.environ,
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DB": database,
        "REDIS_URL": REDIS_URL,
        "CAAS_REDIS_PREFIX": prefix,
        "LOG_LEVEL": "WARNING",
        "CAAS_WRITER_LEASE_SECONDS": "2",
        "CAAS_REPLICA_POLL_SECONDS": "0.05",
    }
    redis = Redis.from_url(REDIS_URL)
    keys = list(redis.scan_iter(match=f"{prefix}*"))
    if keys:
        redis.delete(*keys)
    redis.close()


@pytest.fixture
def servers(env: dict[str, str], tmp_path: Path) -> Iterator[Servers]:
    running = Servers(env, tmp_path)
    yield running
    running.stop_all()


def _keys(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    seeded = subprocess.run([sys.executable, "-m", "graph.ops.cli", "seed-demo", "--json"],
                            env=env, capture_output=True, timeout=180)  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr.decode()[-2000:]
    return {k["name"]: k for k in json.loads(seeded.stdout)}


async def _gql(client: httpx.AsyncClient, url: str, key: dict[str, Any], query: str,
               variables: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
    response = await client.post(f"{url}/graphql", json={"query": query, "variables": variables},
                                 headers={"authorization": f"Bearer {key['token']}"})  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _order(key: dict[str, Any], n: int, *, price: str | None = None) -> dict[str, Any]:
    buy = key["name"] == "alice"
    return {"accountId": key["account_id"], "market": "BTC-USDT", "side": "BUY" if buy else "SELL",
            "type": "LIMIT", "price": price or ("64000" if buy else "64500"),
            "quantity": "0.001", "clientOrderId": f"{key['name']}-{n}"}  # fmt: skip


async def _place(client: httpx.AsyncClient, url: str, key: dict[str, Any], n: int,
                 **fields: Any) -> dict[str, Any]:  # fmt: skip
    return await _gql(client, url, key, PLACE, {"i": _order(key, n, **fields)})


async def _book(client: httpx.AsyncClient, url: str, key: dict[str, Any]) -> dict[str, Any]:
    book: dict[str, Any] = (await _gql(client, url, key, BOOK))["data"]["orderBook"]
    return book


async def _eventually_book(client: httpx.AsyncClient, url: str, key: dict[str, Any],
                           bid_qty: str, ask_qty: str) -> dict[str, Any]:  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        book = await _book(client, url, key)
        if book["bids"] == [{"price": "64000", "quantity": bid_qty}] and book["asks"] == [
            {"price": "64500", "quantity": ask_qty}
        ]:
            return book
        assert time.monotonic() < deadline, f"{url} book never showed {bid_qty}/{ask_qty}: {book}"
        await asyncio.sleep(0.1)


async def test_api_processes_forward_orders_to_the_one_writer_and_a_standby_follows_and_takes_over(
    env: dict[str, str], servers: Servers
) -> None:
    keys = await asyncio.to_thread(_keys, env)
    alice, bob = keys["alice"], keys["bob"]
    writer = await asyncio.to_thread(servers.start, "writer", expect="writer")
    api = await asyncio.to_thread(servers.start, "api", "--role", "api", expect="api")

    async with httpx.AsyncClient(timeout=20) as client:
        placed = await asyncio.gather(
            *(_place(client, api, key, n) for n in range(5) for key in (alice, bob))
        )
        orders = [p["data"]["placeOrder"]["order"] for p in placed]
        seqs = [int(o["id"].removeprefix("ord_")) for o in orders]
        assert all(o["status"] == "NEW" for o in orders), placed
        assert len(set(seqs)) == 10 and min(seqs) > 0, "each acknowledged with its own seq"
        assert readyz(api)["engineSeq"] >= max(seqs), "the API's replica applied its writes"

        book = await _book(client, api, alice)  # read-your-writes, no waiting
        assert book["bids"] == [{"price": "64000", "quantity": "0.005"}]
        assert book["asks"] == [{"price": "64500", "quantity": "0.005"}]
        assert await _book(client, writer, alice) == book
        for order, key in zip(orders, [alice, bob] * 5, strict=True):
            for url in (api, writer):
                found = await _gql(client, url, key, ORDER, {"id": order["id"]})
                assert found["data"]["order"] == {k: order[k] for k in ("id", "status",
                                                                      "clientOrderId")}  # fmt: skip

        retry = (await _place(client, api, alice, 0))["data"]["placeOrder"]
        assert retry["replayed"] is True and retry["order"]["id"] == orders[0]["id"]
        reused = await _place(client, api, alice, 0, price="63000")
        assert reused["errors"][0]["extensions"]["code"] == "DUPLICATE_CLIENT_ORDER_ID"
        assert reused["errors"][0]["extensions"]["orderId"] == orders[0]["id"]

        standby = await asyncio.to_thread(servers.start, "standby", expect="standby")
        await _place(client, api, alice, 100)
        forwarded = await _place(client, standby, bob, 100)  # a standby forwards too
        assert forwarded["data"]["placeOrder"]["order"]["status"] == "NEW", forwarded
        await _eventually_book(client, standby, alice, "0.006", "0.006")
        writer_seq = readyz(writer)["engineSeq"]
        assert readyz(standby)["engineSeq"] == writer_seq == readyz(api)["engineSeq"]

        servers.processes[0].send_signal(signal.SIGKILL)  # the writer dies
        deadline = time.monotonic() + 20
        while readyz(standby).get("engine") != "writer":
            assert time.monotonic() < deadline, "the standby never took over"
            await asyncio.sleep(0.2)
        after = await _place(client, api, alice, 200)
        assert after["data"]["placeOrder"]["order"]["status"] == "NEW", after
        assert int(after["data"]["placeOrder"]["order"]["id"].removeprefix("ord_")) > writer_seq
        await _eventually_book(client, standby, alice, "0.007", "0.006")
        await _eventually_book(client, api, alice, "0.007", "0.006")

    servers.stop_all()
    reconciled = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "graph.ops.cli", "reconcile"], env=env,
        capture_output=True, timeout=180,
    )  # fmt: skip
    assert b"books agree" in reconciled.stdout, reconciled.stdout + reconciled.stderr


def test_the_api_role_without_redis_is_a_clear_start_up_error() -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    result = subprocess.run([sys.executable, "-m", "graph.ops.cli", "serve", "--role", "api"],
                            env=env, capture_output=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert b"REDIS_URL" in result.stderr


def test_an_unknown_role_is_a_clear_start_up_error() -> None:
    result = subprocess.run([sys.executable, "-m", "graph.ops.cli", "serve", "--role", "reader"],
                            capture_output=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert b"unknown role" in result.stderr
