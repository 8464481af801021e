"""Writes snapshot_v3.npz: a version-3 engine snapshot (the 23-column order rows and
[key, slot] id-map pairs of commit 8c0651f) and what the engine did after it.

Run once, at 8c0651f: `python -m tests.unit.engine.data.make_snapshot_v3`. The stress world
(five markets, one a perpetual; stops, partial fills, reduce-only orders, positions), 4,000
generated commands, then the snapshot; the next 2,000 commands are the tail. Stored: the
snapshot bytes, the tail, the digest and count of the tail's events, and the canonical
state (engine.dump() plus every position) at the snapshot and after the tail.
test_snapshot_migration.py checks that today's engine restores it to the same state and
replays the tail to the same events.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from engine import stress
from engine.core import Engine

FIXTURE = Path(__file__).with_name("snapshot_v3.npz")


def canonical(engine: Engine) -> str:
    """engine.dump() and the positions of every account, sorted, as one string."""

    def norm(value: Any) -> Any:
        if isinstance(value, dict):
            return sorted((repr(k), norm(v)) for k, v in value.items())
        if isinstance(value, list | tuple):
            return [norm(v) for v in value]
        return repr(value)

    positions = {a: engine.positions_of(a) for a in range(engine.config.max_accounts)}
    return repr(norm({"dump": engine.dump(), "positions": positions}))


def main() -> None:
    run = stress.execute(6_000, seed=20, snapshot_at=4_000, batch_size=500)
    tail = np.concatenate(run.tail)
    restored = Engine.restore(run.snapshot)
    at_snapshot = canonical(restored)
    events = restored.apply(tail)
    np.savez_compressed(
        FIXTURE,
        snapshot=np.frombuffer(run.snapshot, dtype=np.uint8),
        tail=tail,
        events_digest=np.frombuffer(hashlib.blake2b(events.tobytes()).digest(), np.uint8),
        n_events=np.array(len(events)),
        at_snapshot=np.frombuffer(at_snapshot.encode(), np.uint8),
        after_tail=np.frombuffer(canonical(restored).encode(), np.uint8),
    )


if __name__ == "__main__":
    main()
