"""AMEND_ORDER: change a resting limit order's price and/or remaining quantity.

`qty` is the new *remaining* quantity. Same price and qty <= remaining keeps time priority
(reduced in place). Any other change loses it: the order leaves its level, is re-funded at
the new terms and re-enters as a taker (it may trade), then rests at the back of its level.
Every check runs before anything changes. Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    BUY,
    FLAG_POST_ONLY,
    MATCH_POST_ONLY_WOULD_TAKE,
    MATCH_PRICE_LEVELS_FULL,
    OK,
    PENDING_TRIGGER,
    RISK_INSUFFICIENT_FUNDS,
    RISK_INSUFFICIENT_MARGIN,
    VALIDATION_INVALID_PRICE,
    VALIDATION_ORDER_NOT_AMENDABLE,
)
from engine.kernels.book import best_price, find_level, has_room, unlink
from engine.kernels.cancel import find_owned
from engine.kernels.checks import (
    check_amend_mode,
    check_band,
    check_price,
    check_qty,
    check_size,
    check_trading,
)
from engine.kernels.emit import emit_amended, emit_delta, emit_verdict
from engine.kernels.jit import kernel
from engine.kernels.match import crosses
from engine.kernels.orders import run_taker_call
from engine.kernels.risk import lock_for, lock_required, perp_lock, release_lock
from engine.kernels.row import flags_of, lock_bps_of, row_leverage, side_of, status_of
from engine.layout import (
    B_AVAILABLE,
    LV_COUNT,
    LV_QTY,
    M_BASE,
    M_BOOK_SEQ,
    M_NLEVELS,
    M_PERP,
    M_QUOTE,
    M_QUOTE_PER_TICK_LOT,
    O_ACCOUNT,
    O_FILLED,
    O_LOCKED,
    O_MARKET,
    O_PRICE,
    O_QTY,
    O_REMAINING,
    I64Array,
    Record,
    Records,
)


@kernel
def check_reprice(
    cmd: Record, row: I64Array, levels: I64Array, markets: I64Array, bal: I64Array
) -> int:
    """Checks for an amend that loses priority: band, size, post-only, room, funds."""
    m, side = row[O_MARKET], side_of(row)
    mkt = markets[m]
    moved = cmd.price != row[O_PRICE]
    code = check_band(mkt, cmd.price) if moved else OK
    if code == OK:
        code = check_size(mkt, cmd.qty, cmd.price)
    if code != OK:
        return code
    if flags_of(row) & FLAG_POST_ONLY:
        best = best_price(levels, markets, m, 1 - side)
        if best != 0 and crosses(side, cmd.price, best):
            return MATCH_POST_ONLY_WOULD_TAKE
    if moved and not has_room(levels, markets, m, side, cmd.price):
        lv = levels[m, side]
        i = find_level(lv, markets[m, M_NLEVELS + side], side, row[O_PRICE])
        if lv[i, LV_COUNT] > 1:  # leaving would not free a level row
            return MATCH_PRICE_LEVELS_FULL
    lock_bps = lock_bps_of(row)
    if mkt[M_PERP]:
        qptl = mkt[M_QUOTE_PER_TICK_LOT]
        lock = perp_lock(cmd.qty, cmd.price, qptl, row_leverage(row), lock_bps, flags_of(row))
        if lock - row[O_LOCKED] > bal[row[O_ACCOUNT], mkt[M_QUOTE], B_AVAILABLE]:
            return RISK_INSUFFICIENT_MARGIN
        return OK
    need = lock_required(mkt, side, cmd.qty, cmd.price, lock_bps) - row[O_LOCKED]
    asset = mkt[M_QUOTE] if side == BUY else mkt[M_BASE]
    if need > bal[row[O_ACCOUNT], asset, B_AVAILABLE]:
        return RISK_INSUFFICIENT_FUNDS
    return OK


@kernel
def check_amend(
    cmd: Record, orders: I64Array, levels: I64Array, markets: I64Array, bal: I64Array,
    accounts: I64Array, idmap: I64Array,
) -> tuple[int, int, bool]:  # fmt: skip
    """(code, slot, keeps_priority) of an AMEND_ORDER."""
    code, slot = find_owned(cmd, idmap, orders)
    if code != OK:
        return code, slot, False
    row = orders[slot]
    if status_of(row) == PENDING_TRIGGER:
        return VALIDATION_ORDER_NOT_AMENDABLE, slot, False
    mkt = markets[row[O_MARKET]]
    code = check_trading(mkt)
    if code == OK:
        code = check_amend_mode(mkt, accounts, row[O_ACCOUNT], cmd.qty, row[O_REMAINING])
    if code == OK:
        code = check_qty(mkt, cmd.qty)
    if code == OK:
        code = check_price(mkt, cmd.price, VALIDATION_INVALID_PRICE)
    keep = cmd.price == row[O_PRICE] and cmd.qty <= row[O_REMAINING]
    if code == OK and not keep:
        code = check_reprice(cmd, row, levels, markets, bal)
    return code, slot, keep


@kernel
def amend(
    ev: Records, sc: I64Array, cmd: Record, orders: I64Array, levels: I64Array,
    markets: I64Array, bal: I64Array, accounts: I64Array, assets: I64Array, idmap: I64Array,
    touched: I64Array, pos: I64Array, perp: I64Array,
) -> None:  # fmt: skip
    """AMEND_ORDER: BOOK_DELTA (old level), ORDER_AMENDED, then matching / resting events."""
    code, slot, keep = check_amend(cmd, orders, levels, markets, bal, accounts, idmap)
    emit_verdict(ev, sc, cmd, code, 0)
    if code != OK:
        return
    row = orders[slot]
    m, side, price, seq = row[O_MARKET], side_of(row), row[O_PRICE], cmd.seq
    mkt = markets[m]
    if keep:
        cut = row[O_REMAINING] - cmd.qty
        if cut > 0:
            lv = levels[m, side]
            i = find_level(lv, mkt[M_NLEVELS + side], side, price)
            lv[i, LV_QTY] -= cut
            mkt[M_BOOK_SEQ] += 1
            emit_delta(ev, sc, seq, mkt[M_BOOK_SEQ], m, side, price, lv[i, LV_QTY])
            release_lock(bal, touched, sc, mkt, row)
            row[O_REMAINING] = cmd.qty
            row[O_QTY] = row[O_FILLED] + cmd.qty
            lock_for(bal, touched, sc, mkt, row)
        emit_amended(ev, sc, seq, row, 1)
        return
    left = unlink(orders, levels, markets, m, side, price, slot, row[O_REMAINING])
    mkt[M_BOOK_SEQ] += 1
    emit_delta(ev, sc, seq, mkt[M_BOOK_SEQ], m, side, price, left)
    release_lock(bal, touched, sc, mkt, row)
    row[O_PRICE] = cmd.price
    row[O_REMAINING] = cmd.qty
    row[O_QTY] = row[O_FILLED] + cmd.qty
    lock_for(bal, touched, sc, mkt, row)
    emit_amended(ev, sc, seq, row, 0)
    run_taker_call(
        ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp, seq, slot, row
    )
