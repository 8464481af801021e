"""The embedded MongoDB-wire store: SecantusDB's ``secantusd-py`` run as a subprocess.

Started on a free loopback port with data in a folder kept across restarts; waited for
until it answers; stopped on shutdown. A store that cannot start raises StoreStartError
with the store's own output, never hangs.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError


class StoreStartError(RuntimeError):
    """The embedded store did not start; the message says why."""


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_binary() -> str:
    candidate = Path(sys.executable).with_name("secantusd-py")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("secantusd-py")
    if found is None:
        raise StoreStartError(
            "secantusd-py not found: install the project (`make run` does) or set MONGODB_URI"
        )
    return found


class EmbeddedStore:
    """A running ``secantusd-py`` subprocess; use as a context manager or start()/stop()."""

    def __init__(self, data_dir: Path, port: int | None = None, timeout_s: float = 30.0) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.timeout_s = timeout_s
        self._process: subprocess.Popen[bytes] | None = None
        self._log_path = data_dir.parent / "secantusd.log"
        self._pid_path = data_dir.parent / "secantusd.pid"

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def _stop_orphan(self) -> None:
        """A store left running by a killed server holds the data folder: stop it first."""
        try:
            pid = int(self._pid_path.read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, ValueError, IndexError):
            return
        if b"secantusd" not in cmdline or str(self.data_dir).encode() not in cmdline:
            return  # the pid was reused by something else
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists():
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)

    def start(self) -> EmbeddedStore:
        self._stop_orphan()
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            log = self._log_path.open("ab")
        except OSError as exc:
            raise StoreStartError(f"embedded store data folder {self.data_dir}: {exc}") from exc
        self._process = subprocess.Popen(
            [
                _server_binary(),
                "--host", "127.0.0.1",
                "--port", str(self.port),
                "--storage-path", str(self.data_dir),
                "--log-level", "WARNING",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        log.close()
        self._wait_ready()
        self._pid_path.write_text(f"{self._process.pid}\n")
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        client: MongoClient[dict[str, object]] = MongoClient(
            self.uri, serverSelectionTimeoutMS=250, connectTimeoutMS=250
        )
        try:
            while time.monotonic() < deadline:
                assert self._process is not None
                if self._process.poll() is not None:
                    raise StoreStartError(
                        self._failure("exited with code " + str(self._process.returncode))
                    )
                try:
                    client.admin.command("ping")
                    return
                except PyMongoError:
                    time.sleep(0.1)
        finally:
            client.close()
        self.stop()
        raise StoreStartError(self._failure(f"did not answer within {self.timeout_s:.0f} s"))

    def _failure(self, what: str) -> str:
        tail = ""
        if self._log_path.exists():
            tail = "\n".join(self._log_path.read_text(errors="replace").splitlines()[-15:])
        where = f"secantusd-py on 127.0.0.1:{self.port}, data {self.data_dir}"
        return f"embedded store ({where}) {what}\n{tail}"

    def stop(self) -> None:
        self._pid_path.unlink(missing_ok=True)
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)

    def __enter__(self) -> EmbeddedStore:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
