"""State, events, balances and books of the reference engine (see engine.reference).

Plain Python objects, no Numba; imports nothing from engine.kernels.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field
from typing import Any

from engine import codes as c
from engine.layout import (
    EngineConfig,
)
from engine.order_state import OrderState


@dataclass
class Order:
    """A live order (mutable); the same fields as engine.order_state.OrderState."""

    order_id: int
    account: int
    market: int
    side: int
    order_type: int
    tif: int
    flags: int
    stp: int
    status: int
    price_ticks: int
    stop_price_ticks: int
    qty_lots: int
    filled_lots: int
    remaining_lots: int
    locked_minor: int
    maker_bps: int
    taker_bps: int
    seq: int
    ts_ns: int
    client_tag: int

    def frozen(self) -> OrderState:
        """The immutable view used by dumps."""
        return OrderState(**asdict(self))


def fee_of(notional: int, bps: int) -> int:
    """floor(notional * bps / 10_000); Python ints never overflow."""
    return notional * bps // 10_000


@dataclass
class Market:
    """A market's spec, dynamic state and book (price -> FIFO of order ids)."""

    base: int
    quote: int
    base_per_lot: int
    quote_per_tick_lot: int
    min_notional: int
    band_bps: int
    collar_bps: int
    stp_default: int
    fee_account: int
    ref_price: int
    status: int
    tick_step: int
    lot_step: int
    last_price: int = 0
    book_seq: int = 0
    trade_seq: int = 0
    prices: tuple[list[int], list[int]] = field(default_factory=lambda: ([], []))  # ascending
    queues: tuple[dict[int, list[int]], dict[int, list[int]]] = field(
        default_factory=lambda: ({}, {})
    )
    stops: list[int] = field(default_factory=list)

    def best(self, side: int) -> int:
        """Best price on a side, 0 if empty."""
        prices = self.prices[side]
        if not prices:
            return 0
        return prices[-1] if side == c.BUY else prices[0]

    def levels_best_first(self, side: int) -> list[int]:
        """Prices of a side from the best level down."""
        prices = self.prices[side]
        return list(reversed(prices)) if side == c.BUY else list(prices)


def crosses(side: int, limit: int, price: int) -> bool:
    """Would a taker on `side` with `limit` trade at resting `price`?"""
    return price <= limit if side == c.BUY else price >= limit


class ReferenceCore:
    """State of the reference engine and the small helpers every rule uses."""

    def __init__(self, config: EngineConfig | None = None) -> None:
        self.config = config or EngineConfig()
        self.last_seq = 0
        self.markets: dict[int, Market] = {}
        self.orders: dict[int, Order] = {}  # live orders only (resting, pending stops)
        self.balances: dict[tuple[int, int], list[int]] = {}  # available, locked, held
        self.fee_rates: dict[int, tuple[int, int]] = {}
        self.account_modes: dict[int, int] = {}  # codes.ACCOUNT_MODE_*, absent = NORMAL
        self.assets: dict[int, list[int]] = {}  # credits, debits, fees
        self._events: list[tuple[int, ...]] = []
        self._touched: list[tuple[int, int]] = []
        self._seq = 0

    # --- events ---------------------------------------------------------------------------
    def _emit(self, kind: int, *, market_seq: int = 0, order_id: int = 0,
              maker_order_id: int = 0, price: int = 0, qty: int = 0, value_a: int = 0,
              value_b: int = 0, account: int = 0, maker_account: int = 0, market: int = 0,
              asset: int = 0, code: int = 0, side: int = 0, status: int = 0) -> None:  # fmt: skip
        self._events.append((self._seq, market_seq, order_id, maker_order_id, price, qty,
                             value_a, value_b, account, maker_account, market, asset, code,
                             kind, side, status))  # fmt: skip

    def _verdict(self, cmd: Any, code: int, status: int = 0) -> None:
        kind = int(cmd["kind"])
        money = c.DEPOSIT_CREDIT <= kind <= c.WITHDRAWAL_DEBIT or kind == c.TRANSFER
        self._emit(
            c.EV_ACCEPTED if code == c.OK else c.EV_REJECTED, order_id=int(cmd["order_id"]),
            price=int(cmd["price"]), qty=int(cmd["amount"] if money else cmd["qty"]),
            value_a=int(cmd["client_tag"]), value_b=kind, account=int(cmd["account"]),
            maker_account=int(cmd["account2"]), market=int(cmd["market"]),
            asset=int(cmd["asset"]), code=code, side=int(cmd["side"]), status=status,
        )  # fmt: skip

    def _done(self, o: Order, status: int, code: int) -> None:
        self._emit(c.EV_ORDER_DONE, order_id=o.order_id, price=o.price_ticks, qty=o.filled_lots,
                   value_a=o.remaining_lots, account=o.account, market=o.market, code=code,
                   side=o.side, status=status)  # fmt: skip

    def _delta(self, m: int, side: int, price: int) -> None:
        mk = self.markets[m]
        mk.book_seq += 1
        qty = sum(self.orders[i].remaining_lots for i in mk.queues[side].get(price, []))
        self._emit(c.EV_BOOK_DELTA, market_seq=mk.book_seq, price=price, qty=qty, market=m,
                   side=side)  # fmt: skip

    # --- balances -------------------------------------------------------------------------
    def _bal(self, account: int, asset: int) -> list[int]:
        return self.balances.setdefault((account, asset), [0, 0, 0])

    def _move(self, account: int, asset: int, d_available: int, d_locked: int) -> None:
        if (account, asset) not in self._touched:
            self._touched.append((account, asset))
        b = self._bal(account, asset)
        b[0] += d_available
        b[1] += d_locked

    def _lock_required(self, mk: Market, side: int, qty: int, price: int, bps: int) -> int:
        if side == c.BUY:
            notional = qty * price * mk.quote_per_tick_lot
            return notional + fee_of(notional, bps)
        return qty * mk.base_per_lot

    def _asset_of(self, mk: Market, side: int) -> int:
        return mk.quote if side == c.BUY else mk.base

    def _lock_for(self, o: Order) -> None:
        """Lock what the order's remaining quantity at its price requires (always touches)."""
        mk = self.markets[o.market]
        bps = max(o.maker_bps, o.taker_bps)
        amount = self._lock_required(mk, o.side, o.remaining_lots, o.price_ticks, bps)
        self._move(o.account, self._asset_of(mk, o.side), -amount, amount)
        o.locked_minor += amount

    def _release(self, o: Order) -> None:
        """Give the order's whole lock back to available."""
        if o.locked_minor != 0:
            mk = self.markets[o.market]
            self._move(o.account, self._asset_of(mk, o.side), o.locked_minor, -o.locked_minor)
        o.locked_minor = 0

    # --- books ----------------------------------------------------------------------------
    def _has_room(self, mk: Market, side: int, price: int) -> bool:
        return len(mk.prices[side]) < self.config.max_price_levels or price in mk.queues[side]

    def _rest(self, o: Order) -> None:
        mk = self.markets[o.market]
        if o.price_ticks not in mk.queues[o.side]:
            bisect.insort(mk.prices[o.side], o.price_ticks)
            mk.queues[o.side][o.price_ticks] = []
        mk.queues[o.side][o.price_ticks].append(o.order_id)

    def _unlink(self, o: Order) -> None:
        mk = self.markets[o.market]
        queue = mk.queues[o.side][o.price_ticks]
        queue.remove(o.order_id)
        if not queue:
            del mk.queues[o.side][o.price_ticks]
            mk.prices[o.side].remove(o.price_ticks)

    def _live_count(self) -> int:
        return len(self.orders)
