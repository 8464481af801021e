"""A TCP fault proxy for soak and fault tests: 127.0.0.1:<listen> -> 127.0.0.1:<upstream>.

Put it between a server and its store or Redis, then, on command: ``add_latency`` (each
forwarded chunk waits), ``reset_all`` (every open connection is aborted with a TCP RST:
SO_LINGER 0), ``blackhole`` (connections are accepted and read, nothing is forwarded, for
N seconds or until ``heal``), ``lose_replies`` (requests reach the upstream, its answers are
dropped: a write that lands while its reply is lost), ``refuse`` (the listening socket
closes: new connections are refused, open ones go on) and ``heal`` (all of it undone).
``chaos`` runs a seeded random schedule of those. ``faults`` counts every fault injected,
by kind.

A blackhole drops bytes (a partition, not a slow link): a connection that lost bytes in
one can never carry its protocol again, so healing resets it (``poisoned``); connections
that sent nothing meanwhile go on. Imports nothing from the project: asyncio only.
`python -m graph.ops.faultproxy --upstream 27017` runs one in the foreground.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import inspect
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

CHUNK = 65_536
KINDS = ("latency", "reset", "blackhole", "refuse", "lost-replies")


@dataclass(eq=False)
class _Link:
    """One proxied connection: the client's side and the upstream's."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    poisoned: bool = False  # bytes were dropped in a blackhole: reset on heal
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        """Close both sides with a TCP RST (SO_LINGER 0, then abort: no FIN, no flush)."""
        for writer in (self.client, self.upstream):
            if writer is None:
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``upstream_port`` and injects faults."""

    def __init__(self, upstream_port: int, port: int = 0, host: str = "127.0.0.1") -> None:
        self.host = host
        self.upstream_port = upstream_port
        self.port = port
        self.latency_s = 0.0
        self.faults: Counter[str] = Counter()
        self.history: list[str] = []  # every fault injected, in order
        self.connections = 0  # accepted so far
        self.connections_reset = 0
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self._blackholed = False
        self._replies_lost = False  # upstream -> client dropped (and the link poisoned)
        self._healed = asyncio.Event()  # set while no blackhole is on
        self._healed.set()
        self._blackhole_timer: asyncio.TimerHandle | None = None
        self._refusing = False

    @property
    def open_connections(self) -> int:
        return len(self._links)

    async def start(self) -> FaultProxy:
        """Listen (on a free port when ``port`` is 0; ``port`` then says which)."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Stop listening and close every connection (with RST: nothing lingers)."""
        self._cancel_blackhole_timer()
        tasks = [task for link in self._links for task in link.tasks]
        for link in list(self._links):
            self._drop(link)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for _ in range(3):  # the connection handlers see their links end
            await asyncio.sleep(0)

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # the faults -------------------------------------------------------------------------

    def add_latency(self, seconds: float) -> None:
        """Each chunk forwarded from now on, either way, waits ``seconds`` first."""
        self.latency_s = seconds
        self._count("latency")

    def reset_all(self) -> int:
        """Abort every open connection with a TCP RST; return how many."""
        links = list(self._links)
        for link in links:
            self._drop(link)
        self._count("reset")
        self.connections_reset += len(links)
        return len(links)

    def blackhole(self, seconds: float | None = None) -> None:
        """Accept and read, forward nothing, for ``seconds`` (None: until ``heal``)."""
        self._blackholed = True
        self._healed.clear()
        self._count("blackhole")
        self._cancel_blackhole_timer()
        if seconds is not None:
            loop = asyncio.get_running_loop()
            self._blackhole_timer = loop.call_later(seconds, self._end_blackhole)

    def lose_replies(self) -> None:
        """Forward requests, drop every answer until ``heal`` (which resets those links)."""
        self._replies_lost = True
        self._count("lost-replies")

    def refuse(self) -> None:
        """Refuse new connections (the listening socket closes); open ones go on."""
        if self._refusing:
            return
        self._refusing = True
        self._count("refuse")
        if self._server is not None:
            self._server.close()  # the listening socket only (open connections go on)
            self._server = None

    async def heal(self) -> None:
        """No latency, no blackhole, no lost replies (the connections that lost bytes are
        reset), accept again."""
        self.latency_s = 0.0
        self._end_blackhole()
        if self._refusing:
            self._refusing = False
            await self.start()

    async def chaos(
        self,
        seed: int,
        seconds: float,
        kinds: Sequence[str] = KINDS,
        *,
        calm_s: tuple[float, float] = (0.3, 1.5),
        fault_s: tuple[float, float] = (0.2, 2.0),
        latency_s: tuple[float, float] = (0.005, 0.05),
    ) -> Counter[str]:
        """A seeded schedule for ``seconds``: calm, one fault of a random kind, heal, ...

        Returns the faults this schedule injected; it always ends healed."""
        rng = random.Random(seed)
        before = Counter(self.faults)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            while loop.time() < deadline:
                await asyncio.sleep(min(rng.uniform(*calm_s), max(0, deadline - loop.time())))
                if loop.time() >= deadline:
                    break
                await self._one_fault(rng, rng.choice(list(kinds)), fault_s, latency_s)
        finally:
            await self.heal()
        return self.faults - before

    async def _one_fault(
        self,
        rng: random.Random,
        kind: str,
        fault_s: tuple[float, float],
        latency_s: tuple[float, float],
    ) -> None:
        hold = rng.uniform(*fault_s)
        if kind == "latency":
            self.add_latency(rng.uniform(*latency_s))
        elif kind == "reset":
            self.reset_all()
            return
        elif kind == "blackhole":
            self.blackhole()
        elif kind == "refuse":
            self.refuse()
        elif kind == "lost-replies":
            self.lose_replies()
        else:
            raise ValueError(f"unknown fault kind {kind!r}; one of {', '.join(KINDS)}")
        await asyncio.sleep(hold)
        await self.heal()

    def _count(self, kind: str) -> None:
        self.faults[kind] += 1
        self.history.append(kind)

    # forwarding -------------------------------------------------------------------------

    def _cancel_blackhole_timer(self) -> None:
        if self._blackhole_timer is not None:
            self._blackhole_timer.cancel()
            self._blackhole_timer = None

    def _end_blackhole(self) -> None:
        self._cancel_blackhole_timer()
        if not (self._blackholed or self._replies_lost):
            return
        self._blackholed = self._replies_lost = False
        self._healed.set()
        for link in [link for link in self._links if link.poisoned]:
            self._drop(link)
            self.connections_reset += 1

    def _drop(self, link: _Link) -> None:
        link.abort()
        for task in link.tasks:
            task.cancel()
        self._links.discard(link)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        link = _Link(writer)
        self._links.add(link)
        try:
            first = await self._through_blackhole(reader, link)
            if first is None:
                return
            up_reader, link.upstream = await asyncio.open_connection(self.host, self.upstream_port)
            link.upstream.write(first)
            link.tasks = [
                asyncio.create_task(self._pump(reader, link.upstream, link, replies=False)),
                asyncio.create_task(self._pump(up_reader, writer, link, replies=True)),
            ]
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        except (OSError, asyncio.IncompleteReadError):
            pass  # upstream refused or a side went away: the client sees it close
        finally:
            if link in self._links:
                self._links.discard(link)
                for task in link.tasks:
                    task.cancel()
                for side in (link.client, link.upstream):
                    if side is not None:
                        side.close()

    async def _through_blackhole(self, reader: asyncio.StreamReader, link: _Link) -> bytes | None:
        """While a blackhole is on, read and drop what the client sends (the link is then
        poisoned: reset on heal). Once healed: what to forward first (None: give up)."""
        while self._blackholed:
            healed = asyncio.ensure_future(self._healed.wait())
            read = asyncio.ensure_future(reader.read(CHUNK))
            await asyncio.wait((healed, read), return_when=asyncio.FIRST_COMPLETED)
            healed.cancel()
            if not read.done():
                read.cancel()  # nothing read: the bytes stay in the reader's buffer
                with contextlib.suppress(asyncio.CancelledError):
                    await read
                continue
            chunk = read.result()
            if not chunk:
                return None  # the client closed
            if not self._blackholed:
                return chunk  # read just as it healed: nothing was lost
            link.poisoned = True
        return None if link.poisoned or link not in self._links else b""

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link, *,
        replies: bool,
    ) -> None:  # fmt: skip
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(CHUNK):
                if self.latency_s:
                    await asyncio.sleep(self.latency_s)
                if self._blackholed or (replies and self._replies_lost):
                    link.poisoned = True
                    continue
                writer.write(chunk)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()


class ProxyThread:
    """A FaultProxy on its own event loop in a daemon thread, so a test or soak whose own
    loop blocks (waiting for a subprocess, replaying a journal) never stalls the proxied
    link. ``call(fn)`` runs ``fn(proxy)`` there (awaited if it returns a coroutine)."""

    def __init__(self, upstream_port: int, port: int = 0) -> None:
        self.proxy = FaultProxy(upstream_port, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"faultproxy-{upstream_port}")  # fmt: skip

    @property
    def port(self) -> int:
        return self.proxy.port

    def call(self, fn: Callable[[FaultProxy], Any], timeout_s: float = 60.0) -> Any:
        """``fn(proxy)`` on the proxy's loop; blocks for its result."""
        return self.submit(fn).result(timeout_s)

    def submit(self, fn: Callable[[FaultProxy], Any]) -> concurrent.futures.Future[Any]:
        """``fn(proxy)`` on the proxy's loop; a future of its result (``asyncio.wrap_future``
        awaits it from another loop)."""

        async def run() -> Any:
            result = fn(self.proxy)
            return await result if inspect.isawaitable(result) else result

        return asyncio.run_coroutine_threadsafe(run(), self._loop)

    def __enter__(self) -> ProxyThread:
        self._thread.start()
        self.call(lambda proxy: proxy.start())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.call(lambda proxy: proxy.stop(), timeout_s=10)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._thread.is_alive():
                self._loop.close()


async def _serve(upstream: int, port: int, seed: int | None, seconds: float) -> None:
    async with FaultProxy(upstream, port) as proxy:
        print(f"faultproxy: 127.0.0.1:{proxy.port} -> 127.0.0.1:{upstream}", flush=True)
        if seed is None:
            await asyncio.Event().wait()  # faults on command only: until interrupted
            return
        injected = await proxy.chaos(seed, seconds)
        print(f"faultproxy: {sum(injected.values())} faults {dict(injected)}", flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m graph.ops.faultproxy --upstream P [--port L] [--seed S --seconds T]`."""
    parser = argparse.ArgumentParser(description="TCP fault proxy (graph.ops.faultproxy).")
    parser.add_argument("--upstream", type=int, required=True, help="port on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="listen port (0: any free)")
    parser.add_argument("--seed", type=int, default=None, help="run a seeded random schedule")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the schedule runs")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.upstream, args.port, args.seed, args.seconds))


if __name__ == "__main__":
    main()
