"""Building the app loads no engine: Numba (~100 MB of LLVM) and the engine's arrays come with
the first engine a process uses, so a process that never uses one never pays for it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

BUILD = """
import sys
from graph.http.app import create_app
from graph.settings import Settings
settings = Settings.from_env()
app = create_app(settings, "mongodb://127.0.0.1:1")
platform = app.state.platform
print(sorted(m for m in ("numba", "llvmlite", "engine.core") if m in sys.modules))
{after}
print(sorted(m for m in ("numba", "llvmlite", "engine.core") if m in sys.modules))
"""


def _loaded(role: str, after: str = "") -> list[str]:
    env = {"CAAS_ROLE": role, "REDIS_URL": "redis://127.0.0.1:6379/0", "LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [sys.executable, "-c", BUILD.format(after=after)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


@pytest.mark.parametrize("role", ["all", "api", "edge"])
def test_building_the_app_loads_no_engine(role: str) -> None:
    before, after = _loaded(role)
    assert before == after == "[]"


def test_the_first_engine_read_loads_the_engine() -> None:
    before, after = _loaded("all", "platform.writer.engine.last_seq")
    assert (before, after) == ("[]", "['engine.core', 'llvmlite', 'numba']")
