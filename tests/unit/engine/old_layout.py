"""Today's engine state written in an older snapshot layout, for the migration tests.

`to_v3` turns a state into version 3's arrays (the [key, slot] id map, 23-column order
rows); the caller writes it with SNAPSHOT_VERSION patched to the old number. The inverse
of engine.state's migrations.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from engine.layout import (
    IDMAP_SLOT_SHIFT,
    O_ACCOUNT,
    O_CLIENT_TAG,
    O_FILLED,
    O_ID,
    O_LOCKED,
    O_MARKET,
    O_NEXT,
    O_PREV,
    O_PRICE,
    O_QTY,
    O_REMAINING,
    O_SEQ,
    O_STOP_PRICE,
    O_TS,
    unpack_row,
)
from engine.state import EngineState

# version 3's column of each field (its engine.layout O_* numbers)
V3_COLUMNS = {
    O_ID: 0, O_ACCOUNT: 1, O_MARKET: 2, O_PRICE: 9, O_STOP_PRICE: 10, O_QTY: 11,
    O_REMAINING: 12, O_FILLED: 13, O_LOCKED: 14, O_NEXT: 17, O_PREV: 18, O_SEQ: 19, O_TS: 20,
    O_CLIENT_TAG: 21,
}  # fmt: skip
V3_PACKED = {
    "side": 3, "order_type": 4, "tif": 5, "flags": 6, "stp": 7, "status": 8, "maker_bps": 15,
    "taker_bps": 16, "leverage": 22,
}  # fmt: skip


def orders_to_v3(orders: np.ndarray) -> np.ndarray:
    """16-column order rows as version 3's 23 columns."""
    old = np.zeros((orders.shape[0], 23), dtype=np.int64)
    for col, v3 in V3_COLUMNS.items():
        old[:, v3] = orders[:, col]
    for name, values in unpack_row(orders).items():
        old[:, V3_PACKED[name]] = values
    return old


def to_v3(state: EngineState) -> EngineState:
    """The same state in version 3's layout: [key, slot] id-map pairs, 23-column rows."""
    words = state.idmap
    pairs = np.zeros((words.shape[0], 2), dtype=np.int64)
    used = words != 0
    slots = (words[used] >> IDMAP_SLOT_SHIFT) - 1
    pairs[used, 0] = state.orders[slots, O_ID]
    pairs[used, 1] = slots
    return dataclasses.replace(state, idmap=pairs, orders=orders_to_v3(state.orders))
