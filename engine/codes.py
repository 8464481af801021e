"""Integer codes of the engine: commands, sides, order types, statuses, events, reasons.

Plain module-level ints so Numba kernels read them as compile-time constants. Codes are API:
add new values, never renumber or rename; clients must accept values they do not know.
Imports nothing but the standard library.

Reason codes are grouped by the stage that produced them:

* ``OK`` (0): success; also the reason of an order that ended ``FILLED``.
* ``-1xxx`` VALIDATION: the command is malformed or names something that does not exist.
* ``-2xxx`` RISK: well formed, but refused by market state or pre-trade risk (funds, band).
* ``-3xxx`` MATCH: outcomes decided by the book (post-only would take, FOK not fillable,
  self-trade prevention, capacity) and the reasons an order left the book.

Fee model (quote asset, both sides, integers only): ``fee = notional * bps // 10_000`` per fill,
at the account's maker or taker rate captured when the order was accepted. A buy order locks
``notional(qty, limit) + notional * max(maker, taker) // 10_000`` of the quote asset, which
covers any fill at or below its limit; the excess is released as it fills and on cancel. A sell
order locks ``qty * base_per_lot`` of the base asset; its fee is taken out of its proceeds.
Fees are credited to the market's fee account, a normal account.

Perpetual futures (linear, quote-margined, one-way mode). A market added with ``flags`` bit
``MARKET_FLAG_PERPETUAL`` is a perpetual: no base balance ever moves on it; every perp money
movement is in the market's quote asset (the margin asset). ``notional = qty * price *
quote_per_tick_lot`` as for spot.

* Position per (account, market): signed ``qty`` lots (long > 0), signed ``cost`` (sum of the
  signed fill notionals of the open part; entry price = cost / (qty * quote_per_tick_lot)),
  ``margin`` (held in the quote balance's locked part: initial margin of the open part, or the
  isolated margin), ``leverage`` (1..bracket max), margin mode (``MARGIN_CROSS`` /
  ``MARGIN_ISOLATED``) and cumulative ``realized`` PnL. Default leverage: min(10, bracket 0
  max leverage), cross.
* Order lock (quote asset, both sides): ``ceil(notional_at_limit / leverage)`` + the fee at
  max(maker, taker) bps (market orders: at the collar price). ``FLAG_REDUCE_ONLY`` orders lock
  only their fee, are refused (``RISK_REDUCE_ONLY``) if they would increase or flip the
  position, and never flip it at fill time (remainder cut: ``MATCH_REDUCE_ONLY_CUT``).
* Fill settlement: the opening part moves its initial margin ``ceil(notional / leverage)``
  from the order lock to the position margin; the closing part releases margin pro rata
  (floor) and realises ``closing signed notional - the exact cost portion removed`` into
  available. Fees are taken from available and credited to the fee account. Flip = close +
  open. A loss the account cannot pay is paid by the market's insurance fund
  (``LIQ_INSURANCE_PAID``); what the fund cannot pay is socialised (``LIQ_SOCIALIZED``): taken
  pro rata from the unrealised profit of the market's winning positions by raising their
  cost, so no balance is left negative unless the winners' whole unrealised profit is less.
* Conservation per quote asset: ``sum(available + locked) - sum(open cost of all positions)
  == credits - debits`` (fees sit in the fee account's balance; ``assets[AS_FEES]`` counts
  them). The engine keeps ``sum(open cost)`` per asset (``assets[AS_OPEN_COST]``). Since
  ``sum(qty) == 0`` per market, ``-sum(open cost) == sum(upnl)`` at any common mark: the
  balances plus every position's unrealised PnL equal what was deposited, net. (Sign: a long
  bought at 100 and sold at 110 realises +10 into balances and leaves the new holder's cost
  110 against the short's -100, so open cost rose by 10 too.)
* Maintenance margin: ``mm = ceil(notional * mmr_ppm / 1e6) - maint_amount`` for the bracket
  whose floor <= notional. Due: cross: ``wallet + sum(upnl) <= sum(mm)`` over the account's
  cross positions with ``sum(mm) > 0`` (wallet = quote available + cross position margins);
  isolated: ``margin + upnl <= mm``; ``upnl = qty * mark * quote_per_tick_lot - cost``.
* Mark: ``index + clamp(mid - index, +-index * basis_cap_bps / 10_000)``, mid = (bid + ask)
  // 2 when both sides exist, else the index. Funding: ``rate_ppm = clamp((mark - index) *
  1e6 // index, +-funding_cap_bps * 100)``; payers pay ``|qty| * mark * qptl * |rate| //
  1e6``, receivers share the collected sum pro rata by size (floors), dust to the insurance
  fund.
* Liquidation (after SET_INDEX_PRICE, APPLY_FUNDING and perp trades): cancel the account's
  perp orders, re-check, then per position a reduce-only IOC order (ids from
  ``LIQ_ORDER_ID_BASE``) limited at the bankruptcy price, insurance fund credited with what is
  left / paying what is missing, remainder auto-deleveraged against opposite positions ranked
  by ``(upnl / |cost|) * effective leverage``. Each step is an ``EV_LIQUIDATION``.
* Clearing rollback (``BUST_POSITION``, engine/kernels/perp_bust.py): a leg adds exact
  deltas to one position (lots, cost, realised PnL, margin) and the opposite lots and cost
  to the bust's clearing account, so per market ``sum(qty)`` and per asset ``sum(balances)
  - sum(open cost)`` never change; no money moves with the realised PnL (the bust moves
  it by TRANSFERs). The clearing account holds ``available - cost`` of its flat position
  as ``available`` when it is >= 0, else as a cost (what the bust could not cover), never
  a negative balance.
"""

from __future__ import annotations

# --- command kinds -------------------------------------------------------------------------
ADD_MARKET = 1
SET_MARKET_STATUS = 2
SET_REFERENCE_PRICE = 3
SET_FEE_RATE = 4
DEPOSIT_CREDIT = 5
WITHDRAWAL_HOLD = 6
WITHDRAWAL_RELEASE = 7
WITHDRAWAL_DEBIT = 8
PLACE_ORDER = 9
CANCEL_ORDER = 10
CANCEL_ALL = 11
AMEND_ORDER = 12
TRANSFER = 13
SET_MARGIN_BRACKET = 14  # perp: market, status = index 0..7, amount = floor, price = maint amount,
#                          qty = maint rate ppm, bps1 = max leverage
SET_PERP_PARAMS = 15  # perp: market, account = insurance fund, amount = funding interval ns,
#                       bps1 = funding cap bps, bps2 = basis cap bps, price = index (0 = none)
SET_LEVERAGE = 16  # perp: account, market, bps1 = leverage, status = margin mode
SET_INDEX_PRICE = 17  # perp: market, price = index ticks (mark, MARK_PRICE, liquidation sweep)
APPLY_FUNDING = 18  # perp: market (accepted when ts_ns >= the market's next funding time)
ADJUST_MARGIN = 19  # perp: account, market, amount (signed) on an isolated position
SET_ACCOUNT_MODE = 20  # account, status = ACCOUNT_MODE_* (what the account's orders may do)
CLOSE_POSITION = 21  # perp: account, market: close the position at the mark against the
#                      market's insurance fund account, which takes it over (a wind-down)
BUST_POSITION = 22  # perp: a clearing rollback's exact deltas (engine/kernels/perp_bust.py):
#                     status BUST_LEG: account = party, account2 = the bust's clearing account,
#                     market, qty = lots, price = cost, stop_price = realised PnL (no money),
#                     amount = position margin (signed deltas; lots and cost move against the
#                     clearing account); status BUST_CARRY: account = the clearing account,
#                     market: its flat position's cost settled against its available balance

COMMAND_NAMES: dict[int, str] = {
    ADD_MARKET: "ADD_MARKET",
    SET_MARKET_STATUS: "SET_MARKET_STATUS",
    SET_REFERENCE_PRICE: "SET_REFERENCE_PRICE",
    SET_FEE_RATE: "SET_FEE_RATE",
    DEPOSIT_CREDIT: "DEPOSIT_CREDIT",
    WITHDRAWAL_HOLD: "WITHDRAWAL_HOLD",
    WITHDRAWAL_RELEASE: "WITHDRAWAL_RELEASE",
    WITHDRAWAL_DEBIT: "WITHDRAWAL_DEBIT",
    PLACE_ORDER: "PLACE_ORDER",
    CANCEL_ORDER: "CANCEL_ORDER",
    CANCEL_ALL: "CANCEL_ALL",
    AMEND_ORDER: "AMEND_ORDER",
    TRANSFER: "TRANSFER",
    SET_MARGIN_BRACKET: "SET_MARGIN_BRACKET",
    SET_PERP_PARAMS: "SET_PERP_PARAMS",
    SET_LEVERAGE: "SET_LEVERAGE",
    SET_INDEX_PRICE: "SET_INDEX_PRICE",
    APPLY_FUNDING: "APPLY_FUNDING",
    ADJUST_MARGIN: "ADJUST_MARGIN",
    SET_ACCOUNT_MODE: "SET_ACCOUNT_MODE",
    CLOSE_POSITION: "CLOSE_POSITION",
    BUST_POSITION: "BUST_POSITION",
}

# --- BUST_POSITION `status` ----------------------------------------------------------------
BUST_LEG = 0
BUST_CARRY = 1

# --- sides ---------------------------------------------------------------------------------
BUY = 0
SELL = 1
SIDE_NAMES: dict[int, str] = {BUY: "BUY", SELL: "SELL"}

# --- order types ---------------------------------------------------------------------------
LIMIT = 0
MARKET = 1
STOP_MARKET = 2
STOP_LIMIT = 3
ORDER_TYPE_NAMES: dict[int, str] = {
    LIMIT: "LIMIT",
    MARKET: "MARKET",
    STOP_MARKET: "STOP_MARKET",
    STOP_LIMIT: "STOP_LIMIT",
}

# --- time in force -------------------------------------------------------------------------
GTC = 0
IOC = 1
FOK = 2
TIF_NAMES: dict[int, str] = {GTC: "GTC", IOC: "IOC", FOK: "FOK"}

# --- order flags (bit set) -----------------------------------------------------------------
FLAG_POST_ONLY = 1
FLAG_REDUCE_ONLY = 2  # perpetual markets only (VALIDATION_INVALID_FLAGS on spot)
ALL_FLAGS = FLAG_POST_ONLY  # flags a spot order may carry
PERP_FLAGS = FLAG_POST_ONLY | FLAG_REDUCE_ONLY  # flags a perpetual order may carry

# --- market flags (ADD_MARKET `flags`) -----------------------------------------------------
MARKET_FLAG_PERPETUAL = 1

# --- margin modes (SET_LEVERAGE `status`) --------------------------------------------------
MARGIN_CROSS = 0
MARGIN_ISOLATED = 1
MARGIN_MODE_NAMES: dict[int, str] = {MARGIN_CROSS: "CROSS", MARGIN_ISOLATED: "ISOLATED"}
DEFAULT_LEVERAGE = 10  # capped by bracket 0's max leverage
MAX_BRACKETS = 8
MAX_LEVERAGE = 125

# Liquidation orders get ids from this reserved range (client ids must stay below it).
LIQ_ORDER_ID_BASE = 1 << 62

# --- self-trade prevention: the taker's mode decides ---------------------------------------
STP_MARKET_DEFAULT = 0  # per-order value meaning "use the market's default"
STP_NONE = 1
STP_EXPIRE_TAKER = 2
STP_EXPIRE_MAKER = 3
STP_EXPIRE_BOTH = 4
STP_NAMES: dict[int, str] = {
    STP_MARKET_DEFAULT: "MARKET_DEFAULT",
    STP_NONE: "NONE",
    STP_EXPIRE_TAKER: "EXPIRE_TAKER",
    STP_EXPIRE_MAKER: "EXPIRE_MAKER",
    STP_EXPIRE_BOTH: "EXPIRE_BOTH",
}

# --- market status -------------------------------------------------------------------------
MARKET_TRADING = 1
MARKET_HALTED = 2
MARKET_CANCEL_ONLY = 3
MARKET_REDUCE_ONLY = 4  # spot: SELL orders only; perpetual: every order is reduce-only
MARKET_STATUS_NAMES: dict[int, str] = {
    MARKET_TRADING: "TRADING",
    MARKET_HALTED: "HALTED",
    MARKET_CANCEL_ONLY: "CANCEL_ONLY",
    MARKET_REDUCE_ONLY: "REDUCE_ONLY",
}

# --- account trading modes (SET_ACCOUNT_MODE `status`) -------------------------------------
# A wind-down restricts what an account's new orders and amends may do; cancels always run.
ACCOUNT_MODE_NORMAL = 0
ACCOUNT_MODE_REDUCE_ONLY = 1  # spot: SELL orders only, no amend may grow a BUY; perpetual:
#                               every order is reduce-only (refused if it would grow)
ACCOUNT_MODE_CANCEL_ONLY = 2  # no PLACE_ORDER, no AMEND_ORDER
ACCOUNT_MODE_NAMES: dict[int, str] = {
    ACCOUNT_MODE_NORMAL: "NORMAL",
    ACCOUNT_MODE_REDUCE_ONLY: "REDUCE_ONLY",
    ACCOUNT_MODE_CANCEL_ONLY: "CANCEL_ONLY",
}

# --- order status --------------------------------------------------------------------------
STATUS_NONE = 0
NEW = 1
PARTIALLY_FILLED = 2
FILLED = 3
CANCELED = 4
EXPIRED = 5
EXPIRED_IN_MATCH = 6
REJECTED = 7
PENDING_TRIGGER = 8
STATUS_NAMES: dict[int, str] = {
    STATUS_NONE: "NONE",
    NEW: "NEW",
    PARTIALLY_FILLED: "PARTIALLY_FILLED",
    FILLED: "FILLED",
    CANCELED: "CANCELED",
    EXPIRED: "EXPIRED",
    EXPIRED_IN_MATCH: "EXPIRED_IN_MATCH",
    REJECTED: "REJECTED",
    PENDING_TRIGGER: "PENDING_TRIGGER",
}

# --- event kinds (field meanings per kind: engine.layout.EVENT_DTYPE) ----------------------
EV_ACCEPTED = 1
EV_REJECTED = 2
EV_TRADE = 3
EV_ORDER_DONE = 4
EV_BALANCE_CHANGED = 5
EV_BOOK_DELTA = 6
EV_ORDER_AMENDED = 7
EV_SELF_TRADE_PREVENTED = 8
EV_STOP_TRIGGERED = 9
EV_POSITION_CHANGED = 10
EV_MARK_PRICE = 11
EV_FUNDING = 12
EV_LIQUIDATION = 13
EVENT_NAMES: dict[int, str] = {
    EV_ACCEPTED: "ACCEPTED",
    EV_REJECTED: "REJECTED",
    EV_TRADE: "TRADE",
    EV_ORDER_DONE: "ORDER_DONE",
    EV_BALANCE_CHANGED: "BALANCE_CHANGED",
    EV_BOOK_DELTA: "BOOK_DELTA",
    EV_ORDER_AMENDED: "ORDER_AMENDED",
    EV_SELF_TRADE_PREVENTED: "SELF_TRADE_PREVENTED",
    EV_STOP_TRIGGERED: "STOP_TRIGGERED",
    EV_POSITION_CHANGED: "POSITION_CHANGED",
    EV_MARK_PRICE: "MARK_PRICE",
    EV_FUNDING: "FUNDING",
    EV_LIQUIDATION: "LIQUIDATION",
}

# --- reason codes --------------------------------------------------------------------------
OK = 0

VALIDATION_UNKNOWN_COMMAND = -1001
VALIDATION_SEQ_NOT_INCREASING = -1002
VALIDATION_UNKNOWN_MARKET = -1003
VALIDATION_INVALID_QUANTITY = -1004
VALIDATION_INVALID_PRICE = -1005
VALIDATION_PRICE_OFF_TICK = -1006
VALIDATION_QUANTITY_OFF_LOT = -1007
VALIDATION_UNKNOWN_ACCOUNT = -1008
VALIDATION_UNKNOWN_ASSET = -1009
VALIDATION_DUPLICATE_ORDER_ID = -1010
VALIDATION_UNKNOWN_ORDER = -1011
VALIDATION_WRONG_OWNER = -1012
VALIDATION_INVALID_SIDE = -1013
VALIDATION_INVALID_ORDER_TYPE = -1014
VALIDATION_INVALID_TIME_IN_FORCE = -1015
VALIDATION_INVALID_STP_MODE = -1016
VALIDATION_MARKET_EXISTS = -1017
VALIDATION_INVALID_MARKET_SPEC = -1018
VALIDATION_INVALID_AMOUNT = -1019
VALIDATION_INVALID_FEE_RATE = -1020
VALIDATION_INVALID_STOP_PRICE = -1021
VALIDATION_VALUE_TOO_LARGE = -1022
VALIDATION_INVALID_ORDER_ID = -1023
VALIDATION_NOTIONAL_TOO_SMALL = -1024
VALIDATION_INVALID_MARKET_STATUS = -1025
VALIDATION_ORDER_NOT_AMENDABLE = -1026
VALIDATION_INVALID_FLAGS = -1027
VALIDATION_SAME_ACCOUNT = -1028
VALIDATION_STOP_WOULD_TRIGGER = -1029
VALIDATION_INVALID_LEVERAGE = -1030
VALIDATION_NOT_PERPETUAL = -1031
VALIDATION_INVALID_BRACKET = -1032
VALIDATION_INVALID_ACCOUNT_MODE = -1033

RISK_INSUFFICIENT_FUNDS = -2001
RISK_PRICE_OUTSIDE_BAND = -2002
RISK_MARKET_HALTED = -2003
RISK_MARKET_CANCEL_ONLY = -2004
RISK_INSUFFICIENT_HELD = -2005
RISK_REDUCE_ONLY = -2006
RISK_POSITION_OPEN = -2007
RISK_FUNDING_NOT_DUE = -2008
RISK_INSUFFICIENT_MARGIN = -2009
RISK_ACCOUNT_CANCEL_ONLY = -2010  # the account's mode refuses new orders and amends
RISK_ACCOUNT_REDUCE_ONLY = -2011  # the account's mode allows only orders that reduce
RISK_MARKET_REDUCE_ONLY = -2012  # the market's status allows only orders that reduce
RISK_NO_ISOLATED_POSITION = -2013  # ADJUST_MARGIN: no open isolated position there
RISK_NO_POSITION = -2014  # CLOSE_POSITION: no open position there
RISK_NO_MARK = -2015  # CLOSE_POSITION: the market has no mark price yet

MATCH_POST_ONLY_WOULD_TAKE = -3001
MATCH_FOK_NOT_FILLABLE = -3002
MATCH_IOC_REMAINDER = -3003
MATCH_NO_LIQUIDITY = -3004
MATCH_STP_EXPIRE_TAKER = -3005
MATCH_STP_EXPIRE_MAKER = -3006
MATCH_STP_EXPIRE_BOTH = -3007
MATCH_BOOK_FULL = -3008
MATCH_PRICE_LEVELS_FULL = -3009
MATCH_CANCELED_BY_USER = -3010
MATCH_MARKET_COLLAR = -3011
MATCH_CANCELED_BY_LIQUIDATION = -3012
MATCH_REDUCE_ONLY_CUT = -3013

# stage LIQUIDATION (-4xxx): the steps of a liquidation (EV_LIQUIDATION `code`) and funding
LIQ_STARTED = -4001  # the account is due; qty = positions concerned, value_a = equity - mm
LIQ_ORDERS_CANCELED = -4002  # qty = orders canceled
LIQ_ORDER_FILLED = -4003  # order_id = liquidation order, qty filled, price = average fill
LIQ_INSURANCE_PAID = -4004  # value_a = paid by the fund to cover a deficit
LIQ_INSURANCE_CREDITED = -4005  # value_a = leftover margin credited to the fund
LIQ_AUTO_DELEVERAGED = -4006  # both sides; maker_account = counterparty, price = bankruptcy
LIQ_DONE = -4007  # the account is no longer due (or has no position left)
LIQ_WOUND_DOWN = -4008  # CLOSE_POSITION: qty closed at price = mark, maker_account = the
#                         insurance fund that took the position over, value_a = realised PnL
LIQ_SOCIALIZED = -4009  # a loss neither the margin nor the fund covered: value_a = the total
#                         taken from the market's winning positions' unrealised profit (their
#                         cost raised pro rata; POSITION_CHANGED with this code), qty = how
#                         many, price = mark; account = who owed it
FUNDING_SETTLED = -4101  # EV_POSITION_CHANGED code after a funding payment
POSITION_BUSTED = -4201  # EV_POSITION_CHANGED code of a BUST_POSITION leg's party: its lots,
#                          cost, realised PnL and margin moved by the leg (no money moved)
BUST_CLEARED = -4202  # EV_POSITION_CHANGED code of the bust's clearing account: it took the
#                       leg's lots and cost; its available moved by what it holds against them

REASON_NAMES: dict[int, str] = {
    OK: "OK",
    VALIDATION_UNKNOWN_COMMAND: "UNKNOWN_COMMAND",
    VALIDATION_SEQ_NOT_INCREASING: "SEQ_NOT_INCREASING",
    VALIDATION_UNKNOWN_MARKET: "UNKNOWN_MARKET",
    VALIDATION_INVALID_QUANTITY: "INVALID_QUANTITY",
    VALIDATION_INVALID_PRICE: "INVALID_PRICE",
    VALIDATION_PRICE_OFF_TICK: "PRICE_OFF_TICK",
    VALIDATION_QUANTITY_OFF_LOT: "QUANTITY_OFF_LOT",
    VALIDATION_UNKNOWN_ACCOUNT: "UNKNOWN_ACCOUNT",
    VALIDATION_UNKNOWN_ASSET: "UNKNOWN_ASSET",
    VALIDATION_DUPLICATE_ORDER_ID: "DUPLICATE_ORDER_ID",
    VALIDATION_UNKNOWN_ORDER: "UNKNOWN_ORDER",
    VALIDATION_WRONG_OWNER: "WRONG_OWNER",
    VALIDATION_INVALID_SIDE: "INVALID_SIDE",
    VALIDATION_INVALID_ORDER_TYPE: "INVALID_ORDER_TYPE",
    VALIDATION_INVALID_TIME_IN_FORCE: "INVALID_TIME_IN_FORCE",
    VALIDATION_INVALID_STP_MODE: "INVALID_STP_MODE",
    VALIDATION_MARKET_EXISTS: "MARKET_EXISTS",
    VALIDATION_INVALID_MARKET_SPEC: "INVALID_MARKET_SPEC",
    VALIDATION_INVALID_AMOUNT: "INVALID_AMOUNT",
    VALIDATION_INVALID_FEE_RATE: "INVALID_FEE_RATE",
    VALIDATION_INVALID_STOP_PRICE: "INVALID_STOP_PRICE",
    VALIDATION_VALUE_TOO_LARGE: "VALUE_TOO_LARGE",
    VALIDATION_INVALID_ORDER_ID: "INVALID_ORDER_ID",
    VALIDATION_NOTIONAL_TOO_SMALL: "NOTIONAL_TOO_SMALL",
    VALIDATION_INVALID_MARKET_STATUS: "INVALID_MARKET_STATUS",
    VALIDATION_ORDER_NOT_AMENDABLE: "ORDER_NOT_AMENDABLE",
    VALIDATION_INVALID_FLAGS: "INVALID_FLAGS",
    VALIDATION_SAME_ACCOUNT: "SAME_ACCOUNT",
    VALIDATION_STOP_WOULD_TRIGGER: "STOP_WOULD_TRIGGER",
    RISK_INSUFFICIENT_FUNDS: "INSUFFICIENT_FUNDS",
    RISK_PRICE_OUTSIDE_BAND: "PRICE_OUTSIDE_BAND",
    RISK_MARKET_HALTED: "MARKET_HALTED",
    RISK_MARKET_CANCEL_ONLY: "MARKET_CANCEL_ONLY",
    RISK_INSUFFICIENT_HELD: "INSUFFICIENT_HELD",
    MATCH_POST_ONLY_WOULD_TAKE: "POST_ONLY_WOULD_TAKE",
    MATCH_FOK_NOT_FILLABLE: "FOK_NOT_FILLABLE",
    MATCH_IOC_REMAINDER: "IOC_REMAINDER",
    MATCH_NO_LIQUIDITY: "NO_LIQUIDITY",
    MATCH_STP_EXPIRE_TAKER: "STP_EXPIRE_TAKER",
    MATCH_STP_EXPIRE_MAKER: "STP_EXPIRE_MAKER",
    MATCH_STP_EXPIRE_BOTH: "STP_EXPIRE_BOTH",
    MATCH_BOOK_FULL: "BOOK_FULL",
    MATCH_PRICE_LEVELS_FULL: "PRICE_LEVELS_FULL",
    MATCH_CANCELED_BY_USER: "CANCELED_BY_USER",
    MATCH_MARKET_COLLAR: "MARKET_COLLAR",
    VALIDATION_INVALID_LEVERAGE: "INVALID_LEVERAGE",
    VALIDATION_NOT_PERPETUAL: "NOT_PERPETUAL",
    VALIDATION_INVALID_BRACKET: "INVALID_BRACKET",
    RISK_REDUCE_ONLY: "REDUCE_ONLY",
    RISK_POSITION_OPEN: "POSITION_OPEN",
    RISK_FUNDING_NOT_DUE: "FUNDING_NOT_DUE",
    RISK_INSUFFICIENT_MARGIN: "INSUFFICIENT_MARGIN",
    MATCH_CANCELED_BY_LIQUIDATION: "CANCELED_BY_LIQUIDATION",
    MATCH_REDUCE_ONLY_CUT: "REDUCE_ONLY_CUT",
    LIQ_STARTED: "LIQ_STARTED",
    LIQ_ORDERS_CANCELED: "LIQ_ORDERS_CANCELED",
    LIQ_ORDER_FILLED: "LIQ_ORDER_FILLED",
    LIQ_INSURANCE_PAID: "LIQ_INSURANCE_PAID",
    LIQ_INSURANCE_CREDITED: "LIQ_INSURANCE_CREDITED",
    LIQ_AUTO_DELEVERAGED: "LIQ_AUTO_DELEVERAGED",
    LIQ_DONE: "LIQ_DONE",
    FUNDING_SETTLED: "FUNDING_SETTLED",
    VALIDATION_INVALID_ACCOUNT_MODE: "INVALID_ACCOUNT_MODE",
    RISK_ACCOUNT_CANCEL_ONLY: "ACCOUNT_CANCEL_ONLY",
    RISK_ACCOUNT_REDUCE_ONLY: "ACCOUNT_REDUCE_ONLY",
    RISK_MARKET_REDUCE_ONLY: "MARKET_REDUCE_ONLY",
    RISK_NO_ISOLATED_POSITION: "NO_ISOLATED_POSITION",
    RISK_NO_POSITION: "NO_POSITION",
    RISK_NO_MARK: "NO_MARK",
    LIQ_WOUND_DOWN: "LIQ_WOUND_DOWN",
    LIQ_SOCIALIZED: "LIQ_SOCIALIZED",
    POSITION_BUSTED: "POSITION_BUSTED",
    BUST_CLEARED: "BUST_CLEARED",
}

# Reasons only perpetual markets produce (the spot reference model never does).
PERP_REASONS: frozenset[int] = frozenset(
    {
        VALIDATION_INVALID_LEVERAGE, VALIDATION_NOT_PERPETUAL, VALIDATION_INVALID_BRACKET,
        RISK_REDUCE_ONLY, RISK_POSITION_OPEN, RISK_FUNDING_NOT_DUE, RISK_INSUFFICIENT_MARGIN,
        MATCH_CANCELED_BY_LIQUIDATION, MATCH_REDUCE_ONLY_CUT, LIQ_STARTED, LIQ_ORDERS_CANCELED,
        LIQ_ORDER_FILLED, LIQ_INSURANCE_PAID, LIQ_INSURANCE_CREDITED, LIQ_AUTO_DELEVERAGED,
        LIQ_DONE, FUNDING_SETTLED, RISK_NO_ISOLATED_POSITION, RISK_NO_POSITION, RISK_NO_MARK,
        LIQ_WOUND_DOWN, LIQ_SOCIALIZED, POSITION_BUSTED, BUST_CLEARED,
    }
)  # fmt: skip


def reason_stage(code: int) -> str:
    """Return the stage of a reason code: OK, VALIDATION, RISK, MATCH or LIQUIDATION."""
    if code == OK:
        return "OK"
    return {1: "VALIDATION", 2: "RISK", 3: "MATCH", 4: "LIQUIDATION"}.get(-code // 1000, "UNKNOWN")
