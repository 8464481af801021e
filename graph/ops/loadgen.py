"""A small HTTP/1.1 load generator for the benchmarks: N keep-alive connections over raw
asyncio streams, each sending its next request as soon as the last answer arrived.

httpx costs ~300 us of client CPU per request, which on a 2-core machine caps what a
benchmark can observe well below what the server does; this costs a tenth of that.
A request is `ok` when the status is 200 and the body holds no `"errors"`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

RequestMaker = Callable[[int], bytes]  # request number -> the whole HTTP request


@dataclass
class Phase:
    """One measured load phase."""

    requests: int
    failed: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    first_failure: str = ""

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else 0.0


def post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """A keep-alive HTTP/1.1 POST of a JSON body."""
    lines = [f"POST {path} HTTP/1.1", f"host: {host}:{port}", "content-type: application/json",
             "accept: application/json", f"content-length: {len(body)}"]  # fmt: skip
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    at = lower.find(b"content-length:")
    if at >= 0:
        end = lower.find(b"\r\n", at)
        return status, await reader.readexactly(int(lower[at + 15 : end]))
    body = b""  # chunked
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return status, body
        body += chunk[:-2]


async def run_load(host: str, port: int, make: RequestMaker, clients: int, seconds: float) -> Phase:
    """`clients` connections for `seconds`; request numbers are unique across connections."""
    latencies: list[float] = []
    failures = [0]
    first: list[str] = []
    counter = iter(range(10**12))
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                request = make(next(counter))
                started = time.perf_counter()
                writer.write(request)
                status, body = await _read_response(reader)
                if status == 200 and b'"errors"' not in body:
                    latencies.append((time.perf_counter() - started) * 1000)
                else:
                    failures[0] += 1
                    if not first:
                        first.append(f"{status} {body[:300]!r}")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    return Phase(len(latencies), failures[0], elapsed, latencies, first[0] if first else "")
