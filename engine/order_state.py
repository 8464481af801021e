"""OrderState: a live order as the engine reports it; shared by core and reference.

Imports the layout only (no Numba), so the reference engine can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.layout import (
    O_ACCOUNT,
    O_CLIENT_TAG,
    O_FILLED,
    O_FLAGS,
    O_ID,
    O_LOCKED,
    O_MAKER_BPS,
    O_MARKET,
    O_PRICE,
    O_QTY,
    O_REMAINING,
    O_SEQ,
    O_SIDE,
    O_STATUS,
    O_STOP_PRICE,
    O_STP,
    O_TAKER_BPS,
    O_TIF,
    O_TS,
    O_TYPE,
)


@dataclass(frozen=True)
class OrderState:
    """A live order as the engine sees it (terminal orders live in events/projections)."""

    order_id: int
    account: int
    market: int
    side: int
    order_type: int
    tif: int
    flags: int
    stp: int
    status: int
    price_ticks: int
    stop_price_ticks: int
    qty_lots: int
    filled_lots: int
    remaining_lots: int
    locked_minor: int
    maker_bps: int
    taker_bps: int
    seq: int
    ts_ns: int
    client_tag: int

    @classmethod
    def from_row(cls, row: Any) -> OrderState:
        """Build from an `orders` row."""
        cols = (
            O_ID, O_ACCOUNT, O_MARKET, O_SIDE, O_TYPE, O_TIF, O_FLAGS, O_STP, O_STATUS, O_PRICE,
            O_STOP_PRICE, O_QTY, O_FILLED, O_REMAINING, O_LOCKED, O_MAKER_BPS, O_TAKER_BPS,
            O_SEQ, O_TS, O_CLIENT_TAG,
        )  # fmt: skip
        return cls(*(int(row[c]) for c in cols))
