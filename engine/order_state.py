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
    O_ID,
    O_LOCKED,
    O_MARKET,
    O_PRICE,
    O_QTY,
    O_REMAINING,
    O_SEQ,
    O_STOP_PRICE,
    O_TS,
    unpack_row,
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
        packed = {k: int(v) for k, v in unpack_row(row).items()}
        return cls(
            order_id=int(row[O_ID]), account=int(row[O_ACCOUNT]), market=int(row[O_MARKET]),
            side=packed["side"], order_type=packed["order_type"], tif=packed["tif"],
            flags=packed["flags"], stp=packed["stp"], status=packed["status"],
            price_ticks=int(row[O_PRICE]), stop_price_ticks=int(row[O_STOP_PRICE]),
            qty_lots=int(row[O_QTY]), filled_lots=int(row[O_FILLED]),
            remaining_lots=int(row[O_REMAINING]), locked_minor=int(row[O_LOCKED]),
            maker_bps=packed["maker_bps"], taker_bps=packed["taker_bps"], seq=int(row[O_SEQ]),
            ts_ns=int(row[O_TS]), client_tag=int(row[O_CLIENT_TAG]),
        )  # fmt: skip
