"""Perpetual-futures risk core: maintenance margin, unrealised PnL and due liquidations.

Linear (quote-margined) perpetuals in one-way mode, integer units throughout:

- a position has a signed size in lots and a signed cost in quote minor units
  (``cost = sum(fill qty * fill price * quote_per_tick_lot)``), so
  ``upnl = qty * mark * quote_per_tick_lot - cost`` is exact;
- maintenance margin uses tiered brackets per market, Binance-style:
  ``mm = ceil(notional * mmr_ppm / 1e6) - maint_amount`` for the bracket whose
  ``floor <= notional`` (brackets sorted by floor, the first floor 0), rounded up **per
  position** and exact for every notional below 2**62 (no intermediate overflows);
- brackets must keep maintenance continuous (Binance's maintenance amounts): at every
  integer notional step mm rises by 0 or 1, so a position's margin only worsens as the mark
  moves against it (checked when the book is built);
- **cross** positions pool the account's wallet: the account is due when
  ``wallet + sum(upnl) <= sum(mm)`` with ``sum(mm) > 0`` (margin ratio >= 1);
- **isolated** positions carry their own margin: due when ``margin + upnl <= mm``.

Marks are ticks >= 0 and keep every notional below 2**62 minor units.

How a mark change stays cheap (engine/risk_sweep.py has the kernels):

- an isolated position is due exactly when the mark is at or beyond its **liquidation
  mark** (a long at or below it, a short at or above it; monotone because of the continuity
  above). That mark is found once when positions are loaded, by bisection on the exact
  integer test, and each market's isolated positions are kept sorted by it: the due ones
  are a prefix found by binary search, whatever the mark;
- cross positions are kept sorted by absolute size within their market, so at a given mark
  each bracket is one contiguous run (its end found by binary search on the size at which
  the notional reaches the next floor): the sweep runs without a bracket search and with one
  constant-divisor division per position;
- when every market moves, the account sums are rebuilt from scratch (the cross cost sums
  are constant); when some markets move, each cross position adds its uPnL move and its
  maintenance change.

`RiskBook.on_marks` reports what is due. Pure: no I/O, no clock.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from engine.layout import I64Array
from engine.risk_sweep import (
    NOTIONAL_LIMIT,
    PPM,
    isolated_keys,
    maintenance_margin,
    on_marks,
)

__all__ = ["NOTIONAL_LIMIT", "PPM", "Bracket", "DueLiquidations", "RiskBook"]

# a stored position's group inside its market: cross first, then isolated longs, isolated
# shorts (each sorted by liquidation key), then isolated positions of size 0 (never due)
_CROSS, _LONG, _SHORT, _FLAT = 0, 1, 2, 3


@dataclass(frozen=True)
class Bracket:
    """One maintenance bracket: from ``floor_minor`` notional up, ``mmr_ppm`` of the notional
    minus ``maint_minor`` (Binance's "maintenance amount", which keeps mm continuous)."""

    floor_minor: int
    mmr_ppm: int
    maint_minor: int


@dataclass(frozen=True)
class DueLiquidations:
    """What a mark price change made due: isolated positions and cross accounts."""

    positions: I64Array
    accounts: I64Array


def _check_brackets(m: int, brackets: list[Bracket]) -> None:
    """Start at 0 with amount 0, increase, rates within [0, 1e6] ppm, and mm rising by 0 or
    1 from one integer notional to the next across every floor (continuity)."""
    if not brackets or brackets[0].floor_minor != 0 or brackets[0].maint_minor != 0:
        raise ValueError(f"market {m}: the first bracket starts at notional 0, maint 0")
    for low, high in itertools.pairwise(brackets):
        if high.floor_minor <= low.floor_minor:
            raise ValueError(f"market {m}: bracket floors must increase")
    for b in brackets:
        if not 0 <= b.mmr_ppm <= PPM or b.floor_minor >= NOTIONAL_LIMIT:
            raise ValueError(f"market {m}: a bracket rate is 0..{PPM} ppm, a floor < 2**62")
    for low, high in itertools.pairwise(brackets):
        at = high.floor_minor
        below = -(-((at - 1) * low.mmr_ppm) // PPM) - low.maint_minor
        step = -(-(at * high.mmr_ppm) // PPM) - high.maint_minor - below
        if step not in (0, 1):
            raise ValueError(f"market {m}: maintenance jumps by {step} at notional {at}: "
                             "adjust the maintenance amount")  # fmt: skip


@dataclass
class RiskBook:
    """Positions grouped by market (sorted for the sweep), and cross sums per account."""

    n_accounts: int
    qptl: I64Array  # per market: quote minor units per tick per lot
    brackets: list[list[Bracket]]  # per market, sorted by floor, first floor 0
    wallet: I64Array = field(init=False)  # cross collateral per account (quote minor units)
    mark: I64Array = field(init=False)

    def __post_init__(self) -> None:
        self.qptl = np.asarray(self.qptl, dtype=np.int64)
        n_markets = len(self.qptl)
        if len(self.brackets) != n_markets or (self.qptl <= 0).any():
            raise ValueError("one bracket list and a positive quote per tick-lot per market")
        depth = max(len(b) for b in self.brackets)
        self.floors = np.zeros((n_markets, depth), dtype=np.int64)
        self.mmr = np.zeros((n_markets, depth), dtype=np.int64)
        self.maint = np.zeros((n_markets, depth), dtype=np.int64)
        self.n_brackets = np.zeros(n_markets, dtype=np.int64)
        for m, brackets in enumerate(self.brackets):
            _check_brackets(m, brackets)
            for k, b in enumerate(brackets):
                self.floors[m, k], self.mmr[m, k] = b.floor_minor, b.mmr_ppm
                self.maint[m, k] = b.maint_minor
            self.n_brackets[m] = len(brackets)
        self.wallet = np.zeros(self.n_accounts, dtype=np.int64)
        self.mark = np.zeros(n_markets, dtype=np.int64)
        self.acc = np.zeros((self.n_accounts, 2), dtype=np.int64)  # per account (upnl, mm)
        self.acc_upnl, self.acc_mm = self.acc[:, 0], self.acc[:, 1]  # views of the cross sums
        self._stamp = np.zeros(self.n_accounts, dtype=np.int64)
        self._generation = 0
        empty = np.zeros(0, np.int64)
        self.load(empty, empty, empty, empty, empty)

    def load(self, account: I64Array, market: I64Array, qty: I64Array, cost: I64Array,
             isolated_margin: I64Array) -> None:  # fmt: skip
        """Replace every position (isolated_margin 0 = cross) and index them by market."""
        n_markets = len(self.qptl)
        account, market, qty, cost, isolated_margin = (
            np.asarray(a, dtype=np.int64) for a in (account, market, qty, cost, isolated_margin)
        )
        isolated = isolated_margin > 0
        group = np.where(isolated, np.where(qty > 0, _LONG, np.where(qty < 0, _SHORT, _FLAT)),
                         _CROSS)  # fmt: skip
        key = np.abs(qty)  # cross: by size; isolated: by liquidation key
        iso = np.flatnonzero(isolated & (qty != 0))
        key[iso] = isolated_keys(qty[iso], cost[iso], isolated_margin[iso], market[iso],
                                 self.qptl, self.floors, self.mmr, self.maint,
                                 self.n_brackets)  # fmt: skip
        # stored grouped by market so a sweep reads memory in order; `positions` maps a
        # stored row back to the caller's index (due positions are reported in those)
        self.positions = np.lexsort((key, group, market)).astype(np.int64)
        self.pos_account = account[self.positions]
        self.pos_market = market[self.positions]
        self.pos_qty = qty[self.positions]
        self.pos_cost = cost[self.positions]
        self.pos_isolated = isolated_margin[self.positions]
        self.pos_key = key[self.positions]
        # bounds[m, g]: where group g of market m starts; bounds[m, 4]: where market m ends
        starts = np.zeros(n_markets * 4 + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.pos_market * 4 + group[self.positions],
                              minlength=n_markets * 4), out=starts[1:])  # fmt: skip
        self.bounds = np.zeros((n_markets, 5), dtype=np.int64)
        self.bounds[:, :4] = starts[:-1].reshape(n_markets, 4)
        self.bounds[:, 4] = starts[4::4]
        cross = ~isolated
        # uPnL at mark 0 is -cost; the cost sums never change while the positions stay
        self.acc_cost = np.zeros(self.n_accounts, dtype=np.int64)
        np.add.at(self.acc_cost, account[cross], cost[cross])
        self.mark[:] = 0
        self.acc_upnl[:] = -self.acc_cost
        self.acc_mm[:] = 0
        # per market, the distinct accounts with a cross position there
        pairs = np.unique(market[cross] * self.n_accounts + account[cross])
        self._market_accounts = (pairs % self.n_accounts).astype(np.int64)
        self._ma_start = np.zeros(n_markets + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs // self.n_accounts, minlength=n_markets),
                  out=self._ma_start[1:])  # fmt: skip
        self._cross_accounts = np.unique(account[cross]).astype(np.int64)
        self._due_positions = np.zeros(len(account), dtype=np.int64)
        self._due_accounts = np.zeros(self.n_accounts, dtype=np.int64)

    def on_marks(self, markets: I64Array, marks: I64Array) -> DueLiquidations:
        """New mark prices (ticks) for some distinct markets; what is due after them: the
        due isolated positions of those markets, and the due cross accounts among those
        holding a position there (every due cross account when most markets move)."""
        markets, marks = np.asarray(markets, np.int64), np.asarray(marks, np.int64)
        if markets.shape != marks.shape or markets.ndim != 1:
            raise ValueError("one mark per market")
        if len(marks) and (marks.min() < 0 or markets.min() < 0
                           or markets.max() >= len(self.qptl)):  # fmt: skip
            raise ValueError("marks are ticks >= 0 of existing markets")
        if len(np.unique(markets)) != len(markets):
            raise ValueError("each market at most once per call (the last mark wins: pass it)")
        self._generation += 1
        n_pos, n_acc = on_marks(
            markets, marks, self.mark, self.qptl, self.positions, self.bounds,
            self.pos_account, self.pos_qty, self.pos_key, self.floors, self.mmr, self.maint,
            self.n_brackets, self.wallet, self.acc_cost, self.acc,
            self._market_accounts, self._ma_start, self._cross_accounts, self._stamp,
            self._generation, self._due_positions, self._due_accounts,
        )  # fmt: skip
        return DueLiquidations(
            self._due_positions[:n_pos].copy(), self._due_accounts[:n_acc].copy()
        )

    def maintenance(self, market: int, notional_minor: int) -> int:
        """The maintenance margin of a notional on a market (quote minor units)."""
        if not 0 <= notional_minor < NOTIONAL_LIMIT:
            raise ValueError("a notional is 0 <= n < 2**62 minor units")
        m = market
        return int(maintenance_margin(notional_minor, self.floors[m], self.mmr[m],
                                      self.maint[m], int(self.n_brackets[m])))  # fmt: skip
