"""Two `caas serve` processes on one Redis share each rate-limit window."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from graph.ops.embedded_store import free_port
from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.e2e, pytest.mark.store, pytest.mark.redis, pytest.mark.slow]


def _serve(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "graph.ops.cli", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=output,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(log.read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{env['PORT']}/readyz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError("server did not become ready")


@pytest.fixture
def two_servers(mongodb_uri: str, tmp_path: Path) -> Iterator[list[str]]:
    shared = {
        **os.environ,
        "MONGODB_URI": mongodb_uri,
        "MONGODB_DB": f"test_ratelimit_{uuid.uuid4().hex[:8]}",
        "REDIS_URL": REDIS_URL,
        "CAAS_RATE_LIMIT_PREFIX": f"test:ratelimit:{uuid.uuid4().hex}",
        "CAAS_RATE_LIMIT_ANONYMOUS": "4/minute",
        "LOG_LEVEL": "WARNING",
    }
    processes: list[subprocess.Popen[bytes]] = []
    urls = []
    try:
        for n in range(2):
            env = {**shared, "PORT": str(free_port())}
            processes.append(_serve(env, tmp_path / f"server{n}.log"))
            urls.append(f"http://127.0.0.1:{env['PORT']}/graphql")
        yield urls
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_two_server_processes_share_one_sliding_window_in_redis(two_servers: list[str]) -> None:
    first, second = two_servers
    body = {"query": "{ __typename }"}
    statuses = [httpx.post(url, json=body).status_code for url in (first, second) * 2]
    assert statuses == [200] * 4  # the budget (4/minute per address) is spent across both
    for url in (first, second):
        refused = httpx.post(url, json=body)
        assert refused.status_code == 429
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 60
        error = refused.json()["errors"][0]
        assert error["extensions"]["code"] == "RATE_LIMITED"
        assert error["extensions"]["retryAfter"] == retry_after
