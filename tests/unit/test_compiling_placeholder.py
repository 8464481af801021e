"""While the engine compiles on a first start, the port answers: /readyz says `compiling`
with the progress, GraphQL gets a typed UNAVAILABLE, and the placeholder gives the port back
when the compile ends."""

from __future__ import annotations

import asyncio
import contextlib
import sys

import httpx
import pytest
from hypercorn.config import Config

import graph.http.compiling as compiling
from graph.http.compiling import CompileState, compile_while_answering, compiling_app
from graph.ops.embedded_store import free_port

FAKE_COMPILE = """
import sys, time
for done in range(0, 11):
    print(f"progress {done} 10", flush=True)
    time.sleep(0.15)
"""


async def test_the_placeholder_says_compiling_and_refuses_graphql_as_unavailable() -> None:
    state = CompileState(done=42, total=138)
    transport = httpx.ASGITransport(app=compiling_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        ready = await client.get("/readyz")
        alive = await client.get("/healthz")
        graphql = await client.post("/graphql", json={"query": "{ __typename }"})

    assert ready.status_code == 503 and ready.headers["retry-after"] == "5"
    body = ready.json()
    assert (body["status"], body["engine"]) == ("unavailable", "compiling")
    assert body["compile"]["kernelsCompiled"] == 42 and body["compile"]["kernels"] == 138
    assert body["compile"]["bar"].startswith("[#########")
    assert alive.status_code == 200 and alive.json()["engine"] == "compiling"
    assert graphql.status_code == 503
    assert graphql.json()["errors"][0]["extensions"]["code"] == "UNAVAILABLE"


async def test_the_port_answers_during_the_compile_and_is_free_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(compiling, "WARM", [sys.executable, "-c", FAKE_COMPILE])
    port = free_port()
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    seen: list[int] = []
    task = asyncio.create_task(compile_while_answering(config, lambda s: seen.append(s.done)))
    bodies = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        while not task.done():
            with contextlib.suppress(httpx.TransportError):  # not bound yet
                bodies.append((await client.get("/readyz", timeout=1)).json())
            await asyncio.sleep(0.1)
    state = await task

    assert state.failed is None and (state.done, state.total) == (10, 10)
    assert seen == list(range(11))
    fractions = [b["compile"]["fraction"] for b in bodies]
    assert fractions and fractions == sorted(fractions) and 0 < fractions[-1] <= 1
    with pytest.raises(httpx.TransportError):  # the placeholder gave the port back
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/readyz", timeout=1)


async def test_a_failed_compile_is_reported_with_its_output(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing = "import sys; print('progress 1 10', flush=True); sys.exit('LLVM ran out')"
    monkeypatch.setattr(compiling, "WARM", [sys.executable, "-c", failing])
    config = Config()
    config.bind = [f"127.0.0.1:{free_port()}"]

    state = await compile_while_answering(config)

    assert state.failed is not None and "LLVM ran out" in state.failed
