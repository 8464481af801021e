"""`caas bench fanout`: many websocket subscribers of one market's book on one server process.

Two set-ups (``--role``). ``all``: one `caas serve` (the engine writer) serves the driver's
orders and the subscribers, with the in-process broker. ``edge``: the scale-out shape, on the
Redis at REDIS_URL (default redis://127.0.0.1:6379/0, keys under a fresh prefix): the driver's
orders go to a writer (`caas serve`), the subscribers connect to a `caas serve --role edge`
process that keeps no engine and receives the writer's deltas through Redis pub/sub; the
figures are the edge's, and both processes' RSS is reported. The server processes are pinned
to the first core; each in its own process, pinned to the other cores, run: CLIENTS
subscriber processes sharing SUBSCRIBERS graphql-transport-ws connections to
`orderBook(BTC-USDT)`, and one order driver changing the book RATE times a second (a limit
order placed, then cancelled). The subscribers use a minimal asyncio websocket client (an
``asyncio.Protocol`` that parses frames and looks for the ``lastSequence`` of each delta, no
JSON decoding, no per-message task), so the client side costs little next to the server and
its timestamps are not taken in a backlogged loop.

Latency: the driver takes ``time.time_ns()`` just before it sends each mutation; every
subscriber takes ``time.time_ns()`` when a delta's frame arrives, with its ``lastSequence``.
The k-th distinct ``lastSequence`` seen after the snapshot is the k-th book change, so a delta
maps to its request even when a subscriber misses one. Both clocks are the same machine's, so
``receipt - request`` is an upper bound of publish-to-receive (it includes the mutation: its
HTTP request and journal commit; run with ``--subscribers 10`` to see that floor). The driver
changes the book WARM_UP_CHANGES times before anyone subscribes (a fresh server's first orders
are slow), so those are not measured. Also: time to connect everyone (from the start of the
first connect to the last snapshot), delivered messages/s, each server process's RSS sampled
every second (``/proc/<pid>/status``), and server and client CPU. ``CAAS_BENCH_PROFILE=FILE``
runs the writer under cProfile and writes its stats to FILE.
A benchmark, not a test: it prints figures, it asserts nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from array import array
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from rich.console import Console

from graph.ops.embedded_store import EmbeddedStore, free_port

SUBSCRIBE = """subscription { orderBook(market: "BTC-USDT", depth: 10) {
  kind sequence firstSequence lastSequence bids { price quantity } asks { price quantity } } }"""
PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id } } }"""
CANCEL = """mutation($id: ID!) { cancelOrder(id: $id) { order { id } } }"""
DEFAULT_CLIENTS = 4
WARM_UP_CHANGES = 4  # the first orders of a fresh server are slow (first calls, caches)
LAST_SEQUENCE = b'"lastSequence":'


def _frame(text: str, opcode: int = 0x1) -> bytes:
    """A masked client frame (RFC 6455 5.3) carrying ``text``."""
    data = text.encode()
    mask = os.urandom(4)
    length = len(data)
    if length < 126:
        header = bytes([0x80 | opcode, 0x80 | length])
    elif length < 65536:
        header = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    key = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(data, "big") ^ int.from_bytes(key, "big")).to_bytes(length, "big")
    return header + mask + masked


class _Subscriber(asyncio.Protocol):
    """One graphql-transport-ws subscriber of the book: handshake, init, subscribe, record."""

    def __init__(self, host: str, token: str, client: _Client) -> None:
        self.host, self.token, self.client = host, token, client
        self.buffer = bytearray()
        self.upgraded = False
        self.transport: asyncio.Transport | None = None
        self.snapshot = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET /graphql HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n".encode()
        )

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.snapshot.done():
            self.snapshot.set_exception(ConnectionError(f"closed before the snapshot: {exc}"))

    def data_received(self, data: bytes) -> None:
        now = time.time_ns()
        buffer = self.buffer
        buffer += data
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                raise ConnectionError(bytes(buffer[:200]).decode(errors="replace"))
            del buffer[: end + 4]
            self.upgraded = True
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}
            self._send(json.dumps(init))
        offset, size = 0, len(buffer)
        while size - offset >= 2:
            opcode, length, start = buffer[offset] & 0x0F, buffer[offset + 1] & 0x7F, offset + 2
            if length == 126:
                if size - offset < 4:
                    break
                length, start = int.from_bytes(buffer[offset + 2 : offset + 4], "big"), offset + 4
            elif length == 127:
                if size - offset < 10:
                    break
                length, start = int.from_bytes(buffer[offset + 2 : offset + 10], "big"), offset + 10
            if size - start < length:
                break
            offset = start + length
            if opcode == 0x1:
                self._message(buffer, start, offset, now)
            elif opcode == 0x9:
                self._send(bytes(buffer[start:offset]).decode(), opcode=0xA)
        del buffer[:offset]

    def _message(self, buffer: bytearray, start: int, end: int, now: int) -> None:
        at = buffer.find(LAST_SEQUENCE, start, end)
        if at >= 0 and buffer.find(b'"DELTA"', start, end) >= 0:
            at += len(LAST_SEQUENCE)
            stop = at
            while 48 <= buffer[stop] <= 57:
                stop += 1
            self.client.sequences.append(int(buffer[at:stop]))
            self.client.received_ns.append(now)
        elif buffer.find(b'"SNAPSHOT"', start, end) >= 0:
            self.client.snapshots += 1
            if not self.snapshot.done():
                self.snapshot.set_result(now)
        elif buffer.find(b'"connection_ack"', start, end) >= 0:
            payload = {"query": SUBSCRIBE}
            self._send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        elif buffer.find(b'"type":"ping"', start, end) >= 0:
            self._send('{"type":"pong"}')

    def _send(self, text: str, opcode: int = 0x1) -> None:
        if self.transport is not None:
            self.transport.write(_frame(text, opcode))


class _Client:
    """What one subscriber process records."""

    def __init__(self) -> None:
        self.sequences = array("q")
        self.received_ns = array("q")
        self.snapshots = 0


def _subscribers_main(url: str, token: str, count: int, cores: list[int], pipe: Connection) -> None:
    """A subscriber process: COUNT connections; reports connect times, then what arrived."""
    if cores:
        os.sched_setaffinity(0, cores)
    asyncio.run(_subscribers(url, token, count, pipe))


async def _subscribers(url: str, token: str, count: int, pipe: Connection) -> None:
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    client = _Client()
    await loop.run_in_executor(None, pipe.recv)  # "connect"
    started = time.time_ns()

    async def one() -> tuple[asyncio.Transport, int]:
        transport, protocol = await loop.create_connection(
            lambda: _Subscriber(f"{host}:{port}", token, client), host, port
        )
        return transport, await protocol.snapshot

    connected = await asyncio.gather(*(one() for _ in range(count)))
    pipe.send(("connected", started, max(at for _, at in connected)))
    cpu = time.process_time()
    await loop.run_in_executor(None, pipe.recv)  # "stop"
    cpu = time.process_time() - cpu
    for transport, _ in connected:
        transport.abort()
    pipe.send(("done", client.sequences.tobytes(), client.received_ns.tobytes(),
               client.snapshots, cpu))  # fmt: skip


def _driver_main(
    url: str, key: dict[str, Any], rate: float, seconds: float, cores: list[int], pipe: Connection
) -> None:
    """The order driver's process: RATE book changes a second; reports each request's time."""
    if cores:
        os.sched_setaffinity(0, cores)
    headers = {"authorization": f"Bearer {key['token']}"}
    order = {"accountId": key["account_id"], "market": "BTC-USDT", "side": "BUY",
             "type": "LIMIT", "price": "62000", "quantity": "0.001"}  # fmt: skip
    sent_ns: list[int] = []
    resting: str | None = None
    with httpx.Client(base_url=url, headers=headers, timeout=30) as http:

        def change() -> None:
            nonlocal resting
            if resting is None:
                body = {"query": PLACE, "variables": {"i": order}}
                response = http.post("/graphql", json=body).json()
                if not response.get("data"):
                    raise RuntimeError(f"placeOrder failed: {response}")
                resting = response["data"]["placeOrder"]["order"]["id"]
            else:
                http.post("/graphql", json={"query": CANCEL, "variables": {"id": resting}})
                resting = None

        for _ in range(WARM_UP_CHANGES):  # before anyone subscribes: not measured
            change()
        pipe.send("ready")
        pipe.recv()  # "go"
        started = time.perf_counter()
        for n in range(int(seconds * rate)):
            time.sleep(max(started + n / rate - time.perf_counter(), 0))
            sent_ns.append(time.time_ns())
            change()
    pipe.send(sent_ns)


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _latencies_ms(sent_ns: list[int], sequences: np.ndarray, received_ns: np.ndarray) -> np.ndarray:
    """Receipt minus request of each delivered delta (k-th distinct sequence = k-th change)."""
    distinct = np.unique(sequences)[: len(sent_ns)]
    index = np.searchsorted(distinct, sequences)
    known = (index < len(distinct)) & (distinct[np.minimum(index, len(distinct) - 1)] == sequences)
    sent = np.asarray(sent_ns, dtype=np.int64)
    latencies: np.ndarray = (received_ns[known] - sent[index[known]]) / 1e6
    return latencies


def _measure(urls: tuple[str, str], pids: tuple[int, int], key: dict[str, Any],
             subscribers: int, rate: float, seconds: float, clients: int,
             cores: list[int]) -> dict[str, Any]:  # fmt: skip
    """Subscribers on ``urls[0]`` (process ``pids[0]``), the driver on ``urls[1]``; the RSS of
    both processes (the same one in role all) every second."""
    url, driver_url = urls
    pid = pids[0]
    spawn = mp.get_context("spawn")
    shares = [subscribers // clients + (i < subscribers % clients) for i in range(clients)]
    pipes, processes = [], []
    for share in shares:
        mine, theirs = spawn.Pipe()
        args = (url, key["token"], share, cores, theirs)
        process = spawn.Process(target=_subscribers_main, args=args, daemon=True)
        process.start()
        pipes.append(mine)
        processes.append(process)
    mine, theirs = spawn.Pipe()
    driver = spawn.Process(target=_driver_main,
                           args=(driver_url, key, rate, seconds, cores, theirs),
                           daemon=True)  # fmt: skip
    driver.start()
    processes.append(driver)
    mine.recv()  # the driver has warmed the order path up
    time.sleep(1)  # the subscriber processes have imported their modules
    memory, writer_memory = [_rss_mb(pid)], [_rss_mb(pids[1])]
    for pipe in pipes:
        pipe.send("connect")
    connected = [pipe.recv() for pipe in pipes]
    connect_s = (max(c[2] for c in connected) - min(c[1] for c in connected)) / 1e9
    memory.append(_rss_mb(pid))
    writer_memory.append(_rss_mb(pids[1]))
    run_started, server_cpu = time.perf_counter(), _cpu_s(pid)
    mine.send("go")
    while not mine.poll(1.0):
        memory.append(_rss_mb(pid))
        writer_memory.append(_rss_mb(pids[1]))
    sent_ns: list[int] = mine.recv()
    time.sleep(1)
    elapsed = time.perf_counter() - run_started
    server_cpu = _cpu_s(pid) - server_cpu
    memory.append(_rss_mb(pid))
    writer_memory.append(_rss_mb(pids[1]))
    for pipe in pipes:
        pipe.send("stop")
    done = [pipe.recv() for pipe in pipes]
    for process in processes:
        process.join(timeout=10)
    sequences = np.concatenate([np.frombuffer(d[1], dtype=np.int64) for d in done])
    received = np.concatenate([np.frombuffer(d[2], dtype=np.int64) for d in done])
    lat = _latencies_ms(sent_ns, sequences, received)
    lat = lat if len(lat) else np.zeros(1)
    delivered = len(sequences)
    return {
        "connect_s": connect_s, "delivered": delivered, "msg_s": delivered / elapsed,
        "expected": subscribers * len(sent_ns),
        "p50": float(np.percentile(lat, 50)), "p99": float(np.percentile(lat, 99)),
        "max": float(lat.max()), "memory": memory, "writer_memory": writer_memory,
        "snapshots": sum(d[3] for d in done),
        "server_cpu": server_cpu / elapsed, "client_cpu": sum(d[4] for d in done) / elapsed,
        "server_us_per_msg": server_cpu / max(delivered, 1) * 1e6,
    }  # fmt: skip


ROLES = ("all", "edge")


def _serve(env: dict[str, str], log: Path, core: int | None, *args: str) -> subprocess.Popen[bytes]:
    """A `caas serve` process (cProfiled with CAAS_BENCH_PROFILE), pinned to ``core``."""
    profile = os.environ.get("CAAS_BENCH_PROFILE")  # cProfile the server into this file
    command = ["-m", "cProfile", "-o", profile] if profile and "edge" not in args[-1:] else []
    with log.open("ab") as output:
        return subprocess.Popen([sys.executable, *command, "-m", "graph.ops.cli", "serve", *args],
                                env=env, stdout=subprocess.DEVNULL, stderr=output,
                                preexec_fn=(lambda: os.sched_setaffinity(0, [core]))
                                if core is not None else None)  # fmt: skip


def _ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise RuntimeError(f"the server at {url} exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not become ready")


def run(
    subscribers: int = 1000, rate: float = 10.0, seconds: float = 60.0,
    clients: int = DEFAULT_CLIENTS, role: str = "all",
) -> str:  # fmt: skip
    """Start a store and the server process(es), measure, stop them; return the summary line."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    console = Console()
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(Path(tmp) / "mongo") as store:
        env = {**os.environ, "MONGODB_URI": store.uri, "MONGODB_DB": "bench_fanout",
               "PORT": str(free_port()), "LOG_LEVEL": "WARNING",
               "CAAS_RATE_LIMITS": "off"}  # fmt: skip
        if role == "edge":
            env["REDIS_URL"] = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
            env["CAAS_REDIS_PREFIX"] = f"bench:fanout:{os.getpid()}:{time.time_ns()}:"
        else:
            env.pop("REDIS_URL", None)
        seeded = subprocess.run([sys.executable, "-m", "graph.ops.cli", "seed-demo", "--json"],
                                env=env, capture_output=True, check=True)  # fmt: skip
        key = next(k for k in json.loads(seeded.stdout) if k["name"] == "alice")
        cores = sorted(os.sched_getaffinity(0))
        pin = len(cores) >= 2  # the servers on one core, the clients and driver on the others
        log = Path(tmp) / "server.log"
        servers = [_serve(env, log, cores[0] if pin else None)]
        writer_url = f"http://127.0.0.1:{env['PORT']}"
        urls = [writer_url]
        try:
            _ready(writer_url, servers[0], log)
            if role == "edge":
                edge_env = {**env, "PORT": str(free_port())}
                servers.insert(
                    0, _serve(edge_env, log, cores[0] if pin else None, "--role", "edge")
                )
                urls.insert(0, f"http://127.0.0.1:{edge_env['PORT']}")
                _ready(urls[0], servers[0], log)
            else:
                urls.append(writer_url)
                servers.append(servers[0])
            result = _measure((urls[0], urls[1]), (servers[0].pid, servers[1].pid), key,
                              subscribers, rate, seconds, clients,
                              cores[1:] if pin else [])  # fmt: skip
        finally:
            for server in {s.pid: s for s in servers}.values():
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=60)
            if os.environ.get("CAAS_BENCH_LOG"):
                print(log.read_text()[-3000:])
    _report(console, result, subscribers, rate, seconds, clients, role)
    memory = result["memory"]
    return (f"fanout: {subscribers} subscribers, p99 {result['p99']:.1f} ms, "
            f"{result['msg_s']:,.0f} msg/s, {role} process RSS {memory[1]:.0f} -> "
            f"{memory[-1]:.0f} MB")  # fmt: skip


def _report(console: Console, result: dict[str, Any], subscribers: int, rate: float,
            seconds: float, clients: int, role: str) -> None:  # fmt: skip
    serving = (
        "one `caas serve` (role all: the engine writer) serves orders and subscribers"
        if role == "all"
        else "subscribers on a `caas serve --role edge` (no engine), orders to a writer "
        "`caas serve`, deltas through Redis; both on one core"
    )
    console.print(f"{subscribers} subscribers ({clients} client processes) connected in "
                  f"{result['connect_s']:.2f} s; {rate:g} book changes/s for {seconds:g} s "
                  f"from a driver process; {serving}")  # fmt: skip
    console.print(f"  delivered {result['delivered']:,} of {result['expected']:,} deltas "
                  f"({result['msg_s']:,.0f} msg/s), {result['snapshots']} snapshots")  # fmt: skip
    console.print(f"  latency request->receipt p50 {result['p50']:.1f} ms  p99 "
                  f"{result['p99']:.1f} ms  max {result['max']:.1f} ms")  # fmt: skip
    console.print(f"  CPU: {role} process {result['server_cpu']:.0%} of a core "
                  f"({result['server_us_per_msg']:.0f} µs per delivered message), "
                  f"subscriber clients {result['client_cpu']:.0%}")  # fmt: skip
    processes = [(f"{role} process (serves the subscribers)", result["memory"])]
    if role == "edge":
        processes.append(("writer process (engine, orders)", result["writer_memory"]))
    for name, memory in processes:
        console.print(f"  {name} RSS: idle {memory[0]:.0f} MB, all connected {memory[1]:.0f} MB, "
                      f"end {memory[-1]:.0f} MB, max {max(memory):.0f} MB; every 10 s (MB): "
                      + " ".join(f"{m:.0f}" for m in memory[1:-1:10]))  # fmt: skip
