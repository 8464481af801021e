"""BUST_POSITION: a clearing rollback's exact position deltas on a perpetual market.

A bust (domains/orders/busts.py) computes, for every position its busted trades touched,
the position "as if the trades had not happened" and sends the difference as legs:

* ``BUST_LEG``: the party's lots += ``qty``, cost += ``price``, realised PnL += ``stop_price``
  and position margin += ``amount`` (an increase locks at most the party's available: the
  margin it can hold; a decrease releases to available, at most the margin). A party left
  flat gives up all its margin and what remains of its cost (realised: cost -= residual,
  realised -= residual), so a flat position never keeps a cost. The bust's clearing account
  (``account2``) takes ``-qty`` lots and ``-price`` of cost, so per market the lots still
  sum to 0 and per asset ``sum(balances) - sum(open cost)`` is unchanged. No money moves
  with the realised PnL: the bust moves it (and the fees) by TRANSFERs through the
  clearing account, so a party that withdrew what it owes is a reported shortfall.
* ``BUST_CARRY``: the clearing account's flat position (lots 0) settles its cost against
  its available balance.

The clearing account holds no cost of its own: after every leg and carry its
``available - cost`` (which a leg moves by the party's cost delta) is its available when
>= 0, else its cost (the part of the bust nobody paid), never a negative balance; its
realised PnL moves by its available's change (the ledger posts that). Its lots are non-zero
only between the legs of one bust, which are journaled as one contiguous group, so no
funding or liquidation ever sees them. Validation first (a refused command changes
nothing): a perpetual market, known and distinct accounts, every value and result inside
the int64 limits of engine/layout.py; the positions' state never refuses a leg, so a
group of legs always applies whole (and the lots return to 0 on the clearing account).
No liquidation sweep runs after a leg (it would run in the middle of a group); the next
index, funding or trade re-checks the positions.
Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    BUST_CARRY,
    BUST_CLEARED,
    BUST_LEG,
    OK,
    POSITION_BUSTED,
    RISK_POSITION_OPEN,
    VALIDATION_INVALID_AMOUNT,
    VALIDATION_SAME_ACCOUNT,
    VALIDATION_UNKNOWN_ACCOUNT,
    VALIDATION_VALUE_TOO_LARGE,
)
from engine.kernels.jit import inline, kernel
from engine.kernels.perp import set_qty, touch_position
from engine.kernels.risk import move
from engine.layout import (
    AS_OPEN_COST,
    B_AVAILABLE,
    M_QUOTE,
    MAX_QTY_LOTS,
    MAX_TOTAL_MINOR,
    P_COST,
    P_MARGIN,
    P_QTY,
    P_REALIZED,
    I64Array,
    Record,
)


@inline
def outside(value: int, limit: int) -> bool:
    """|value| > limit (no negation of the int64 minimum)."""
    return value > limit or value < -limit


@inline
def clearing_net_fits(bal: I64Array, pos: I64Array, c: int, m: int, quote: int,
                      delta: int) -> bool:  # fmt: skip
    """available - cost of the clearing account, plus `delta`, stays within MAX_TOTAL_MINOR
    (both terms are within it; compared by subtraction, never overflowing)."""
    held = bal[c, quote, B_AVAILABLE] - pos[c, m, P_COST]
    if delta > 0:
        return bool(held <= MAX_TOTAL_MINOR - delta)
    return bool(held >= -MAX_TOTAL_MINOR - delta)


@inline
def leg_effect(pos: I64Array, cmd: Record) -> tuple[int, int, int]:
    """(lots after, cost delta, realised delta) of a leg: a party left flat also gives up
    what remains of its cost, realised (the clearing account takes it)."""
    p = pos[cmd.account, cmd.market]
    qty = p[P_QTY] + cmd.qty
    cost, realized = cmd.price, cmd.stop_price
    if qty == 0:
        residual = p[P_COST] + cost
        cost -= residual
        realized -= residual
    return int(qty), int(cost), int(realized)


@kernel
def check_bust(cmd: Record, markets: I64Array, bal: I64Array, pos: I64Array) -> int:
    """A BUST_POSITION on a perpetual market (checked by the caller): known, distinct
    accounts, values and results inside the limits. Nothing about the positions' state
    refuses a leg (the legs of a bust are one group: all of them apply)."""
    a, c, m = cmd.account, cmd.account2, cmd.market
    n = bal.shape[0]
    if a < 0 or a >= n:
        return VALIDATION_UNKNOWN_ACCOUNT
    if cmd.status == BUST_CARRY:
        if pos[a, m, P_QTY] != 0:
            return RISK_POSITION_OPEN
        return OK
    if cmd.status != BUST_LEG:
        return VALIDATION_INVALID_AMOUNT
    if c < 0 or c >= n:
        return VALIDATION_UNKNOWN_ACCOUNT
    if c == a:
        return VALIDATION_SAME_ACCOUNT
    if outside(cmd.qty, MAX_QTY_LOTS) or outside(cmd.price, MAX_TOTAL_MINOR):
        return VALIDATION_VALUE_TOO_LARGE
    if outside(cmd.stop_price, MAX_TOTAL_MINOR) or outside(cmd.amount, MAX_TOTAL_MINOR):
        return VALIDATION_VALUE_TOO_LARGE
    p = pos[a, m]
    if outside(p[P_QTY] + cmd.qty, MAX_QTY_LOTS) or outside(pos[c, m, P_QTY] - cmd.qty,
                                                           MAX_QTY_LOTS):  # fmt: skip
        return VALIDATION_VALUE_TOO_LARGE
    if outside(p[P_COST] + cmd.price, MAX_TOTAL_MINOR):
        return VALIDATION_VALUE_TOO_LARGE
    _, cost, realized = leg_effect(pos, cmd)
    if outside(realized, MAX_TOTAL_MINOR) or outside(p[P_REALIZED] + realized, MAX_TOTAL_MINOR):
        return VALIDATION_VALUE_TOO_LARGE
    if not clearing_net_fits(bal, pos, c, m, markets[m, M_QUOTE], cost):
        return VALIDATION_VALUE_TOO_LARGE
    return OK


@inline
def hold_clearing(
    bal: I64Array, touched: I64Array, sc: I64Array, assets: I64Array, pos: I64Array,
    c: int, m: int, quote: int, delta: int,
) -> None:  # fmt: skip
    """The clearing account's available - cost moves by `delta`: held as available when
    >= 0, else as its cost; its realised PnL moves with its available."""
    p = pos[c, m]
    available = bal[c, quote, B_AVAILABLE]
    net = available - p[P_COST] + delta
    new_available = net if net > 0 else 0
    new_cost = -net if net < 0 else 0
    assets[quote, AS_OPEN_COST] += new_cost - p[P_COST]
    p[P_COST] = new_cost
    p[P_REALIZED] += new_available - available
    if new_available != available:
        move(bal, touched, sc, c, quote, new_available - available, 0)
    touch_position(pos, touched, sc, c, m, BUST_CLEARED)


@inline
def margin_change(bal: I64Array, pos: I64Array, cmd: Record, quote: int, qty: int) -> int:
    """The margin a leg moves: all of it released when the party is left flat, else the
    asked change, an increase capped by the available balance, a decrease by the margin."""
    held = pos[cmd.account, cmd.market, P_MARGIN]
    if qty == 0:
        return int(-held)
    if cmd.amount > 0:
        return int(min(cmd.amount, max(bal[cmd.account, quote, B_AVAILABLE], 0)))
    return int(max(cmd.amount, -held))


@kernel
def apply_bust(
    sc: I64Array, cmd: Record, markets: I64Array, bal: I64Array, assets: I64Array,
    touched: I64Array, pos: I64Array,
) -> None:  # fmt: skip
    """Apply an accepted BUST_POSITION (leg or carry)."""
    a, c, m = cmd.account, cmd.account2, cmd.market
    quote = markets[m, M_QUOTE]
    if cmd.status == BUST_CARRY:
        hold_clearing(bal, touched, sc, assets, pos, a, m, quote, 0)
        return
    qty, cost, realized = leg_effect(pos, cmd)
    margin = margin_change(bal, pos, cmd, quote, qty)
    p = pos[a, m]
    set_qty(sc, p, qty)
    p[P_COST] += cost
    p[P_REALIZED] += realized
    assets[quote, AS_OPEN_COST] += cost
    if margin != 0:
        p[P_MARGIN] += margin
        move(bal, touched, sc, a, quote, -margin, margin)
    touch_position(pos, touched, sc, a, m, POSITION_BUSTED)
    pc = pos[c, m]
    set_qty(sc, pc, pc[P_QTY] - cmd.qty)
    hold_clearing(bal, touched, sc, assets, pos, c, m, quote, cost)
