"""Liquidation: due detection (cross and isolated), order cancels, liquidation orders, the
insurance fund and auto-deleveraging. Every step emits an EV_LIQUIDATION with its LIQ_* code.

Runs inside the engine after SET_INDEX_PRICE, APPLY_FUNDING and every perp trade (for the
accounts whose positions the command touched). Accounts are handled in ascending id order,
positions in ascending market order, so replay is deterministic. Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    BUY,
    EV_LIQUIDATION,
    FLAG_REDUCE_ONLY,
    IOC,
    LIMIT,
    LIQ_AUTO_DELEVERAGED,
    LIQ_DONE,
    LIQ_INSURANCE_CREDITED,
    LIQ_ORDER_FILLED,
    LIQ_ORDER_ID_BASE,
    LIQ_ORDERS_CANCELED,
    LIQ_STARTED,
    MARGIN_ISOLATED,
    MATCH_CANCELED_BY_LIQUIDATION,
    NEW,
    SELL,
    STP_EXPIRE_TAKER,
)
from engine.kernels.book import stop_remove
from engine.kernels.cancel import cancel_side, drop
from engine.kernels.checks import collar_price
from engine.kernels.emit import emit
from engine.kernels.jit import kernel
from engine.kernels.orders import run_taker_call, write_row
from engine.kernels.perp import (
    apply_to_position,
    cover_deficit,
    cover_isolated_loss,
    leverage_of,
    maintenance,
    touch_position,
)
from engine.kernels.risk import ceil_div, move
from engine.layout import (
    B_AVAILABLE,
    M_ACTIVE,
    M_PERP,
    M_QUOTE,
    M_QUOTE_PER_TICK_LOT,
    M_STOP_HEAD,
    NIL,
    O_ACCOUNT,
    O_ID,
    O_NEXT,
    O_NFIELDS,
    P_COST,
    P_MARGIN,
    P_MODE,
    P_QTY,
    P_REALIZED,
    PM_INSURANCE,
    PM_MARK,
    S_LIQ_ORDERS,
    S_LIVE_ORDERS,
    S_NTOUCH,
    I64Array,
    Records,
)


@kernel
def in_group(markets: I64Array, pos: I64Array, a: int, m: int, mm: int) -> bool:
    """Is position (a, mm) in the margin group of (a, m)? Isolated: only itself; cross:
    every cross position of the account margined in the same quote asset."""
    if mm == m:
        return True
    if pos[a, m, P_MODE] == MARGIN_ISOLATED or pos[a, mm, P_MODE] == MARGIN_ISOLATED:
        return False
    if markets[mm, M_ACTIVE] == 0 or markets[mm, M_PERP] == 0:
        return False
    return bool(markets[mm, M_QUOTE] == markets[m, M_QUOTE] and pos[a, mm, P_QTY] != 0)


@kernel
def upnl_of(markets: I64Array, pos: I64Array, perp: I64Array, a: int, mm: int) -> int:
    """qty * mark * quote_per_tick_lot - cost (0 before the market has a mark)."""
    mark = perp[mm, PM_MARK]
    if mark == 0 or pos[a, mm, P_QTY] == 0:
        return 0
    return int(pos[a, mm, P_QTY] * mark * markets[mm, M_QUOTE_PER_TICK_LOT] - pos[a, mm, P_COST])


@kernel
def group_equity(
    markets: I64Array, bal: I64Array, pos: I64Array, perp: I64Array, a: int, m: int,
    skip: int,
) -> tuple[int, int]:  # fmt: skip
    """(equity, maintenance) of the margin group of (a, m), leaving out market `skip`'s uPnL
    and maintenance: isolated margin + uPnL, or cross wallet + uPnL of every cross position."""
    if pos[a, m, P_MODE] == MARGIN_ISOLATED:
        equity = pos[a, m, P_MARGIN]
    else:
        equity = bal[a, markets[m, M_QUOTE], B_AVAILABLE]
    mm_sum = 0
    for mm in range(markets.shape[0]):
        if pos[a, mm, P_QTY] == 0 or not in_group(markets, pos, a, m, mm):
            continue
        if pos[a, m, P_MODE] != MARGIN_ISOLATED:
            equity += pos[a, mm, P_MARGIN]
        if mm == skip:
            continue
        equity += upnl_of(markets, pos, perp, a, mm)
        q = pos[a, mm, P_QTY]
        notional = (q if q > 0 else -q) * perp[mm, PM_MARK] * markets[mm, M_QUOTE_PER_TICK_LOT]
        mm_sum += maintenance(perp[mm], notional)
    return int(equity), int(mm_sum)


@kernel
def is_due(markets: I64Array, bal: I64Array, pos: I64Array, perp: I64Array, a: int,
           m: int) -> bool:  # fmt: skip
    """Margin ratio >= 1: equity <= maintenance with maintenance > 0 (and a mark)."""
    if pos[a, m, P_QTY] == 0 or perp[m, PM_MARK] == 0:
        return False
    equity, mm_sum = group_equity(markets, bal, pos, perp, a, m, -1)
    return mm_sum > 0 and equity <= mm_sum


@kernel
def emit_liq(
    ev: Records, sc: I64Array, bal: I64Array, perp: I64Array, markets: I64Array, seq: int,
    a: int, m: int, code: int, order_id: int, qty: int, price: int, amount: int,
    counterparty: int,
) -> None:  # fmt: skip
    """EV_LIQUIDATION with the insurance fund's balance after the step."""
    fund_after = bal[perp[m, PM_INSURANCE], markets[m, M_QUOTE], B_AVAILABLE]
    emit(
        ev, sc, EV_LIQUIDATION, seq, 0, order_id, 0, price, qty, amount, fund_after, a,
        counterparty, m, 0, code, 0, 0,
    )  # fmt: skip


@kernel
def cancel_for_liquidation(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, idmap: I64Array, touched: I64Array, pos: I64Array, seq: int, a: int,
    m: int,
) -> int:  # fmt: skip
    """Cancel the account's orders in every market of the group; return how many."""
    before = sc[S_LIVE_ORDERS]
    code = MATCH_CANCELED_BY_LIQUIDATION
    for mm in range(markets.shape[0]):
        if markets[mm, M_PERP] == 0 or markets[mm, M_ACTIVE] == 0:
            continue
        if mm != m and (
            pos[a, m, P_MODE] == MARGIN_ISOLATED or pos[a, mm, P_MODE] == MARGIN_ISOLATED
            or markets[mm, M_QUOTE] != markets[m, M_QUOTE]
        ):  # fmt: skip
            continue
        for side in range(2):
            cancel_side(ev, sc, orders, levels, markets, bal, idmap, touched, seq, mm, side, a,
                        code)  # fmt: skip
        slot = markets[mm, M_STOP_HEAD]
        while slot != NIL:
            nxt = orders[slot, O_NEXT]
            if orders[slot, O_ACCOUNT] == a:
                stop_remove(orders, markets, mm, slot)
                drop(ev, sc, orders, markets, bal, idmap, touched, seq, slot, code)
            slot = nxt
    return int(before - sc[S_LIVE_ORDERS])


@kernel
def bankruptcy_price(markets: I64Array, bal: I64Array, pos: I64Array, perp: I64Array,
                     a: int, m: int) -> int:  # fmt: skip
    """Price at which the group's equity (other positions at mark) is exactly used up by
    closing (a, m): rounded so that a fill at it never loses more than the equity."""
    equity, _ = group_equity(markets, bal, pos, perp, a, m, m)
    q, cost = pos[a, m, P_QTY], pos[a, m, P_COST]
    qptl = markets[m, M_QUOTE_PER_TICK_LOT]
    if q > 0:
        return int(max(1, ceil_div(cost - equity, q * qptl)))
    return int(max(1, (equity - cost) // (-q * qptl)))


@kernel
def liquidation_order(
    row: I64Array, sc: I64Array, markets: I64Array, bal: I64Array, pos: I64Array,
    perp: I64Array, seq: int, a: int, m: int, bankruptcy: int,
) -> None:  # fmt: skip
    """Write the reduce-only IOC order closing (a, m) at the worst price the insurance fund
    can absorb beyond the bankruptcy price, kept within the market collar around the mark."""
    q = pos[a, m, P_QTY]
    size = q if q > 0 else -q
    qptl = markets[m, M_QUOTE_PER_TICK_LOT]
    fund = max(bal[perp[m, PM_INSURANCE], markets[m, M_QUOTE], B_AVAILABLE], 0)
    slack = fund // (size * qptl)
    mark = perp[m, PM_MARK]
    if q > 0:
        side = SELL
        limit = max(bankruptcy - slack, collar_price(markets[m], SELL, mark), 1)
    else:
        side = BUY
        limit = min(bankruptcy + slack, collar_price(markets[m], BUY, mark))
    for f in range(O_NFIELDS):
        row[f] = 0
    sc[S_LIQ_ORDERS] += 1
    write_row(
        row, LIQ_ORDER_ID_BASE + sc[S_LIQ_ORDERS], a, m, side, LIMIT, IOC, FLAG_REDUCE_ONLY,
        STP_EXPIRE_TAKER, NEW, limit, 0, size, 0, 0, seq, 0, 0, leverage_of(pos, perp, a, m),
    )  # fmt: skip


@kernel
def adl_pick(markets: I64Array, pos: I64Array, perp: I64Array, a: int, m: int,
             sign: int) -> int:  # fmt: skip
    """The opposite position to deleverage first: highest (upnl / |cost|) x effective
    leverage (notional / (margin + upnl)), ties to the lower account id; NIL if none.
    The score only ranks (a float), it never moves money."""
    best, best_score = NIL, 0.0
    mark, qptl = perp[m, PM_MARK], markets[m, M_QUOTE_PER_TICK_LOT]
    for c in range(pos.shape[0]):
        q = pos[c, m, P_QTY]
        if c == a or q == 0 or (q > 0) == (sign > 0):
            continue
        cost = pos[c, m, P_COST]
        upnl = q * mark * qptl - cost
        notional = (q if q > 0 else -q) * mark * qptl
        equity = max(pos[c, m, P_MARGIN] + upnl, 1)
        score = (upnl / max(abs(cost), 1)) * (notional / equity)
        if best == NIL or score > best_score:
            best, best_score = c, score
    return int(best)


@kernel
def auto_deleverage(
    ev: Records, sc: I64Array, markets: I64Array, bal: I64Array, touched: I64Array,
    assets: I64Array, pos: I64Array, perp: I64Array, seq: int, a: int, m: int,
    bankruptcy: int,
) -> None:  # fmt: skip
    """Close what is left of (a, m) against ranked opposite positions at the bankruptcy
    price, both sides reported with LIQ_AUTO_DELEVERAGED."""
    qptl, quote = markets[m, M_QUOTE_PER_TICK_LOT], markets[m, M_QUOTE]
    while pos[a, m, P_QTY] != 0:
        q = pos[a, m, P_QTY]
        sign = 1 if q > 0 else -1
        c = adl_pick(markets, pos, perp, a, m, sign)
        if c == NIL:
            break
        qc = pos[c, m, P_QTY]
        t = min(q * sign, qc * -sign)
        lev_a, lev_c = leverage_of(pos, perp, a, m), leverage_of(pos, perp, c, m)
        loss, freed = apply_to_position(bal, touched, sc, assets, pos, a, m, quote, -sign * t,
                                        bankruptcy, qptl, lev_a, bankruptcy)  # fmt: skip
        gain, _ = apply_to_position(bal, touched, sc, assets, pos, c, m, quote, sign * t,
                                    bankruptcy, qptl, lev_c, bankruptcy)  # fmt: skip
        touch_position(pos, touched, sc, a, m, LIQ_AUTO_DELEVERAGED)
        touch_position(pos, touched, sc, c, m, LIQ_AUTO_DELEVERAGED)
        cover_isolated_loss(ev, sc, bal, touched, assets, pos, perp, seq, a, m, quote, qptl,
                            loss + freed)  # fmt: skip
        cover_deficit(ev, sc, bal, touched, assets, pos, perp, seq, a, m, quote, qptl)
        cover_deficit(ev, sc, bal, touched, assets, pos, perp, seq, c, m, quote, qptl)
        emit_liq(ev, sc, bal, perp, markets, seq, a, m, LIQ_AUTO_DELEVERAGED, 0, t,
                 bankruptcy, loss, c)  # fmt: skip
        emit_liq(ev, sc, bal, perp, markets, seq, c, m, LIQ_AUTO_DELEVERAGED, 0, t,
                 bankruptcy, gain, a)  # fmt: skip


@kernel
def liquidate_position(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, assets: I64Array, idmap: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, seq: int, a: int, m: int,
) -> None:  # fmt: skip
    """Liquidation order for (a, m), insurance credit of a fill better than bankruptcy,
    then ADL of any remainder."""
    quote, qptl = markets[m, M_QUOTE], markets[m, M_QUOTE_PER_TICK_LOT]
    bankruptcy = bankruptcy_price(markets, bal, pos, perp, a, m)
    q0, cost0, realized0 = pos[a, m, P_QTY], pos[a, m, P_COST], pos[a, m, P_REALIZED]
    sign = 1 if q0 > 0 else -1
    row = orders[orders.shape[0] - 1]
    liquidation_order(row, sc, markets, bal, pos, perp, seq, a, m, bankruptcy)
    order_id = row[O_ID]
    run_taker_call(
        ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp, seq, NIL, row
    )
    filled = (q0 - pos[a, m, P_QTY]) * sign
    if filled > 0:
        realized = pos[a, m, P_REALIZED] - realized0
        fill_notional = sign * (realized + cost0 - pos[a, m, P_COST])
        touch_position(pos, touched, sc, a, m, LIQ_ORDER_FILLED)
        emit_liq(ev, sc, bal, perp, markets, seq, a, m, LIQ_ORDER_FILLED, order_id, filled,
                 fill_notional // (filled * qptl), realized, 0)  # fmt: skip
        credit = sign * (fill_notional - filled * bankruptcy * qptl)
        credit = min(credit, bal[a, quote, B_AVAILABLE])
        fund = perp[m, PM_INSURANCE]
        if credit > 0 and fund != a:
            move(bal, touched, sc, a, quote, -credit, 0)
            move(bal, touched, sc, fund, quote, credit, 0)
            emit_liq(ev, sc, bal, perp, markets, seq, a, m, LIQ_INSURANCE_CREDITED, order_id,
                     filled, bankruptcy, credit, 0)  # fmt: skip
    if pos[a, m, P_QTY] != 0:
        auto_deleverage(ev, sc, markets, bal, touched, assets, pos, perp, seq, a, m, bankruptcy)


@kernel
def liquidate(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, assets: I64Array, idmap: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, seq: int, a: int, m: int,
) -> None:  # fmt: skip
    """Every step for one due account (the margin group of its position in market m)."""
    n_positions = 0
    for mm in range(markets.shape[0]):
        if pos[a, mm, P_QTY] != 0 and in_group(markets, pos, a, m, mm):
            n_positions += 1
    equity, mm_sum = group_equity(markets, bal, pos, perp, a, m, -1)
    emit_liq(ev, sc, bal, perp, markets, seq, a, m, LIQ_STARTED, 0, n_positions,
             perp[m, PM_MARK], equity - mm_sum, 0)  # fmt: skip
    canceled = cancel_for_liquidation(
        ev, sc, orders, levels, markets, bal, idmap, touched, pos, seq, a, m
    )
    emit_liq(ev, sc, bal, perp, markets, seq, a, m, LIQ_ORDERS_CANCELED, 0, canceled, 0, 0, 0)
    if is_due(markets, bal, pos, perp, a, m):
        for mm in range(markets.shape[0]):
            if pos[a, mm, P_QTY] == 0 or not in_group(markets, pos, a, m, mm):
                continue
            liquidate_position(
                ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp, seq,
                a, mm,
            )  # fmt: skip
    emit_liq(ev, sc, bal, perp, markets, seq, a, m, LIQ_DONE, 0, pos[a, m, P_QTY],
             perp[m, PM_MARK], 0, 0)  # fmt: skip


@kernel
def sweep_market(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, assets: I64Array, idmap: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, seq: int, m: int,
) -> None:  # fmt: skip
    """Liquidate every due account holding a position in market m, by account id."""
    for a in range(pos.shape[0]):
        if pos[a, m, P_QTY] != 0 and is_due(markets, bal, pos, perp, a, m):
            liquidate(ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp,
                      seq, a, m)  # fmt: skip


@kernel
def sweep_touched(
    ev: Records, sc: I64Array, orders: I64Array, levels: I64Array, markets: I64Array,
    bal: I64Array, assets: I64Array, idmap: I64Array, touched: I64Array, pos: I64Array,
    perp: I64Array, seq: int,
) -> None:  # fmt: skip
    """After a perp trade: liquidate the due accounts among the positions it touched."""
    n = sc[S_NTOUCH]
    for i in range(n):
        if touched[i, 1] >= 0:
            continue
        a, m = touched[i, 0], -1 - touched[i, 1]
        if pos[a, m, P_QTY] != 0 and is_due(markets, bal, pos, perp, a, m):
            liquidate(ev, sc, orders, levels, markets, bal, assets, idmap, touched, pos, perp,
                      seq, a, m)  # fmt: skip
