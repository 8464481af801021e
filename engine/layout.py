"""Memory layout of the engine: command and event dtypes, state column indices, capacities.

Owns every number that describes *where* something lives; imports numpy only. Kernels index
the state arrays with the column constants below, so a reader can follow any field from a
command to the book. Changing a column index invalidates snapshots (bump SNAPSHOT_VERSION)
and Numba's on-disk cache (delete ``__pycache__/*.nb[ic]`` under ``engine/kernels``).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

I64Array = npt.NDArray[np.int64]
Records = npt.NDArray[Any]  # an array of COMMAND_DTYPE or EVENT_DTYPE records
Record = Any  # one such record (numpy.void in Python, a Record inside kernels)

NIL = -1  # "no slot / no order / no level" in every linked structure
SNAPSHOT_VERSION = 4  # 2: perpetual futures (pos, perp arrays; new columns); 3: A_MODE;
#                      4: one-word id-map buckets, 16-column order rows

# Hard limits that keep every product and sum inside int64 (checked on input, so kernels
# never overflow): notional = price * qty * quote_per_tick_lot <= MAX_NOTIONAL_MINOR, and the
# outstanding total of any asset (credits - debits) <= MAX_TOTAL_MINOR.
MAX_PRICE_TICKS = 1 << 40
MAX_QTY_LOTS = 1 << 40
MAX_UNIT_MINOR = 1 << 40  # base_per_lot and quote_per_tick_lot
MAX_NOTIONAL_MINOR = 1 << 61
MAX_TOTAL_MINOR = 1 << 62
MAX_BPS = 10_000

# --- commands ------------------------------------------------------------------------------
# Perpetual commands (SET_MARGIN_BRACKET .. ADJUST_MARGIN) reuse these fields: see the comment
# next to each kind in engine/codes.py and the constructors in engine/commands.py.
COMMAND_DTYPE = np.dtype(
    [
        ("seq", np.int64),  # global sequence number; must exceed the last applied one
        ("ts_ns", np.int64),  # caller-supplied time (the engine never reads a clock)
        ("client_tag", np.int64),  # opaque, echoed in ACCEPTED / REJECTED (value_a)
        ("order_id", np.int64),  # PLACE: new id (> 0, unique among live orders);
        #                          CANCEL / AMEND: the order concerned
        ("price", np.int64),  # PLACE / AMEND: limit price ticks; SET_REFERENCE_PRICE and
        #                       ADD_MARKET: (initial) reference price ticks
        ("qty", np.int64),  # PLACE: lots; AMEND: new remaining lots; ADD_MARKET: base_per_lot
        ("stop_price", np.int64),  # STOP_*: trigger price ticks; ADD_MARKET: quote_per_tick_lot
        ("amount", np.int64),  # balance commands: minor units; ADD_MARKET: min notional
        ("account", np.int32),  # owner / source account; ADD_MARKET: fee account
        ("account2", np.int32),  # TRANSFER: destination account
        ("market", np.int32),  # market id (dense, < max_markets)
        ("asset", np.int32),  # balance commands: asset; ADD_MARKET: base asset
        ("asset2", np.int32),  # ADD_MARKET: quote asset
        ("bps1", np.int32),  # SET_FEE_RATE: maker bps; ADD_MARKET: price band bps (0 = off)
        ("bps2", np.int32),  # SET_FEE_RATE: taker bps; ADD_MARKET: market collar bps (>= 1)
        ("tick_step", np.int32),  # ADD_MARKET: prices must be multiples of it (>= 1)
        ("lot_step", np.int32),  # ADD_MARKET: quantities must be multiples of it (>= 1)
        ("kind", np.int16),  # engine.codes command kind
        ("side", np.int8),  # BUY / SELL
        ("order_type", np.int8),  # LIMIT / MARKET / STOP_MARKET / STOP_LIMIT
        ("tif", np.int8),  # GTC / IOC / FOK
        ("stp", np.int8),  # STP mode; 0 = market default (ADD_MARKET: the default)
        ("flags", np.int8),  # FLAG_POST_ONLY | FLAG_REDUCE_ONLY; ADD_MARKET: MARKET_FLAG_PERPETUAL
        ("status", np.int8),  # SET_MARKET_STATUS / ADD_MARKET: market status;
        #                       SET_MARGIN_BRACKET: index; SET_LEVERAGE: margin mode
    ],
    align=True,
)

# --- events --------------------------------------------------------------------------------
# Field meaning per kind (unused fields are 0):
#   ACCEPTED / REJECTED  order_id, account, market, asset, side, price, qty (lots, or minor
#                        units for balance commands), status (order: NEW or PENDING_TRIGGER),
#                        code, value_a = client_tag, value_b = command kind
#   TRADE                order_id = taker, maker_order_id, account = taker account,
#                        maker_account, market, side = taker side, price, qty,
#                        value_a = maker fee, value_b = taker fee (quote minor units),
#                        market_seq = per-market trade number
#   ORDER_DONE           order_id, account, market, side, price, status (final), code (reason),
#                        qty = filled lots in total, value_a = lots left unfilled
#   BALANCE_CHANGED      account, asset, value_a = available, value_b = locked (absolute,
#                        one per touched balance at the end of each command)
#   BOOK_DELTA           market, side, price, qty = new absolute level quantity (0 = gone),
#                        market_seq = the market's book sequence (+1 per delta)
#   ORDER_AMENDED        order_id, account, market, side, price, qty = new remaining lots,
#                        value_a = 1 if time priority was kept
#   SELF_TRADE_PREVENTED order_id = taker, maker_order_id, account, maker_account, market,
#                        side = taker side, price = maker price, qty = prevented lots, code
#   STOP_TRIGGERED       order_id, account, market, side, price = triggering trade price,
#                        qty = remaining lots
#   POSITION_CHANGED     account, market, qty = signed lots, value_a = cost (signed quote
#                        minor), value_b = position margin, order_id = cumulative realised
#                        PnL, maker_order_id = leverage, status = margin mode, price = mark
#                        ticks, code = why (OK: trade / leverage / margin change; FUNDING_SETTLED;
#                        LIQ_*), absolute values, one per touched position per command
#   MARK_PRICE           market, price = mark ticks, qty = index ticks, value_a = funding rate
#                        estimate ppm, value_b = next funding time ns, market_seq = the market's
#                        mark sequence
#   FUNDING              account, market, qty = position lots, price = mark, value_a = payment
#                        (signed: + received, - paid), value_b = rate ppm
#   LIQUIDATION          account, market, code = step (LIQ_*), order_id = liquidation order id,
#                        qty, price (bankruptcy or fill price), value_a = amount (insurance
#                        paid / credited, or realised loss), maker_account = ADL counterparty,
#                        value_b = insurance fund balance after
EVENT_DTYPE = np.dtype(
    [
        ("seq", np.int64),
        ("market_seq", np.int64),
        ("order_id", np.int64),
        ("maker_order_id", np.int64),
        ("price", np.int64),
        ("qty", np.int64),
        ("value_a", np.int64),
        ("value_b", np.int64),
        ("account", np.int32),
        ("maker_account", np.int32),
        ("market", np.int32),
        ("asset", np.int32),
        ("code", np.int16),
        ("kind", np.int8),
        ("side", np.int8),
        ("status", np.int8),
    ],
    align=True,
)
# The kernels write code, kind, side, status and the 3 bytes of padding after them as one
# little-endian int64 at this offset (engine.kernels.emit), so no event byte is undefined.
EV_TAIL_OFFSET = 80
_EVENT_FIELDS: dict[str, Any] = dict(EVENT_DTYPE.fields or {})
if (
    sys.byteorder != "little"
    or EVENT_DTYPE.itemsize != EV_TAIL_OFFSET + 8
    or [_EVENT_FIELDS[f][1] for f in ("code", "kind", "side", "status")] != [80, 82, 83, 84]
):
    raise ImportError("engine.layout: EVENT_DTYPE tail layout differs from EV_TAIL_OFFSET")

# --- order rows: orders[slot, O_*] ---------------------------------------------------------
# 16 words = 128 bytes, rows 128-byte aligned (engine.state): the first 64-byte line holds
# what matching, resting and cancelling read and write, the second the queue links and the
# fields only acceptance, stops and reads use. The small fields are packed into O_BITS and
# O_FEES; kernels read and write them only through engine.kernels.row, Python through the
# unpack helpers below (the shifts and masks are these constants, nowhere else).
O_ID = 0
O_ACCOUNT = 1
O_MARKET = 2
O_BITS = 3  # status, side, type, tif, flags, stp, leverage: OB_* below
O_PRICE = 4  # limit price; STOP_MARKET: collar price computed from the stop price
O_REMAINING = 5
O_FILLED = 6
O_LOCKED = 7  # funds locked for the remaining quantity (quote for buys, base for sells)
O_NEXT = 8  # FIFO at the price level / stop list / free list
O_PREV = 9
O_FEES = 10  # maker and taker bps captured at acceptance: OF_* below
O_QTY = 11  # filled + remaining
O_STOP_PRICE = 12
O_SEQ = 13
O_TS = 14
O_CLIENT_TAG = 15
O_NFIELDS = 16
ORDER_ROW_ALIGN = 128  # bytes: a row never straddles more cache lines than it needs

# O_BITS: one byte each (all are small codes), then the perp leverage (spot: 0)
OB_STATUS = 0
OB_SIDE = 8
OB_TYPE = 16
OB_TIF = 24
OB_FLAGS = 32
OB_STP = 40  # resolved mode (never STP_MARKET_DEFAULT)
OB_BYTE = 0xFF
OB_LEVERAGE = 48  # perp: leverage captured at acceptance (its margin lock uses it)
OB_LEVERAGE_MASK = 0x7FFF
# O_FEES: maker bps in the low half, taker bps in the high half (0..MAX_BPS each)
OF_TAKER = 32
OF_MASK = 0x7FFFFFFF


def pack_bits(side: Any, order_type: Any, tif: Any, flags: Any, stp: Any, status: Any,
              leverage: Any) -> Any:  # fmt: skip
    """O_BITS of these fields (ints or int64 arrays; each masked to its width)."""
    return (
        (status & OB_BYTE) << OB_STATUS
        | (side & OB_BYTE) << OB_SIDE
        | (order_type & OB_BYTE) << OB_TYPE
        | (tif & OB_BYTE) << OB_TIF
        | (flags & OB_BYTE) << OB_FLAGS
        | (stp & OB_BYTE) << OB_STP
        | (leverage & OB_LEVERAGE_MASK) << OB_LEVERAGE
    )


def pack_fees(maker_bps: Any, taker_bps: Any) -> Any:
    """O_FEES of two fee rates (ints or int64 arrays)."""
    return (maker_bps & OF_MASK) | (taker_bps & OF_MASK) << OF_TAKER


def unpack_row(row: Any) -> dict[str, Any]:
    """The packed fields of an order row (or of a 2-d block of rows: arrays), by name."""
    bits, fees = row[..., O_BITS], row[..., O_FEES]
    return {
        "status": bits >> OB_STATUS & OB_BYTE,
        "side": bits >> OB_SIDE & OB_BYTE,
        "order_type": bits >> OB_TYPE & OB_BYTE,
        "tif": bits >> OB_TIF & OB_BYTE,
        "flags": bits >> OB_FLAGS & OB_BYTE,
        "stp": bits >> OB_STP & OB_BYTE,
        "leverage": bits >> OB_LEVERAGE & OB_LEVERAGE_MASK,
        "maker_bps": fees & OF_MASK,
        "taker_bps": fees >> OF_TAKER & OF_MASK,
    }


# --- price levels: levels[market, side, i, LV_*], sorted so the best level is last ---------
LV_PRICE = 0
LV_QTY = 1
LV_HEAD = 2
LV_TAIL = 3
LV_COUNT = 4
LV_NFIELDS = 5

# --- markets[market, M_*] ------------------------------------------------------------------
M_ACTIVE = 0
M_BASE = 1
M_QUOTE = 2
M_BASE_PER_LOT = 3
M_QUOTE_PER_TICK_LOT = 4
M_MIN_NOTIONAL = 5
M_BAND_BPS = 6
M_COLLAR_BPS = 7
M_STP_DEFAULT = 8
M_FEE_ACCOUNT = 9
M_REF_PRICE = 10
M_LAST_PRICE = 11  # last trade price, 0 before the first trade
M_STATUS = 12
M_BOOK_SEQ = 13
M_TRADE_SEQ = 14
M_NLEVELS = 15  # M_NLEVELS + side
M_LIVE = 17  # live orders (resting + pending stops)
M_STOP_HEAD = 18
M_STOP_TAIL = 19
M_TICK_STEP = 20
M_LOT_STEP = 21
M_PERP = 22  # 1 for a perpetual market (ADD_MARKET flags MARKET_FLAG_PERPETUAL)
M_NFIELDS = 23

# --- balances[account, asset, B_*] ---------------------------------------------------------
B_AVAILABLE = 0
B_LOCKED = 1  # orders + withdrawal holds
B_HELD = 2  # the withdrawal-hold part of B_LOCKED
B_STAMP = 3  # command counter of the last touch (coalesces BALANCE_CHANGED events)
B_NFIELDS = 4

# --- accounts[account, A_*] ----------------------------------------------------------------
A_MAKER_BPS = 0
A_TAKER_BPS = 1
A_MODE = 2  # ACCOUNT_MODE_* (engine.codes): what the account's new orders and amends may do
A_NFIELDS = 3

# --- assets[asset, AS_*] -------------------------------------------------------------------
AS_CREDITS = 0
AS_DEBITS = 1
AS_FEES = 2
AS_OPEN_COST = 3  # sum of the open cost of every perp position margined in this asset
AS_NFIELDS = 4

# --- scalars sc[S_*] -----------------------------------------------------------------------
S_LAST_SEQ = 0
S_FREE_HEAD = 1
S_LIVE_ORDERS = 2
S_COUNTER = 3  # commands applied (balance touch stamp)
S_NEV = 4  # scratch: events written in the current batch
S_NTOUCH = 5  # scratch: balances touched by the current command
S_LIQ_ORDERS = 6  # liquidation orders sent so far (ids LIQ_ORDER_ID_BASE + n)
S_OPEN_POSITIONS = 7  # perp positions with qty != 0, all markets (bounds liquidation events)
S_NFIELDS = 8

# --- perp positions pos[account, market, P_*] ---------------------------------------------
P_QTY = 0  # signed lots, long > 0
P_COST = 1  # signed quote minor: sum of the signed fill notionals of the open part
P_MARGIN = 2  # position margin, held in the quote balance's locked part
P_LEVERAGE = 3  # 0 = default (min(DEFAULT_LEVERAGE, bracket 0 max))
P_MODE = 4  # MARGIN_CROSS / MARGIN_ISOLATED
P_REALIZED = 5  # cumulative realised PnL (funding included)
P_STAMP = 6  # command counter of the last touch (coalesces POSITION_CHANGED)
P_CODE = 7  # reason reported in this command's POSITION_CHANGED
P_NFIELDS = 8
# In `touched`, a position is recorded as (account, -1 - market); a balance as (account, asset).

# --- perp market params perp[market, PM_*] -------------------------------------------------
PM_INSURANCE = 0  # insurance fund account
PM_INTERVAL = 1  # funding interval ns (0: params not set, no funding)
PM_FUNDING_CAP = 2  # bps
PM_BASIS_CAP = 3  # bps
PM_INDEX = 4  # ticks, 0 = none yet
PM_MARK = 5  # ticks, 0 = none yet
PM_NEXT_FUNDING = 6  # ns
PM_MARK_SEQ = 7
PM_NBRACKETS = 8
PM_BRACKETS = 9  # then BR_NFIELDS columns per bracket, MAX_BRACKETS brackets
BR_FLOOR = 0
BR_MMR_PPM = 1
BR_MAINT = 2
BR_MAX_LEVERAGE = 3
BR_NFIELDS = 4
PM_NFIELDS = PM_BRACKETS + 8 * BR_NFIELDS

# --- idmap[i]: open addressing, linear probing, one word per bucket, 0 = empty -------------
# A bucket holds (slot + 1) << IDMAP_SLOT_SHIFT | tag, tag = 32 bits of the order id's hash
# (engine.kernels.idmap). Slots stay below MAX_ORDERS < 2**31 and the table below 2**32
# buckets, so a word is positive and its tag holds the whole home-bucket index.
IDMAP_SLOT_SHIFT = 32
IDMAP_TAG_MASK = (1 << IDMAP_SLOT_SHIFT) - 1
MAX_ORDERS = (1 << 31) - 1
MAX_IDMAP_CAPACITY = 1 << 32


@dataclass(frozen=True)
class EngineConfig:
    """Capacities; every array is allocated once from these and never reallocated."""

    max_markets: int = 8
    max_accounts: int = 1024
    max_assets: int = 8
    max_orders: int = 100_000  # live orders (resting + pending stops), all markets
    max_price_levels: int = 4096  # per market and side

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not 1 <= value <= 1 << 31:
                raise ValueError(f"EngineConfig.{name} must be in [1, 2**31], got {value}")
        if self.max_orders > MAX_ORDERS:  # the id map's words hold slot + 1 in 31 bits
            raise ValueError(
                f"EngineConfig.max_orders must be <= {MAX_ORDERS}, got {self.max_orders}"
            )

    @property
    def idmap_capacity(self) -> int:
        """Power of two at least twice max_orders: probes stay short."""
        cap = 1
        while cap < 2 * self.max_orders:
            cap <<= 1
        assert cap <= MAX_IDMAP_CAPACITY  # max_orders <= MAX_ORDERS
        return cap

    def to_array(self) -> I64Array:
        """Serialise for snapshots."""
        return np.array(list(asdict(self).values()), dtype=np.int64)

    @classmethod
    def from_array(cls, values: I64Array) -> EngineConfig:
        """Inverse of to_array."""
        return cls(*(int(v) for v in values))
