"""Balances and pre-trade risk: locks, releases, trade settlement, custody commands.

Balances live in `bal[account, asset, B_*]` as integer minor units. Every mutation goes
through `touch`, which records the balance once per command so a single BALANCE_CHANGED
event (absolute values) is emitted for it at the end of the command. Pure kernels, no I/O.
Fee arithmetic: `fee_of` is floor(notional * bps / 10_000) computed without overflow.
"""

from __future__ import annotations

from engine.codes import (
    BUY,
    DEPOSIT_CREDIT,
    FLAG_REDUCE_ONLY,
    OK,
    RISK_INSUFFICIENT_FUNDS,
    RISK_INSUFFICIENT_HELD,
    TRANSFER,
    VALIDATION_INVALID_AMOUNT,
    VALIDATION_SAME_ACCOUNT,
    VALIDATION_UNKNOWN_ACCOUNT,
    VALIDATION_UNKNOWN_ASSET,
    VALIDATION_VALUE_TOO_LARGE,
    WITHDRAWAL_DEBIT,
    WITHDRAWAL_HOLD,
    WITHDRAWAL_RELEASE,
)
from engine.kernels.emit import emit_verdict
from engine.kernels.jit import inline, kernel
from engine.kernels.row import flags_of, lock_bps_of, row_leverage, side_of
from engine.layout import (
    AS_CREDITS,
    AS_DEBITS,
    AS_FEES,
    B_AVAILABLE,
    B_HELD,
    B_LOCKED,
    B_STAMP,
    M_BASE,
    M_BASE_PER_LOT,
    M_FEE_ACCOUNT,
    M_PERP,
    M_QUOTE,
    M_QUOTE_PER_TICK_LOT,
    MAX_TOTAL_MINOR,
    O_ACCOUNT,
    O_LOCKED,
    O_PRICE,
    O_REMAINING,
    S_COUNTER,
    S_NTOUCH,
    I64Array,
    Record,
    Records,
)


@inline
def fee_of(notional: int, bps: int) -> int:
    """floor(notional * bps / 10_000) without forming the product."""
    return (notional // 10_000) * bps + (notional % 10_000) * bps // 10_000


@inline
def buy_lock(qty: int, price: int, quote_per_tick_lot: int, bps: int) -> int:
    """Quote a buy order locks: notional at its limit plus the fee at `bps`."""
    notional = qty * price * quote_per_tick_lot
    return notional + fee_of(notional, bps)


@inline
def ceil_div(a: int, b: int) -> int:
    """ceil(a / b) for b > 0."""
    return -((-a) // b)


@inline
def perp_lock(qty: int, price: int, qptl: int, leverage: int, bps: int, flags: int) -> int:
    """Quote a perp order locks: ceil(notional / leverage) (none if reduce-only) + the fee."""
    notional = qty * price * qptl
    fee = fee_of(notional, bps)
    if flags & FLAG_REDUCE_ONLY:
        return int(fee)
    return int(ceil_div(notional, leverage) + fee)


@inline
def touch(bal: I64Array, touched: I64Array, sc: I64Array, account: int, asset: int) -> None:
    """Remember that (account, asset) changed during the current command."""
    if bal[account, asset, B_STAMP] != sc[S_COUNTER]:
        bal[account, asset, B_STAMP] = sc[S_COUNTER]
        n = sc[S_NTOUCH]
        touched[n, 0] = account
        touched[n, 1] = asset
        sc[S_NTOUCH] = n + 1


@inline
def move(
    bal: I64Array, touched: I64Array, sc: I64Array, account: int, asset: int,
    d_available: int, d_locked: int,
) -> None:  # fmt: skip
    """Change available and locked by the given (signed) amounts."""
    touch(bal, touched, sc, account, asset)
    bal[account, asset, B_AVAILABLE] += d_available
    bal[account, asset, B_LOCKED] += d_locked


@kernel
def check_money_command(cmd: Record, bal: I64Array, assets: I64Array) -> int:
    """Validation and risk for deposit / withdrawal / transfer commands."""
    n_accounts, n_assets = bal.shape[0], bal.shape[1]
    if cmd.account < 0 or cmd.account >= n_accounts:
        return VALIDATION_UNKNOWN_ACCOUNT
    if cmd.asset < 0 or cmd.asset >= n_assets:
        return VALIDATION_UNKNOWN_ASSET
    if cmd.amount <= 0 or cmd.amount > MAX_TOTAL_MINOR:
        return VALIDATION_INVALID_AMOUNT
    a, s, amount = cmd.account, cmd.asset, cmd.amount
    if cmd.kind == DEPOSIT_CREDIT:
        if assets[s, AS_CREDITS] - assets[s, AS_DEBITS] > MAX_TOTAL_MINOR - amount:
            return VALIDATION_VALUE_TOO_LARGE
    elif cmd.kind == WITHDRAWAL_HOLD:
        if bal[a, s, B_AVAILABLE] < amount:
            return RISK_INSUFFICIENT_FUNDS
    elif cmd.kind == WITHDRAWAL_RELEASE or cmd.kind == WITHDRAWAL_DEBIT:
        if bal[a, s, B_HELD] < amount:
            return RISK_INSUFFICIENT_HELD
    elif cmd.kind == TRANSFER:
        if cmd.account2 < 0 or cmd.account2 >= n_accounts:
            return VALIDATION_UNKNOWN_ACCOUNT
        if cmd.account2 == a:
            return VALIDATION_SAME_ACCOUNT
        if bal[a, s, B_AVAILABLE] < amount:
            return RISK_INSUFFICIENT_FUNDS
    return OK


@kernel
def apply_money_command(
    ev: Records, sc: I64Array, cmd: Record, bal: I64Array, assets: I64Array,
    touched: I64Array,
) -> None:  # fmt: skip
    """DEPOSIT_CREDIT, WITHDRAWAL_HOLD / _RELEASE / _DEBIT and TRANSFER."""
    code = check_money_command(cmd, bal, assets)
    emit_verdict(ev, sc, cmd, code, 0)
    if code != OK:
        return
    a, s, amount = cmd.account, cmd.asset, cmd.amount
    if cmd.kind == DEPOSIT_CREDIT:
        move(bal, touched, sc, a, s, amount, 0)
        assets[s, AS_CREDITS] += amount
    elif cmd.kind == WITHDRAWAL_HOLD:
        move(bal, touched, sc, a, s, -amount, amount)
        bal[a, s, B_HELD] += amount
    elif cmd.kind == WITHDRAWAL_RELEASE:
        move(bal, touched, sc, a, s, amount, -amount)
        bal[a, s, B_HELD] -= amount
    elif cmd.kind == WITHDRAWAL_DEBIT:
        move(bal, touched, sc, a, s, 0, -amount)
        bal[a, s, B_HELD] -= amount
        assets[s, AS_DEBITS] += amount
    else:  # TRANSFER
        move(bal, touched, sc, a, s, -amount, 0)
        move(bal, touched, sc, cmd.account2, s, amount, 0)


@inline
def settle_fill(
    bal: I64Array, touched: I64Array, sc: I64Array, assets: I64Array, mkt: I64Array,
    buyer: I64Array, seller: I64Array, price: int, qty: int, buyer_bps: int, seller_bps: int,
) -> tuple[int, int]:  # fmt: skip
    """Move money for one fill; return (buyer fee, seller fee). Rows' O_LOCKED are updated.

    `mkt` is the market row; `buyer` / `seller` are order rows whose O_REMAINING has already
    been reduced by `qty`. The buyer's lock is re-fitted to its new remaining quantity.
    """
    base, quote = mkt[M_BASE], mkt[M_QUOTE]
    qpt = mkt[M_QUOTE_PER_TICK_LOT]
    notional = qty * price * qpt
    base_amount = qty * mkt[M_BASE_PER_LOT]
    buyer_fee = fee_of(notional, buyer_bps)
    seller_fee = fee_of(notional, seller_bps)
    b_acct, s_acct = buyer[O_ACCOUNT], seller[O_ACCOUNT]
    lock_bps = lock_bps_of(buyer)
    new_lock = buy_lock(buyer[O_REMAINING], buyer[O_PRICE], qpt, lock_bps)
    release = buyer[O_LOCKED] - notional - buyer_fee - new_lock
    move(bal, touched, sc, b_acct, quote, release, -(buyer[O_LOCKED] - new_lock))
    buyer[O_LOCKED] = new_lock
    move(bal, touched, sc, b_acct, base, base_amount, 0)
    move(bal, touched, sc, s_acct, base, 0, -base_amount)
    seller[O_LOCKED] -= base_amount
    move(bal, touched, sc, s_acct, quote, notional - seller_fee, 0)
    fees = buyer_fee + seller_fee
    if fees > 0:
        move(bal, touched, sc, mkt[M_FEE_ACCOUNT], quote, fees, 0)
        assets[quote, AS_FEES] += fees
    return buyer_fee, seller_fee


@inline
def release_lock(
    bal: I64Array, touched: I64Array, sc: I64Array, mkt: I64Array, row: I64Array
) -> None:
    """Give an order's whole remaining lock back to available (cancel, expiry)."""
    from_asset = mkt[M_QUOTE] if side_of(row) == BUY or mkt[M_PERP] else mkt[M_BASE]
    amount = row[O_LOCKED]
    if amount != 0:
        move(bal, touched, sc, row[O_ACCOUNT], from_asset, amount, -amount)
        row[O_LOCKED] = 0


@inline
def lock_required(mkt: I64Array, side: int, qty: int, price: int, lock_bps: int) -> int:
    """Funds an order of `qty` lots at limit `price` must lock (quote for buys, base for sells)."""
    if side == BUY:
        return buy_lock(qty, price, mkt[M_QUOTE_PER_TICK_LOT], lock_bps)
    return int(qty * mkt[M_BASE_PER_LOT])


@inline
def lock_for(bal: I64Array, touched: I64Array, sc: I64Array, mkt: I64Array, row: I64Array) -> None:
    """Lock what the order row's remaining quantity at its price requires."""
    side = side_of(row)
    lock_bps = lock_bps_of(row)
    if mkt[M_PERP]:
        amount = perp_lock(
            row[O_REMAINING], row[O_PRICE], mkt[M_QUOTE_PER_TICK_LOT], row_leverage(row),
            lock_bps, flags_of(row),
        )  # fmt: skip
        asset = mkt[M_QUOTE]
    else:
        amount = lock_required(mkt, side, row[O_REMAINING], row[O_PRICE], lock_bps)
        asset = mkt[M_QUOTE] if side == BUY else mkt[M_BASE]
    move(bal, touched, sc, row[O_ACCOUNT], asset, -amount, amount)
    row[O_LOCKED] += amount
