"""Matching: one taker walks the opposite side under price-time priority.

`match` is shared by every taker (new limit / IOC / FOK / market orders, triggered stops,
repriced amends); `fok_fillable` is the read-only dry run that makes FOK atomic. The taker is
an order row (a live slot or the scratch row) so makers and takers settle the same way.
Self-trade prevention follows the taker's mode. Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    BUY,
    EXPIRED_IN_MATCH,
    FILLED,
    FLAG_REDUCE_ONLY,
    MATCH_REDUCE_ONLY_CUT,
    MATCH_STP_EXPIRE_BOTH,
    MATCH_STP_EXPIRE_MAKER,
    MATCH_STP_EXPIRE_TAKER,
    OK,
    PARTIALLY_FILLED,
    STP_EXPIRE_MAKER,
    STP_EXPIRE_TAKER,
    STP_NONE,
)
from engine.kernels.book import free_slot, unlink_at
from engine.kernels.emit import emit_delta, emit_done, emit_stp, emit_trade
from engine.kernels.idmap import bucket_of
from engine.kernels.jit import inline, kernel, prefetch_at, prefetch_row
from engine.kernels.perp import reducible, settle_perp_fill
from engine.kernels.risk import release_lock, settle_fill
from engine.kernels.row import (
    flags_of,
    maker_bps_of,
    set_status,
    side_of,
    stp_of,
    taker_bps_of,
)
from engine.layout import (
    LV_HEAD,
    LV_PRICE,
    LV_QTY,
    M_BOOK_SEQ,
    M_LAST_PRICE,
    M_NLEVELS,
    M_PERP,
    M_REF_PRICE,
    M_TRADE_SEQ,
    NIL,
    O_ACCOUNT,
    O_FILLED,
    O_ID,
    O_MARKET,
    O_NEXT,
    O_PRICE,
    O_REMAINING,
    I64Array,
    Records,
)


@inline
def crosses(side: int, limit: int, price: int) -> bool:
    """Would a taker on `side` with `limit` trade at resting `price`?"""
    return price <= limit if side == BUY else price >= limit


@inline
def stp_code(mode: int) -> int:
    """Reason code reported when `mode` prevents a self-trade."""
    if mode == STP_EXPIRE_TAKER:
        return MATCH_STP_EXPIRE_TAKER
    if mode == STP_EXPIRE_MAKER:
        return MATCH_STP_EXPIRE_MAKER
    return MATCH_STP_EXPIRE_BOTH


@kernel
def fok_fillable(
    orders: I64Array, levels: I64Array, markets: I64Array, market: int, side: int,
    limit: int, qty: int, account: int, stp: int,
) -> bool:  # fmt: skip
    """Dry run of `match`: would `qty` fill completely (STP included)?"""
    opp = 1 - side
    lv = levels[market, opp]
    need = qty
    for i in range(markets[market, M_NLEVELS + opp] - 1, -1, -1):
        if not crosses(side, limit, lv[i, LV_PRICE]):
            return False
        slot = lv[i, LV_HEAD]
        while slot != NIL:
            if stp != STP_NONE and orders[slot, O_ACCOUNT] == account:
                if stp != STP_EXPIRE_MAKER:
                    return False
            else:
                need -= orders[slot, O_REMAINING]
                if need <= 0:
                    return True
            slot = orders[slot, O_NEXT]
    return False


@inline
def fill(
    ev: Records, sc: I64Array, orders: I64Array, markets: I64Array, bal: I64Array,
    assets: I64Array, touched: I64Array, pos: I64Array, perp: I64Array, seq: int,
    tk: I64Array, mk: I64Array, price: int, cap: int,
) -> int:  # fmt: skip
    """Trade taker row `tk` against maker row `mk` at `price` (at most `cap` lots); return
    lots traded. Perpetual markets settle into positions (engine.kernels.perp)."""
    m = tk[O_MARKET]
    q = min(tk[O_REMAINING], mk[O_REMAINING], cap)
    tk[O_REMAINING] -= q
    tk[O_FILLED] += q
    mk[O_REMAINING] -= q
    mk[O_FILLED] += q
    mkt = markets[m]
    tk_buys = side_of(tk) == BUY
    buyer, seller = (tk, mk) if tk_buys else (mk, tk)
    buyer_bps = taker_bps_of(tk) if tk_buys else maker_bps_of(mk)
    seller_bps = maker_bps_of(mk) if tk_buys else taker_bps_of(tk)
    if mkt[M_PERP]:
        buyer_fee, seller_fee = settle_perp_fill(
            ev, sc, bal, touched, assets, pos, perp, mkt, seq, buyer, seller, price, q,
            buyer_bps, seller_bps,
        )  # fmt: skip
    else:
        buyer_fee, seller_fee = settle_fill(
            bal, touched, sc, assets, mkt, buyer, seller, price, q, buyer_bps, seller_bps
        )
    taker_fee, maker_fee = (buyer_fee, seller_fee) if tk_buys else (seller_fee, buyer_fee)
    mkt[M_TRADE_SEQ] += 1
    mkt[M_LAST_PRICE] = price
    mkt[M_REF_PRICE] = price
    emit_trade(ev, sc, seq, mkt[M_TRADE_SEQ], tk, mk, price, q, maker_fee, taker_fee)
    return int(q)


@inline
def reduce_only_cap(pos: I64Array, tk: I64Array, mk: I64Array) -> tuple[int, int]:
    """(lots the taker may trade, lots the maker may trade) under reduce-only flags."""
    m = tk[O_MARKET]
    cap_tk, cap_mk = tk[O_REMAINING], mk[O_REMAINING]
    if flags_of(tk) & FLAG_REDUCE_ONLY:
        cap_tk = min(cap_tk, reducible(pos, tk[O_ACCOUNT], m, side_of(tk)))
    if flags_of(mk) & FLAG_REDUCE_ONLY:
        cap_mk = min(cap_mk, reducible(pos, mk[O_ACCOUNT], m, side_of(mk)))
    return int(cap_tk), int(cap_mk)


@inline
def match(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, assets: I64Array, idmap: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, seq: int, tk: I64Array,
) -> int:  # fmt: skip
    """Walk the opposite side until the taker fills, stops crossing, or STP stops it.

    On a perpetual, reduce-only orders trade only what still reduces their position: a
    maker that can no longer reduce expires, a taker stops with MATCH_REDUCE_ONLY_CUT.

    Returns the buffer and OK, or the STP reason that expired the taker. One BOOK_DELTA is
    emitted per level the taker changed, when it leaves that level.
    """
    m, side = tk[O_MARKET], side_of(tk)
    opp = 1 - side
    lv = levels[m, opp]
    mode = stp_of(tk)
    stopped = OK
    is_perp = markets[m, M_PERP] != 0
    while tk[O_REMAINING] > 0 and stopped == OK:
        n = markets[m, M_NLEVELS + opp]
        if n == 0 or not crosses(side, tk[O_PRICE], lv[n - 1, LV_PRICE]):
            break
        i = n - 1
        price = lv[i, LV_PRICE]
        changed = False
        while tk[O_REMAINING] > 0:
            slot = lv[i, LV_HEAD]
            mk = orders[slot]
            # hints: the map bucket that freeing this maker will clear, and the next maker
            prefetch_at(idmap, bucket_of(mk[O_ID], idmap.shape[0] - 1))
            if mk[O_NEXT] != NIL:
                prefetch_row(orders, mk[O_NEXT])
            if mode != STP_NONE and mk[O_ACCOUNT] == tk[O_ACCOUNT]:
                code = stp_code(mode)
                prevented = min(tk[O_REMAINING], mk[O_REMAINING])
                emit_stp(ev, sc, seq, tk, mk, price, prevented, code)
                if mode != STP_EXPIRE_TAKER:
                    unlink_at(orders, levels, markets, m, opp, i, slot, mk[O_REMAINING])
                    changed = True
                    release_lock(bal, touched, sc, markets[m], mk)
                    set_status(mk, EXPIRED_IN_MATCH)
                    emit_done(ev, sc, seq, mk, EXPIRED_IN_MATCH, code)
                    free_slot(orders, markets, sc, idmap, slot)
                if mode != STP_EXPIRE_MAKER:
                    stopped = code
            else:
                cap = tk[O_REMAINING]
                if is_perp:
                    cap, cap_mk = reduce_only_cap(pos, tk, mk)
                    if cap_mk == 0:  # a reduce-only maker with nothing left to reduce
                        unlink_at(orders, levels, markets, m, opp, i, slot, mk[O_REMAINING])
                        changed = True
                        release_lock(bal, touched, sc, markets[m], mk)
                        set_status(mk, EXPIRED_IN_MATCH)
                        emit_done(ev, sc, seq, mk, EXPIRED_IN_MATCH, MATCH_REDUCE_ONLY_CUT)
                        free_slot(orders, markets, sc, idmap, slot)
                        if markets[m, M_NLEVELS + opp] < n:
                            break
                        continue
                    if cap == 0:
                        stopped = MATCH_REDUCE_ONLY_CUT
                        break
                    cap = min(cap, cap_mk)
                q = fill(
                    ev, sc, orders, markets, bal, assets, touched, pos, perp, seq, tk, mk,
                    price, cap,
                )  # fmt: skip
                changed = True
                if mk[O_REMAINING] == 0:
                    unlink_at(orders, levels, markets, m, opp, i, slot, q)
                    set_status(mk, FILLED)
                    emit_done(ev, sc, seq, mk, FILLED, OK)
                    free_slot(orders, markets, sc, idmap, slot)
                else:
                    lv[i, LV_QTY] -= q
                    set_status(mk, PARTIALLY_FILLED)
            if stopped != OK or markets[m, M_NLEVELS + opp] < n:
                break
        if changed:
            gone = markets[m, M_NLEVELS + opp] < n
            markets[m, M_BOOK_SEQ] += 1
            left = 0 if gone else lv[i, LV_QTY]
            emit_delta(ev, sc, seq, markets[m, M_BOOK_SEQ], m, opp, price, left)
    return stopped
