"""Perpetual positions: margin arithmetic, fill settlement into positions, POSITION_CHANGED.

Model and formulas: engine/codes.py (module docstring). Every perp money movement is in the
market's quote asset; position margin sits in the quote balance's locked part. The
spot path reaches this module only behind a branch on the market's M_PERP flag.
Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    BUY,
    DEFAULT_LEVERAGE,
    EV_BALANCE_CHANGED,
    EV_LIQUIDATION,
    EV_POSITION_CHANGED,
    LIQ_INSURANCE_PAID,
    LIQ_SOCIALIZED,
    MARGIN_ISOLATED,
    OK,
)
from engine.kernels.emit import emit
from engine.kernels.jit import inline, kernel
from engine.kernels.risk import ceil_div, fee_of, move, perp_lock
from engine.kernels.row import flags_of, lock_bps_of, row_leverage
from engine.layout import (
    AS_FEES,
    AS_OPEN_COST,
    B_AVAILABLE,
    B_LOCKED,
    BR_FLOOR,
    BR_MAINT,
    BR_MAX_LEVERAGE,
    BR_MMR_PPM,
    BR_NFIELDS,
    M_FEE_ACCOUNT,
    M_QUOTE,
    M_QUOTE_PER_TICK_LOT,
    O_ACCOUNT,
    O_LOCKED,
    O_MARKET,
    O_PRICE,
    O_REMAINING,
    P_CODE,
    P_COST,
    P_LEVERAGE,
    P_MARGIN,
    P_MODE,
    P_QTY,
    P_REALIZED,
    P_STAMP,
    PM_BRACKETS,
    PM_INSURANCE,
    PM_MARK,
    PM_NBRACKETS,
    S_COUNTER,
    S_NTOUCH,
    S_OPEN_POSITIONS,
    I64Array,
    Records,
)

PPM = 1_000_000


@inline
def mul_div(a: int, b: int, c: int) -> int:
    """floor(a * b / c) for a, b >= 0 and c > 0, without forming a * b when a >= c."""
    return (a // c) * b + (a % c) * b // c


@kernel
def mul_div_exact(a: int, b: int, c: int) -> int:
    """floor(a * b / c) for 0 <= a, b <= c <= 2**62, exactly, with no int64 overflow (shift
    and subtract over b's bits: every intermediate stays below 2**63). A rare path only."""
    q, r = 0, 0
    for bit in range(62, -1, -1):
        q, r = 2 * q, 2 * r
        if r >= c:
            q, r = q + 1, r - c
        if (b >> bit) & 1:
            r += a
            if r >= c:
                q, r = q + 1, r - c
    return int(q)


@inline
def bracket_col(k: int, field: int) -> int:
    """Column of `field` of bracket `k` in a perp row."""
    return PM_BRACKETS + k * BR_NFIELDS + field


@inline
def default_leverage(pm: I64Array) -> int:
    """min(DEFAULT_LEVERAGE, bracket 0's max leverage) (DEFAULT_LEVERAGE without brackets)."""
    if pm[PM_NBRACKETS] == 0:
        return DEFAULT_LEVERAGE
    return int(min(DEFAULT_LEVERAGE, pm[bracket_col(0, BR_MAX_LEVERAGE)]))


@inline
def leverage_of(pos: I64Array, perp: I64Array, account: int, market: int) -> int:
    """The account's leverage in the market (its setting, else the default)."""
    lev = pos[account, market, P_LEVERAGE]
    return int(lev) if lev > 0 else default_leverage(perp[market])


@inline
def bracket_of(pm: I64Array, notional: int) -> int:
    """Index of the bracket whose floor <= notional (brackets sorted by floor)."""
    k = 0
    for b in range(1, pm[PM_NBRACKETS]):
        if pm[bracket_col(b, BR_FLOOR)] <= notional:
            k = b
    return k


@inline
def maintenance(pm: I64Array, notional: int) -> int:
    """ceil(notional * mmr_ppm / 1e6) - maint_amount of the notional's bracket (0 if none)."""
    if pm[PM_NBRACKETS] == 0:
        return 0
    k = bracket_of(pm, notional)
    rate = pm[bracket_col(k, BR_MMR_PPM)]
    mm = mul_div(notional, rate, PPM) + (1 if (notional % PPM) * rate % PPM != 0 else 0)
    return int(mm - pm[bracket_col(k, BR_MAINT)])


@inline
def row_lock(row: I64Array, qptl: int) -> int:
    """What an order row's remaining quantity at its price locks on a perp."""
    bps = lock_bps_of(row)
    return perp_lock(row[O_REMAINING], row[O_PRICE], qptl, row_leverage(row), bps, flags_of(row))


@inline
def reducible(pos: I64Array, account: int, market: int, side: int) -> int:
    """Lots a reduce-only order on `side` may still trade (0 if it would not reduce)."""
    q = pos[account, market, P_QTY]
    if side == BUY:
        return int(-q) if q < 0 else 0
    return int(q) if q > 0 else 0


@inline
def touch_position(
    pos: I64Array, touched: I64Array, sc: I64Array, account: int, market: int, code: int
) -> None:
    """Remember that a position changed in this command (one POSITION_CHANGED at its end).
    A non-OK `code` (funding, liquidation) is what the event reports."""
    p = pos[account, market]
    if p[P_STAMP] != sc[S_COUNTER]:
        p[P_STAMP] = sc[S_COUNTER]
        p[P_CODE] = OK
        n = sc[S_NTOUCH]
        touched[n, 0] = account
        touched[n, 1] = -1 - market
        sc[S_NTOUCH] = n + 1
    if code != OK:
        p[P_CODE] = code


@inline
def emit_position(
    ev: Records, sc: I64Array, seq: int, pos: I64Array, perp: I64Array, account: int,
    market: int, leverage: int,
) -> None:  # fmt: skip
    """POSITION_CHANGED with the position's absolute values."""
    p = pos[account, market]
    emit(
        ev, sc, EV_POSITION_CHANGED, seq, 0, p[P_REALIZED], leverage, perp[market, PM_MARK],
        p[P_QTY], p[P_COST], p[P_MARGIN], account, 0, market, 0, p[P_CODE], 0, p[P_MODE],
    )  # fmt: skip


@inline
def set_qty(sc: I64Array, p: I64Array, qty: int) -> None:
    """Write a position's size, keeping the count of open positions."""
    if p[P_QTY] == 0 and qty != 0:
        sc[S_OPEN_POSITIONS] += 1
    elif p[P_QTY] != 0 and qty == 0:
        sc[S_OPEN_POSITIONS] -= 1
    p[P_QTY] = qty


@kernel
def cover_deficit(
    ev: Records, sc: I64Array, bal: I64Array, touched: I64Array, assets: I64Array,
    pos: I64Array, perp: I64Array, seq: int, account: int, market: int, quote: int,
    qptl: int,
) -> None:  # fmt: skip
    """A negative available balance is paid from the account's margin in this market, then
    by the insurance fund (LIQ_INSURANCE_PAID), then socialised (LIQ_SOCIALIZED)."""
    deficit = -bal[account, quote, B_AVAILABLE]
    if deficit > 0:
        pay_shortfall(ev, sc, bal, touched, assets, pos, perp, seq, account, market, quote,
                      qptl, deficit)  # fmt: skip


@inline
def pay_shortfall(
    ev: Records, sc: I64Array, bal: I64Array, touched: I64Array, assets: I64Array,
    pos: I64Array, perp: I64Array, seq: int, account: int, market: int, quote: int,
    qptl: int, amount: int,
) -> None:  # fmt: skip
    """Pay `amount` (> 0) into the account's available balance from its margin in this
    market, then from the insurance fund (LIQ_INSURANCE_PAID), then as a haircut on the
    unrealised profit of the market's winning positions (LIQ_SOCIALIZED); only what exceeds
    all of that stays owed."""
    p = pos[account, market]
    own = min(amount, p[P_MARGIN])
    if own > 0:
        p[P_MARGIN] -= own
        move(bal, touched, sc, account, quote, own, -own)
        amount -= own
    if amount > 0:
        amount -= fund_pays(ev, sc, bal, touched, pos, perp, seq, account, market, quote, amount)
    if amount > 0:
        socialize(ev, sc, bal, touched, assets, pos, perp, seq, account, market, quote, qptl,
                  amount)  # fmt: skip


@kernel
def socialize(
    ev: Records, sc: I64Array, bal: I64Array, touched: I64Array, assets: I64Array,
    pos: I64Array, perp: I64Array, seq: int, account: int, market: int, quote: int,
    qptl: int, amount: int,
) -> int:  # fmt: skip
    """Socialised loss: `amount` the account owes after its margin and the insurance fund is
    taken from the unrealised profit (upnl = qty * mark * qptl - cost > 0) of the market's
    other positions, pro rata (floors; the remainder one minor unit each, by account id),
    by raising their cost: their upnl falls by their share, no balance of theirs moves, and
    their realised PnL is that much lower when they close. The account's available rises by
    the total, capped at the winners' total profit; one LIQ_SOCIALIZED event (price = mark,
    value_a = total, value_b = the fund's balance) and a POSITION_CHANGED per winner (code
    LIQ_SOCIALIZED, the new cost). Returns the total."""
    mark = perp[market, PM_MARK]
    if mark == 0:
        return 0
    profit = 0
    for c in range(pos.shape[0]):
        if c != account and pos[c, market, P_QTY] != 0:
            upnl = pos[c, market, P_QTY] * mark * qptl - pos[c, market, P_COST]
            if upnl > 0:
                profit += upnl
    total = min(amount, profit)
    if total <= 0:
        return 0
    left = total
    for c in range(pos.shape[0]):
        if c != account and pos[c, market, P_QTY] != 0:
            upnl = pos[c, market, P_QTY] * mark * qptl - pos[c, market, P_COST]
            if upnl > 0:
                share = mul_div_exact(total, upnl, profit)
                pos[c, market, P_COST] += share
                left -= share
                touch_position(pos, touched, sc, c, market, LIQ_SOCIALIZED)
    # the floors' remainder (< winners): one unit each by account id; with total < profit
    # every winner still has upnl >= 1 after its share, so one pass places all of it
    for c in range(pos.shape[0]):
        if left == 0:
            break
        q = pos[c, market, P_QTY]
        if c != account and q != 0 and q * mark * qptl - pos[c, market, P_COST] > 0:
            pos[c, market, P_COST] += 1
            left -= 1
    assets[quote, AS_OPEN_COST] += total
    move(bal, touched, sc, account, quote, total, 0)
    emit(
        ev, sc, EV_LIQUIDATION, seq, 0, 0, 0, mark, 0, total,
        bal[perp[market, PM_INSURANCE], quote, B_AVAILABLE], account, 0, market, 0,
        LIQ_SOCIALIZED, 0, 0,
    )  # fmt: skip
    return int(total)


@kernel
def fund_pays(
    ev: Records, sc: I64Array, bal: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, seq: int, account: int, market: int, quote: int, amount: int,
) -> int:  # fmt: skip
    """The insurance fund pays up to `amount` to the account (LIQ_INSURANCE_PAID); returns
    what it paid."""
    fund = perp[market, PM_INSURANCE]
    paid = min(amount, max(bal[fund, quote, B_AVAILABLE], 0))
    if fund == account or paid <= 0:
        return 0
    move(bal, touched, sc, fund, quote, -paid, 0)
    move(bal, touched, sc, account, quote, paid, 0)
    emit(
        ev, sc, EV_LIQUIDATION, seq, 0, 0, 0, 0, pos[account, market, P_QTY], paid,
        bal[fund, quote, B_AVAILABLE], account, 0, market, 0, LIQ_INSURANCE_PAID, 0, 0,
    )  # fmt: skip
    return int(paid)


@kernel
def cover_isolated_loss(
    ev: Records, sc: I64Array, bal: I64Array, touched: I64Array, assets: I64Array,
    pos: I64Array, perp: I64Array, seq: int, account: int, market: int, quote: int,
    qptl: int, net: int,
) -> None:  # fmt: skip
    """An isolated position's loss beyond the margin it released (`net` < 0) is paid from its
    remaining isolated margin, then by the insurance fund, then socialised; only then from
    the wallet."""
    if net < 0 and pos[account, market, P_MODE] == MARGIN_ISOLATED:
        pay_shortfall(ev, sc, bal, touched, assets, pos, perp, seq, account, market, quote,
                      qptl, -net)  # fmt: skip


@inline
def apply_to_position(
    bal: I64Array, touched: I64Array, sc: I64Array, assets: I64Array, pos: I64Array,
    account: int, market: int, quote: int, signed_qty: int, price: int, qptl: int,
    leverage: int, margin_price: int,
) -> tuple[int, int]:  # fmt: skip
    """Move a position by `signed_qty` lots at `price`: close (pro rata margin release,
    realised PnL into available) then open (initial margin at `margin_price` from available
    into locked). Returns (realised PnL, margin released)."""
    p = pos[account, market]
    q0 = p[P_QTY]
    size = signed_qty if signed_qty > 0 else -signed_qty
    close = 0
    if q0 != 0 and (q0 > 0) != (signed_qty > 0):
        close = min(size, q0 if q0 > 0 else -q0)
    realized, released = 0, 0
    if close > 0:
        held = q0 if q0 > 0 else -q0
        if close == held:
            removed, released = p[P_COST], p[P_MARGIN]
        else:
            removed, released = p[P_COST] * close // held, p[P_MARGIN] * close // held
        sign = 1 if q0 > 0 else -1
        realized = sign * close * price * qptl - removed
        p[P_COST] -= removed
        p[P_MARGIN] -= released
        p[P_REALIZED] += realized
        set_qty(sc, p, q0 - sign * close)
        assets[quote, AS_OPEN_COST] -= removed
        move(bal, touched, sc, account, quote, released + realized, -released)
    opened = size - close
    if opened > 0:
        sign = 1 if signed_qty > 0 else -1
        notional = opened * price * qptl
        im = ceil_div(opened * margin_price * qptl, leverage)
        p[P_COST] += sign * notional
        p[P_MARGIN] += im
        set_qty(sc, p, p[P_QTY] + sign * opened)
        assets[quote, AS_OPEN_COST] += sign * notional
        move(bal, touched, sc, account, quote, -im, im)
    touch_position(pos, touched, sc, account, market, OK)
    return int(realized), int(released)


@inline
def settle_side(
    ev: Records, sc: I64Array, bal: I64Array, touched: I64Array, assets: I64Array,
    pos: I64Array, perp: I64Array, mkt: I64Array, seq: int, row: I64Array, signed_qty: int,
    price: int, bps: int,
) -> int:  # fmt: skip
    """One side of a perp fill: refit the order's lock, move the position, take the fee."""
    a, m, quote = row[O_ACCOUNT], row[O_MARKET], mkt[M_QUOTE]
    qptl = mkt[M_QUOTE_PER_TICK_LOT]
    size = signed_qty if signed_qty > 0 else -signed_qty
    new_lock = row_lock(row, qptl)
    freed = row[O_LOCKED] - new_lock
    row[O_LOCKED] = new_lock
    move(bal, touched, sc, a, quote, freed, -freed)
    # an order's margin rate is the one it locked with; a fill above a sell's limit opens at
    # the lock's price, so the margin moved never exceeds what the order locked
    lev = row_leverage(row)
    if lev == 0:
        lev = leverage_of(pos, perp, a, m)
    margin_price = min(price, row[O_PRICE])
    realized, released = apply_to_position(
        bal, touched, sc, assets, pos, a, m, quote, signed_qty, price, qptl, lev, margin_price
    )
    cover_isolated_loss(ev, sc, bal, touched, assets, pos, perp, seq, a, m, quote, qptl,
                        realized + released)  # fmt: skip
    fee = fee_of(size * price * qptl, bps)
    move(bal, touched, sc, a, quote, -fee, 0)
    cover_deficit(ev, sc, bal, touched, assets, pos, perp, seq, a, m, quote, qptl)
    return int(fee)


@kernel
def settle_perp_fill(
    ev: Records, sc: I64Array, bal: I64Array, touched: I64Array, assets: I64Array,
    pos: I64Array, perp: I64Array, mkt: I64Array, seq: int, buyer: I64Array,
    seller: I64Array, price: int, qty: int, buyer_bps: int, seller_bps: int,
) -> tuple[int, int]:  # fmt: skip
    """Money and positions for one perp fill; returns (buyer fee, seller fee)."""
    buyer_fee = settle_side(
        ev, sc, bal, touched, assets, pos, perp, mkt, seq, buyer, qty, price, buyer_bps
    )
    seller_fee = settle_side(
        ev, sc, bal, touched, assets, pos, perp, mkt, seq, seller, -qty, price, seller_bps
    )
    fees = buyer_fee + seller_fee
    if fees > 0:
        quote = mkt[M_QUOTE]
        move(bal, touched, sc, mkt[M_FEE_ACCOUNT], quote, fees, 0)
        assets[quote, AS_FEES] += fees
    return buyer_fee, seller_fee


@inline
def flush_touched(
    ev: Records, sc: I64Array, bal: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, seq: int,
) -> None:  # fmt: skip
    """Emit one BALANCE_CHANGED per touched balance and one POSITION_CHANGED per touched
    position, in first-touch order."""
    for i in range(sc[S_NTOUCH]):
        a = touched[i, 0]
        s = touched[i, 1]
        if s >= 0:
            emit(
                ev, sc, EV_BALANCE_CHANGED, seq, 0, 0, 0, 0, 0, bal[a, s, B_AVAILABLE],
                bal[a, s, B_LOCKED], a, 0, 0, s, OK, 0, 0,
            )  # fmt: skip
        else:
            m = -1 - s
            emit_position(ev, sc, seq, pos, perp, a, m, leverage_of(pos, perp, a, m))
    sc[S_NTOUCH] = 0
