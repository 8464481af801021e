"""Market and account administration: ADD_MARKET, SET_MARKET_STATUS, SET_REFERENCE_PRICE,
SET_FEE_RATE, SET_ACCOUNT_MODE. All go through the journal like any other command. Pure
kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    ACCOUNT_MODE_CANCEL_ONLY,
    ACCOUNT_MODE_NORMAL,
    ADD_MARKET,
    MARKET_FLAG_PERPETUAL,
    MARKET_REDUCE_ONLY,
    MARKET_TRADING,
    OK,
    SET_ACCOUNT_MODE,
    SET_FEE_RATE,
    SET_MARKET_STATUS,
    STP_EXPIRE_BOTH,
    STP_NONE,
    VALIDATION_INVALID_ACCOUNT_MODE,
    VALIDATION_INVALID_FEE_RATE,
    VALIDATION_INVALID_MARKET_SPEC,
    VALIDATION_INVALID_MARKET_STATUS,
    VALIDATION_INVALID_PRICE,
    VALIDATION_INVALID_STP_MODE,
    VALIDATION_MARKET_EXISTS,
    VALIDATION_UNKNOWN_ACCOUNT,
    VALIDATION_UNKNOWN_ASSET,
    VALIDATION_UNKNOWN_MARKET,
)
from engine.kernels.checks import check_market
from engine.kernels.emit import emit_verdict
from engine.kernels.jit import kernel
from engine.layout import (
    A_MAKER_BPS,
    A_MODE,
    A_TAKER_BPS,
    M_ACTIVE,
    M_BAND_BPS,
    M_BASE,
    M_BASE_PER_LOT,
    M_COLLAR_BPS,
    M_FEE_ACCOUNT,
    M_LOT_STEP,
    M_MIN_NOTIONAL,
    M_NFIELDS,
    M_PERP,
    M_QUOTE,
    M_QUOTE_PER_TICK_LOT,
    M_REF_PRICE,
    M_STATUS,
    M_STOP_HEAD,
    M_STOP_TAIL,
    M_STP_DEFAULT,
    M_TICK_STEP,
    MAX_BPS,
    MAX_NOTIONAL_MINOR,
    MAX_PRICE_TICKS,
    MAX_UNIT_MINOR,
    NIL,
    I64Array,
    Record,
    Records,
)


@kernel
def check_add_market(cmd: Record, markets: I64Array, n_accounts: int, n_assets: int) -> int:
    """Validation of a market definition."""
    m = cmd.market
    if m < 0 or m >= markets.shape[0]:
        return VALIDATION_UNKNOWN_MARKET
    if markets[m, M_ACTIVE] != 0:
        return VALIDATION_MARKET_EXISTS
    if not (0 <= cmd.asset < n_assets and 0 <= cmd.asset2 < n_assets):
        return VALIDATION_UNKNOWN_ASSET
    if cmd.account < 0 or cmd.account >= n_accounts:
        return VALIDATION_UNKNOWN_ACCOUNT
    spec_ok = (
        cmd.asset != cmd.asset2
        and 1 <= cmd.qty <= MAX_UNIT_MINOR
        and 1 <= cmd.stop_price <= MAX_UNIT_MINOR
        and 0 <= cmd.amount <= MAX_NOTIONAL_MINOR
        and 0 <= cmd.bps1 < MAX_BPS
        and 1 <= cmd.bps2 <= MAX_BPS
        and cmd.tick_step >= 1
        and cmd.lot_step >= 1
        and cmd.flags & ~MARKET_FLAG_PERPETUAL == 0
    )
    if not spec_ok:
        return VALIDATION_INVALID_MARKET_SPEC
    if cmd.stp < STP_NONE or cmd.stp > STP_EXPIRE_BOTH:
        return VALIDATION_INVALID_STP_MODE
    if cmd.price < 0 or cmd.price > MAX_PRICE_TICKS:
        return VALIDATION_INVALID_PRICE
    if cmd.status < MARKET_TRADING or cmd.status > MARKET_REDUCE_ONLY:
        return VALIDATION_INVALID_MARKET_STATUS
    return OK


@kernel
def add_market(mkt: I64Array, cmd: Record) -> None:
    """Write a new market row (empty book, no trades yet)."""
    for f in range(M_NFIELDS):
        mkt[f] = 0
    mkt[M_ACTIVE] = 1
    mkt[M_BASE] = cmd.asset
    mkt[M_QUOTE] = cmd.asset2
    mkt[M_BASE_PER_LOT] = cmd.qty
    mkt[M_QUOTE_PER_TICK_LOT] = cmd.stop_price
    mkt[M_MIN_NOTIONAL] = cmd.amount
    mkt[M_BAND_BPS] = cmd.bps1
    mkt[M_COLLAR_BPS] = cmd.bps2
    mkt[M_STP_DEFAULT] = cmd.stp
    mkt[M_FEE_ACCOUNT] = cmd.account
    mkt[M_REF_PRICE] = cmd.price
    mkt[M_STATUS] = cmd.status
    mkt[M_STOP_HEAD] = NIL
    mkt[M_STOP_TAIL] = NIL
    mkt[M_TICK_STEP] = cmd.tick_step
    mkt[M_LOT_STEP] = cmd.lot_step
    mkt[M_PERP] = 1 if cmd.flags & MARKET_FLAG_PERPETUAL else 0


@kernel
def check_admin(cmd: Record, markets: I64Array, accounts: I64Array, n_assets: int) -> int:
    """Validation of every administrative command."""
    if cmd.kind == ADD_MARKET:
        return check_add_market(cmd, markets, accounts.shape[0], n_assets)
    if cmd.kind == SET_FEE_RATE or cmd.kind == SET_ACCOUNT_MODE:
        if cmd.account < 0 or cmd.account >= accounts.shape[0]:
            return VALIDATION_UNKNOWN_ACCOUNT
        if cmd.kind == SET_ACCOUNT_MODE:
            if cmd.status < ACCOUNT_MODE_NORMAL or cmd.status > ACCOUNT_MODE_CANCEL_ONLY:
                return VALIDATION_INVALID_ACCOUNT_MODE
            return OK
        if not (0 <= cmd.bps1 <= MAX_BPS and 0 <= cmd.bps2 <= MAX_BPS):
            return VALIDATION_INVALID_FEE_RATE
        return OK
    code = check_market(markets, cmd.market)
    if code != OK:
        return code
    if cmd.kind == SET_MARKET_STATUS:
        if cmd.status < MARKET_TRADING or cmd.status > MARKET_REDUCE_ONLY:
            return VALIDATION_INVALID_MARKET_STATUS
    elif cmd.price <= 0 or cmd.price > MAX_PRICE_TICKS:  # SET_REFERENCE_PRICE
        return VALIDATION_INVALID_PRICE
    return OK


@kernel
def apply_admin(
    ev: Records, sc: I64Array, cmd: Record, markets: I64Array, accounts: I64Array,
    n_assets: int,
) -> None:  # fmt: skip
    """Apply an administrative command; one ACCEPTED or REJECTED event."""
    code = check_admin(cmd, markets, accounts, n_assets)
    emit_verdict(ev, sc, cmd, code, cmd.status if code == OK else 0)
    if code != OK:
        return
    if cmd.kind == ADD_MARKET:
        add_market(markets[cmd.market], cmd)
    elif cmd.kind == SET_FEE_RATE:
        accounts[cmd.account, A_MAKER_BPS] = cmd.bps1
        accounts[cmd.account, A_TAKER_BPS] = cmd.bps2
    elif cmd.kind == SET_ACCOUNT_MODE:
        accounts[cmd.account, A_MODE] = cmd.status
    elif cmd.kind == SET_MARKET_STATUS:
        markets[cmd.market, M_STATUS] = cmd.status
    else:
        markets[cmd.market, M_REF_PRICE] = cmd.price
