"""`caas bench orders`: the public money path over HTTP, on production settings.

In one run, on one machine: a plain strawberry `{ __typename }` app with parser and
validation caches (the baseline), the platform's trivial authenticated query, and
authenticated `placeOrder` with distinct clientOrderIds from many concurrent clients, then
the journal's durable commands/s alone. The platform runs as `caas serve` does by default:
auth, query limits, rate limits (per-key budgets raised so the bench is not refused; the
windows are still counted), the audit trail, the embedded store with `j: true`, and Redis
when it answers (as production has). With `processes` > 1, that many `--role api`
processes take the orders in front of one writer.

A benchmark, not a test: it prints figures and ratios, it asserts nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack as contextlib_exit_stack
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from pymongo import AsyncMongoClient
from rich.console import Console

from engine.layout import COMMAND_DTYPE
from graph.ops.embedded_store import EmbeddedStore, free_port
from graph.ops.loadgen import Phase, post, run_load
from graph.writer.journal import MongoJournal
from graph.writer.sequencer import WriterStoppedError

PLACE = (
    "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id status "
    "filledQuantity } } }"
)
TRIVIAL = "{ __typename }"
BENCH_BUDGET = "100000000/minute"  # rate limits stay on; a budget no bench run reaches


def redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _wait_ready(url: str, path: str = "/readyz", seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}{path}", timeout=1).status_code in (200, 405):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not become ready")


@contextmanager
def _process(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def _trivial(port: int, token: str | None) -> Any:
    body = json.dumps({"query": TRIVIAL}).encode()
    headers = {"authorization": f"Bearer {token}"} if token else {}
    request = post("127.0.0.1", port, "/graphql", body, headers)
    return lambda _n: request


def _orders(ports: list[int], keys: list[dict[str, Any]], run: str) -> Any:
    """Order n: alice and bob alternate, each alternating BUY and SELL at one price, so the
    pairs cross and nobody's balance drifts; every clientOrderId is new."""
    templates = []
    for key in keys:
        headers = {"authorization": f"Bearer {key['token']}"}
        templates.append((key["account_id"], headers))

    def make(n: int) -> bytes:
        account, headers = templates[n % 2]
        side = ("BUY", "SELL")[(n // 2 + n) % 2]
        order = {"accountId": account, "market": "BTC-USDT", "side": side, "type": "LIMIT",
                 "price": "64250", "quantity": "0.0001", "clientOrderId": f"{run}-{n}"}  # fmt: skip
        body = json.dumps({"query": PLACE, "variables": {"i": order}}).encode()
        return post("127.0.0.1", ports[n % len(ports)], "/graphql", body, headers)

    return make


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


class _NoReplica:
    """The writer-ceiling bench reads nothing back: it does not follow the journal."""

    async def wait_for(self, seq: int, timeout_s: float) -> bool:
        return True


async def writer_ceiling(
    uri: str, db_name: str, prefix: str, keys: list[dict[str, Any]], buses: int = 4,
    clients: int = 256, seconds: float = 10.0,
) -> tuple[float, float]:  # fmt: skip
    """Orders/s through the writer from relayed commands: ``buses`` relays (as API
    processes would), ``clients`` concurrent submitters, bare PLACE commands (no GraphQL,
    no auth: the writer's own ceiling). Returns (orders/s, p99 ms)."""
    from engine import codes
    from engine import commands as cmd
    from graph.writer.command_relay import RedisCommandBus
    from subscriptions.redis_client import redis_client

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    db = client[db_name]
    accounts = [int((await db.engine_accounts.find_one({"_id": k["account_id"]}) or {})["index"])
                for k in keys]  # fmt: skip
    market = int((await db.engine_markets.find_one({"_id": "BTC-USDT"}) or {})["index"])
    await client.close()
    redis = redis_client("redis://127.0.0.1:6379/0")
    relays = [RedisCommandBus(redis, _NoReplica(), prefix=prefix) for _ in range(buses)]  # type: ignore[arg-type]
    for relay in relays:
        await relay.start()
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def submitter(n: int) -> None:
        relay, i = relays[n % buses], n
        while time.perf_counter() < deadline:
            side = (codes.BUY, codes.SELL)[(i // 2 + i) % 2]
            command = cmd.place(0, 0, order_id=0, account=accounts[i % 2], market=market,
                                side=side, qty_lots=10, price_ticks=6_425_000)  # fmt: skip
            started = time.perf_counter()
            await relay.submit(command)
            latencies.append((time.perf_counter() - started) * 1000)
            i += clients

    started = time.perf_counter()
    try:  # a relay that stops answering must not hang the benchmark
        await asyncio.wait_for(
            asyncio.gather(*(submitter(n) for n in range(clients))), seconds + 30
        )
    finally:
        elapsed = time.perf_counter() - started
        for relay in relays:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(relay.close(), 5)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(redis.aclose(), 5)
    p99 = float(np.percentile(latencies, 99)) if latencies else 0.0
    return len(latencies) / elapsed, p99


def _phase(port: int, make: Any, clients: int, seconds: float, warm: Any = None) -> Phase:
    """A warm-up second (with ``warm``'s requests, default ``make``'s), then the phase."""
    asyncio.run(run_load("127.0.0.1", port, warm or make, clients, min(1.0, seconds)))
    return asyncio.run(run_load("127.0.0.1", port, make, clients, seconds))


def _orders_phase(
    ports: list[int], keys: list[dict[str, Any]], run_id: str, clients: int, seconds: float
) -> Phase:
    """Orders spread over every API port (each connection keeps one port); the warm-up's
    clientOrderIds differ from the measured phase's, so nothing measured is a retry."""
    make = _orders(ports, keys, run_id)
    warm = _orders(ports, keys, f"{run_id}w")
    if len(ports) == 1:
        return _phase(ports[0], make, clients, seconds, warm)

    def on_port(i: int) -> Any:
        return lambda n: make(n * len(ports) + i)

    async def both() -> Phase:
        share = max(1, clients // len(ports))
        phases = await asyncio.gather(*(
            run_load("127.0.0.1", port, on_port(i), share, seconds)
            for i, port in enumerate(ports)
        ))  # fmt: skip
        latencies = [x for p in phases for x in p.latencies_ms]
        return Phase(sum(p.requests for p in phases), sum(p.failed for p in phases),
                     max(p.seconds for p in phases), latencies,
                     next((p.first_failure for p in phases if p.first_failure), ""))  # fmt: skip

    asyncio.run(run_load("127.0.0.1", ports[0], warm, clients, 1.0))
    return asyncio.run(both())


def run(seconds: float = 10.0, clients: int = 32, processes: int = 1) -> str:
    """Start a store, the baseline and the platform, measure, stop them; return the summary."""
    console = Console(soft_wrap=True)
    run_id = uuid.uuid4().hex[:8]
    redis = redis_answers()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(Path(tmp) / "mongo") as store:
        env = {**os.environ, "MONGODB_URI": store.uri, "MONGODB_DB": "bench",
               "PORT": str(free_port()), "LOG_LEVEL": "WARNING", "CAAS_DATA_DIR": tmp,
               "CAAS_RATE_LIMIT_READS": BENCH_BUDGET, "CAAS_RATE_LIMIT_MUTATIONS": BENCH_BUDGET,
               "CAAS_INDEX_FEED_SECONDS": "0"}  # fmt: skip
        env.pop("CAAS_RATE_LIMITS", None)  # production default: on
        if redis:
            env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
            env["CAAS_REDIS_PREFIX"] = f"bench{run_id}:"
        else:
            env.pop("REDIS_URL", None)
        seeded = subprocess.run([sys.executable, "-m", "graph.ops.cli", "seed-demo", "--json"],
                                env=env, capture_output=True, check=True)  # fmt: skip
        keys = [k for k in json.loads(seeded.stdout) if k["name"] in ("alice", "bob")]
        base_port = free_port()
        cli = [sys.executable, "-m", "graph.ops.cli", "serve"]
        with _process([sys.executable, "-m", "graph.ops.bench_baseline", str(base_port)], env):
            _wait_ready(f"http://127.0.0.1:{base_port}", "/graphql")
            baseline = _phase(base_port, _trivial(base_port, None), clients, seconds)
        with _process(cli, env):
            writer_port = int(env["PORT"])
            _wait_ready(f"http://127.0.0.1:{writer_port}")
            api_ports = [writer_port]
            api_envs = [{**env, "PORT": str(free_port()), "CAAS_ROLE": "api"}
                        for _ in range(processes if processes > 1 else 0)]  # fmt: skip
            with contextlib_exit_stack() as stack:
                for api_env in api_envs:
                    stack.enter_context(_process(cli, api_env))
                for api_env in api_envs:
                    _wait_ready(f"http://127.0.0.1:{api_env['PORT']}")
                if api_envs:
                    api_ports = [int(e["PORT"]) for e in api_envs]
                trivial = _phase(api_ports[0], _trivial(api_ports[0], keys[0]["token"]), clients,
                                 seconds)  # fmt: skip
                orders = _orders_phase(api_ports, keys, run_id, clients, seconds)
            ceiling = None
            if redis:  # the writer's own ceiling: relayed commands, no GraphQL in front
                prefix = env["CAAS_REDIS_PREFIX"]
                try:
                    ceiling = asyncio.run(writer_ceiling(store.uri, "bench", prefix, keys,
                                                         seconds=seconds))  # fmt: skip
                except (TimeoutError, WriterStoppedError) as exc:
                    console.print(f"  writer ceiling: not measured ({type(exc).__name__})")
        journal = asyncio.run(journal_rate(store.uri))
    where = f"{processes} api processes + 1 writer" if processes > 1 else "one hypercorn process"
    redis_state = "on" if redis else "off (not answering)"
    console.print(f"clients {clients}, {seconds:.0f} s per phase, {where}, Redis {redis_state}, "
                  "embedded store j:true")  # fmt: skip
    for name, phase in (("plain strawberry", baseline), ("{ __typename }", trivial),
                        ("placeOrder", orders)):  # fmt: skip
        console.print(
            f"  {name:<17} {phase.per_second:9,.0f} req/s   p50 {phase.percentile(50):6.2f} ms"
            f"   p99 {phase.percentile(99):6.2f} ms   ({phase.requests:,} ok, {phase.failed:,} "
            f"failed)"
        )
        if phase.first_failure:
            console.print(f"    first failure: {phase.first_failure}")
    console.print(f"  journal alone     {journal:9,.0f} durable cmd/s (batches of 1,000)")
    if ceiling is not None:
        console.print(f"  writer ceiling    {ceiling[0]:9,.0f} orders/s relayed from 4 buses x 256 "
                      f"clients, no GraphQL   p99 {ceiling[1]:6.2f} ms")  # fmt: skip
    console.print(f"  trivial query at {_pct(trivial, baseline):.0f}% of plain strawberry")
    return (
        f"orders: {orders.per_second:,.0f} placeOrder/s, {_pct(orders, trivial):.0f}% of trivial "
        f"({trivial.per_second:,.0f} req/s), {_pct(orders, baseline):.0f}% of plain strawberry, "
        f"journal {journal:,.0f} durable cmd/s"
    )


def _pct(a: Phase, b: Phase) -> float:
    return 100 * a.per_second / b.per_second if b.per_second else 0.0
