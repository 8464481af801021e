"""`caas serve` as a user runs it: a subprocess with its own embedded store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from graph.ops.embedded_store import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"caas serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("caas serve did not become ready")


def test_caas_serve_starts_answers_and_stops(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "CAAS_DATA_DIR": str(tmp_path / "var")}
    env.pop("MONGODB_URI", None)
    env.pop("REDIS_URL", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "graph.ops.cli", "serve", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process)
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        assert "caas_http_requests_total" in httpx.get(f"{url}/metrics").text
        graphiql = httpx.get(f"{url}/graphql", headers={"accept": "text/html"})
        assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    printed = stdout.decode()
    assert "Bearer key_demo_alice." in printed and f"{url}/graphql" in printed
    token = next(line.split()[-1] for line in printed.splitlines() if "key_demo_alice." in line)
    assert (tmp_path / "var" / "mongo").is_dir()
    assert token.startswith("key_demo_alice.")


def test_a_store_that_cannot_start_exits_non_zero_with_a_message(tmp_path: Path) -> None:
    blocker = tmp_path / "var" / "mongo"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the data folder should be")
    env = {**os.environ, "PORT": str(free_port()), "CAAS_DATA_DIR": str(tmp_path / "var")}
    env.pop("MONGODB_URI", None)
    result = subprocess.run(
        [sys.executable, "-m", "graph.ops.cli", "serve"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert b"embedded store" in result.stderr


def test_a_store_whose_port_is_taken_fails_fast_with_its_output(tmp_path: Path) -> None:
    import socket

    from graph.ops.embedded_store import EmbeddedStore, StoreStartError

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(StoreStartError, match=f"127.0.0.1:{port}"):
            EmbeddedStore(tmp_path / "mongo", port=port, timeout_s=20).start()
        assert time.monotonic() - started < 20


def test_a_store_orphaned_by_a_killed_server_is_stopped_before_a_new_one_starts(
    tmp_path: Path,
) -> None:
    from pymongo import MongoClient

    from graph.ops.embedded_store import EmbeddedStore

    orphan = EmbeddedStore(tmp_path / "mongo").start()
    process = orphan._process
    orphan._process = None
    assert process is not None
    successor = EmbeddedStore(tmp_path / "mongo").start()
    try:
        assert process.wait(timeout=15) is not None, "the orphan was stopped"
        client: MongoClient[dict[str, object]] = MongoClient(
            successor.uri, serverSelectionTimeoutMS=2000
        )
        try:
            assert client.admin.command("ping")["ok"] == 1
        finally:
            client.close()
    finally:
        successor.stop()
    assert not (tmp_path / "secantusd.pid").exists()
