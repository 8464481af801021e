"""The fault proxy (graph/ops/faultproxy.py) against a loopback echo server: each fault mode."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from graph.ops.faultproxy import FaultProxy, ProxyThread

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class Echo:
    """An upstream that echoes every chunk and remembers what it received."""

    def __init__(self) -> None:
        self.received = b""
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                self.received += chunk
                writer.write(chunk)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()


@pytest_asyncio.fixture
async def echo() -> AsyncIterator[Echo]:
    upstream = Echo()
    await upstream.start()
    yield upstream
    assert upstream.server is not None
    upstream.server.close()


@pytest_asyncio.fixture
async def proxy(echo: Echo) -> AsyncIterator[FaultProxy]:
    async with FaultProxy(echo.port) as running:
        yield running


async def _connect(proxy: FaultProxy) -> Stream:
    return await asyncio.open_connection("127.0.0.1", proxy.port)


async def _roundtrip(stream: Stream, data: bytes, timeout_s: float = 2.0) -> bytes:
    reader, writer = stream
    writer.write(data)
    await writer.drain()
    return await asyncio.wait_for(reader.readexactly(len(data)), timeout_s)


async def test_a_healthy_proxy_forwards_both_ways(proxy: FaultProxy, echo: Echo) -> None:
    stream = await _connect(proxy)
    assert await _roundtrip(stream, b"ping") == b"ping"
    assert echo.received == b"ping"
    assert proxy.connections == 1 and sum(proxy.faults.values()) == 0
    stream[1].close()


async def test_latency_delays_every_chunk_each_way_until_healed(proxy: FaultProxy) -> None:
    stream = await _connect(proxy)
    proxy.add_latency(0.1)
    started = time.perf_counter()
    assert await _roundtrip(stream, b"slow") == b"slow"
    assert time.perf_counter() - started >= 0.2  # one chunk up, one chunk back
    await proxy.heal()
    started = time.perf_counter()
    assert await _roundtrip(stream, b"fast") == b"fast"
    assert time.perf_counter() - started < 0.1
    assert proxy.faults["latency"] == 1
    stream[1].close()


async def test_reset_aborts_every_open_connection_with_a_rst(proxy: FaultProxy) -> None:
    streams = [await _connect(proxy) for _ in range(3)]
    for stream in streams:
        await _roundtrip(stream, b"x")
    assert proxy.reset_all() == 3
    for reader, writer in streams:
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(1), 2)  # a RST, not an orderly end of stream
        writer.close()
    fresh = await _connect(proxy)  # new connections go through again
    assert await _roundtrip(fresh, b"again") == b"again"
    assert proxy.faults["reset"] == 1 and proxy.connections_reset == 3
    fresh[1].close()


async def test_a_blackhole_forwards_nothing_and_healing_resets_what_lost_bytes(
    proxy: FaultProxy, echo: Echo
) -> None:
    talking = await _connect(proxy)
    silent = await _connect(proxy)
    await _roundtrip(talking, b"a")
    await _roundtrip(silent, b"b")
    proxy.blackhole()
    opened_inside = await _connect(proxy)  # accepted during the blackhole, sends nothing
    with pytest.raises(TimeoutError):
        await _roundtrip(talking, b"lost", timeout_s=0.3)
    assert echo.received == b"ab", "nothing reaches the upstream"
    await proxy.heal()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(talking[0].read(1), 2)  # its stream lost bytes: reset
    assert await _roundtrip(silent, b"c") == b"c"  # lost nothing: goes on
    assert await _roundtrip(opened_inside, b"d") == b"d"
    assert proxy.faults["blackhole"] == 1
    for stream in (talking, silent, opened_inside):
        stream[1].close()


async def test_a_timed_blackhole_ends_by_itself(proxy: FaultProxy) -> None:
    proxy.blackhole(0.2)
    stream = await _connect(proxy)
    await asyncio.sleep(0.3)
    assert await _roundtrip(stream, b"after") == b"after"
    stream[1].close()


async def test_refusing_closes_the_door_to_new_connections_only(proxy: FaultProxy) -> None:
    open_before = await _connect(proxy)
    proxy.refuse()
    with pytest.raises(ConnectionRefusedError):
        await _connect(proxy)
    assert await _roundtrip(open_before, b"still") == b"still"
    await proxy.heal()
    reopened = await _connect(proxy)
    assert await _roundtrip(reopened, b"back") == b"back"
    assert proxy.faults["refuse"] == 1
    for stream in (open_before, reopened):
        stream[1].close()


async def test_a_seeded_schedule_repeats_its_faults_and_ends_healed(echo: Echo) -> None:
    histories = []
    for _ in range(2):
        async with FaultProxy(echo.port) as proxy:
            injected = await proxy.chaos(
                7, 1.0, calm_s=(0.01, 0.02), fault_s=(0.01, 0.03), latency_s=(0.001, 0.002)
            )
            assert sum(injected.values()) >= 5 and injected == proxy.faults
            stream = await _connect(proxy)  # healed: forwarding works
            assert await _roundtrip(stream, b"ok") == b"ok"
            stream[1].close()
            histories.append(proxy.history)
    shorter = min(len(h) for h in histories)
    assert histories[0][:shorter] == histories[1][:shorter]
    assert set(histories[0]) == {"latency", "reset", "blackhole", "refuse", "lost-replies"}


async def test_an_unknown_fault_kind_is_refused(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        await proxy.chaos(1, 0.5, kinds=["flood"], calm_s=(0.01, 0.01))


async def test_a_proxy_thread_keeps_forwarding_while_the_callers_loop_is_blocked(
    echo: Echo,
) -> None:
    with ProxyThread(echo.port) as thread:

        def blocking_client() -> bytes:
            with socket.create_connection(("127.0.0.1", thread.port), timeout=2) as sock:
                sock.sendall(b"sync")
                return sock.recv(4)

        assert thread.call(lambda proxy: proxy.reset_all()) == 0
        assert await asyncio.to_thread(blocking_client) == b"sync"
        assert thread.call(lambda proxy: proxy.faults["reset"]) == 1


async def test_lost_replies_let_requests_through_and_reset_the_link_on_heal(
    proxy: FaultProxy, echo: Echo
) -> None:
    stream = await _connect(proxy)
    proxy.lose_replies()
    with pytest.raises(TimeoutError):
        await _roundtrip(stream, b"write", timeout_s=0.3)
    assert echo.received == b"write", "the request landed"
    await proxy.heal()
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(stream[0].read(1), 2)  # its answer was lost: reset
    assert proxy.faults["lost-replies"] == 1
    stream[1].close()
