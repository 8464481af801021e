"""The benchmarks' baseline: a plain strawberry `{ __typename }` app with the parser and
validation caches on, served by hypercorn the way `caas serve` serves the platform.

`python -m graph.ops.bench_baseline PORT`; no auth, no limits, no store: what one hypercorn
process and strawberry cost on this machine, against which the platform's figures read.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import strawberry
from hypercorn.asyncio import serve
from hypercorn.config import Config
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache


@strawberry.type(description="The baseline's root.")
class Query:
    hello: str = strawberry.field(default="world", description="A constant.")


def main(port: int) -> None:
    schema = strawberry.Schema(Query, extensions=[ParserCache, ValidationCache])
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(GraphQL(schema), config, shutdown_trigger=stop.wait)  # type: ignore[arg-type]

    asyncio.run(run())


if __name__ == "__main__":
    main(int(sys.argv[1]))
