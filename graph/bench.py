"""`caas bench orders`: placeOrder over HTTP against a running server, next to a trivial
query on the same server in the same run, and the journal's durable commands/s alone.

A benchmark, not a test: it prints figures and ratios, it asserts nothing.
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
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pymongo import AsyncMongoClient
from rich.console import Console

from engine.layout import COMMAND_DTYPE
from graph.embedded_store import EmbeddedStore, free_port
from graph.journal import MongoJournal

PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id status } } }"""


@dataclass(frozen=True)
class Phase:
    """One measured load phase."""

    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else 0.0


async def _load(
    url: str, bodies: list[tuple[dict[str, Any], dict[str, str]]], clients: int, seconds: float
) -> Phase:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=clients)) as c:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                body, headers = bodies[next(counter) % len(bodies)]
                started = time.perf_counter()
                response = await c.post(url, json=body, headers=headers)
                if response.status_code == 200 and "errors" not in response.json():
                    latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return Phase("", len(latencies), elapsed, latencies)


def _orders(keys: list[dict[str, Any]], n: int) -> list[tuple[dict[str, Any], dict[str, str]]]:
    bodies = []
    for i in range(n):
        key = keys[i % 2]
        order = {"accountId": key["account_id"], "market": "BTC-USDT",
                 "side": "BUY" if key["name"] == "alice" else "SELL", "type": "LIMIT",
                 "price": "64250", "quantity": "0.0001"}  # fmt: skip
        bodies.append(
            (
                {"query": PLACE, "variables": {"i": order}},
                {"authorization": f"Bearer {key['token']}"},
            )
        )
    return bodies


async def journal_rate(uri: str, batches: int = 50, size: int = 1000) -> float:
    """Durable commands/s through MongoJournal.append alone (group commit of `size`)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    db = client[f"bench_journal_{uuid.uuid4().hex[:8]}"]
    journal = MongoJournal(db)
    batch = np.zeros(size, dtype=COMMAND_DTYPE)
    started = time.perf_counter()
    for n in range(batches):
        batch["seq"] = np.arange(n * size + 1, (n + 1) * size + 1)
        await journal.append(batch)
    elapsed = time.perf_counter() - started
    await client.drop_database(db.name)
    await client.close()
    return batches * size / elapsed


def run(seconds: float = 10.0, clients: int = 16) -> str:
    """Start a store and one `caas serve`, measure, stop them; return the summary line."""
    console = Console()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(Path(tmp) / "mongo") as store:
        env = {**os.environ, "MONGODB_URI": store.uri, "MONGODB_DB": "bench",
               "PORT": str(free_port()), "LOG_LEVEL": "WARNING",
               "CAAS_RATE_LIMITS": "off"}  # fmt: skip
        env.pop("REDIS_URL", None)
        seeded = subprocess.run([sys.executable, "-m", "graph.cli", "seed-demo", "--json"],
                                env=env, capture_output=True, check=True)  # fmt: skip
        keys = [k for k in json.loads(seeded.stdout) if k["name"] in ("alice", "bob")]
        server = subprocess.Popen([sys.executable, "-m", "graph.cli", "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        url = f"http://127.0.0.1:{env['PORT']}"
        try:
            for _ in range(600):
                try:
                    if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            trivial_body = [
                ({"query": "{ __typename }"}, {"authorization": f"Bearer {keys[0]['token']}"})
            ]
            asyncio.run(_load(f"{url}/graphql", trivial_body, clients, 1.0))  # warm up
            trivial = asyncio.run(_load(f"{url}/graphql", trivial_body, clients, seconds))
            asyncio.run(_load(f"{url}/graphql", _orders(keys, 100), clients, 1.0))
            orders = asyncio.run(_load(f"{url}/graphql", _orders(keys, 1000), clients, seconds))
            journal = asyncio.run(journal_rate(store.uri))
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
    ratio = 100 * orders.per_second / trivial.per_second if trivial.per_second else 0.0
    console.print(f"clients {clients}, {seconds:.0f} s per phase, one hypercorn process")
    for name, phase in (("{ __typename }", trivial), ("placeOrder", orders)):
        console.print(
            f"  {name:<15} {phase.per_second:9,.0f} req/s   p50 {phase.percentile(50):6.2f} ms"
            f"   p99 {phase.percentile(99):6.2f} ms   ({phase.requests:,} ok)"
        )
    console.print(f"  journal alone  {journal:9,.0f} durable cmd/s (batches of 1,000)")
    return (
        f"orders: {orders.per_second:,.0f} placeOrder/s, {ratio:.0f}% of trivial query, "
        f"journal {journal:,.0f} cmd/s"
    )
