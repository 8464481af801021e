"""The 128-byte order row: packed fields at their widest values, setters that leave the
other fields alone, Python's unpacking agreeing with the kernels', aligned rows."""

from __future__ import annotations

import numpy as np

from engine import codes as c
from engine.core import Engine
from engine.kernels.orders import write_row
from engine.kernels.row import (
    flags_of,
    lock_bps_of,
    maker_bps_of,
    row_leverage,
    set_leverage,
    set_status,
    side_of,
    status_of,
    stp_of,
    taker_bps_of,
    tif_of,
    type_of,
)
from engine.layout import (
    MAX_BPS,
    O_NFIELDS,
    OB_LEVERAGE_MASK,
    ORDER_ROW_ALIGN,
    EngineConfig,
    unpack_row,
)
from engine.order_state import OrderState
from engine.state import EngineState


def _row(leverage: int, maker: int, taker: int) -> np.ndarray:
    row = np.zeros(O_NFIELDS, dtype=np.int64)
    write_row(
        row, (1 << 62) - 1, 2**31 - 1, 7, c.SELL, c.STOP_LIMIT, c.FOK,
        c.FLAG_POST_ONLY | c.FLAG_REDUCE_ONLY, c.STP_EXPIRE_BOTH, c.PENDING_TRIGGER, 1 << 40,
        (1 << 40) - 1, 1 << 40, maker, taker, 2**63 - 1, 2**63 - 1, -(2**63), leverage,
    )  # fmt: skip
    return row


def test_the_row_is_two_cache_lines() -> None:
    assert O_NFIELDS * 8 == 128 == ORDER_ROW_ALIGN


def test_packed_fields_keep_their_widest_values_apart() -> None:
    for leverage, maker, taker in ((c.MAX_LEVERAGE, MAX_BPS, MAX_BPS), (OB_LEVERAGE_MASK, 0, 1)):
        row = _row(leverage, maker, taker)
        read = (side_of(row), type_of(row), tif_of(row), flags_of(row), stp_of(row),
                status_of(row), row_leverage(row), maker_bps_of(row),
                taker_bps_of(row))  # fmt: skip
        expected = (c.SELL, c.STOP_LIMIT, c.FOK, c.FLAG_POST_ONLY | c.FLAG_REDUCE_ONLY,
                    c.STP_EXPIRE_BOTH, c.PENDING_TRIGGER, leverage, maker, taker)  # fmt: skip
        assert read == expected
        assert lock_bps_of(row) == max(maker, taker)
        python = unpack_row(row)
        assert tuple(int(python[k]) for k in (
            "side", "order_type", "tif", "flags", "stp", "status", "leverage", "maker_bps",
            "taker_bps")) == expected  # fmt: skip
        state = OrderState.from_row(row)
        assert (state.order_id, state.account, state.seq, state.client_tag) == (
            (1 << 62) - 1, 2**31 - 1, 2**63 - 1, -(2**63))  # fmt: skip


def test_setters_change_only_their_field() -> None:
    row = _row(c.MAX_LEVERAGE, MAX_BPS, 3)
    before = unpack_row(row.copy())
    set_status(row, c.NEW)
    set_leverage(row, 1)
    after = unpack_row(row)
    assert (int(after["status"]), int(after["leverage"])) == (c.NEW, 1)
    for name in ("side", "order_type", "tif", "flags", "stp", "maker_bps", "taker_bps"):
        assert after[name] == before[name], name


def test_order_rows_are_aligned_when_allocated_and_restored() -> None:
    config = EngineConfig(max_orders=37)
    assert EngineState.allocate(config).orders.ctypes.data % ORDER_ROW_ALIGN == 0
    restored = Engine.restore(Engine(config).snapshot())
    assert restored.order_rows.ctypes.data % ORDER_ROW_ALIGN == 0
