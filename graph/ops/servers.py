"""`caas serve` subprocesses for soak and fault runs: start one and wait on /readyz for the
engine role it should reach, SIGKILL or SIGTERM it, never leave one behind.

``ServerGroup`` owns every process it started and stops them all (``close``) whatever
happened; its waits are plain blocking calls (run them in a thread from an event loop).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from graph.ops.embedded_store import free_port

BUDGET = "100000000/minute"  # rate limits stay on; a budget no soak reaches (as the bench)
CLI = [sys.executable, "-m", "graph.ops.cli"]


class ServerStartError(RuntimeError):
    """A server exited or did not reach its role in time; the message has its log's tail."""


def soak_env(mongodb_uri: str, database: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a soak's servers and tools: production settings, raised budgets,
    no venue index feed (orders only), no Redis unless ``REDIS_URL`` is in ``extra``."""
    env = {**os.environ, "MONGODB_URI": mongodb_uri, "MONGODB_DB": database,
           "CAAS_DATA_DIR": str(data_dir), "LOG_LEVEL": "WARNING",
           "CAAS_RATE_LIMIT_READS": BUDGET, "CAAS_RATE_LIMIT_MUTATIONS": BUDGET,
           "CAAS_INDEX_FEED_SECONDS": "0"}  # fmt: skip
    for name in ("REDIS_URL", "CAAS_REDIS_PREFIX", "CAAS_RATE_LIMITS", "CAAS_ROLE", "PORT"):
        env.pop(name, None)
    env.update(extra)
    return env


def uri_via(uri: str, port: int) -> str:
    """A single-host store's URI with its port replaced: the same store through a proxy."""
    return urlsplit(uri)._replace(netloc=f"127.0.0.1:{port}").geturl()


def run_cli(
    env: dict[str, str], *args: str, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """`caas <args>` to completion (seed-demo, reconcile ...), output captured."""
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True,
                          timeout=timeout_s, check=False)  # fmt: skip


def seed_demo(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """`caas seed-demo --json`: the demo keys by name (alice, bob, operator ...)."""
    seeded = run_cli(env, "seed-demo", "--json")
    if seeded.returncode != 0:
        raise ServerStartError(f"seed-demo failed: {seeded.stderr[-3000:]}")
    return {key["name"]: key for key in json.loads(seeded.stdout)}


def readyz(url: str) -> dict[str, Any]:
    """/readyz's body, or {} when the server does not answer."""
    try:
        body: dict[str, Any] = httpx.get(f"{url}/readyz", timeout=2).json()
        return body
    except (httpx.HTTPError, ValueError):
        return {}


@dataclass
class Server:
    """One `caas serve` process."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no snapshot, connections cut."""
        if self.alive:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self, timeout_s: float = 60) -> None:
        """SIGTERM (orderly: the writer snapshots), SIGKILL if it does not exit in time."""
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""


@dataclass
class ServerGroup:
    """The servers of one run, sharing one environment; ``close`` stops every one."""

    env: dict[str, str]
    logs: Path
    servers: list[Server] = field(default_factory=list)

    def spawn(self, name: str, *args: str, port: int | None = None) -> Server:
        """Start a server (not waiting); ``port`` keeps a restarted server's address."""
        port = port or free_port()
        log = self.logs / f"{name}.log"
        with log.open("ab") as output:
            process = subprocess.Popen([*CLI, "serve", *args], env={**self.env, "PORT": str(port)},
                                       stdout=subprocess.DEVNULL, stderr=output)  # fmt: skip
        server = Server(name, port, process, log)
        self.servers.append(server)
        return server

    def start(self, name: str, *args: str, expect: str = "writer", port: int | None = None,
              timeout_s: float = 180) -> Server:  # fmt: skip
        """Start a server and wait until /readyz says it is ready as ``expect``."""
        server = self.spawn(name, *args, port=port)
        self.wait_ready(server, expect, timeout_s)
        return server

    @staticmethod
    def wait_ready(server: Server, expect: str = "writer", timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not server.alive:
                raise ServerStartError(f"{server.name} exited: {server.tail()}")
            body = readyz(server.url)
            if body.get("status") == "ready" and body.get("engine") == expect:
                return
            time.sleep(0.05)
        raise ServerStartError(f"{server.name} did not become {expect}: {server.tail()}")

    def close(self) -> None:
        """SIGTERM every server still running, then wait (SIGKILL the ones that hang)."""
        for server in self.servers:
            if server.alive:
                server.process.send_signal(signal.SIGTERM)
        for server in self.servers:
            server.stop()
