"""`caas bench fanout`: many websocket subscribers of one market's book on one server process.

Starts a store and one `caas serve`, connects SUBSCRIBERS graphql-transport-ws clients to
`orderBook(BTC-USDT)`, then changes the book RATE times a second (a limit order placed, then
cancelled) and measures, per delivered delta, the time from the request that changed the book
to its receipt (an upper bound of publish-to-receive: it includes the order's journal commit).
Also: time to connect everyone, delivered messages/s, the server's memory over the run, and
server and client CPU (the server is pinned to one core, this client to the others, so the
server's CPU per delivered message is measured apart from the client's).
A benchmark, not a test: it prints figures, it asserts nothing.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from rich.console import Console

from graph.embedded_store import EmbeddedStore, free_port

SUBSCRIBE = """subscription { orderBook(market: "BTC-USDT", depth: 10) {
  kind sequence firstSequence lastSequence bids { price quantity } asks { price quantity } } }"""
PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id } } }"""
CANCEL = """mutation($id: ID!) { cancelOrder(id: $id) { order { id } } }"""


class Recorder:
    """Receipt times of deltas, by their position after the snapshot, per subscriber."""

    def __init__(self) -> None:
        self.sent_at: list[float] = []  # perf_counter when the k-th book change was requested
        self.latencies_ms: list[float] = []
        self.delivered = 0
        self.snapshots = 0


async def _subscriber(
    http: httpx.AsyncClient, url: str, token: str, recorder: Recorder,
    connected: asyncio.Event, stop: asyncio.Event,
) -> None:  # fmt: skip
    """One client for the whole run (the websocket context stays in its own task)."""
    connect: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
        f"{url}/graphql", http, subprotocols=["graphql-transport-ws"]
    )
    async with connect as ws:
        init = {"Authorization": f"Bearer {token}"}
        await ws.send_json({"type": "connection_init", "payload": init})
        await ws.receive_json(timeout=60)
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        seen = 0
        while not stop.is_set():
            text = await ws.receive_text()
            now = time.perf_counter()
            if '"SNAPSHOT"' in text:
                recorder.snapshots += 1
                connected.set()
            elif '"DELTA"' in text:
                if seen < len(recorder.sent_at):
                    recorder.latencies_ms.append((now - recorder.sent_at[seen]) * 1000)
                seen += 1
                recorder.delivered += 1


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _drive(
    url: str, key: dict[str, Any], rate: float, seconds: float, recorder: Recorder
) -> None:
    """RATE book changes a second: place a resting bid, then cancel it."""
    headers = {"authorization": f"Bearer {key['token']}"}
    order = {"accountId": key["account_id"], "market": "BTC-USDT", "side": "BUY",
             "type": "LIMIT", "price": "62000", "quantity": "0.001"}  # fmt: skip
    resting: str | None = None
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        started = time.perf_counter()
        for n in range(int(seconds * rate)):
            await asyncio.sleep(max(started + n / rate - time.perf_counter(), 0))
            recorder.sent_at.append(time.perf_counter())
            if resting is None:
                body = {"query": PLACE, "variables": {"i": order}}
                response = (await http.post("/graphql", json=body)).json()
                if not response.get("data"):
                    raise RuntimeError(f"placeOrder failed: {response}")
                resting = response["data"]["placeOrder"]["order"]["id"]
            else:
                body = {"query": CANCEL, "variables": {"id": resting}}
                await http.post("/graphql", json=body)
                resting = None


async def _measure(url: str, pid: int, key: dict[str, Any], subscribers: int, rate: float,
                   seconds: float) -> dict[str, Any]:  # fmt: skip
    recorder, stop = Recorder(), asyncio.Event()
    limits = httpx.Limits(max_connections=subscribers + 10)
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx.AsyncClient(limits=limits, timeout=60))
        started = time.perf_counter()
        events = [asyncio.Event() for _ in range(subscribers)]
        tasks = [asyncio.create_task(_subscriber(http, url, key["token"], recorder, ev, stop))
                 for ev in events]  # fmt: skip
        await asyncio.gather(*(ev.wait() for ev in events))
        connect_s = time.perf_counter() - started
        memory = [_rss_mb(pid)]
        drive = asyncio.create_task(_drive(url, key, rate, seconds, recorder))
        run_started, server_cpu, client_cpu = time.perf_counter(), _cpu_s(pid), time.process_time()
        while not drive.done():
            await asyncio.sleep(1)
            memory.append(_rss_mb(pid))
        await drive
        await asyncio.sleep(1)
        elapsed = time.perf_counter() - run_started
        server_cpu, client_cpu = _cpu_s(pid) - server_cpu, time.process_time() - client_cpu
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    lat = np.array(recorder.latencies_ms or [0.0])
    return {
        "connect_s": connect_s, "delivered": recorder.delivered,
        "msg_s": recorder.delivered / elapsed, "expected": subscribers * len(recorder.sent_at),
        "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
        "max": float(lat.max()), "memory": memory, "snapshots": recorder.snapshots,
        "server_cpu": server_cpu / elapsed, "client_cpu": client_cpu / elapsed,
        "server_us_per_msg": server_cpu / max(recorder.delivered, 1) * 1e6,
    }  # fmt: skip


def run(subscribers: int = 1000, rate: float = 10.0, seconds: float = 60.0) -> str:
    """Start a store and one `caas serve`, measure, stop them; return the summary line."""
    console = Console()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(Path(tmp) / "mongo") as store:
        env = {**os.environ, "MONGODB_URI": store.uri, "MONGODB_DB": "bench_fanout",
               "PORT": str(free_port()), "LOG_LEVEL": "WARNING",
               "CAAS_RATE_LIMITS": "off"}  # fmt: skip
        env.pop("REDIS_URL", None)
        seeded = subprocess.run([sys.executable, "-m", "graph.cli", "seed-demo", "--json"],
                                env=env, capture_output=True, check=True)  # fmt: skip
        key = next(k for k in json.loads(seeded.stdout) if k["name"] == "alice")
        log = open(Path(tmp) / "server.log", "wb")  # noqa: SIM115 (closed with the server)
        cores = sorted(os.sched_getaffinity(0))
        pin = len(cores) >= 2  # server on one core, this client on the others
        server = subprocess.Popen([sys.executable, "-m", "graph.cli", "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log,
                                  preexec_fn=(lambda: os.sched_setaffinity(0, cores[:1]))
                                  if pin else None)  # fmt: skip
        if pin:
            os.sched_setaffinity(0, cores[1:])
        url = f"http://127.0.0.1:{env['PORT']}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            result = asyncio.run(_measure(url, server.pid, key, subscribers, rate, seconds))
        finally:
            os.sched_setaffinity(0, cores)
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
            log.close()
            if os.environ.get("CAAS_BENCH_LOG"):
                print((Path(tmp) / "server.log").read_text()[-3000:])
    memory = result["memory"]
    console.print(f"{subscribers} subscribers connected in {result['connect_s']:.2f} s; "
                  f"{rate:g} book changes/s for {seconds:g} s; one hypercorn process")  # fmt: skip
    console.print(f"  delivered {result['delivered']:,} of {result['expected']:,} deltas "
                  f"({result['msg_s']:,.0f} msg/s), {result['snapshots']} snapshots")  # fmt: skip
    console.print(f"  latency request->receipt p50 {result['p50']:.1f} ms  p99 "
                  f"{result['p99']:.1f} ms  max {result['max']:.1f} ms")  # fmt: skip
    console.print(f"  CPU: server {result['server_cpu']:.0%} of a core "
                  f"({result['server_us_per_msg']:.0f} µs per delivered message), "
                  f"bench client {result['client_cpu']:.0%}")  # fmt: skip
    console.print(f"  server RSS start {memory[0]:.0f} MB, end {memory[-1]:.0f} MB, "
                  f"max {max(memory):.0f} MB")  # fmt: skip
    return (f"fanout: {subscribers} subscribers, p99 {result['p99']:.1f} ms, "
            f"{result['msg_s']:,.0f} msg/s")  # fmt: skip
