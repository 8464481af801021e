"""Order-row accessors: the packed fields of `orders[slot]` (engine.layout O_BITS, O_FEES).

Kernels read status, side, type, time in force, flags, STP mode, leverage and fee rates only
through these, so the packing is written here and in engine.layout's constants alone. Each
is inlined; a read is a load, a shift and a mask. Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.kernels.jit import inline
from engine.layout import (
    O_BITS,
    O_FEES,
    OB_BYTE,
    OB_FLAGS,
    OB_LEVERAGE,
    OB_LEVERAGE_MASK,
    OB_SIDE,
    OB_STATUS,
    OB_STP,
    OB_TIF,
    OB_TYPE,
    OF_MASK,
    OF_TAKER,
    I64Array,
    pack_bits,
    pack_fees,
)

bits_of = inline(pack_bits)
"""`bits_of(side, order_type, tif, flags, stp, status, leverage)`: O_BITS of a new order
(engine.layout.pack_bits compiled; each field masked to its width, so none can spill)."""
fees_of = inline(pack_fees)
"""`fees_of(maker_bps, taker_bps)`: O_FEES (engine.layout.pack_fees compiled)."""


@inline
def status_of(row: I64Array) -> int:
    return int((row[O_BITS] >> OB_STATUS) & OB_BYTE)


@inline
def side_of(row: I64Array) -> int:
    return int((row[O_BITS] >> OB_SIDE) & OB_BYTE)


@inline
def type_of(row: I64Array) -> int:
    return int((row[O_BITS] >> OB_TYPE) & OB_BYTE)


@inline
def tif_of(row: I64Array) -> int:
    return int((row[O_BITS] >> OB_TIF) & OB_BYTE)


@inline
def flags_of(row: I64Array) -> int:
    return int((row[O_BITS] >> OB_FLAGS) & OB_BYTE)


@inline
def stp_of(row: I64Array) -> int:
    return int((row[O_BITS] >> OB_STP) & OB_BYTE)


@inline
def row_leverage(row: I64Array) -> int:
    """Leverage captured at acceptance (perp), 0 on spot."""
    return int((row[O_BITS] >> OB_LEVERAGE) & OB_LEVERAGE_MASK)


@inline
def maker_bps_of(row: I64Array) -> int:
    return int(row[O_FEES] & OF_MASK)


@inline
def taker_bps_of(row: I64Array) -> int:
    return int((row[O_FEES] >> OF_TAKER) & OF_MASK)


@inline
def lock_bps_of(row: I64Array) -> int:
    """The larger fee rate: what an order locks its fee at."""
    return max(maker_bps_of(row), taker_bps_of(row))


@inline
def set_status(row: I64Array, status: int) -> None:
    row[O_BITS] = (row[O_BITS] & ~(OB_BYTE << OB_STATUS)) | (status & OB_BYTE) << OB_STATUS


@inline
def set_leverage(row: I64Array, leverage: int) -> None:
    mask = OB_LEVERAGE_MASK << OB_LEVERAGE
    row[O_BITS] = (row[O_BITS] & ~mask) | (leverage & OB_LEVERAGE_MASK) << OB_LEVERAGE
