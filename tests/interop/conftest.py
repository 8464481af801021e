"""Interop fixtures: our servers as subprocesses on loopback, and the npm tools that check them.

Started once for the package (tests/interop) and stopped after its last test, also when a
test or a start fails: one composed `caas serve`, five `caas serve --subgraph NAME` and a
Hive gateway, all on one store database and one Redis, so the composed graph and the
gateway answer from the same data and both receive the same order events.

The npm side is pinned in tests/interop/package.json + package-lock.json and installed by
`make interop-deps`; without it every test here fails saying so (it never skips).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pymongo import MongoClient

from graph.bootstrap import Platform
from graph.ops.embedded_store import free_port
from graph.ops.seed import DemoKey
from graph.schema import SUBGRAPHS
from graph.settings import Settings
from tests.conftest import REDIS_URL
from tests.factories import record_order

INTEROP_DIR = Path(__file__).resolve().parent
REPO = INTEROP_DIR.parent.parent
NODE_MODULES = INTEROP_DIR / "node_modules"
NPM_PACKAGES = (
    "@theguild/federation-composition",
    "@graphql-hive/gateway-runtime",
    "@graphql-mesh/transport-http",
    "@graphql-mesh/transport-ws",
    "graphql",
    "graphql-http",
    "graphql-ws",
    "ws",
)
SUBGRAPH_NAMES = tuple(s.name for s in SUBGRAPHS)
READY_TIMEOUT_S = 90.0

# Figures worth seeing in the test output (composition time, audit counts, close codes).
REPORT: dict[str, Any] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("interop")
        for name, value in REPORT.items():
            terminalreporter.write_line(f"{name}: {json.dumps(value, sort_keys=True)}")


def require_node_tools() -> str:
    """The `node` binary, once the pinned npm packages are installed; fails the test otherwise."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` not found: the interop tests need Node.js 20+", pytrace=False)
    missing = [p for p in NPM_PACKAGES if not (NODE_MODULES / p / "package.json").is_file()]
    if missing:
        pytest.fail(
            f"npm packages missing in {NODE_MODULES} ({', '.join(missing)}): run "
            "`make interop-deps` (npm ci --prefix tests/interop --no-audit --no-fund)",
            pytrace=False,
        )
    return node


def run_node(node: str, script: str, *args: str, stdin: Any = None, timeout_s: float = 90) -> Any:
    """Run tests/interop/<script> and return the JSON it prints."""
    try:
        result = subprocess.run(
            [node, str(INTEROP_DIR / script), *args],
            input=None if stdin is None else json.dumps(stdin).encode(),
            capture_output=True,
            timeout=timeout_s,
            cwd=INTEROP_DIR,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"{script} did not finish in {timeout_s}s") from exc
    if result.returncode != 0:
        raise AssertionError(
            f"{script} exited with {result.returncode}:\n{result.stderr.decode()[-4000:]}"
        )
    return json.loads(result.stdout)


@dataclass
class Process:
    """A subprocess we started, its output in a log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, size: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def stop(self, timeout_s: float = 15) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=timeout_s)


def start_process(name: str, command: list[str], env: dict[str, str], logs: Path) -> Process:
    log_path = logs / f"{name}.log"
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return Process(name, popen, log_path)


def wait_ready(targets: dict[str, tuple[Process, str]], timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll each process's readiness URL until it answers 200; fail with its log otherwise."""
    pending = dict(targets)
    last_answer: dict[str, str] = {}
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2) as client:
        while pending:
            for name, (process, url) in list(pending.items()):
                if process.popen.poll() is not None:
                    raise AssertionError(
                        f"{name} exited with {process.popen.returncode} before it was ready:\n"
                        f"{process.log_tail()}"
                    )
                try:
                    response = client.get(url)
                except httpx.HTTPError as exc:
                    last_answer[name] = repr(exc)
                    continue
                if response.status_code == 200:
                    del pending[name]
                else:
                    last_answer[name] = f"{response.status_code} {response.text[:500]}"
            if pending and time.monotonic() > deadline:
                name, (process, url) = next(iter(pending.items()))
                raise AssertionError(
                    f"{name} not ready at {url} after {timeout_s}s "
                    f"(last answer: {last_answer.get(name)}):\n{process.log_tail()}"
                )
            if pending:
                time.sleep(0.1)


@dataclass
class Servers:
    """The composed graph and the five subgraphs, each its own `caas serve` process."""

    composed: str
    subgraphs: dict[str, str]
    processes: list[Process] = field(default_factory=list)

    @property
    def composed_graphql(self) -> str:
        return f"{self.composed}/graphql"

    def subgraph_graphql(self, name: str) -> str:
        return f"{self.subgraphs[name]}/graphql"


@pytest.fixture(scope="package")
def node() -> str:
    return require_node_tools()


@pytest.fixture(scope="package")
def interop_db(mongodb_uri: str) -> Iterator[str]:
    """A database of its own for the package; dropped once every process has stopped."""
    name = f"interop_{uuid.uuid4().hex[:12]}"
    yield name
    client: MongoClient[dict[str, Any]] = MongoClient(mongodb_uri, serverSelectionTimeoutMS=5000)
    with client:
        client.drop_database(name)


@pytest.fixture(scope="package")
def server_env(
    mongodb_uri: str, interop_db: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    return {
        **os.environ,
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DB": interop_db,
        "REDIS_URL": REDIS_URL,
        # the conformance tools send hundreds of anonymous requests from one address within
        # a minute: a generous budget, in a window of this run only (rate limits have their
        # own tests)
        "CAAS_RATE_LIMIT_ANONYMOUS": "100000/minute",
        "CAAS_RATE_LIMIT_PREFIX": f"caas:interop:{interop_db}",
        "CAAS_DATA_DIR": str(tmp_path_factory.mktemp("caas-data")),
        "LOG_LEVEL": "WARNING",
        "HOST": "127.0.0.1",
    }


@pytest.fixture(scope="package")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("interop-logs")


@pytest.fixture(scope="package")
def interop_keys(server_env: dict[str, str]) -> dict[str, DemoKey]:
    """The demo data, seeded with `caas seed-demo --json` into the package's database."""
    result = subprocess.run(
        [sys.executable, "-m", "graph.ops.cli", "seed-demo", "--json"],
        cwd=REPO,
        env=server_env,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr.decode()[-4000:]
    return {row["name"]: DemoKey(**row) for row in json.loads(result.stdout)}


@pytest.fixture(scope="package")
def servers(
    server_env: dict[str, str], interop_keys: dict[str, DemoKey], logs_dir: Path
) -> Iterator[Servers]:
    """`caas serve` (composed) and `caas serve --subgraph NAME` x5, started side by side."""
    processes: list[Process] = []
    try:
        ports = {"composed": free_port(), **{name: free_port() for name in SUBGRAPH_NAMES}}
        targets: dict[str, tuple[Process, str]] = {}
        for name, port in ports.items():
            command = [sys.executable, "-m", "graph.ops.cli", "serve"]
            if name != "composed":
                command += ["--subgraph", name]
            env = {**server_env, "PORT": str(port)}
            process = start_process(name, command, env, logs_dir)
            processes.append(process)
            targets[name] = (process, f"http://127.0.0.1:{port}/readyz")
        wait_ready(targets)
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        yield Servers(
            composed=urls.pop("composed"),
            subgraphs=urls,
            processes=processes,
        )
    finally:
        for process in processes:
            process.stop()


@pytest.fixture(scope="package")
def subgraph_sdls(servers: Servers) -> dict[str, str]:
    """Each subgraph's SDL as its own process serves it (`{ _service { sdl } }`)."""
    sdls = {}
    with httpx.Client(timeout=10) as client:
        for name in SUBGRAPH_NAMES:
            response = client.post(
                servers.subgraph_graphql(name), json={"query": "{ _service { sdl } }"}
            )
            response.raise_for_status()
            sdls[name] = response.json()["data"]["_service"]["sdl"]
    return sdls


def compose(
    node: str,
    subgraphs: dict[str, tuple[str, str]],
    compare: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the composer on {name: (url, sdl)}; ``compare`` schemas with its public API."""
    services = [{"name": n, "url": url, "sdl": sdl} for n, (url, sdl) in subgraphs.items()]
    result: dict[str, Any] = run_node(
        node, "compose.mjs", stdin={"subgraphs": services, "compare": compare or {}}
    )
    return result


@pytest.fixture(scope="package")
def supergraph(node: str, servers: Servers, subgraph_sdls: dict[str, str]) -> str:
    """The supergraph SDL composed from the live subgraphs, routing to their processes."""
    result = compose(
        node, {n: (servers.subgraph_graphql(n), sdl) for n, sdl in subgraph_sdls.items()}
    )
    assert result["ok"], result["errors"]
    sdl: str = result["supergraphSdl"]
    return sdl


@pytest.fixture(scope="package")
def gateway(
    node: str, supergraph: str, logs_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A Hive gateway (gateway.mjs) in front of the five subgraph processes; its base URL."""
    path = tmp_path_factory.mktemp("gateway") / "supergraph.graphql"
    path.write_text(supergraph)
    port = free_port()
    command = [node, str(INTEROP_DIR / "gateway.mjs"), str(path), str(port)]
    process = start_process("gateway", command, dict(os.environ), logs_dir)
    try:
        wait_ready({"gateway": (process, f"http://127.0.0.1:{port}/readiness")})
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


@pytest_asyncio.fixture(loop_scope="session", scope="package")
async def platform(mongodb_uri: str, interop_db: str) -> AsyncIterator[Platform]:
    """A Platform of the test process on the servers' database and Redis (to record orders)."""
    instance = Platform(Settings(mongodb_db=interop_db, redis_url=REDIS_URL), mongodb_uri)
    await instance.start()
    yield instance
    await instance.close()


__all__ = ["record_order"]
