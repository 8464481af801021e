"""`caas soak`: the writer's crash loop under order load, a standby takeover, the seeded
engine stress, and one line of figures at the end.

On the embedded store (behind a fault proxy running a seeded random schedule of latency,
resets, blackholes and refusals on the server's store link): a `caas serve` writer takes
placeOrder from several clients (graph/ops/order_load.py) and is SIGKILLed ``kills`` times
at seeded random points (under load, or while it is still recovering), restarted each
time; then a standby takes over from a killed writer and the time until it acknowledges an
order is measured. Afterwards (graph/ops/soak_checks.py): every unknown outcome is looked
up by clientOrderId, retries of known ones must be answered as replays, every acknowledged
order is journaled and stored exactly once, a fresh replay of the journal ends at the
state hash of the writer's last snapshot with each asset's totals unchanged, and
`caas reconcile` agrees. Then `python -m engine.stress` (its own line), then
``soak: <K> kills, <F> faults, <I> inputs, <L> acknowledged orders lost``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from pymongo import AsyncMongoClient

from graph.ops.embedded_store import EmbeddedStore
from graph.ops.faultproxy import ProxyThread
from graph.ops.order_load import OrderLoad, Trader
from graph.ops.servers import Server, ServerGroup, seed_demo, soak_env, uri_via
from graph.ops.soak_checks import (
    Resolution,
    check_orders,
    check_replay,
    reconcile,
    resolve_unknown,
)
from graph.writer.journal import MongoJournal

Say = Callable[[str], None]


@dataclass(frozen=True)
class SoakConfig:
    """What one soak does; the defaults are `make soak`'s."""

    kills: int = 50
    seed: int = 1
    clients: int = 4
    lease_s: float = 3.0  # CAAS_WRITER_LEASE_SECONDS of the soak's servers (>= 3 on 2 cores)
    takeover: bool = True
    faults: bool = True  # the seeded fault schedule on the store link
    stress_commands: int = 0  # python -m engine.stress --commands N (0: not run)
    recovery_kill_share: float = 0.2  # kills that hit a writer still recovering
    max_gap_s: float = 2.0  # at most this long between load resuming and the next kill
    retry_sample: int = 50  # acknowledged orders retried at the end (must be replays)


@dataclass
class SoakResult:
    """Figures and problems of one soak; ``ok`` when there is no problem."""

    kills: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    submitted: int = 0
    acknowledged: int = 0
    unknown: int = 0
    unknown_ran: int = 0
    unknown_not_run: int = 0
    lost: int = 0
    takeover_s: float | None = None
    restart_s: list[float] = field(default_factory=list)
    stress_commands: int = 0
    stress_line: str = ""
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    wall_s: float = 0.0
    database: str = ""  # where the run's journal and read models are (kept after the run)
    run_id: str = ""  # the prefix of its clientOrderIds
    acked: dict[str, str] = field(default_factory=dict)  # clientOrderId -> order id
    resolution: Resolution = field(default_factory=Resolution)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def inputs(self) -> int:
        """Orders submitted (retries and takeover probes included) + seeded stress commands."""
        return self.submitted + self.stress_commands

    def line(self) -> str:
        return (f"soak: {self.kills} kills, {sum(self.faults.values())} faults, {self.inputs} "
                f"inputs, {self.lost} acknowledged orders lost")  # fmt: skip


@contextlib.contextmanager
def _store(mongodb_uri: str | None, workdir: Path) -> Iterator[str]:
    if mongodb_uri:
        yield mongodb_uri
        return
    with EmbeddedStore(workdir / "mongo") as store:
        yield store.uri


class CrashLoop:
    """Runs the load, the kills and the takeover against one group of servers."""

    def __init__(self, config: SoakConfig, group: ServerGroup, load: OrderLoad, say: Say) -> None:
        self.config = config
        self.group = group
        self.load = load
        self.say = say
        self.rng = random.Random(config.seed)
        self.result = SoakResult()
        self.writer: Server | None = None

    @property
    def url(self) -> str:
        assert self.writer is not None
        return self.writer.url

    async def _ready(self, server: Server, expect: str = "writer") -> None:
        started = time.monotonic()
        await asyncio.to_thread(self.group.wait_ready, server, expect)
        self.result.restart_s.append(time.monotonic() - started)

    async def _under_load(self) -> None:
        """Until the clients' orders are acknowledged again, then a random while longer."""
        target = len(self.load.acked) + self.rng.randint(1, 40)
        deadline = time.monotonic() + 120
        while len(self.load.acked) < target:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no orders acknowledged by {self.writer}")
            await asyncio.sleep(0.02)
        await asyncio.sleep(self.rng.uniform(0, self.config.max_gap_s))

    async def kills(self) -> None:
        """SIGKILL the writer ``kills`` times, restarting it on the same port each time."""
        assert self.writer is not None
        port, ready = self.writer.port, True
        for k in range(self.config.kills):
            during_recovery = not ready and self.rng.random() < self.config.recovery_kill_share
            if during_recovery:
                await asyncio.sleep(self.rng.uniform(0.3, 2.5))
            else:
                if not ready:
                    await self._ready(self.writer)
                await self._under_load()
            await asyncio.to_thread(self.writer.kill)
            self.result.kills += 1
            self.say(f"kill {k + 1}/{self.config.kills}: {len(self.load.acked)} acknowledged"
                     f"{' (while recovering)' if during_recovery else ''}")  # fmt: skip
            self.writer = self.group.spawn(f"writer-{k + 1}", port=port)
            ready = False
            if self.rng.random() >= self.config.recovery_kill_share:
                await self._ready(self.writer)
                ready = True
        if not ready:
            await self._ready(self.writer)

    async def takeover(self) -> None:
        """A standby beside the writer; SIGKILL the writer; time until the standby acks."""
        assert self.writer is not None
        standby = await asyncio.to_thread(self.group.start, "standby", expect="standby")
        await self._under_load()
        killed = time.monotonic()
        await asyncio.to_thread(self.writer.kill)
        self.result.kills += 1
        self.writer = standby  # the clients follow to the standby: refused until it writes
        async with httpx.AsyncClient() as client:
            while True:
                trader, order = self.load.order(next(self.load.numbers))
                if (await self.load.place(client, standby.url, order, trader)).kind == "acked":
                    break
                await asyncio.sleep(0.02)
        self.result.takeover_s = time.monotonic() - killed
        self.say(f"takeover: the standby acknowledged an order {self.result.takeover_s:.2f} s "
                 f"after the writer was killed (lease {self.config.lease_s:g} s)")  # fmt: skip

    async def retry_known(self, client: httpx.AsyncClient, found: dict[str, str]) -> None:
        """Retries with the same clientOrderId are answered as replays with the same id
        (a retry answered UNAVAILABLE is retried again, as a client would, for up to 30 s)."""
        acked = sorted(self.load.acked.items())
        sample = self.rng.sample(acked, min(self.config.retry_sample, len(acked)))
        for coid, order_id in [*found.items(), *sample]:
            deadline = time.monotonic() + 30
            while True:
                outcome = await self.load.place(client, self.url, self.load.orders[coid],
                                                self.load.owner[coid])  # fmt: skip
                if outcome.kind != "unknown" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            if outcome.kind != "acked" or not outcome.replayed or outcome.order_id != order_id:
                self.result.problems.append(
                    f"retry of {coid} ({order_id}): {outcome.kind} {outcome.code} "
                    f"{outcome.order_id} replayed={outcome.replayed}"
                )


async def _run(config: SoakConfig, uri: str, workdir: Path, say: Say) -> SoakResult:
    database = f"soak_{uuid.uuid4().hex[:8]}"
    direct = soak_env(uri, database, workdir)
    keys = await asyncio.to_thread(seed_demo, direct)
    traders = [Trader.from_key(keys[name]) for name in ("alice", "bob")]
    run_id = f"soak{config.seed}-{uuid.uuid4().hex[:6]}"
    load = OrderLoad(traders, run_id)
    mongo: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(uri)
    db = mongo[database]
    port = urlsplit(uri).port or 27017
    proxy = ProxyThread(port) if config.faults else None
    with proxy or contextlib.nullcontext():
        server_uri = uri_via(uri, proxy.port) if proxy is not None else uri
        env = soak_env(server_uri, database, workdir,
                       CAAS_WRITER_LEASE_SECONDS=f"{config.lease_s:g}")  # fmt: skip
        group = ServerGroup(env, workdir)
        loop = CrashLoop(config, group, load, say)
        try:
            loop.writer = await asyncio.to_thread(group.start, "writer-0", expect="writer")
            since_seq = await MongoJournal(db).last_seq()
            stop = asyncio.Event()
            drive = asyncio.create_task(load.drive(lambda: loop.url, config.clients, stop))
            chaos = proxy.submit(lambda p: p.chaos(config.seed, 10**9)) if proxy else None
            try:
                await loop.kills()
                if proxy is not None and chaos is not None:
                    chaos.cancel()  # the takeover is timed on a healthy link
                    await asyncio.sleep(0.1)
                    proxy.call(lambda p: p.heal())
                if config.takeover:
                    await loop.takeover()
            finally:
                stop.set()
                if chaos is not None:
                    chaos.cancel()  # the schedule heals the link as it ends
                await drive
            if proxy is not None:
                loop.result.faults = Counter(proxy.call(lambda p: Counter(p.faults)))
            say("load stopped; looking up unknown outcomes")
            async with httpx.AsyncClient() as client:
                await load.barrier(client, loop.url)
                resolution = await resolve_unknown(load, client, loop.url)
                say(f"{len(resolution.found) + len(resolution.absent)} looked up; retrying")
                await loop.retry_known(client, resolution.found)
        finally:
            say("stopping the servers")
            await asyncio.to_thread(group.close)  # SIGTERM: the writer snapshots as it stops
    say("checking the journal, the read models, a fresh replay and reconcile")
    result = loop.result
    result.unknown = len(resolution.found) + len(resolution.absent)
    result.unknown_ran, result.unknown_not_run = len(resolution.found), len(resolution.absent)
    orders = await check_orders(db, run_id, load.acked, resolution)
    replay = await check_replay(db, since_seq)
    await mongo.close()
    result.problems += load.untyped + orders.problems + replay.problems
    result.problems += await asyncio.to_thread(reconcile, direct)
    result.lost = len(orders.lost)
    result.submitted, result.acknowledged = load.submitted, len(load.acked)
    result.outcomes = load.codes
    result.database, result.run_id, result.acked = database, run_id, dict(load.acked)
    result.resolution = resolution
    return result


def run_stress(commands: int, seed: int) -> tuple[int, str]:
    """`python -m engine.stress`: its exit status and its one line."""
    command = [sys.executable, "-m", "engine.stress", "--commands", str(commands), "--seed",
               str(seed)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode, lines[-1] if lines else f"engine.stress exited {done.returncode}"


def run_soak(config: SoakConfig, mongodb_uri: str | None = None, say: Say | None = None,
             workdir: Path | None = None) -> SoakResult:  # fmt: skip
    """One soak (see the module docstring); ``say`` gets progress lines."""
    started = time.monotonic()
    tell = say or (lambda _line: None)
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="caas-soak-")))
        uri = stack.enter_context(_store(mongodb_uri, workdir))
        result = asyncio.run(_run(config, uri, workdir, tell))
    if config.stress_commands:
        status, line = run_stress(config.stress_commands, config.seed)
        result.stress_line = line
        if status == 0:
            result.stress_commands = config.stress_commands
        else:
            result.problems.append(line)
    result.wall_s = time.monotonic() - started
    return result
