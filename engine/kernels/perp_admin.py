"""Perpetual commands: SET_MARGIN_BRACKET, SET_PERP_PARAMS, SET_LEVERAGE, SET_INDEX_PRICE,
APPLY_FUNDING, ADJUST_MARGIN, CLOSE_POSITION, BUST_POSITION (engine/kernels/perp_bust.py).
Validation first (a refused command changes
nothing), then the change, then (index and funding) the liquidation sweep of the market.
Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    ADJUST_MARGIN,
    APPLY_FUNDING,
    BUST_POSITION,
    CLOSE_POSITION,
    EV_FUNDING,
    EV_MARK_PRICE,
    FUNDING_SETTLED,
    LIQ_WOUND_DOWN,
    MARGIN_CROSS,
    MARGIN_ISOLATED,
    MAX_BRACKETS,
    MAX_LEVERAGE,
    OK,
    RISK_FUNDING_NOT_DUE,
    RISK_INSUFFICIENT_MARGIN,
    RISK_NO_ISOLATED_POSITION,
    RISK_NO_MARK,
    RISK_NO_POSITION,
    RISK_POSITION_OPEN,
    SET_INDEX_PRICE,
    SET_LEVERAGE,
    SET_MARGIN_BRACKET,
    SET_PERP_PARAMS,
    VALIDATION_INVALID_AMOUNT,
    VALIDATION_INVALID_BRACKET,
    VALIDATION_INVALID_LEVERAGE,
    VALIDATION_INVALID_PRICE,
    VALIDATION_NOT_PERPETUAL,
    VALIDATION_SAME_ACCOUNT,
    VALIDATION_UNKNOWN_ACCOUNT,
)
from engine.kernels.book import best_price
from engine.kernels.checks import check_market
from engine.kernels.emit import emit, emit_verdict
from engine.kernels.jit import kernel
from engine.kernels.liquidation import emit_liq, sweep_market
from engine.kernels.perp import (
    PPM,
    apply_to_position,
    bracket_col,
    bracket_of,
    cover_deficit,
    cover_isolated_loss,
    leverage_of,
    mul_div,
    touch_position,
)
from engine.kernels.perp_bust import apply_bust, check_bust
from engine.kernels.risk import ceil_div, move
from engine.layout import (
    B_AVAILABLE,
    BR_FLOOR,
    BR_MAINT,
    BR_MAX_LEVERAGE,
    BR_MMR_PPM,
    LV_HEAD,
    M_NLEVELS,
    M_PERP,
    M_QUOTE,
    M_QUOTE_PER_TICK_LOT,
    M_STOP_HEAD,
    MAX_NOTIONAL_MINOR,
    MAX_PRICE_TICKS,
    NIL,
    O_ACCOUNT,
    O_NEXT,
    P_COST,
    P_LEVERAGE,
    P_MARGIN,
    P_MODE,
    P_QTY,
    P_REALIZED,
    PM_BASIS_CAP,
    PM_FUNDING_CAP,
    PM_INDEX,
    PM_INSURANCE,
    PM_INTERVAL,
    PM_MARK,
    PM_MARK_SEQ,
    PM_NBRACKETS,
    PM_NEXT_FUNDING,
    I64Array,
    Record,
    Records,
)


@kernel
def check_bracket(cmd: Record, pm: I64Array) -> int:
    """Brackets are set in order: index <= count, floors strictly increasing (index 0 floor
    0), rate in (0, 1e6], maintenance amount >= 0, max leverage in 1..MAX_LEVERAGE."""
    k, n = cmd.status, pm[PM_NBRACKETS]
    if k < 0 or k >= MAX_BRACKETS or k > n:
        return VALIDATION_INVALID_BRACKET
    floor = cmd.amount
    if (k == 0 and floor != 0) or floor < 0 or floor > MAX_NOTIONAL_MINOR:
        return VALIDATION_INVALID_BRACKET
    if k > 0 and floor <= pm[bracket_col(k - 1, BR_FLOOR)]:
        return VALIDATION_INVALID_BRACKET
    if k + 1 < n and floor >= pm[bracket_col(k + 1, BR_FLOOR)]:
        return VALIDATION_INVALID_BRACKET
    if not (0 < cmd.qty <= PPM and 0 <= cmd.price <= MAX_NOTIONAL_MINOR):
        return VALIDATION_INVALID_BRACKET
    if not 1 <= cmd.bps1 <= MAX_LEVERAGE:
        return VALIDATION_INVALID_LEVERAGE
    return OK


@kernel
def has_orders(orders: I64Array, levels: I64Array, markets: I64Array, a: int, m: int) -> bool:
    """Does the account have a live order (resting or stop) in the market?"""
    for side in range(2):
        for i in range(markets[m, M_NLEVELS + side]):
            slot = levels[m, side, i, LV_HEAD]
            while slot != NIL:
                if orders[slot, O_ACCOUNT] == a:
                    return True
                slot = orders[slot, O_NEXT]
    slot = markets[m, M_STOP_HEAD]
    while slot != NIL:
        if orders[slot, O_ACCOUNT] == a:
            return True
        slot = orders[slot, O_NEXT]
    return False


@kernel
def check_leverage(
    cmd: Record, orders: I64Array, levels: I64Array, markets: I64Array, pos: I64Array,
    perp: I64Array,
) -> int:  # fmt: skip
    """Leverage within the bracket of the current position; mode changes need no position
    and no open order."""
    a, m = cmd.account, cmd.market
    if cmd.status != MARGIN_CROSS and cmd.status != MARGIN_ISOLATED:
        return VALIDATION_INVALID_LEVERAGE
    pm = perp[m]
    q = pos[a, m, P_QTY]
    notional = (q if q > 0 else -q) * max(pm[PM_MARK], 1) * markets[m, M_QUOTE_PER_TICK_LOT]
    cap = MAX_LEVERAGE
    if pm[PM_NBRACKETS] > 0:
        cap = pm[bracket_col(bracket_of(pm, notional), BR_MAX_LEVERAGE)]
    if cmd.bps1 < 1 or cmd.bps1 > cap:
        return VALIDATION_INVALID_LEVERAGE
    if cmd.status != pos[a, m, P_MODE] and (q != 0 or has_orders(orders, levels, markets, a, m)):
        return RISK_POSITION_OPEN
    return OK


@kernel
def check_adjust(cmd: Record, markets: I64Array, bal: I64Array, pos: I64Array,
                 perp: I64Array) -> int:  # fmt: skip
    """An isolated open position; additions need available funds, removals keep at least
    the initial margin ceil(|cost| / leverage)."""
    a, m = cmd.account, cmd.market
    p = pos[a, m]
    if cmd.amount == 0 or cmd.amount > MAX_NOTIONAL_MINOR or cmd.amount < -MAX_NOTIONAL_MINOR:
        return VALIDATION_INVALID_AMOUNT
    if p[P_QTY] == 0 or p[P_MODE] != MARGIN_ISOLATED:
        return RISK_NO_ISOLATED_POSITION
    if cmd.amount > 0:
        if bal[a, markets[m, M_QUOTE], B_AVAILABLE] < cmd.amount:
            return RISK_INSUFFICIENT_MARGIN
        return OK
    cost = p[P_COST] if p[P_COST] > 0 else -p[P_COST]
    if p[P_MARGIN] + cmd.amount < ceil_div(cost, leverage_of(pos, perp, a, m)):
        return RISK_INSUFFICIENT_MARGIN
    return OK


@kernel
def check_perp(
    cmd: Record, orders: I64Array, levels: I64Array, markets: I64Array, bal: I64Array,
    pos: I64Array, perp: I64Array,
) -> int:  # fmt: skip
    """Validation and risk of every perpetual command (the market first)."""
    code = check_market(markets, cmd.market)
    if code != OK:
        return code
    if markets[cmd.market, M_PERP] == 0:
        return VALIDATION_NOT_PERPETUAL
    kind, pm = cmd.kind, perp[cmd.market]
    if kind == SET_MARGIN_BRACKET:
        return check_bracket(cmd, pm)
    if kind in (SET_INDEX_PRICE, SET_PERP_PARAMS):
        low = 1 if kind == SET_INDEX_PRICE else 0
        if cmd.price < low or cmd.price > MAX_PRICE_TICKS:
            return VALIDATION_INVALID_PRICE
    if kind == SET_PERP_PARAMS:
        if cmd.account < 0 or cmd.account >= bal.shape[0]:
            return VALIDATION_UNKNOWN_ACCOUNT
        if cmd.amount <= 0 or not (0 <= cmd.bps1 <= 10_000 and 0 <= cmd.bps2 <= 10_000):
            return VALIDATION_INVALID_AMOUNT
        return OK
    if kind == APPLY_FUNDING:
        if pm[PM_INTERVAL] == 0 or pm[PM_MARK] == 0 or cmd.ts_ns < pm[PM_NEXT_FUNDING]:
            return RISK_FUNDING_NOT_DUE
        return OK
    if kind == SET_INDEX_PRICE:
        return OK
    if kind == BUST_POSITION:
        return check_bust(cmd, markets, bal, pos)
    if cmd.account < 0 or cmd.account >= bal.shape[0]:
        return VALIDATION_UNKNOWN_ACCOUNT
    if kind == SET_LEVERAGE:
        return check_leverage(cmd, orders, levels, markets, pos, perp)
    if kind == CLOSE_POSITION:
        return check_close(cmd, markets, bal, pos, perp)
    return check_adjust(cmd, markets, bal, pos, perp)


@kernel
def takeover_margin(markets: I64Array, pos: I64Array, perp: I64Array, a: int, m: int) -> int:
    """Initial margin the insurance fund needs to take over (a, m) at the mark: only the
    part that opens or grows the fund's own position needs any."""
    fund, q = perp[m, PM_INSURANCE], pos[a, m, P_QTY]
    qf = pos[fund, m, P_QTY]
    size = q if q > 0 else -q
    closes = 0
    if qf != 0 and (qf > 0) != (q > 0):
        closes = min(size, qf if qf > 0 else -qf)
    opened = size - closes
    notional = opened * perp[m, PM_MARK] * markets[m, M_QUOTE_PER_TICK_LOT]
    return int(ceil_div(notional, leverage_of(pos, perp, fund, m)))


@kernel
def check_close(cmd: Record, markets: I64Array, bal: I64Array, pos: I64Array,
                perp: I64Array) -> int:  # fmt: skip
    """An open position, a mark, a fund other than the account that can margin it."""
    a, m = cmd.account, cmd.market
    if pos[a, m, P_QTY] == 0:
        return RISK_NO_POSITION
    if perp[m, PM_MARK] == 0 or perp[m, PM_INTERVAL] == 0:
        return RISK_NO_MARK
    fund = perp[m, PM_INSURANCE]
    if fund == a:
        return VALIDATION_SAME_ACCOUNT
    if bal[fund, markets[m, M_QUOTE], B_AVAILABLE] < takeover_margin(markets, pos, perp, a, m):
        return RISK_INSUFFICIENT_MARGIN
    return OK


@kernel
def close_at_mark(
    ev: Records, sc: I64Array, markets: I64Array, bal: I64Array, assets: I64Array,
    touched: I64Array, pos: I64Array, perp: I64Array, seq: int, a: int, m: int,
) -> None:  # fmt: skip
    """CLOSE_POSITION: the account's position closes at the mark and the market's insurance
    fund takes it over at the same price, as an ADL step would at the bankruptcy price; a
    loss the account cannot pay is paid from its margin, then by the fund."""
    quote, qptl, mark = markets[m, M_QUOTE], markets[m, M_QUOTE_PER_TICK_LOT], perp[m, PM_MARK]
    fund, q = perp[m, PM_INSURANCE], pos[a, m, P_QTY]
    size = q if q > 0 else -q
    lev_a, lev_f = leverage_of(pos, perp, a, m), leverage_of(pos, perp, fund, m)
    realized, released = apply_to_position(bal, touched, sc, assets, pos, a, m, quote, -q,
                                           mark, qptl, lev_a, mark)  # fmt: skip
    apply_to_position(bal, touched, sc, assets, pos, fund, m, quote, q, mark, qptl, lev_f, mark)
    touch_position(pos, touched, sc, a, m, LIQ_WOUND_DOWN)
    touch_position(pos, touched, sc, fund, m, LIQ_WOUND_DOWN)
    cover_isolated_loss(ev, sc, bal, touched, assets, pos, perp, seq, a, m, quote, qptl,
                        realized + released)  # fmt: skip
    cover_deficit(ev, sc, bal, touched, assets, pos, perp, seq, a, m, quote, qptl)
    emit_liq(ev, sc, bal, perp, markets, seq, a, m, LIQ_WOUND_DOWN, 0, size, mark, realized,
             fund)  # fmt: skip


@kernel
def funding_rate(pm: I64Array) -> int:
    """clamp((mark - index) * 1e6 // index, +-funding_cap_bps * 100), in ppm."""
    index = pm[PM_INDEX]
    if index <= 0:
        return 0
    cap = pm[PM_FUNDING_CAP] * 100
    return int(max(-cap, min(cap, (pm[PM_MARK] - index) * PPM // index)))


@kernel
def update_mark(
    ev: Records, sc: I64Array, levels: I64Array, markets: I64Array, perp: I64Array,
    seq: int, m: int,
) -> None:  # fmt: skip
    """mark = the clamp rule (clamp_mark); one MARK_PRICE."""
    pm = perp[m]
    index = pm[PM_INDEX]
    pm[PM_MARK] = clamp_mark(levels, markets, perp, m)
    pm[PM_MARK_SEQ] += 1
    emit(
        ev, sc, EV_MARK_PRICE, seq, pm[PM_MARK_SEQ], 0, 0, pm[PM_MARK], index,
        funding_rate(pm), pm[PM_NEXT_FUNDING], 0, 0, m, 0, OK, 0, 0,
    )  # fmt: skip


@kernel
def clamp_mark(levels: I64Array, markets: I64Array, perp: I64Array, m: int) -> int:
    """The clamp rule: index + clamp(mid - index, +-index * basis_cap_bps / 10_000), mid
    from the best bid and ask when both exist, else the index; at least one tick."""
    pm = perp[m]
    index = pm[PM_INDEX]
    mark = index
    bid, ask = best_price(levels, markets, m, 0), best_price(levels, markets, m, 1)
    if bid > 0 and ask > 0:
        width = index * pm[PM_BASIS_CAP] // 10_000
        mark = index + max(-width, min(width, (bid + ask) // 2 - index))
    return int(max(mark, 1))


@kernel
def mark_after_trade(
    ev: Records, sc: I64Array, levels: I64Array, markets: I64Array, perp: I64Array,
    seq: int, m: int,
) -> bool:  # fmt: skip
    """After a perp command traded: move the mark by the clamp rule (MARK_PRICE) when the
    book it left gives another one; False when the mark stays (or there is no index yet)."""
    if perp[m, PM_INDEX] <= 0 or clamp_mark(levels, markets, perp, m) == perp[m, PM_MARK]:
        return False
    update_mark(ev, sc, levels, markets, perp, seq, m)
    return True


@kernel
def settle_funding(
    ev: Records, sc: I64Array, markets: I64Array, bal: I64Array, touched: I64Array,
    assets: I64Array, pos: I64Array, perp: I64Array, seq: int, m: int,
) -> None:  # fmt: skip
    """Payers pay |qty| * mark * qptl * |rate| // 1e6; receivers share the sum pro rata by
    size (floors); the dust goes to the insurance fund."""
    pm = perp[m]
    rate = funding_rate(pm)
    quote, qptl, mark = markets[m, M_QUOTE], markets[m, M_QUOTE_PER_TICK_LOT], pm[PM_MARK]
    paying_sign = 1 if rate > 0 else -1
    mag = rate if rate > 0 else -rate
    collected, receiving = 0, 0
    for a in range(pos.shape[0]):
        q = pos[a, m, P_QTY]
        if q == 0:
            continue
        size = q if q > 0 else -q
        if rate != 0 and (q > 0) == (paying_sign > 0):
            pay = mul_div(size * mark * qptl, mag, PPM)
            move(bal, touched, sc, a, quote, -pay, 0)
            pos[a, m, P_REALIZED] -= pay
            collected += pay
            touch_position(pos, touched, sc, a, m, FUNDING_SETTLED)
            emit(ev, sc, EV_FUNDING, seq, 0, 0, 0, mark, q, -pay, rate, a, 0, m, 0, OK, 0, 0)
            cover_deficit(ev, sc, bal, touched, assets, pos, perp, seq, a, m, quote, qptl)
        elif rate != 0:
            receiving += size
    paid_out = 0
    for a in range(pos.shape[0]):
        q = pos[a, m, P_QTY]
        if q == 0 or rate == 0 or (q > 0) == (paying_sign > 0) or receiving == 0:
            continue
        size = q if q > 0 else -q
        share = mul_div(collected, size, receiving)
        move(bal, touched, sc, a, quote, share, 0)
        pos[a, m, P_REALIZED] += share
        paid_out += share
        touch_position(pos, touched, sc, a, m, FUNDING_SETTLED)
        emit(ev, sc, EV_FUNDING, seq, 0, 0, 0, mark, q, share, rate, a, 0, m, 0, OK, 0, 0)
    dust = collected - paid_out
    if dust > 0:
        move(bal, touched, sc, pm[PM_INSURANCE], quote, dust, 0)


@kernel
def apply_perp(
    ev: Records, sc: I64Array, cmd: Record, orders: I64Array, levels: I64Array,
    markets: I64Array, bal: I64Array, assets: I64Array, idmap: I64Array, touched: I64Array,
    pos: I64Array, perp: I64Array,
) -> None:  # fmt: skip
    """Apply one perpetual command; one ACCEPTED or REJECTED, then its effects."""
    code = check_perp(cmd, orders, levels, markets, bal, pos, perp)
    emit_verdict(ev, sc, cmd, code, 0)
    if code != OK:
        return
    kind, m, a, seq = cmd.kind, cmd.market, cmd.account, cmd.seq
    pm = perp[m]
    if kind == SET_MARGIN_BRACKET:
        k = cmd.status
        pm[bracket_col(k, BR_FLOOR)] = cmd.amount
        pm[bracket_col(k, BR_MMR_PPM)] = cmd.qty
        pm[bracket_col(k, BR_MAINT)] = cmd.price
        pm[bracket_col(k, BR_MAX_LEVERAGE)] = cmd.bps1
        pm[PM_NBRACKETS] = max(pm[PM_NBRACKETS], k + 1)
    elif kind == SET_PERP_PARAMS:
        pm[PM_INSURANCE] = a
        if pm[PM_INTERVAL] == 0:
            pm[PM_NEXT_FUNDING] = cmd.ts_ns + cmd.amount
        pm[PM_INTERVAL] = cmd.amount
        pm[PM_FUNDING_CAP] = cmd.bps1
        pm[PM_BASIS_CAP] = cmd.bps2
        if cmd.price > 0:
            pm[PM_INDEX] = cmd.price
            update_mark(ev, sc, levels, markets, perp, seq, m)
    elif kind == SET_LEVERAGE:
        pos[a, m, P_LEVERAGE] = cmd.bps1
        pos[a, m, P_MODE] = cmd.status
        touch_position(pos, touched, sc, a, m, OK)
    elif kind == ADJUST_MARGIN:
        move(bal, touched, sc, a, markets[m, M_QUOTE], -cmd.amount, cmd.amount)
        pos[a, m, P_MARGIN] += cmd.amount
        touch_position(pos, touched, sc, a, m, OK)
    elif kind == CLOSE_POSITION:
        close_at_mark(ev, sc, markets, bal, assets, touched, pos, perp, seq, a, m)
    elif kind == BUST_POSITION:
        apply_bust(sc, cmd, markets, bal, assets, touched, pos)
    else:
        if kind == SET_INDEX_PRICE:
            pm[PM_INDEX] = cmd.price
            update_mark(ev, sc, levels, markets, perp, seq, m)
        else:  # APPLY_FUNDING
            settle_funding(ev, sc, markets, bal, touched, assets, pos, perp, seq, m)
            pm[PM_NEXT_FUNDING] += pm[PM_INTERVAL]
        sweep_market(ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp,
                     seq, m)  # fmt: skip
