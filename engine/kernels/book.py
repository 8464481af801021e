"""Order book storage: order slots, sorted price levels, FIFO queues, stop lists.

`levels[market, side]` is an array of up to max_price_levels rows kept sorted so that the best
level is the last row (bids ascending, asks descending): matching pops from the end and most
inserts near the touch shift only a few rows. Each level holds a doubly linked FIFO of order
slots (O_NEXT / O_PREV). Free slots are chained through O_NEXT from `sc[S_FREE_HEAD]`.
Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import BUY
from engine.kernels.idmap import idmap_insert, idmap_remove
from engine.kernels.jit import inline, prefetch_row
from engine.layout import (
    LV_COUNT,
    LV_HEAD,
    LV_NFIELDS,
    LV_PRICE,
    LV_QTY,
    LV_TAIL,
    M_LIVE,
    M_NLEVELS,
    M_STOP_HEAD,
    M_STOP_TAIL,
    NIL,
    O_ID,
    O_MARKET,
    O_NEXT,
    O_PREV,
    S_FREE_HEAD,
    S_LIVE_ORDERS,
    I64Array,
)

LEVEL_SCAN = 8  # rows scanned from the touch before level_index falls back to bisection


@inline
def alloc_slot(
    orders: I64Array, markets: I64Array, sc: I64Array, idmap: I64Array, order_id: int,
    market: int,
) -> int:  # fmt: skip
    """Take a free slot for a live order (caller checked capacity) and index its id."""
    slot = sc[S_FREE_HEAD]
    sc[S_FREE_HEAD] = orders[slot, O_NEXT]
    sc[S_LIVE_ORDERS] += 1
    markets[market, M_LIVE] += 1
    orders[slot, O_ID] = order_id
    orders[slot, O_MARKET] = market
    idmap_insert(idmap, order_id, slot)
    head = sc[S_FREE_HEAD]
    if head != NIL:  # the next allocation reads and writes that row: start its misses
        prefetch_row(orders, head)
    return int(slot)


@inline
def free_slot(
    orders: I64Array, markets: I64Array, sc: I64Array, idmap: I64Array, slot: int
) -> None:
    """Return a finished order's slot to the free list and forget its id."""
    idmap_remove(idmap, orders[slot, O_ID], slot)
    markets[orders[slot, O_MARKET], M_LIVE] -= 1
    sc[S_LIVE_ORDERS] -= 1
    orders[slot, O_NEXT] = sc[S_FREE_HEAD]
    sc[S_FREE_HEAD] = slot


@inline
def level_index(lv: I64Array, n: int, side: int, price: int) -> int:
    """The insertion point for `price`: the first row whose key is not below its key.

    Rows are ascending in `key = price` for bids and `key = -price` for asks; returns the
    first row with key >= the key of `price` (== n when every row is lower). Most prices are
    near the touch, i.e. near the end: the last LEVEL_SCAN rows are scanned from the end
    (predictable branches), and a binary search covers the rest.
    """
    key = price if side == BUY else -price
    hi = n
    stop = max(n - LEVEL_SCAN, 0)
    while hi > stop:  # invariant: rows [hi, n) have key >= the key of `price`
        k = lv[hi - 1, LV_PRICE] if side == BUY else -lv[hi - 1, LV_PRICE]
        if k < key:
            return hi
        hi -= 1
    lo = 0
    while lo < hi:
        mid = (lo + hi) >> 1
        k = lv[mid, LV_PRICE] if side == BUY else -lv[mid, LV_PRICE]
        if k < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@inline
def find_level(lv: I64Array, n: int, side: int, price: int) -> int:
    """Row of the level at `price`, or NIL."""
    i = level_index(lv, n, side, price)
    if i < n and lv[i, LV_PRICE] == price:
        return i
    return NIL


@inline
def level_insert(lv: I64Array, n: int, i: int, price: int) -> None:
    """Open an empty level at row `i`, shifting better levels up by one."""
    for j in range(n, i, -1):
        for f in range(LV_NFIELDS):
            lv[j, f] = lv[j - 1, f]
    lv[i, LV_PRICE] = price
    lv[i, LV_QTY] = 0
    lv[i, LV_HEAD] = NIL
    lv[i, LV_TAIL] = NIL
    lv[i, LV_COUNT] = 0


@inline
def level_delete(lv: I64Array, n: int, i: int) -> None:
    """Close the (empty) level at row `i`, shifting better levels down by one."""
    for j in range(i, n - 1):
        for f in range(LV_NFIELDS):
            lv[j, f] = lv[j + 1, f]


@inline
def has_room(levels: I64Array, markets: I64Array, market: int, side: int, price: int) -> bool:
    """True if an order at `price` could rest: its level exists or a level row is free."""
    n = markets[market, M_NLEVELS + side]
    lv = levels[market, side]
    return n < lv.shape[0] or find_level(lv, n, side, price) != NIL


@inline
def rest(
    orders: I64Array, levels: I64Array, markets: I64Array, market: int, side: int,
    price: int, slot: int, qty: int,
) -> int:  # fmt: skip
    """Append `slot` at the tail of its level (created if needed); return the level qty."""
    lv = levels[market, side]
    n = markets[market, M_NLEVELS + side]
    i = level_index(lv, n, side, price)
    if i == n or lv[i, LV_PRICE] != price:
        level_insert(lv, n, i, price)
        markets[market, M_NLEVELS + side] = n + 1
    tail = lv[i, LV_TAIL]
    orders[slot, O_PREV] = tail
    orders[slot, O_NEXT] = NIL
    if tail == NIL:
        lv[i, LV_HEAD] = slot
    else:
        orders[tail, O_NEXT] = slot
    lv[i, LV_TAIL] = slot
    lv[i, LV_COUNT] += 1
    lv[i, LV_QTY] += qty
    return int(lv[i, LV_QTY])


@inline
def unlink_at(
    orders: I64Array, levels: I64Array, markets: I64Array, market: int, side: int, i: int,
    slot: int, qty: int,
) -> int:  # fmt: skip
    """Remove `slot` (with `qty` lots left) from level row `i`; return the level qty.

    The level row is deleted when it empties.
    """
    lv = levels[market, side]
    prev, nxt = orders[slot, O_PREV], orders[slot, O_NEXT]
    if prev == NIL:
        lv[i, LV_HEAD] = nxt
    else:
        orders[prev, O_NEXT] = nxt
    if nxt == NIL:
        lv[i, LV_TAIL] = prev
    else:
        orders[nxt, O_PREV] = prev
    lv[i, LV_COUNT] -= 1
    lv[i, LV_QTY] -= qty
    left = lv[i, LV_QTY]
    if lv[i, LV_COUNT] == 0:
        n = markets[market, M_NLEVELS + side]
        level_delete(lv, n, i)
        markets[market, M_NLEVELS + side] = n - 1
    return int(left)


@inline
def unlink(
    orders: I64Array, levels: I64Array, markets: I64Array, market: int, side: int,
    price: int, slot: int, qty: int,
) -> int:  # fmt: skip
    """Remove a resting order from the level at `price`; return the level qty."""
    lv = levels[market, side]
    i = find_level(lv, markets[market, M_NLEVELS + side], side, price)
    return unlink_at(orders, levels, markets, market, side, i, slot, qty)


@inline
def best_price(levels: I64Array, markets: I64Array, market: int, side: int) -> int:
    """Best price on a side, or 0 when the side is empty."""
    n = markets[market, M_NLEVELS + side]
    if n == 0:
        return 0
    return int(levels[market, side, n - 1, LV_PRICE])


@inline
def stop_append(orders: I64Array, markets: I64Array, market: int, slot: int) -> None:
    """Append a pending stop to its market's stop list (trigger order = arrival order)."""
    tail = markets[market, M_STOP_TAIL]
    orders[slot, O_PREV] = tail
    orders[slot, O_NEXT] = NIL
    if tail == NIL:
        markets[market, M_STOP_HEAD] = slot
    else:
        orders[tail, O_NEXT] = slot
    markets[market, M_STOP_TAIL] = slot


@inline
def stop_remove(orders: I64Array, markets: I64Array, market: int, slot: int) -> None:
    """Unlink a pending stop from its market's stop list."""
    prev, nxt = orders[slot, O_PREV], orders[slot, O_NEXT]
    if prev == NIL:
        markets[market, M_STOP_HEAD] = nxt
    else:
        orders[prev, O_NEXT] = nxt
    if nxt == NIL:
        markets[market, M_STOP_TAIL] = prev
    else:
        orders[nxt, O_PREV] = prev
