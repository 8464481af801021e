"""Event writers: every event the engine produces is appended here.

`sc[S_NEV]` counts events written in the current batch. The buffer never fills in the middle
of a command: apply_batch checks `event_bound` before each command and hands control back to
Python (which grows the buffer) when the room left is smaller. Kernels are compiled without
Numba's reference counting (`_nrt=False`): they only index preallocated arrays.
Pure kernels, no I/O.
"""

from __future__ import annotations

from engine.codes import (
    DEPOSIT_CREDIT,
    EV_ACCEPTED,
    EV_BOOK_DELTA,
    EV_ORDER_AMENDED,
    EV_ORDER_DONE,
    EV_REJECTED,
    EV_SELF_TRADE_PREVENTED,
    EV_STOP_TRIGGERED,
    EV_TRADE,
    OK,
    TRANSFER,
    WITHDRAWAL_DEBIT,
)
from engine.kernels.jit import inline, store_word
from engine.kernels.row import side_of
from engine.layout import (
    EV_TAIL_OFFSET,
    O_ACCOUNT,
    O_FILLED,
    O_ID,
    O_MARKET,
    O_PRICE,
    O_REMAINING,
    S_NEV,
    I64Array,
    Record,
    Records,
)


@inline
def emit(
    ev: Records,
    sc: I64Array,
    kind: int,
    seq: int,
    market_seq: int,
    order_id: int,
    maker_order_id: int,
    price: int,
    qty: int,
    value_a: int,
    value_b: int,
    account: int,
    maker_account: int,
    market: int,
    asset: int,
    code: int,
    side: int,
    status: int,
) -> None:
    """Append one fully written event (apply_batch guaranteed the room)."""
    n = sc[S_NEV]
    sc[S_NEV] = n + 1
    if n >= ev.shape[0]:  # unreachable while event_bound holds; counted, never written
        return
    r = ev[n]
    r.seq = seq
    r.market_seq = market_seq
    r.order_id = order_id
    r.maker_order_id = maker_order_id
    r.price = price
    r.qty = qty
    r.value_a = value_a
    r.value_b = value_b
    r.account = account
    r.maker_account = maker_account
    r.market = market
    r.asset = asset
    # code (int16), kind, side, status (int8) and the record's padding: one 8-byte store
    tail = (code & 0xFFFF) | (kind & 0xFF) << 16 | (side & 0xFF) << 24 | (status & 0xFF) << 32
    store_word(ev, n, EV_TAIL_OFFSET, tail)


@inline
def emit_verdict(ev: Records, sc: I64Array, cmd: Record, code: int, status: int) -> None:
    """ACCEPTED (code OK) or REJECTED for a command, echoing its identifying fields."""
    kind = EV_ACCEPTED if code == OK else EV_REJECTED
    money = DEPOSIT_CREDIT <= cmd.kind <= WITHDRAWAL_DEBIT or cmd.kind == TRANSFER
    qty = cmd.amount if money else cmd.qty
    # fmt: off
    emit(
        ev, sc, kind, cmd.seq, 0, cmd.order_id, 0, cmd.price, qty, cmd.client_tag, cmd.kind,
        cmd.account, cmd.account2, cmd.market, cmd.asset, code, cmd.side, status,
    )
    return
    # fmt: on


@inline
def emit_done(ev: Records, sc: I64Array, seq: int, row: I64Array, status: int, code: int) -> None:
    """ORDER_DONE for an order row (resting slot or the scratch taker row)."""
    emit(
        ev, sc, EV_ORDER_DONE, seq, 0, row[O_ID], 0, row[O_PRICE], row[O_FILLED],
        row[O_REMAINING], 0, row[O_ACCOUNT], 0, row[O_MARKET], 0, code, side_of(row), status,
    )  # fmt: skip


@inline
def emit_delta(
    ev: Records, sc: I64Array, seq: int, markets_seq: int, market: int, side: int,
    price: int, qty: int,
) -> None:  # fmt: skip
    """BOOK_DELTA: absolute level quantity after the change."""
    emit(
        ev, sc, EV_BOOK_DELTA, seq, markets_seq, 0, 0, price, qty, 0, 0, 0, 0, market, 0, OK,
        side, 0,
    )  # fmt: skip


@inline
def emit_trade(
    ev: Records, sc: I64Array, seq: int, trade_seq: int, taker: I64Array, maker: I64Array,
    price: int, qty: int, maker_fee: int, taker_fee: int,
) -> None:  # fmt: skip
    """TRADE between the taker row and a resting maker row."""
    emit(
        ev, sc, EV_TRADE, seq, trade_seq, taker[O_ID], maker[O_ID], price, qty, maker_fee,
        taker_fee, taker[O_ACCOUNT], maker[O_ACCOUNT], taker[O_MARKET], 0, OK, side_of(taker), 0,
    )  # fmt: skip


@inline
def emit_stp(
    ev: Records, sc: I64Array, seq: int, taker: I64Array, maker: I64Array, price: int,
    qty: int, code: int,
) -> None:  # fmt: skip
    """SELF_TRADE_PREVENTED: `qty` lots did not trade between taker and maker."""
    emit(
        ev, sc, EV_SELF_TRADE_PREVENTED, seq, 0, taker[O_ID], maker[O_ID], price, qty, 0, 0,
        taker[O_ACCOUNT], maker[O_ACCOUNT], taker[O_MARKET], 0, code, side_of(taker), 0,
    )  # fmt: skip


@inline
def emit_amended(ev: Records, sc: I64Array, seq: int, row: I64Array, kept: int) -> None:
    """ORDER_AMENDED with the order's new price and remaining quantity."""
    emit(
        ev, sc, EV_ORDER_AMENDED, seq, 0, row[O_ID], 0, row[O_PRICE], row[O_REMAINING], kept,
        0, row[O_ACCOUNT], 0, row[O_MARKET], 0, OK, side_of(row), 0,
    )  # fmt: skip


@inline
def emit_triggered(ev: Records, sc: I64Array, seq: int, row: I64Array, last_price: int) -> None:
    """STOP_TRIGGERED: a pending stop became an active order."""
    emit(
        ev, sc, EV_STOP_TRIGGERED, seq, 0, row[O_ID], 0, last_price, row[O_REMAINING], 0, 0,
        row[O_ACCOUNT], 0, row[O_MARKET], 0, OK, side_of(row), 0,
    )  # fmt: skip
