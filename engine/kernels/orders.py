"""Order entry: PLACE_ORDER, and running any taker to its end (rest, fill or expire).

`place` accepts or rejects, locks funds, runs `match`, then `finish` decides the taker's
fate. `run_taker` is shared with triggered stops and repriced amends, whose taker row is a live
slot rather than the scratch row. Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    EXPIRED,
    EXPIRED_IN_MATCH,
    FILLED,
    FOK,
    GTC,
    LIMIT,
    MATCH_FOK_NOT_FILLABLE,
    MATCH_IOC_REMAINDER,
    MATCH_MARKET_COLLAR,
    MATCH_NO_LIQUIDITY,
    MATCH_PRICE_LEVELS_FULL,
    NEW,
    OK,
    PARTIALLY_FILLED,
    PENDING_TRIGGER,
    STOP_LIMIT,
    STOP_MARKET,
    STP_MARKET_DEFAULT,
)
from engine.kernels.book import alloc_slot, free_slot, has_room, rest, stop_append
from engine.kernels.checks import check_place, place_flags
from engine.kernels.emit import emit_delta, emit_done, emit_verdict
from engine.kernels.jit import inline, kernel
from engine.kernels.match import fok_fillable, match
from engine.kernels.perp import leverage_of
from engine.kernels.risk import lock_for, release_lock
from engine.kernels.row import (
    bits_of,
    fees_of,
    set_leverage,
    set_status,
    side_of,
    stp_of,
    tif_of,
    type_of,
)
from engine.layout import (
    A_MAKER_BPS,
    A_TAKER_BPS,
    M_BOOK_SEQ,
    M_NLEVELS,
    M_PERP,
    M_STP_DEFAULT,
    NIL,
    O_ACCOUNT,
    O_BITS,
    O_CLIENT_TAG,
    O_FEES,
    O_FILLED,
    O_ID,
    O_LOCKED,
    O_MARKET,
    O_NFIELDS,
    O_PRICE,
    O_QTY,
    O_REMAINING,
    O_SEQ,
    O_STOP_PRICE,
    O_TS,
    I64Array,
    Record,
    Records,
)


@inline
def write_row(
    row: I64Array, order_id: int, account: int, market: int, side: int, order_type: int,
    tif: int, flags: int, stp: int, status: int, price: int, stop_price: int, qty: int,
    maker_bps: int, taker_bps: int, seq: int, ts_ns: int, client_tag: int, leverage: int,
) -> None:  # fmt: skip
    """Write a new, unfilled order's row: the one place an order row is built (order entry
    and liquidation orders)."""
    row[O_ID] = order_id
    row[O_ACCOUNT] = account
    row[O_MARKET] = market
    row[O_BITS] = bits_of(side, order_type, tif, flags, stp, status, leverage)
    row[O_PRICE] = price
    row[O_REMAINING] = qty
    row[O_FILLED] = 0
    row[O_LOCKED] = 0
    row[O_FEES] = fees_of(maker_bps, taker_bps)
    row[O_QTY] = qty
    row[O_STOP_PRICE] = stop_price
    row[O_SEQ] = seq
    row[O_TS] = ts_ns
    row[O_CLIENT_TAG] = client_tag


@inline
def fill_row(row: I64Array, cmd: Record, markets: I64Array, accounts: I64Array, limit: int) -> None:
    """Write a new order's row from its command (fee rates captured now; reduce-only when
    the account or the market may only reduce)."""
    stp = cmd.stp
    flags = place_flags(cmd, markets[cmd.market], accounts)
    write_row(
        row, cmd.order_id, cmd.account, cmd.market, cmd.side, cmd.order_type, cmd.tif,
        flags, markets[cmd.market, M_STP_DEFAULT] if stp == STP_MARKET_DEFAULT else stp,
        PENDING_TRIGGER if cmd.order_type >= STOP_MARKET else NEW, limit, cmd.stop_price,
        cmd.qty, accounts[cmd.account, A_MAKER_BPS], accounts[cmd.account, A_TAKER_BPS],
        cmd.seq, cmd.ts_ns, cmd.client_tag, 0,
    )  # fmt: skip


@inline
def expire_reason(levels: I64Array, markets: I64Array, row: I64Array) -> int:
    """Why an unfilled IOC / FOK / market remainder expires."""
    order_type = type_of(row)
    if order_type in (LIMIT, STOP_LIMIT):
        return MATCH_IOC_REMAINDER
    if markets[row[O_MARKET], M_NLEVELS + 1 - side_of(row)] == 0:
        return MATCH_NO_LIQUIDITY
    return MATCH_MARKET_COLLAR


@inline
def end_order(
    ev: Records, sc: I64Array, orders: I64Array, markets: I64Array, bal: I64Array,
    idmap: I64Array, touched: I64Array, seq: int, slot: int, row: I64Array, status: int,
    code: int,
) -> None:  # fmt: skip
    """Finish an order that will not rest: release its lock, report, free its slot."""
    release_lock(bal, touched, sc, markets[row[O_MARKET]], row)
    set_status(row, status)
    emit_done(ev, sc, seq, row, status, code)
    if slot != NIL:
        free_slot(orders, markets, sc, idmap, slot)


@inline
def finish(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, idmap: I64Array, touched: I64Array, seq: int, slot: int, row: I64Array,
    stopped: int,
) -> None:  # fmt: skip
    """After matching: filled, expired by STP, rested (GTC limit) or expired remainder."""
    if row[O_REMAINING] == 0:
        end_order(ev, sc, orders, markets, bal, idmap, touched, seq, slot, row, FILLED, OK)
        return
    if stopped != OK:
        end_order(
            ev, sc, orders, markets, bal, idmap, touched, seq, slot, row, EXPIRED_IN_MATCH,
            stopped,
        )  # fmt: skip
        return
    order_type = type_of(row)
    is_limit = order_type in (LIMIT, STOP_LIMIT)
    if not (is_limit and tif_of(row) == GTC):
        code = expire_reason(levels, markets, row)
        end_order(ev, sc, orders, markets, bal, idmap, touched, seq, slot, row, EXPIRED, code)
        return
    m, side, price = row[O_MARKET], side_of(row), row[O_PRICE]
    if not has_room(levels, markets, m, side, price):
        code = MATCH_PRICE_LEVELS_FULL
        end_order(ev, sc, orders, markets, bal, idmap, touched, seq, slot, row, EXPIRED, code)
        return
    if slot == NIL:
        slot = alloc_slot(orders, markets, sc, idmap, row[O_ID], m)
        for f in range(O_NFIELDS):
            orders[slot, f] = row[f]
    set_status(orders[slot], NEW if row[O_FILLED] == 0 else PARTIALLY_FILLED)
    left = rest(orders, levels, markets, m, side, price, slot, row[O_REMAINING])
    markets[m, M_BOOK_SEQ] += 1
    emit_delta(ev, sc, seq, markets[m, M_BOOK_SEQ], m, side, price, left)


@inline
def run_taker(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, assets: I64Array, idmap: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, seq: int, slot: int, row: I64Array,
) -> None:  # fmt: skip
    """Match a funded taker row and finish it (FOK is checked first and is all-or-nothing)."""
    if tif_of(row) == FOK and not fok_fillable(
        orders, levels, markets, row[O_MARKET], side_of(row), row[O_PRICE], row[O_REMAINING],
        row[O_ACCOUNT], stp_of(row),
    ):  # fmt: skip
        code = MATCH_FOK_NOT_FILLABLE
        end_order(ev, sc, orders, markets, bal, idmap, touched, seq, slot, row, EXPIRED, code)
        return
    stopped = match(
        ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp, seq, row
    )
    finish(ev, sc, orders, levels, markets, bal, idmap, touched, seq, slot, row, stopped)


@kernel
def run_taker_call(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, assets: I64Array, idmap: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, seq: int, slot: int, row: I64Array,
) -> None:  # fmt: skip
    """`run_taker` as a called function: for the colder callers (amends, triggered stops),
    so its body is compiled twice (here and inside `place`) rather than once per caller."""
    run_taker(
        ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp, seq, slot, row
    )


@inline
def place(
    ev: Records, sc: I64Array, cmd: Record, orders: I64Array, levels: I64Array,
    markets: I64Array, bal: I64Array, accounts: I64Array, assets: I64Array, idmap: I64Array,
    touched: I64Array, pos: I64Array, perp: I64Array,
) -> None:  # fmt: skip
    """PLACE_ORDER: check, accept, lock funds, then rest a stop or run the taker."""
    code, limit = check_place(cmd, orders, levels, markets, bal, accounts, sc, idmap, pos, perp)
    is_stop = cmd.order_type == STOP_MARKET or cmd.order_type == STOP_LIMIT
    if code != OK:
        emit_verdict(ev, sc, cmd, code, 0)
        return
    emit_verdict(ev, sc, cmd, OK, PENDING_TRIGGER if is_stop else NEW)
    mkt = markets[cmd.market]
    if is_stop:
        slot = alloc_slot(orders, markets, sc, idmap, cmd.order_id, cmd.market)
        row = orders[slot]
        fill_row(row, cmd, markets, accounts, limit)
        if mkt[M_PERP]:
            set_leverage(row, leverage_of(pos, perp, cmd.account, cmd.market))
        lock_for(bal, touched, sc, mkt, row)
        stop_append(orders, markets, cmd.market, slot)
        return
    row = orders[orders.shape[0] - 1]  # the scratch taker row
    fill_row(row, cmd, markets, accounts, limit)
    if mkt[M_PERP]:
        set_leverage(row, leverage_of(pos, perp, cmd.account, cmd.market))
    if tif_of(row) == FOK and not fok_fillable(
        orders, levels, markets, cmd.market, cmd.side, limit, cmd.qty, cmd.account, stp_of(row)
    ):
        code = MATCH_FOK_NOT_FILLABLE
        end_order(ev, sc, orders, markets, bal, idmap, touched, cmd.seq, NIL, row, EXPIRED, code)
        return
    lock_for(bal, touched, sc, mkt, row)
    run_taker(
        ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp, cmd.seq, NIL,
        row,
    )  # fmt: skip
