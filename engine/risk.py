"""Perpetual-futures risk core: maintenance margin, unrealised PnL and due liquidations.

Linear (quote-margined) perpetuals in one-way mode, integer units throughout:

- a position has a signed size in lots and a signed cost in quote minor units
  (``cost = sum(fill qty * fill price * quote_per_tick_lot)``), so
  ``upnl = qty * mark * quote_per_tick_lot - cost`` is exact;
- maintenance margin uses tiered brackets per market, Binance-style:
  ``mm = ceil(notional * mmr_ppm / 1e6) - maint_amount`` for the bracket whose
  ``floor <= notional`` (brackets sorted by floor, the first floor 0);
- **cross** positions pool the account's wallet: the account is due when
  ``wallet + sum(upnl) <= sum(mm)`` with ``sum(mm) > 0`` (margin ratio >= 1);
- **isolated** positions carry their own margin: due when ``margin + upnl <= mm``.

`RiskBook` keeps per-position uPnL/mm and per-account cross sums current, so a mark price
change costs one pass over that market's positions (a CSR index by market) plus one check
per account holding a position there: `on_marks` reports what became due. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numba import njit

from engine.layout import I64Array

PPM = 1_000_000

_kernel = njit(cache=True, nogil=True)


@_kernel
def _maintenance(notional: int, floors: I64Array, mmr_ppm: I64Array, maint: I64Array,
                 n: int) -> int:  # fmt: skip
    """Maintenance margin of a notional (quote minor units) under n brackets, rounded up."""
    k = 0
    for b in range(1, n):  # branch-free: floors increase, so this counts passed floors
        k += floors[b] <= notional
    mm: int = -(-(notional * mmr_ppm[k]) // PPM) - maint[k]
    return mm


@_kernel
def _sweep_market(
    m: int, old_mark: int, mark: int, qptl: int, positions: I64Array, start: int, split: int,
    end: int, pos_account: I64Array, pos_qty: I64Array, pos_cost: I64Array,
    pos_isolated: I64Array, floors: I64Array, mmr: I64Array,
    maint: I64Array, n_brackets: I64Array, acc_upnl: I64Array, acc_mm: I64Array,
    due_positions: I64Array, n_due: int, full: bool,
) -> int:  # fmt: skip
    """One market's positions, stored cross first then isolated: two linear passes.

    ``full``: every market moves at once and the account sums were zeroed, so each cross
    position adds its absolute uPnL and maintenance (one bracket computation, not two).
    """
    nb = n_brackets[m]
    m_floors, m_mmr, m_maint = floors[m], mmr[m], maint[m]
    move = (mark - old_mark) * qptl  # every cross uPnL moves by qty * move: no cost read
    # the old maintenance is recomputed from the old mark rather than stored: arithmetic is
    # cheaper than the memory traffic of reading and writing it back (the sweep is bound by
    # memory: 16 bytes per cross position)
    if full:
        for i in range(start, split):
            qty = pos_qty[i]
            a = pos_account[i]
            acc_upnl[a] += qty * mark * qptl - pos_cost[i]
            notional = (qty if qty >= 0 else -qty) * qptl * mark
            acc_mm[a] += _maintenance(notional, m_floors, m_mmr, m_maint, nb)
        split_done = split
    else:
        split_done = start
    for i in range(split_done, split):
        qty = pos_qty[i]
        a = pos_account[i]
        size = (qty if qty >= 0 else -qty) * qptl
        acc_upnl[a] += qty * move
        acc_mm[a] += _maintenance(size * mark, m_floors, m_mmr, m_maint, nb) - _maintenance(
            size * old_mark, m_floors, m_mmr, m_maint, nb
        )
    for i in range(split, end):
        qty = pos_qty[i]
        if qty == 0:
            continue
        notional = (qty if qty >= 0 else -qty) * mark * qptl
        mm = _maintenance(notional, m_floors, m_mmr, m_maint, nb)
        if pos_isolated[i] + qty * mark * qptl - pos_cost[i] <= mm:
            due_positions[n_due] = positions[i]  # the caller's position index
            n_due += 1
    return n_due


@_kernel
def _due_accounts(accounts: I64Array, start: int, end: int, wallet: I64Array,
                  acc_upnl: I64Array, acc_mm: I64Array, stamp: I64Array, generation: int,
                  due_accounts: I64Array, n: int) -> int:  # fmt: skip
    """Check accounts[start:end] once each this generation; append the due ones."""
    for t in range(start, end):
        a = accounts[t]
        if stamp[a] == generation:
            continue
        stamp[a] = generation
        if acc_mm[a] > 0 and wallet[a] + acc_upnl[a] <= acc_mm[a]:
            due_accounts[n] = a
            n += 1
    return n


@_kernel
def _on_marks(
    markets: I64Array, marks: I64Array, mark: I64Array, qptl: I64Array, positions: I64Array,
    market_start: I64Array, market_split: I64Array, pos_account: I64Array, pos_qty: I64Array,
    pos_cost: I64Array, pos_isolated: I64Array, floors: I64Array,
    mmr: I64Array, maint: I64Array, n_brackets: I64Array, wallet: I64Array,
    acc_upnl: I64Array, acc_mm: I64Array, market_accounts: I64Array, ma_start: I64Array,
    cross_accounts: I64Array, stamp: I64Array, generation: int, due_positions: I64Array,
    due_accounts: I64Array,
) -> tuple[int, int]:  # fmt: skip
    """Apply new marks to some markets; return (due isolated positions, due cross accounts).

    The cross accounts to check are those holding a position in a swept market (a list per
    market, built at load); when most markets move, every cross account is checked once.
    """
    n_due = 0
    full = markets.shape[0] == mark.shape[0]
    if full:  # every market exactly once: recompute the account sums from scratch
        seen = np.zeros(mark.shape[0], dtype=np.bool_)
        for k in range(markets.shape[0]):
            if seen[markets[k]]:
                full = False
            seen[markets[k]] = True
    if full:
        acc_upnl[:] = 0
        acc_mm[:] = 0
    for k in range(markets.shape[0]):
        m = markets[k]
        old = mark[m]
        mark[m] = marks[k]
        n_due = _sweep_market(
            m, old, marks[k], qptl[m], positions, market_start[m], market_split[m],
            market_start[m + 1], pos_account, pos_qty, pos_cost, pos_isolated, floors,
            mmr, maint, n_brackets, acc_upnl, acc_mm, due_positions, n_due, full,
        )  # fmt: skip
    n_accounts = 0
    if 4 * markets.shape[0] >= mark.shape[0]:
        n_accounts = _due_accounts(cross_accounts, 0, cross_accounts.shape[0], wallet, acc_upnl,
                                   acc_mm, stamp, generation, due_accounts, 0)  # fmt: skip
    else:
        for k in range(markets.shape[0]):
            m = markets[k]
            n_accounts = _due_accounts(market_accounts, ma_start[m], ma_start[m + 1], wallet,
                                       acc_upnl, acc_mm, stamp, generation, due_accounts,
                                       n_accounts)  # fmt: skip
    return n_due, n_accounts


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


@dataclass
class RiskBook:
    """Positions grouped by market with their uPnL/mm cached, and cross sums per account."""

    n_accounts: int
    qptl: I64Array  # per market: quote minor units per tick per lot
    brackets: list[list[Bracket]]  # per market, sorted by floor, first floor 0
    wallet: I64Array = field(init=False)  # cross collateral per account (quote minor units)
    mark: I64Array = field(init=False)

    def __post_init__(self) -> None:
        n_markets = len(self.qptl)
        depth = max(len(b) for b in self.brackets)
        self.floors = np.zeros((n_markets, depth), dtype=np.int64)
        self.mmr = np.zeros((n_markets, depth), dtype=np.int64)
        self.maint = np.zeros((n_markets, depth), dtype=np.int64)
        self.n_brackets = np.zeros(n_markets, dtype=np.int64)
        for m, brackets in enumerate(self.brackets):
            if not brackets or brackets[0].floor_minor != 0 or brackets[0].maint_minor != 0:
                raise ValueError(f"market {m}: the first bracket starts at notional 0, maint 0")
            floors = [b.floor_minor for b in brackets]
            if floors != sorted(set(floors)):
                raise ValueError(f"market {m}: bracket floors must increase")
            for k, b in enumerate(brackets):
                self.floors[m, k], self.mmr[m, k], self.maint[m, k] = (
                    b.floor_minor,
                    b.mmr_ppm,
                    b.maint_minor,
                )
            self.n_brackets[m] = len(brackets)
        self.wallet = np.zeros(self.n_accounts, dtype=np.int64)
        self.mark = np.zeros(n_markets, dtype=np.int64)
        self.acc_upnl = np.zeros(self.n_accounts, dtype=np.int64)
        self.acc_mm = np.zeros(self.n_accounts, dtype=np.int64)
        self._stamp = np.zeros(self.n_accounts, dtype=np.int64)
        self._generation = 0
        self.load(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                  np.zeros(0, np.int64), np.zeros(0, np.int64))  # fmt: skip

    def load(self, account: I64Array, market: I64Array, qty: I64Array, cost: I64Array,
             isolated_margin: I64Array) -> None:  # fmt: skip
        """Replace every position (isolated_margin 0 = cross) and index them by market."""
        n_markets = len(self.qptl)
        # stored grouped by market so a sweep reads memory in order; `positions` maps a
        # stored row back to the caller's index (due positions are reported in those)
        isolated = (isolated_margin > 0).astype(np.int64)
        self.positions = np.argsort(market * 2 + isolated, kind="stable").astype(np.int64)
        self.pos_account = account.astype(np.int64)[self.positions]
        self.pos_market = market.astype(np.int64)[self.positions]
        self.pos_qty = qty.astype(np.int64)[self.positions]
        self.pos_cost = cost.astype(np.int64)[self.positions]
        self.pos_isolated = isolated_margin.astype(np.int64)[self.positions]
        counts = np.bincount(self.pos_market, minlength=n_markets)
        self.market_start = np.zeros(n_markets + 1, dtype=np.int64)
        np.cumsum(counts, out=self.market_start[1:])
        cross_counts = np.bincount(self.pos_market[isolated[self.positions] == 0],
                                   minlength=n_markets)  # fmt: skip
        self.market_split = (self.market_start[:-1] + cross_counts).astype(np.int64)
        # uPnL at mark 0 is -cost; each mark change then adds qty * move
        self.mark[:] = 0
        cross = self.pos_isolated == 0
        self.acc_upnl[:] = 0
        np.subtract.at(self.acc_upnl, self.pos_account[cross], self.pos_cost[cross])
        self.acc_mm[:] = 0
        # per market, the distinct accounts with a cross position there
        pairs = np.unique(self.pos_market[cross] * self.n_accounts + self.pos_account[cross])
        self._market_accounts = (pairs % self.n_accounts).astype(np.int64)
        self._ma_start = np.zeros(n_markets + 1, dtype=np.int64)
        np.cumsum(np.bincount(pairs // self.n_accounts, minlength=n_markets),
                  out=self._ma_start[1:])  # fmt: skip
        self._cross_accounts = np.unique(self.pos_account[cross]).astype(np.int64)
        self._due_positions = np.zeros(len(account), dtype=np.int64)
        self._due_accounts = np.zeros(self.n_accounts, dtype=np.int64)

    def on_marks(self, markets: I64Array, marks: I64Array) -> DueLiquidations:
        """New mark prices (ticks) for some markets; what is due after them."""
        self._generation += 1
        n_pos, n_acc = _on_marks(
            markets.astype(np.int64), marks.astype(np.int64), self.mark, self.qptl,
            self.positions, self.market_start, self.market_split, self.pos_account, self.pos_qty,
            self.pos_cost, self.pos_isolated, self.floors, self.mmr, self.maint,
            self.n_brackets, self.wallet, self.acc_upnl, self.acc_mm, self._market_accounts,
            self._ma_start, self._cross_accounts, self._stamp, self._generation,
            self._due_positions, self._due_accounts,
        )  # fmt: skip
        return DueLiquidations(
            self._due_positions[:n_pos].copy(), self._due_accounts[:n_acc].copy()
        )

    def maintenance(self, market: int, notional_minor: int) -> int:
        """The maintenance margin of a notional on a market (quote minor units)."""
        return int(_maintenance(notional_minor, self.floors[market], self.mmr[market],
                                self.maint[market], int(self.n_brackets[market])))  # fmt: skip
