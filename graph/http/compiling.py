"""What `caas serve` answers while the matching engine compiles on a machine's first start.

A cold Numba compile takes a couple of minutes; rather than a port that does not answer, the
server runs the compile in a child process (`caas engine warm --progress-lines`) and serves
this small app on its port meanwhile: `/healthz` is alive, `/readyz` is 503 with
`engine: compiling` and the progress, and `/graphql` answers a GraphQL error with code
UNAVAILABLE (HTTP 503, `Retry-After`), so clients and load balancers see a typed, temporary
refusal. When the child is done the real app takes the port.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from hypercorn.asyncio import serve as hypercorn_serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

WARM = [sys.executable, "-m", "graph.ops.cli", "engine", "warm", "--progress-lines"]
BAR_WIDTH = 30


@dataclass
class CompileState:
    """Progress of the child compile, as its `progress <done> <total>` lines report it."""

    done: int = 0
    total: int = 0
    started: float = field(default_factory=time.monotonic)
    failed: str | None = None

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 0.0

    def bar(self) -> str:
        """`[#########.....................] 31% (42/138 kernels, 37 s)`."""
        filled = round(BAR_WIDTH * self.fraction)
        return (
            f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {self.fraction:.0%} "
            f"({self.done}/{self.total} kernels, {time.monotonic() - self.started:.0f} s)"
        )

    def as_json(self) -> dict[str, object]:
        return {
            "kernelsCompiled": self.done,
            "kernels": self.total,
            "fraction": round(self.fraction, 3),
            "seconds": round(time.monotonic() - self.started, 1),
            "bar": self.bar(),
        }


def compiling_app(state: CompileState) -> Starlette:
    """The placeholder app: health, readiness with progress, UNAVAILABLE for everything else."""

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "alive", "engine": "compiling"})

    async def readyz(_: Request) -> Response:
        body = {"status": "unavailable", "engine": "compiling", "compile": state.as_json()}
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})

    async def unavailable(_: Request) -> Response:
        message = (
            "the matching engine is compiling on this server's first start "
            f"({state.fraction:.0%} done); retry shortly"
        )
        error = {"message": message, "extensions": {"code": "UNAVAILABLE"}}
        return JSONResponse({"errors": [error]}, status_code=503, headers={"Retry-After": "5"})

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/{path:path}", unavailable, methods=methods),
        ]
    )


async def compile_while_answering(
    config: Config, on_progress: Callable[[CompileState], None] | None = None
) -> CompileState:
    """Run the child compile and serve the placeholder on `config.bind` until it ends.

    Returns the final state (`failed` set when the child exited non-zero). SIGINT / SIGTERM
    stop the child and return at once with `failed = "interrupted"`."""
    state = CompileState()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    child = await asyncio.create_subprocess_exec(
        *WARM, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )

    def interrupt() -> None:
        state.failed = "interrupted"
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupt)

    async def follow() -> None:
        assert child.stdout is not None
        async for raw in child.stdout:
            parts = raw.decode(errors="replace").split()
            if len(parts) == 3 and parts[0] == "progress":
                state.done, state.total = int(parts[1]), int(parts[2])
                if on_progress is not None:
                    on_progress(state)
        code = await child.wait()
        if code != 0 and state.failed is None:
            assert child.stderr is not None
            tail = (await child.stderr.read()).decode(errors="replace")[-2000:]
            state.failed = f"exit {code}: {tail}"
        stop.set()

    follower = asyncio.create_task(follow())
    server = asyncio.create_task(
        hypercorn_serve(compiling_app(state), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
    )
    await stop.wait()
    if state.failed == "interrupted" and child.returncode is None:
        child.kill()
        await child.wait()
    follower.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await follower
    await server
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.remove_signal_handler(sig)
    return state
