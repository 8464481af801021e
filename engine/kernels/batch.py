"""apply_batch: the only call Python makes per batch of commands.

Dispatches each command by kind, refuses a non-increasing `seq`, runs stop triggers after
any command that traded, and emits the coalesced BALANCE_CHANGED events at the end of each
command. Before each command it checks the event buffer has room for the most that command
can emit, and otherwise returns early so Python can grow the buffer: a command is never
split and no event is ever dropped.
Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    ADD_MARKET,
    ADJUST_MARGIN,
    AMEND_ORDER,
    BUST_POSITION,
    CANCEL_ALL,
    CANCEL_ORDER,
    CLOSE_POSITION,
    DEPOSIT_CREDIT,
    PLACE_ORDER,
    SET_ACCOUNT_MODE,
    SET_FEE_RATE,
    SET_MARGIN_BRACKET,
    STP_EXPIRE_MAKER,
    STP_MARKET_DEFAULT,
    TRANSFER,
    VALIDATION_SEQ_NOT_INCREASING,
    VALIDATION_UNKNOWN_COMMAND,
    WITHDRAWAL_DEBIT,
)
from engine.kernels.admin import apply_admin
from engine.kernels.amend import amend
from engine.kernels.cancel import cancel, cancel_all
from engine.kernels.emit import emit_verdict
from engine.kernels.idmap import bucket_of, idmap_find, idmap_probe
from engine.kernels.jit import inline, kernel, prefetch, prefetch_at, prefetch_row
from engine.kernels.liquidation import sweep_market, sweep_touched
from engine.kernels.orders import place
from engine.kernels.perp import flush_touched
from engine.kernels.perp_admin import apply_perp, mark_after_trade
from engine.kernels.risk import apply_money_command
from engine.kernels.stops import trigger_stops
from engine.layout import (
    M_LIVE,
    M_PERP,
    M_STOP_HEAD,
    M_STP_DEFAULT,
    M_TRADE_SEQ,
    NIL,
    O_MARKET,
    O_NEXT,
    O_PREV,
    S_COUNTER,
    S_LAST_SEQ,
    S_NEV,
    S_OPEN_POSITIONS,
    I64Array,
    Record,
    Records,
)

PREFETCH_BUCKET = 6  # commands ahead: order-id map bucket
PREFETCH_ROW = 4  # commands ahead: order row (its bucket was fetched two commands earlier)
PREFETCH_LINKS = 2  # commands ahead: the rows of its level neighbours (O_NEXT / O_PREV)


@inline
def trading_market(cmd: Record, orders: I64Array, markets: I64Array, idmap: I64Array) -> int:
    """The market a PLACE / AMEND may trade in, or NIL."""
    if cmd.kind == PLACE_ORDER:
        return cmd.market if 0 <= cmd.market < markets.shape[0] else NIL
    if cmd.kind == AMEND_ORDER and cmd.order_id > 0:
        slot = idmap_find(idmap, orders, cmd.order_id)
        return orders[slot, O_MARKET] if slot != NIL else NIL
    return NIL


@inline
def apply_one(
    ev: Records, sc: I64Array, cmd: Record, orders: I64Array, levels: I64Array,
    markets: I64Array, bal: I64Array, accounts: I64Array, assets: I64Array, idmap: I64Array,
    touched: I64Array, pos: I64Array, perp: I64Array,
) -> None:  # fmt: skip
    """Apply one command whose seq has been accepted."""
    kind = cmd.kind
    if kind == PLACE_ORDER:
        place(
            ev, sc, cmd, orders, levels, markets, bal, accounts, assets, idmap, touched, pos,
            perp,
        )  # fmt: skip
        return
    if kind == CANCEL_ORDER:
        cancel(ev, sc, cmd, orders, levels, markets, bal, idmap, touched)
        return
    if kind == AMEND_ORDER:
        amend(
            ev, sc, cmd, orders, levels, markets, bal, accounts, assets, idmap, touched, pos,
            perp,
        )  # fmt: skip
        return
    if kind == CANCEL_ALL:
        cancel_all(ev, sc, cmd, orders, levels, markets, bal, idmap, touched)
        return
    if DEPOSIT_CREDIT <= kind <= WITHDRAWAL_DEBIT or kind == TRANSFER:
        apply_money_command(ev, sc, cmd, bal, assets, touched)
        return
    if ADD_MARKET <= kind <= SET_FEE_RATE or kind == SET_ACCOUNT_MODE:
        apply_admin(ev, sc, cmd, markets, accounts, bal.shape[1])
        return
    if SET_MARGIN_BRACKET <= kind <= ADJUST_MARGIN or kind in (CLOSE_POSITION, BUST_POSITION):
        apply_perp(ev, sc, cmd, orders, levels, markets, bal, assets, idmap, touched, pos, perp)
        return
    emit_verdict(ev, sc, cmd, VALIDATION_UNKNOWN_COMMAND, 0)


@kernel
def sweep_after_trade(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, assets: I64Array, idmap: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, seq: int, m: int,
) -> None:  # fmt: skip
    """After a perp trade: a mark the trade moved (clamp rule) re-checks every position of
    the market; otherwise only the positions the trade touched are."""
    if mark_after_trade(ev, sc, levels, markets, perp, seq, m):
        sweep_market(ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp,
                     seq, m)  # fmt: skip
    else:
        sweep_touched(ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp,
                      seq)  # fmt: skip


@inline
def perp_event_bound(markets: I64Array, sc: I64Array) -> int:
    """Most events a perpetual command or order can emit: it may liquidate, and then every
    live order of a perpetual market may be canceled or traded (16 events each) and every
    open position liquidated (64 each: steps, insurance, ADL, position and balance changes),
    plus the command's own events."""
    live = 0
    for mm in range(markets.shape[0]):
        if markets[mm, M_PERP]:
            live += markets[mm, M_LIVE]
    return int(96 + 16 * live + 64 * sc[S_OPEN_POSITIONS])


@inline
def event_bound(cmd: Record, markets: I64Array, sc: I64Array, trading: int) -> int:
    """Most events one command can emit.

    Per live order of the market a command may touch at most: a TRADE or
    SELF_TRADE_PREVENTED, its ORDER_DONE, one BOOK_DELTA, two BALANCE_CHANGED, and for a
    stop its STOP_TRIGGERED, hence 8 (with room to spare) plus the command's own events.
    A PLACE in a market without pending stops touches at most qty + 1 makers unless its
    STP mode is EXPIRE_MAKER: every maker but the last either fills at least one lot or
    ends the match (STP NONE never prevents; EXPIRE_TAKER / EXPIRE_BOTH stop the taker).
    """
    m = trading
    perp_kind = cmd.kind == CLOSE_POSITION or cmd.kind == BUST_POSITION
    perp_command = SET_MARGIN_BRACKET <= cmd.kind <= ADJUST_MARGIN or perp_kind
    if perp_command or (m != NIL and markets[m, M_PERP]):
        return perp_event_bound(markets, sc)
    if cmd.kind == CANCEL_ALL and 0 <= cmd.market < markets.shape[0]:
        m = cmd.market
    if m == NIL:
        return 16
    makers = markets[m, M_LIVE]
    if cmd.kind == PLACE_ORDER and markets[m, M_STOP_HEAD] == NIL:
        mode = markets[m, M_STP_DEFAULT] if cmd.stp == STP_MARKET_DEFAULT else cmd.stp
        if mode != STP_EXPIRE_MAKER:
            makers = min(makers, max(cmd.qty, 0) + 1)
    return int(32 + 8 * makers)


@inline
def prefetch_ahead(cmds: Records, i: int, orders: I64Array, idmap: I64Array) -> None:
    """Start the cache misses of the commands after `i` (hints only, no effect on results).

    Orders live in memory that is mostly out of cache, and a miss costs about a command's
    time, so the look-ups run as a pipeline, each stage reading only what an earlier stage
    fetched: PREFETCH_BUCKET commands ahead the order-id map bucket of a PLACE (duplicate
    check, then insert), CANCEL or AMEND; PREFETCH_ROW ahead a CANCEL / AMEND's order row;
    PREFETCH_LINKS ahead the rows of its neighbours in the level queue, which unlinking it
    writes. Look-ups run before command `i` is applied, so they may be stale: hints only.
    """
    mask = idmap.shape[0] - 1
    n = cmds.shape[0]
    if i + PREFETCH_BUCKET < n:
        ahead = cmds[i + PREFETCH_BUCKET]
        if ahead.kind in (CANCEL_ORDER, AMEND_ORDER, PLACE_ORDER) and ahead.order_id > 0:
            prefetch_at(idmap, bucket_of(ahead.order_id, mask))
    if i + PREFETCH_ROW < n:
        nxt = cmds[i + PREFETCH_ROW]
        if (nxt.kind == CANCEL_ORDER or nxt.kind == AMEND_ORDER) and nxt.order_id > 0:
            slot = idmap_probe(idmap, nxt.order_id)
            if slot != NIL:
                prefetch_row(orders, slot)
    if i + PREFETCH_LINKS < n:
        nxt = cmds[i + PREFETCH_LINKS]
        if nxt.kind == CANCEL_ORDER and nxt.order_id > 0:
            slot = idmap_probe(idmap, nxt.order_id)
            if slot != NIL:
                for link in (orders[slot, O_NEXT], orders[slot, O_PREV]):
                    if 0 <= link < orders.shape[0]:
                        prefetch(orders, link, O_NEXT)


@kernel
def apply_batch(
    orders: I64Array, levels: I64Array, markets: I64Array, bal: I64Array, accounts: I64Array,
    assets: I64Array, sc: I64Array, idmap: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, cmds: Records, ev: Records,
) -> tuple[int, int, int]:  # fmt: skip
    """Apply commands in order while the event buffer has room for the next one.

    Returns (events written, commands applied, room needed by the next command); when fewer
    than all commands were applied the caller grows `ev` to the room needed and calls again
    with the rest.
    """
    sc[S_NEV] = 0
    n_cmds = cmds.shape[0]
    for i in range(n_cmds):
        prefetch_ahead(cmds, i, orders, idmap)
        cmd = cmds[i]
        m = trading_market(cmd, orders, markets, idmap)
        need = event_bound(cmd, markets, sc, m)
        if sc[S_NEV] + need > ev.shape[0]:
            n = sc[S_NEV]
            sc[S_NEV] = 0
            return n, i, need
        if cmd.seq <= sc[S_LAST_SEQ]:
            emit_verdict(ev, sc, cmd, VALIDATION_SEQ_NOT_INCREASING, 0)
            continue
        sc[S_LAST_SEQ] = cmd.seq
        sc[S_COUNTER] += 1
        trades_before = markets[m, M_TRADE_SEQ] if m != NIL else 0
        apply_one(
            ev, sc, cmd, orders, levels, markets, bal, accounts, assets, idmap, touched, pos,
            perp,
        )  # fmt: skip
        if m != NIL and markets[m, M_TRADE_SEQ] != trades_before:
            trigger_stops(
                ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp,
                cmd.seq, m,
            )  # fmt: skip
            if markets[m, M_PERP]:
                sweep_after_trade(
                    ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp,
                    cmd.seq, m,
                )  # fmt: skip
        flush_touched(ev, sc, bal, touched, pos, perp, cmd.seq)
    n = sc[S_NEV]
    sc[S_NEV] = 0
    return n, cmds.shape[0], 0
