"""Nothing acknowledged is ever lost: SIGKILL the server mid-stream, restart, check."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.ops.embedded_store import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.store, pytest.mark.slow]

PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) {
  replayed order { id status clientOrderId } } }"""


def _start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "graph.ops.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    deadline = time.monotonic() + 120
    url = f"http://127.0.0.1:{env['PORT']}/readyz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(log.read_text()[-3000:])
        try:
            ready = httpx.get(url, timeout=1)
            if ready.status_code == 200 and ready.json()["engine"] == "writer":
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("server did not become ready")


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "graph.ops.cli", *args], env=env, capture_output=True, timeout=180
    )


@pytest.fixture
def env(mongodb_uri: str) -> dict[str, str]:
    environment = {
        **os.environ,
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DB": f"test_durability_{uuid.uuid4().hex[:8]}",
        "PORT": str(free_port()),
        "LOG_LEVEL": "WARNING",
        "CAAS_WRITER_LEASE_SECONDS": "3",
    }
    environment.pop("REDIS_URL", None)
    return environment


def _order(key: dict[str, Any], n: int) -> dict[str, Any]:
    buy = key["name"] == "alice"
    return {
        "accountId": key["account_id"],
        "market": "BTC-USDT",
        "side": "BUY" if buy else "SELL",
        "type": "LIMIT",
        "price": "64250" if buy else str(64200 + n % 5),
        "quantity": "0.001",
        "clientOrderId": f"{key['name']}-{n}",
    }


async def _stream(url: str, keys: list[dict[str, Any]], acked: dict[str, str], count: int) -> None:
    async with httpx.AsyncClient(timeout=10) as client:

        async def one(key: dict[str, Any], n: int) -> None:
            body = {"query": PLACE, "variables": {"i": _order(key, n)}}
            headers = {"authorization": f"Bearer {key['token']}"}
            try:
                response = await client.post(url, json=body, headers=headers)
                data = response.json()["data"]["placeOrder"]
                acked[data["order"]["clientOrderId"]] = data["order"]["id"]
            except (httpx.HTTPError, KeyError, TypeError, ValueError):
                return  # status unknown: the server died under this request

        for n in range(count):
            await asyncio.gather(*(one(key, n) for key in keys))


async def test_sigkill_mid_stream_loses_no_acknowledged_order_and_retries_never_double(
    env: dict[str, str], tmp_path: Path
) -> None:
    seeded = await asyncio.to_thread(_run, env, "seed-demo", "--json")
    assert seeded.returncode == 0, seeded.stderr.decode()[-2000:]
    keys = [k for k in json.loads(seeded.stdout) if k["name"] in ("alice", "bob")]
    url = f"http://127.0.0.1:{env['PORT']}/graphql"
    log = tmp_path / "server.log"
    server = await asyncio.to_thread(_start, env, log)
    acked: dict[str, str] = {}
    stream = asyncio.create_task(_stream(url, keys, acked, 150))
    while len(acked) < 40:
        await asyncio.sleep(0.01)
        assert not stream.done(), "the stream ended before the kill"
    server.send_signal(signal.SIGKILL)
    server.wait(timeout=10)
    await stream
    sent_before_kill = dict(acked)

    server = await asyncio.to_thread(_start, env, log)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            for key in keys:
                headers = {"authorization": f"Bearer {key['token']}"}
                mine = {c: o for c, o in sent_before_kill.items() if c.startswith(key["name"])}
                for client_order_id, order_id in mine.items():
                    query = "query($id: ID!) { order(id: $id) { id clientOrderId } }"
                    body = {"query": query, "variables": {"id": order_id}}
                    found = (await client.post(url, json=body, headers=headers)).json()
                    expected = {"id": order_id, "clientOrderId": client_order_id}
                    assert found["data"]["order"] == expected
                for n in range(150):  # retry everything: acked or not, nothing runs twice
                    order = _order(key, n)
                    body = {"query": PLACE, "variables": {"i": order}}
                    answer = (await client.post(url, json=body, headers=headers)).json()
                    assert "errors" not in answer, answer
                    placed = answer["data"]["placeOrder"]
                    if order["clientOrderId"] in sent_before_kill:
                        assert placed["replayed"] is True
                        assert placed["order"]["id"] == sent_before_kill[order["clientOrderId"]]
        reconciled = await asyncio.to_thread(_run, env, "reconcile")
        assert reconciled.returncode == 0, reconciled.stdout.decode() + reconciled.stderr.decode()
        assert b"books agree" in reconciled.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
