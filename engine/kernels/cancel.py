"""CANCEL_ORDER and CANCEL_ALL: take live orders out and release their funds.

Cancels are allowed in every market status. CANCEL_ALL walks bids then asks from the best
level down, each level in time priority, then the pending stops in arrival order, and emits
one BOOK_DELTA per level it changed. Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    CANCELED,
    MATCH_CANCELED_BY_USER,
    OK,
    PENDING_TRIGGER,
    VALIDATION_UNKNOWN_ACCOUNT,
    VALIDATION_UNKNOWN_ORDER,
    VALIDATION_WRONG_OWNER,
)
from engine.kernels.book import free_slot, stop_remove, unlink, unlink_at
from engine.kernels.checks import check_market
from engine.kernels.emit import emit_delta, emit_done, emit_verdict
from engine.kernels.idmap import idmap_find
from engine.kernels.jit import inline, kernel
from engine.kernels.risk import release_lock
from engine.kernels.row import set_status, side_of, status_of
from engine.layout import (
    LV_HEAD,
    LV_PRICE,
    LV_QTY,
    M_BOOK_SEQ,
    M_NLEVELS,
    M_STOP_HEAD,
    NIL,
    O_ACCOUNT,
    O_MARKET,
    O_NEXT,
    O_PRICE,
    O_REMAINING,
    I64Array,
    Record,
    Records,
)


@inline
def find_owned(cmd: Record, idmap: I64Array, orders: I64Array) -> tuple[int, int]:
    """(code, slot) of the live order `cmd.order_id` owned by `cmd.account`."""
    slot = idmap_find(idmap, orders, cmd.order_id) if cmd.order_id > 0 else NIL
    if slot == NIL:
        return VALIDATION_UNKNOWN_ORDER, NIL
    if orders[slot, O_ACCOUNT] != cmd.account:
        return VALIDATION_WRONG_OWNER, NIL
    return OK, slot


@inline
def drop(
    ev: Records, sc: I64Array, orders: I64Array, markets: I64Array, bal: I64Array,
    idmap: I64Array, touched: I64Array, seq: int, slot: int, code: int,
) -> None:  # fmt: skip
    """Release, report CANCELED (with `code`) and free an order already out of book and
    stop list."""
    row = orders[slot]
    release_lock(bal, touched, sc, markets[row[O_MARKET]], row)
    set_status(row, CANCELED)
    emit_done(ev, sc, seq, row, CANCELED, code)
    free_slot(orders, markets, sc, idmap, slot)


@inline
def cancel(
    ev: Records, sc: I64Array, cmd: Record, orders: I64Array, levels: I64Array,
    markets: I64Array, bal: I64Array, idmap: I64Array, touched: I64Array,
) -> None:  # fmt: skip
    """CANCEL_ORDER: BOOK_DELTA (if it rested), ORDER_DONE(CANCELED)."""
    code, slot = find_owned(cmd, idmap, orders)
    emit_verdict(ev, sc, cmd, code, 0)
    if code != OK:
        return
    m, side = orders[slot, O_MARKET], side_of(orders[slot])
    if status_of(orders[slot]) == PENDING_TRIGGER:
        stop_remove(orders, markets, m, slot)
    else:
        price = orders[slot, O_PRICE]
        left = unlink(orders, levels, markets, m, side, price, slot, orders[slot, O_REMAINING])
        markets[m, M_BOOK_SEQ] += 1
        emit_delta(ev, sc, cmd.seq, markets[m, M_BOOK_SEQ], m, side, price, left)
    drop(ev, sc, orders, markets, bal, idmap, touched, cmd.seq, slot, MATCH_CANCELED_BY_USER)


@kernel
def cancel_side(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, idmap: I64Array, touched: I64Array, seq: int, m: int, side: int,
    account: int, code: int,
) -> None:  # fmt: skip
    """Cancel `account`'s orders on one side, best level first (ORDER_DONE reason `code`)."""
    lv = levels[m, side]
    for i in range(markets[m, M_NLEVELS + side] - 1, -1, -1):
        price = lv[i, LV_PRICE]
        n_before = markets[m, M_NLEVELS + side]
        changed = False
        slot = lv[i, LV_HEAD]
        while slot != NIL:
            nxt = orders[slot, O_NEXT]
            if orders[slot, O_ACCOUNT] == account:
                unlink_at(orders, levels, markets, m, side, i, slot, orders[slot, O_REMAINING])
                changed = True
                drop(ev, sc, orders, markets, bal, idmap, touched, seq, slot, code)
            slot = nxt
        if changed:
            left = 0 if markets[m, M_NLEVELS + side] < n_before else lv[i, LV_QTY]
            markets[m, M_BOOK_SEQ] += 1
            emit_delta(ev, sc, seq, markets[m, M_BOOK_SEQ], m, side, price, left)


@kernel
def cancel_all(
    ev: Records, sc: I64Array, cmd: Record, orders: I64Array, levels: I64Array,
    markets: I64Array, bal: I64Array, idmap: I64Array, touched: I64Array,
) -> None:  # fmt: skip
    """CANCEL_ALL of one account in one market (resting orders and pending stops)."""
    code = check_market(markets, cmd.market)
    if code == OK and (cmd.account < 0 or cmd.account >= bal.shape[0]):
        code = VALIDATION_UNKNOWN_ACCOUNT
    emit_verdict(ev, sc, cmd, code, 0)
    if code != OK:
        return
    m, a = cmd.market, cmd.account
    for side in range(2):
        cancel_side(
            ev, sc, orders, levels, markets, bal, idmap, touched, cmd.seq, m, side, a,
            MATCH_CANCELED_BY_USER,
        )  # fmt: skip
    slot = markets[m, M_STOP_HEAD]
    while slot != NIL:
        nxt = orders[slot, O_NEXT]
        if orders[slot, O_ACCOUNT] == a:
            stop_remove(orders, markets, m, slot)
            drop(
                ev, sc, orders, markets, bal, idmap, touched, cmd.seq, slot, MATCH_CANCELED_BY_USER
            )
        slot = nxt
