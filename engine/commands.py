"""Command constructors: one record per call, and a CommandBuilder over a preallocated array.

The API layer builds commands here instead of poking dtype fields; each function returns a
one-element COMMAND_DTYPE array that `Engine.apply` accepts as is. Imports numpy only.
"""

from __future__ import annotations

import numpy as np

from engine import codes
from engine.layout import COMMAND_DTYPE, Records


def _one(seq: int, ts_ns: int, kind: int, client_tag: int = 0) -> Records:
    rec = np.zeros(1, dtype=COMMAND_DTYPE)
    rec["seq"] = seq
    rec["ts_ns"] = ts_ns
    rec["kind"] = kind
    rec["client_tag"] = client_tag
    return rec


def place(
    seq: int,
    ts_ns: int,
    *,
    order_id: int,
    account: int,
    market: int,
    side: int,
    qty_lots: int,
    price_ticks: int = 0,
    order_type: int = codes.LIMIT,
    tif: int | None = None,
    stop_price_ticks: int = 0,
    stp: int = codes.STP_MARKET_DEFAULT,
    post_only: bool = False,
    reduce_only: bool = False,
    client_tag: int = 0,
) -> Records:
    """PLACE_ORDER. `tif` defaults to GTC for limits and IOC for market-type orders.

    `reduce_only` (perpetual markets only) may only shrink the account's position.
    """
    if tif is None:
        tif = codes.IOC if order_type in (codes.MARKET, codes.STOP_MARKET) else codes.GTC
    rec = _one(seq, ts_ns, codes.PLACE_ORDER, client_tag)
    rec["order_id"] = order_id
    rec["account"] = account
    rec["market"] = market
    rec["side"] = side
    rec["qty"] = qty_lots
    rec["price"] = price_ticks
    rec["order_type"] = order_type
    rec["tif"] = tif
    rec["stop_price"] = stop_price_ticks
    rec["stp"] = stp
    rec["flags"] = (codes.FLAG_POST_ONLY if post_only else 0) | (
        codes.FLAG_REDUCE_ONLY if reduce_only else 0
    )
    return rec


def cancel(seq: int, ts_ns: int, *, order_id: int, account: int, client_tag: int = 0) -> Records:
    """CANCEL_ORDER of one live order owned by `account`."""
    rec = _one(seq, ts_ns, codes.CANCEL_ORDER, client_tag)
    rec["order_id"] = order_id
    rec["account"] = account
    return rec


def cancel_all(seq: int, ts_ns: int, *, account: int, market: int, client_tag: int = 0) -> Records:
    """CANCEL_ALL of `account`'s orders (resting and pending stops) in `market`."""
    rec = _one(seq, ts_ns, codes.CANCEL_ALL, client_tag)
    rec["account"] = account
    rec["market"] = market
    return rec


def amend(
    seq: int,
    ts_ns: int,
    *,
    order_id: int,
    account: int,
    price_ticks: int,
    qty_lots: int,
    client_tag: int = 0,
) -> Records:
    """AMEND_ORDER: new limit price and new *remaining* quantity."""
    rec = _one(seq, ts_ns, codes.AMEND_ORDER, client_tag)
    rec["order_id"] = order_id
    rec["account"] = account
    rec["price"] = price_ticks
    rec["qty"] = qty_lots
    return rec


def add_market(
    seq: int,
    ts_ns: int,
    *,
    market: int,
    base_asset: int,
    quote_asset: int,
    base_per_lot: int,
    quote_per_tick_lot: int,
    fee_account: int,
    min_notional_minor: int = 0,
    band_bps: int = 0,
    collar_bps: int = 500,
    stp_default: int = codes.STP_EXPIRE_TAKER,
    reference_price_ticks: int = 0,
    status: int = codes.MARKET_TRADING,
    tick_step: int = 1,
    lot_step: int = 1,
    perpetual: bool = False,
) -> Records:
    """ADD_MARKET: notional_quote_minor = price_ticks * qty_lots * quote_per_tick_lot.

    `perpetual`: a linear perpetual futures market margined in `quote_asset` (`base_asset`
    is informational: no base balance moves); set its brackets and params next.
    """
    rec = _one(seq, ts_ns, codes.ADD_MARKET)
    rec["market"] = market
    rec["asset"] = base_asset
    rec["asset2"] = quote_asset
    rec["qty"] = base_per_lot
    rec["stop_price"] = quote_per_tick_lot
    rec["account"] = fee_account
    rec["amount"] = min_notional_minor
    rec["bps1"] = band_bps
    rec["bps2"] = collar_bps
    rec["stp"] = stp_default
    rec["price"] = reference_price_ticks
    rec["status"] = status
    rec["tick_step"] = tick_step
    rec["lot_step"] = lot_step
    rec["flags"] = codes.MARKET_FLAG_PERPETUAL if perpetual else 0
    return rec


def set_market_status(seq: int, ts_ns: int, *, market: int, status: int) -> Records:
    """SET_MARKET_STATUS: TRADING, HALTED or CANCEL_ONLY."""
    rec = _one(seq, ts_ns, codes.SET_MARKET_STATUS)
    rec["market"] = market
    rec["status"] = status
    return rec


def set_reference_price(seq: int, ts_ns: int, *, market: int, price_ticks: int) -> Records:
    """SET_REFERENCE_PRICE: centre of the price band until the next trade."""
    rec = _one(seq, ts_ns, codes.SET_REFERENCE_PRICE)
    rec["market"] = market
    rec["price"] = price_ticks
    return rec


def set_fee_rate(seq: int, ts_ns: int, *, account: int, maker_bps: int, taker_bps: int) -> Records:
    """SET_FEE_RATE: applies to orders accepted from now on."""
    rec = _one(seq, ts_ns, codes.SET_FEE_RATE)
    rec["account"] = account
    rec["bps1"] = maker_bps
    rec["bps2"] = taker_bps
    return rec


def _money(
    kind: int, seq: int, ts_ns: int, account: int, asset: int, amount: int, tag: int
) -> Records:
    rec = _one(seq, ts_ns, kind, tag)
    rec["account"] = account
    rec["asset"] = asset
    rec["amount"] = amount
    return rec


def deposit_credit(
    seq: int, ts_ns: int, *, account: int, asset: int, amount_minor: int, client_tag: int = 0
) -> Records:
    """DEPOSIT_CREDIT: custody confirmed a deposit."""
    return _money(codes.DEPOSIT_CREDIT, seq, ts_ns, account, asset, amount_minor, client_tag)


def withdrawal_hold(
    seq: int, ts_ns: int, *, account: int, asset: int, amount_minor: int, client_tag: int = 0
) -> Records:
    """WITHDRAWAL_HOLD: available -> locked (held) while the withdrawal is approved."""
    return _money(codes.WITHDRAWAL_HOLD, seq, ts_ns, account, asset, amount_minor, client_tag)


def withdrawal_release(
    seq: int, ts_ns: int, *, account: int, asset: int, amount_minor: int, client_tag: int = 0
) -> Records:
    """WITHDRAWAL_RELEASE: a held withdrawal failed or was refused; held -> available."""
    return _money(codes.WITHDRAWAL_RELEASE, seq, ts_ns, account, asset, amount_minor, client_tag)


def withdrawal_debit(
    seq: int, ts_ns: int, *, account: int, asset: int, amount_minor: int, client_tag: int = 0
) -> Records:
    """WITHDRAWAL_DEBIT: the held funds left custody."""
    return _money(codes.WITHDRAWAL_DEBIT, seq, ts_ns, account, asset, amount_minor, client_tag)


def transfer(
    seq: int,
    ts_ns: int,
    *,
    from_account: int,
    to_account: int,
    asset: int,
    amount_minor: int,
    client_tag: int = 0,
) -> Records:
    """TRANSFER between two accounts, from available to available, atomically."""
    rec = _money(codes.TRANSFER, seq, ts_ns, from_account, asset, amount_minor, client_tag)
    rec["account2"] = to_account
    return rec


def set_margin_bracket(
    seq: int,
    ts_ns: int,
    *,
    market: int,
    index: int,
    notional_floor_minor: int,
    maint_rate_ppm: int,
    maint_amount_minor: int,
    max_leverage: int,
) -> Records:
    """SET_MARGIN_BRACKET: bracket `index` (0..7, set in order; bracket 0 has floor 0) of a
    perpetual market: mm = ceil(notional * rate_ppm / 1e6) - maint_amount above the floor."""
    rec = _one(seq, ts_ns, codes.SET_MARGIN_BRACKET)
    rec["market"] = market
    rec["status"] = index
    rec["amount"] = notional_floor_minor
    rec["price"] = maint_amount_minor
    rec["qty"] = maint_rate_ppm
    rec["bps1"] = max_leverage
    return rec


def set_perp_params(
    seq: int,
    ts_ns: int,
    *,
    market: int,
    insurance_account: int,
    funding_interval_ns: int,
    funding_cap_bps: int,
    basis_cap_bps: int,
    index_price_ticks: int = 0,
) -> Records:
    """SET_PERP_PARAMS: insurance fund account, funding interval and caps, initial index."""
    rec = _one(seq, ts_ns, codes.SET_PERP_PARAMS)
    rec["market"] = market
    rec["account"] = insurance_account
    rec["amount"] = funding_interval_ns
    rec["bps1"] = funding_cap_bps
    rec["bps2"] = basis_cap_bps
    rec["price"] = index_price_ticks
    return rec


def set_leverage(
    seq: int, ts_ns: int, *, account: int, market: int, leverage: int, margin_mode: int
) -> Records:
    """SET_LEVERAGE: the account's leverage and margin mode (MARGIN_CROSS / _ISOLATED)."""
    rec = _one(seq, ts_ns, codes.SET_LEVERAGE)
    rec["account"] = account
    rec["market"] = market
    rec["bps1"] = leverage
    rec["status"] = margin_mode
    return rec


def set_index_price(seq: int, ts_ns: int, *, market: int, price_ticks: int) -> Records:
    """SET_INDEX_PRICE: new index; recomputes the mark and runs the liquidation sweep."""
    rec = _one(seq, ts_ns, codes.SET_INDEX_PRICE)
    rec["market"] = market
    rec["price"] = price_ticks
    return rec


def apply_funding(seq: int, ts_ns: int, *, market: int) -> Records:
    """APPLY_FUNDING: settle one funding interval (refused before the next funding time)."""
    rec = _one(seq, ts_ns, codes.APPLY_FUNDING)
    rec["market"] = market
    return rec


def adjust_margin(seq: int, ts_ns: int, *, account: int, market: int, amount_minor: int) -> Records:
    """ADJUST_MARGIN: add (> 0) or remove (< 0) isolated margin of the account's position."""
    rec = _one(seq, ts_ns, codes.ADJUST_MARGIN)
    rec["account"] = account
    rec["market"] = market
    rec["amount"] = amount_minor
    return rec


def set_account_mode(seq: int, ts_ns: int, *, account: int, mode: int) -> Records:
    """SET_ACCOUNT_MODE: what the account's new orders and amends may do from now on
    (codes.ACCOUNT_MODE_*); its resting orders stay, cancels always run."""
    rec = _one(seq, ts_ns, codes.SET_ACCOUNT_MODE)
    rec["account"] = account
    rec["status"] = mode
    return rec


def close_position_at_mark(seq: int, ts_ns: int, *, account: int, market: int) -> Records:
    """CLOSE_POSITION: close the account's perpetual position at the market's mark; the
    market's insurance fund account takes it over at that price (a wind-down step)."""
    rec = _one(seq, ts_ns, codes.CLOSE_POSITION)
    rec["account"] = account
    rec["market"] = market
    return rec


def bust_position(
    seq: int, ts_ns: int, *, account: int, clearing_account: int, market: int, qty_lots: int,
    cost_minor: int, realized_minor: int, margin_minor: int,
) -> Records:  # fmt: skip
    """BUST_POSITION leg (engine/kernels/perp_bust.py): the account's position in the
    perpetual market moves by these signed deltas (no money moves with the realised PnL; an
    increase of margin locks at most what is available); the bust's clearing account takes
    the opposite lots and cost."""
    rec = _one(seq, ts_ns, codes.BUST_POSITION)
    rec["account"] = account
    rec["account2"] = clearing_account
    rec["market"] = market
    rec["qty"] = qty_lots
    rec["price"] = cost_minor
    rec["stop_price"] = realized_minor
    rec["amount"] = margin_minor
    rec["status"] = codes.BUST_LEG
    return rec


def bust_carry(seq: int, ts_ns: int, *, clearing_account: int, market: int) -> Records:
    """BUST_POSITION carry: the clearing account's flat position settles its cost against
    its available balance (as much as it has)."""
    rec = _one(seq, ts_ns, codes.BUST_POSITION)
    rec["account"] = clearing_account
    rec["market"] = market
    rec["status"] = codes.BUST_CARRY
    return rec


class CommandBuilder:
    """Fills a preallocated command array; `commands` is a view of what was appended."""

    def __init__(self, capacity: int = 1024) -> None:
        self._buf: Records = np.zeros(capacity, dtype=COMMAND_DTYPE)
        self._n = 0

    def append(self, records: Records) -> None:
        """Append one or more records (e.g. from `place(...)`), growing if needed."""
        k = len(records)
        if self._n + k > len(self._buf):
            grown = np.zeros(max(2 * len(self._buf), self._n + k), dtype=COMMAND_DTYPE)
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        self._buf[self._n : self._n + k] = records
        self._n += k

    def __len__(self) -> int:
        return self._n

    @property
    def commands(self) -> Records:
        """The appended commands (a view: copy it if the builder is reused)."""
        return self._buf[: self._n]

    def clear(self) -> None:
        """Forget appended commands, keeping the buffer."""
        self._n = 0
