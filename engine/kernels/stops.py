"""Stop orders: trigger pending stops of a market on its last trade price.

Buy stops trigger when last >= stop price, sell stops when last <= stop price. The list is
scanned in arrival order and one stop runs at a time, because each may trade and move the
last price (cascades are resolved within the same command). Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import BUY, NEW
from engine.kernels.book import stop_remove
from engine.kernels.emit import emit_triggered
from engine.kernels.jit import kernel
from engine.kernels.orders import run_taker_call
from engine.kernels.row import set_status, side_of
from engine.layout import (
    M_LAST_PRICE,
    M_STOP_HEAD,
    NIL,
    O_NEXT,
    O_STOP_PRICE,
    I64Array,
    Records,
)


@kernel
def first_triggered(orders: I64Array, markets: I64Array, market: int) -> int:
    """Earliest pending stop that the last trade price triggers, or NIL."""
    last = markets[market, M_LAST_PRICE]
    slot = markets[market, M_STOP_HEAD]
    while slot != NIL:
        stop = orders[slot, O_STOP_PRICE]
        if (last >= stop) if side_of(orders[slot]) == BUY else (last <= stop):
            return int(slot)
        slot = orders[slot, O_NEXT]
    return NIL


@kernel
def trigger_stops(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, assets: I64Array, idmap: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, seq: int, market: int,
) -> None:  # fmt: skip
    """Run every stop the market's trades trigger, until none is left to trigger."""
    while markets[market, M_STOP_HEAD] != NIL:
        slot = first_triggered(orders, markets, market)
        if slot == NIL:
            break
        stop_remove(orders, markets, market, slot)
        row = orders[slot]
        set_status(row, NEW)
        emit_triggered(ev, sc, seq, row, markets[market, M_LAST_PRICE])
        run_taker_call(
            ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp, seq, slot,
            row,
        )  # fmt: skip
