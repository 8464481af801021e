"""Validation and pre-trade risk of PLACE_ORDER, in the documented order of checks.

Each function returns OK or the first failing reason code; none of them mutates state, so a
rejected command changes nothing. The order of checks is part of the contract
(engine/reference.py follows it line by line). Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    ACCOUNT_MODE_CANCEL_ONLY,
    ACCOUNT_MODE_REDUCE_ONLY,
    ALL_FLAGS,
    BUY,
    FLAG_POST_ONLY,
    FLAG_REDUCE_ONLY,
    FOK,
    GTC,
    LIMIT,
    LIQ_ORDER_ID_BASE,
    MARKET,
    MARKET_CANCEL_ONLY,
    MARKET_HALTED,
    MARKET_REDUCE_ONLY,
    MATCH_BOOK_FULL,
    MATCH_NO_LIQUIDITY,
    MATCH_POST_ONLY_WOULD_TAKE,
    MATCH_PRICE_LEVELS_FULL,
    OK,
    PERP_FLAGS,
    RISK_ACCOUNT_CANCEL_ONLY,
    RISK_ACCOUNT_REDUCE_ONLY,
    RISK_INSUFFICIENT_FUNDS,
    RISK_INSUFFICIENT_MARGIN,
    RISK_MARKET_CANCEL_ONLY,
    RISK_MARKET_HALTED,
    RISK_MARKET_REDUCE_ONLY,
    RISK_PRICE_OUTSIDE_BAND,
    RISK_REDUCE_ONLY,
    SELL,
    STOP_LIMIT,
    STOP_MARKET,
    STP_EXPIRE_BOTH,
    VALIDATION_DUPLICATE_ORDER_ID,
    VALIDATION_INVALID_FLAGS,
    VALIDATION_INVALID_ORDER_ID,
    VALIDATION_INVALID_ORDER_TYPE,
    VALIDATION_INVALID_PRICE,
    VALIDATION_INVALID_QUANTITY,
    VALIDATION_INVALID_SIDE,
    VALIDATION_INVALID_STOP_PRICE,
    VALIDATION_INVALID_STP_MODE,
    VALIDATION_INVALID_TIME_IN_FORCE,
    VALIDATION_NOTIONAL_TOO_SMALL,
    VALIDATION_PRICE_OFF_TICK,
    VALIDATION_QUANTITY_OFF_LOT,
    VALIDATION_STOP_WOULD_TRIGGER,
    VALIDATION_UNKNOWN_ACCOUNT,
    VALIDATION_UNKNOWN_MARKET,
    VALIDATION_VALUE_TOO_LARGE,
)
from engine.kernels.book import best_price, has_room
from engine.kernels.idmap import idmap_find
from engine.kernels.jit import inline
from engine.kernels.match import crosses
from engine.kernels.perp import leverage_of, reducible
from engine.kernels.risk import lock_required, perp_lock
from engine.layout import (
    A_MAKER_BPS,
    A_MODE,
    A_TAKER_BPS,
    B_AVAILABLE,
    M_ACTIVE,
    M_BAND_BPS,
    M_BASE,
    M_BASE_PER_LOT,
    M_COLLAR_BPS,
    M_LAST_PRICE,
    M_LOT_STEP,
    M_MIN_NOTIONAL,
    M_PERP,
    M_QUOTE,
    M_QUOTE_PER_TICK_LOT,
    M_REF_PRICE,
    M_STATUS,
    M_TICK_STEP,
    MAX_NOTIONAL_MINOR,
    MAX_PRICE_TICKS,
    MAX_QTY_LOTS,
    NIL,
    S_LIVE_ORDERS,
    I64Array,
    Record,
)

SMALL_QTY, SMALL_PRICE, SMALL_UNIT = 1 << 20, 1 << 30, 1 << 10  # products stay below 2**60


@inline
def check_market(markets: I64Array, market: int) -> int:
    """The market exists."""
    if market < 0 or market >= markets.shape[0] or markets[market, M_ACTIVE] == 0:
        return VALIDATION_UNKNOWN_MARKET
    return OK


@inline
def check_trading(mkt: I64Array) -> int:
    """The market accepts new risk (TRADING)."""
    if mkt[M_STATUS] == MARKET_HALTED:
        return RISK_MARKET_HALTED
    if mkt[M_STATUS] == MARKET_CANCEL_ONLY:
        return RISK_MARKET_CANCEL_ONLY
    return OK


@inline
def restriction(mkt: I64Array, accounts: I64Array, account: int) -> int:
    """Why the account may only reduce in this market (the market's REDUCE_ONLY status
    first, then the account's REDUCE_ONLY mode), or OK when it trades freely."""
    if mkt[M_STATUS] == MARKET_REDUCE_ONLY:
        return RISK_MARKET_REDUCE_ONLY
    if accounts[account, A_MODE] == ACCOUNT_MODE_REDUCE_ONLY:
        return RISK_ACCOUNT_REDUCE_ONLY
    return OK


@inline
def check_mode(mkt: I64Array, accounts: I64Array, account: int, side: int) -> int:
    """The account's mode lets it place here: not CANCEL_ONLY, and no spot BUY while it or
    the market may only reduce (a perpetual order is made reduce-only instead)."""
    if accounts[account, A_MODE] == ACCOUNT_MODE_CANCEL_ONLY:
        return RISK_ACCOUNT_CANCEL_ONLY
    if mkt[M_PERP] == 0 and side == BUY:
        return restriction(mkt, accounts, account)
    return OK


@inline
def check_amend_mode(
    mkt: I64Array, accounts: I64Array, account: int, qty: int, remaining: int
) -> int:
    """The account's mode lets it amend: not CANCEL_ONLY, and no growing an order while it
    or the market may only reduce."""
    if accounts[account, A_MODE] == ACCOUNT_MODE_CANCEL_ONLY:
        return RISK_ACCOUNT_CANCEL_ONLY
    if qty > remaining:
        return restriction(mkt, accounts, account)
    return OK


@inline
def check_qty(mkt: I64Array, qty: int) -> int:
    """Positive, bounded, on the lot step."""
    if qty <= 0:
        return VALIDATION_INVALID_QUANTITY
    if qty > MAX_QTY_LOTS:
        return VALIDATION_VALUE_TOO_LARGE
    step = mkt[M_LOT_STEP]
    if step != 1 and qty % step != 0:  # step 1 (the usual case): no division
        return VALIDATION_QUANTITY_OFF_LOT
    return OK


@inline
def check_price(mkt: I64Array, price: int, bad_code: int) -> int:
    """Positive, bounded, on the tick step."""
    if price <= 0:
        return bad_code
    if price > MAX_PRICE_TICKS:
        return VALIDATION_VALUE_TOO_LARGE
    step = mkt[M_TICK_STEP]
    if step != 1 and price % step != 0:  # step 1 (the usual case): no division
        return VALIDATION_PRICE_OFF_TICK
    return OK


@inline
def check_band(mkt: I64Array, price: int) -> int:
    """Inside [ref - ref*band, ref + ref*band] when a band and a reference price are set."""
    band, ref = mkt[M_BAND_BPS], mkt[M_REF_PRICE]
    if band > 0 and ref > 0:
        width = ref * band // 10_000
        if price < ref - width or price > ref + width:
            return RISK_PRICE_OUTSIDE_BAND
    return OK


@inline
def check_size(mkt: I64Array, qty: int, price: int) -> int:
    """Notional and base amount stay below MAX_NOTIONAL_MINOR (no int64 overflow)."""
    qpt, bpl = mkt[M_QUOTE_PER_TICK_LOT], mkt[M_BASE_PER_LOT]
    if qty < SMALL_QTY and price < SMALL_PRICE and qpt < SMALL_UNIT and bpl < SMALL_PRICE:
        return OK  # every product < 2**60: no division needed (the usual case)
    if price > MAX_NOTIONAL_MINOR // qpt or qty > MAX_NOTIONAL_MINOR // (price * qpt):
        return VALIDATION_VALUE_TOO_LARGE
    if qty > MAX_NOTIONAL_MINOR // bpl:
        return VALIDATION_VALUE_TOO_LARGE
    return OK


@inline
def collar_price(mkt: I64Array, side: int, basis: int) -> int:
    """Worst price a market order may reach from `basis` (never below one tick)."""
    width = basis * mkt[M_COLLAR_BPS] // 10_000
    return int(basis + width if side == BUY else max(1, basis - width))


@inline
def check_shape(
    cmd: Record, n_accounts: int, idmap: I64Array, orders: I64Array, allowed_flags: int
) -> int:
    """Account, order id, side, type, time in force, STP mode and flags are well formed."""
    if cmd.account < 0 or cmd.account >= n_accounts:
        return VALIDATION_UNKNOWN_ACCOUNT
    if cmd.order_id <= 0 or cmd.order_id >= LIQ_ORDER_ID_BASE:
        return VALIDATION_INVALID_ORDER_ID
    if idmap_find(idmap, orders, cmd.order_id) != NIL:
        return VALIDATION_DUPLICATE_ORDER_ID
    if cmd.side != BUY and cmd.side != SELL:
        return VALIDATION_INVALID_SIDE
    if cmd.order_type < LIMIT or cmd.order_type > STOP_LIMIT:
        return VALIDATION_INVALID_ORDER_TYPE
    if cmd.tif < GTC or cmd.tif > FOK:
        return VALIDATION_INVALID_TIME_IN_FORCE
    if (cmd.order_type == MARKET or cmd.order_type == STOP_MARKET) and cmd.tif == GTC:
        return VALIDATION_INVALID_TIME_IN_FORCE
    if cmd.stp < 0 or cmd.stp > STP_EXPIRE_BOTH:
        return VALIDATION_INVALID_STP_MODE
    if cmd.flags & ~allowed_flags != 0:
        return VALIDATION_INVALID_FLAGS
    if cmd.flags & FLAG_POST_ONLY and (cmd.order_type != LIMIT or cmd.tif != GTC):
        return VALIDATION_INVALID_FLAGS
    return OK


@inline
def check_prices(cmd: Record, mkt: I64Array) -> int:
    """Quantity, limit price and stop price are valid for the market."""
    code = check_qty(mkt, cmd.qty)
    if code != OK:
        return code
    kind = cmd.order_type
    if kind in (LIMIT, STOP_LIMIT):
        code = check_price(mkt, cmd.price, VALIDATION_INVALID_PRICE)
        if code != OK:
            return code
    if kind in (STOP_MARKET, STOP_LIMIT):
        code = check_price(mkt, cmd.stop_price, VALIDATION_INVALID_STOP_PRICE)
        if code != OK:
            return code
        last = mkt[M_LAST_PRICE]
        if last > 0 and (
            (cmd.side == BUY and cmd.stop_price <= last)
            or (cmd.side == SELL and cmd.stop_price >= last)
        ):
            return VALIDATION_STOP_WOULD_TRIGGER
    return OK


@inline
def place_prices(
    cmd: Record, levels: I64Array, markets: I64Array, mkt: I64Array
) -> tuple[int, int, int]:
    """(code, execution limit, basis price for min notional) of a new order."""
    kind, m = cmd.order_type, cmd.market
    if kind in (LIMIT, STOP_LIMIT):
        return OK, cmd.price, cmd.price
    if kind == STOP_MARKET:
        return OK, collar_price(mkt, cmd.side, cmd.stop_price), cmd.stop_price
    basis = best_price(levels, markets, m, 1 - cmd.side)
    if basis == 0:
        return MATCH_NO_LIQUIDITY, 0, 0
    return OK, collar_price(mkt, cmd.side, basis), basis


@inline
def check_place(
    cmd: Record, orders: I64Array, levels: I64Array, markets: I64Array, bal: I64Array,
    accounts: I64Array, sc: I64Array, idmap: I64Array, pos: I64Array, perp: I64Array,
) -> tuple[int, int]:  # fmt: skip
    """Every check of PLACE_ORDER; returns (code, execution limit price)."""
    m = cmd.market
    code = check_market(markets, m)
    if code == OK:
        flags = PERP_FLAGS if markets[m, M_PERP] else ALL_FLAGS
        code = check_shape(cmd, bal.shape[0], idmap, orders, flags)
    if code != OK:
        return code, 0
    mkt = markets[m]
    code = check_prices(cmd, mkt)
    if code == OK:
        code = check_trading(mkt)
    if code == OK:
        code = check_mode(mkt, accounts, cmd.account, cmd.side)
    if code == OK and (cmd.order_type == LIMIT or cmd.order_type == STOP_LIMIT):
        code = check_band(mkt, cmd.price)
    if code != OK:
        return code, 0
    code, limit, basis = place_prices(cmd, levels, markets, mkt)
    if code == OK:
        code = check_size(mkt, cmd.qty, max(limit, basis))
    if code == OK and cmd.qty * basis * mkt[M_QUOTE_PER_TICK_LOT] < mkt[M_MIN_NOTIONAL]:
        code = VALIDATION_NOTIONAL_TOO_SMALL
    if code == OK:
        code = check_capacity(cmd, orders, levels, markets, sc)
    if code == OK and cmd.flags & FLAG_POST_ONLY:
        best = best_price(levels, markets, m, 1 - cmd.side)
        if best != 0 and crosses(cmd.side, cmd.price, best):
            code = MATCH_POST_ONLY_WOULD_TAKE
    if code == OK and mkt[M_PERP]:
        flags = place_flags(cmd, mkt, accounts)
        return check_perp_funds(cmd, mkt, bal, accounts, pos, perp, limit, flags), limit
    if code == OK:
        lock_bps = max(accounts[cmd.account, A_MAKER_BPS], accounts[cmd.account, A_TAKER_BPS])
        need = lock_required(mkt, cmd.side, cmd.qty, limit, lock_bps)
        asset = mkt[M_QUOTE] if cmd.side == BUY else mkt[M_BASE]
        if bal[cmd.account, asset, B_AVAILABLE] < need:
            code = RISK_INSUFFICIENT_FUNDS
    return code, limit


@inline
def place_flags(cmd: Record, mkt: I64Array, accounts: I64Array) -> int:
    """The flags a new order rests and fills with: a perpetual order of an account or in a
    market that may only reduce is reduce-only whatever it asked."""
    if mkt[M_PERP] and restriction(mkt, accounts, cmd.account) != OK:
        return int(cmd.flags | FLAG_REDUCE_ONLY)
    return int(cmd.flags)


@inline
def check_perp_funds(
    cmd: Record, mkt: I64Array, bal: I64Array, accounts: I64Array, pos: I64Array,
    perp: I64Array, limit: int, flags: int,
) -> int:  # fmt: skip
    """Perp order: reduce-only must shrink the position (a forced reduce-only says why it
    was forced); margin + fee must be available."""
    a, m = cmd.account, cmd.market
    if flags & FLAG_REDUCE_ONLY and cmd.qty > reducible(pos, a, m, cmd.side):
        forced = restriction(mkt, accounts, a)
        return forced if forced != OK else RISK_REDUCE_ONLY
    lock_bps = max(accounts[a, A_MAKER_BPS], accounts[a, A_TAKER_BPS])
    lev = leverage_of(pos, perp, a, m)
    need = perp_lock(cmd.qty, limit, mkt[M_QUOTE_PER_TICK_LOT], lev, lock_bps, flags)
    if bal[a, mkt[M_QUOTE], B_AVAILABLE] < need:
        return RISK_INSUFFICIENT_MARGIN
    return OK


@inline
def check_capacity(
    cmd: Record, orders: I64Array, levels: I64Array, markets: I64Array, sc: I64Array
) -> int:
    """Orders that may rest need a free slot, and GTC limits a level row for their price."""
    kind = cmd.order_type
    may_rest = (kind == LIMIT and cmd.tif == GTC) or kind in (STOP_MARKET, STOP_LIMIT)
    if may_rest and sc[S_LIVE_ORDERS] >= orders.shape[0] - 1:
        return MATCH_BOOK_FULL
    is_gtc_limit = kind == LIMIT and cmd.tif == GTC
    if is_gtc_limit and not has_room(levels, markets, cmd.market, cmd.side, cmd.price):
        return MATCH_PRICE_LEVELS_FULL
    return OK
