"""The naive reference engine: the same contract as engine.core.Engine, written for clarity.

The test oracle for the Numba kernels (as exchange-core runs its naive book against the fast
one): plain objects, sorted price lists, one method per rule, and the checks in the same
documented order (engine/reference_rules.py). Produces the same events (EVENT_DTYPE records)
and the same `dump()`. Imports numpy only to read commands and write events; no Numba.

Spot only: perpetual futures (engine/kernels/perp.py, perp_admin.py, liquidation.py) are not
modelled here, and the differential test's command generator stays spot-only; perps are
covered by hand-computed tests and conservation properties (tests/unit/test_engine_perp*.py,
tests/property/test_engine_perp_conservation.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine import codes as c
from engine.layout import EVENT_DTYPE, Records
from engine.reference_core import Market, Order, crosses
from engine.reference_rules import ReferenceRules

__all__ = ["ReferenceEngine"]


class ReferenceEngine(ReferenceRules):
    """Readable model of the engine: `apply(commands) -> events` like engine.core.Engine."""

    # --- entry point ----------------------------------------------------------------------
    def apply(self, commands: Records) -> Records:
        """Apply commands in order; return their events."""
        self._events = []
        for cmd in commands:
            self._seq = int(cmd["seq"])
            if self._seq <= self.last_seq:
                self._verdict(cmd, c.VALIDATION_SEQ_NOT_INCREASING)
                continue
            self.last_seq = self._seq
            self._apply_one(cmd)
            for account, asset in self._touched:
                avail, locked, _ = self._bal(account, asset)
                self._emit(c.EV_BALANCE_CHANGED, value_a=avail, value_b=locked,
                           account=account, asset=asset)  # fmt: skip
            self._touched = []
        out = np.zeros(len(self._events), dtype=EVENT_DTYPE)
        for i, values in enumerate(self._events):
            out[i] = values
        return out

    def _apply_one(self, cmd: Any) -> None:
        kind = int(cmd["kind"])
        market = self._trading_market(cmd)
        trades_before = self.markets[market].trade_seq if market in self.markets else 0
        if kind == c.PLACE_ORDER:
            self._place(cmd)
        elif kind == c.CANCEL_ORDER:
            self._cancel(cmd)
        elif kind == c.AMEND_ORDER:
            self._amend(cmd)
        elif kind == c.CANCEL_ALL:
            self._cancel_all(cmd)
        elif c.DEPOSIT_CREDIT <= kind <= c.WITHDRAWAL_DEBIT or kind == c.TRANSFER:
            self._money(cmd)
        elif c.ADD_MARKET <= kind <= c.SET_FEE_RATE or kind == c.SET_ACCOUNT_MODE:
            self._admin(cmd)
        else:
            self._verdict(cmd, c.VALIDATION_UNKNOWN_COMMAND)
        if market in self.markets and self.markets[market].trade_seq != trades_before:
            self._trigger_stops(market)

    def _trading_market(self, cmd: Any) -> int:
        if cmd["kind"] == c.PLACE_ORDER:
            return int(cmd["market"])
        if cmd["kind"] == c.AMEND_ORDER and int(cmd["order_id"]) in self.orders:
            return self.orders[int(cmd["order_id"])].market
        return -1

    # --- comparison -----------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """Canonical state, the same shape as engine.core.Engine.dump()."""
        books = {}
        for m, mk in self.markets.items():
            for side in (c.BUY, c.SELL):
                books[(m, side)] = [
                    (p, sum(self.orders[i].remaining_lots for i in mk.queues[side][p]),
                     list(mk.queues[side][p]))
                    for p in mk.levels_best_first(side)
                ]  # fmt: skip
        return {
            "last_seq": self.last_seq,
            "markets": {
                m: {
                    "status": mk.status,
                    "reference_price_ticks": mk.ref_price,
                    "last_price_ticks": mk.last_price,
                    "book_seq": mk.book_seq,
                    "trade_seq": mk.trade_seq,
                }
                for m, mk in sorted(self.markets.items())
            },
            "books": books,
            "stops": {m: list(mk.stops) for m, mk in sorted(self.markets.items())},
            "orders": {i: o.frozen() for i, o in self.orders.items()},
            "balances": {k: tuple(v) for k, v in sorted(self.balances.items()) if any(v)},
            "fee_rates": {a: r for a, r in sorted(self.fee_rates.items()) if any(r)},
            "account_modes": {a: v for a, v in sorted(self.account_modes.items()) if v},
            "assets": {k: tuple(v) for k, v in sorted(self.assets.items()) if any(v)},
        }

    # --- cancel and amend -----------------------------------------------------------------
    def _find_owned(self, cmd: Any) -> tuple[int, Order | None]:
        o = self.orders.get(int(cmd["order_id"]))
        if o is None:
            return c.VALIDATION_UNKNOWN_ORDER, None
        if o.account != int(cmd["account"]):
            return c.VALIDATION_WRONG_OWNER, None
        return c.OK, o

    def _drop(self, o: Order) -> None:
        """Release, report CANCELED and forget an order already out of book and stops."""
        self._release(o)
        o.status = c.CANCELED
        self._done(o, c.CANCELED, c.MATCH_CANCELED_BY_USER)
        del self.orders[o.order_id]

    def _cancel(self, cmd: Any) -> None:
        code, o = self._find_owned(cmd)
        self._verdict(cmd, code)
        if o is None:
            return
        if o.status == c.PENDING_TRIGGER:
            self.markets[o.market].stops.remove(o.order_id)
        else:
            self._unlink(o)
            self._delta(o.market, o.side, o.price_ticks)
        self._drop(o)

    def _cancel_all(self, cmd: Any) -> None:
        m, account = int(cmd["market"]), int(cmd["account"])
        code = c.OK if m in self.markets else c.VALIDATION_UNKNOWN_MARKET
        if code == c.OK and not 0 <= account < self.config.max_accounts:
            code = c.VALIDATION_UNKNOWN_ACCOUNT
        self._verdict(cmd, code)
        if code != c.OK:
            return
        mk = self.markets[m]
        for side in (c.BUY, c.SELL):
            for price in mk.levels_best_first(side):
                mine = [i for i in mk.queues[side][price] if self.orders[i].account == account]
                for order_id in mine:
                    self._unlink(self.orders[order_id])
                    self._drop(self.orders[order_id])
                if mine:
                    self._delta(m, side, price)
        for order_id in [i for i in mk.stops if self.orders[i].account == account]:
            mk.stops.remove(order_id)
            self._drop(self.orders[order_id])

    def _check_amend(self, cmd: Any) -> tuple[int, Order | None, bool]:
        code, o = self._find_owned(cmd)
        if o is None:
            return code, None, False
        if o.status == c.PENDING_TRIGGER:
            return c.VALIDATION_ORDER_NOT_AMENDABLE, o, False
        mk = self.markets[o.market]
        price, qty = int(cmd["price"]), int(cmd["qty"])
        code = self._check_trading(mk)
        if code == c.OK:
            code = self._check_amend_mode(mk, o.account, qty, o.remaining_lots)
        if code == c.OK:
            code = self._check_qty(mk, qty)
        if code == c.OK:
            code = self._check_price(mk, price, c.VALIDATION_INVALID_PRICE)
        keep = price == o.price_ticks and qty <= o.remaining_lots
        if code == c.OK and not keep:
            code = self._check_reprice(o, mk, price, qty)
        return code, o, keep

    def _check_reprice(self, o: Order, mk: Market, price: int, qty: int) -> int:
        moved = price != o.price_ticks
        code = self._check_band(mk, price) if moved else c.OK
        if code == c.OK:
            code = self._check_size(mk, qty, price)
        if code != c.OK:
            return code
        best = mk.best(1 - o.side)
        if o.flags & c.FLAG_POST_ONLY and best and crosses(o.side, price, best):
            return c.MATCH_POST_ONLY_WOULD_TAKE
        alone = len(mk.queues[o.side][o.price_ticks]) == 1
        if moved and not self._has_room(mk, o.side, price) and not alone:
            return c.MATCH_PRICE_LEVELS_FULL
        bps = max(o.maker_bps, o.taker_bps)
        need = self._lock_required(mk, o.side, qty, price, bps) - o.locked_minor
        if need > self._bal(o.account, self._asset_of(mk, o.side))[0]:
            return c.RISK_INSUFFICIENT_FUNDS
        return c.OK

    def _amended(self, o: Order, kept: int) -> None:
        self._emit(c.EV_ORDER_AMENDED, order_id=o.order_id, price=o.price_ticks,
                   qty=o.remaining_lots, value_a=kept, account=o.account, market=o.market,
                   side=o.side)  # fmt: skip

    def _amend(self, cmd: Any) -> None:
        code, o, keep = self._check_amend(cmd)
        self._verdict(cmd, code)
        if code != c.OK or o is None:
            return
        price, qty = int(cmd["price"]), int(cmd["qty"])
        if keep:
            if qty < o.remaining_lots:
                o.remaining_lots = qty
                self._delta(o.market, o.side, o.price_ticks)
                self._release(o)
                o.qty_lots = o.filled_lots + qty
                self._lock_for(o)
            self._amended(o, 1)
            return
        self._unlink(o)
        self._delta(o.market, o.side, o.price_ticks)
        self._release(o)
        o.price_ticks, o.remaining_lots, o.qty_lots = price, qty, o.filled_lots + qty
        self._lock_for(o)
        self._amended(o, 0)
        self._run_taker(o, True)
