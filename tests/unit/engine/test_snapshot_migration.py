"""Snapshots of older layouts restore to the same state and behave the same afterwards."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import engine.state as engine_state
from engine.core import Engine
from engine.layout import SNAPSHOT_VERSION
from engine.state import EngineState
from tests.unit.engine.data.make_snapshot_v3 import canonical
from tests.unit.engine.old_layout import to_v3

FIXTURE = Path(__file__).with_name("data") / "snapshot_v3.npz"


def test_a_version_3_snapshot_of_the_old_engine_restores_and_replays_the_same() -> None:
    """The fixture was written by the engine of 8c0651f (23-column rows, pair id map)."""
    data = np.load(FIXTURE)
    snapshot = data["snapshot"].tobytes()
    assert int.from_bytes(snapshot[8:12], "little") == 3 < SNAPSHOT_VERSION

    restored = Engine.restore(snapshot)
    assert canonical(restored) == data["at_snapshot"].tobytes().decode()
    events = restored.apply(data["tail"])

    assert len(events) == int(data["n_events"])
    assert hashlib.blake2b(events.tobytes()).digest() == data["events_digest"].tobytes()
    assert canonical(restored) == data["after_tail"].tobytes().decode()


def test_a_version_3_snapshot_of_todays_state_restores_bit_identical(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = np.load(FIXTURE)
    live = Engine.restore(data["snapshot"].tobytes())
    live.apply(data["tail"][:500])
    state = EngineState.from_bytes(live.snapshot())
    monkeypatch.setattr(engine_state, "SNAPSHOT_VERSION", 3)
    v3 = to_v3(state).to_bytes()
    monkeypatch.undo()

    restored = Engine.restore(v3)

    assert restored.state_hash() == live.state_hash()
    tail = data["tail"][500:]
    assert restored.apply(tail).tobytes() == live.apply(tail).tobytes()
