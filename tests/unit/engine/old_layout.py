"""Today's engine state written in an older snapshot layout, for the migration tests.

`to_v3` turns a state into version 3's arrays (the [key, slot] id map); the caller writes
it with SNAPSHOT_VERSION patched to the old number. Inverse of engine.state's migrations.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.layout import IDMAP_SLOT_SHIFT, O_ID
from engine.state import EngineState


def to_v3(state: EngineState) -> EngineState:
    """The same state with version 3's [key, slot] id-map pairs."""
    words = state.idmap
    pairs = np.zeros((words.shape[0], 2), dtype=np.int64)
    used = words != 0
    slots = (words[used] >> IDMAP_SLOT_SHIFT) - 1
    pairs[used, 0] = state.orders[slots, O_ID]
    pairs[used, 1] = slots
    return dataclasses.replace(state, idmap=pairs)
