"""`caas bench risk`: how fast a mark price change finds every due liquidation.

1,000,000 open positions across 10,000 accounts and 50 perpetual markets (a mix of cross
and isolated margin, long and short, sizes and leverage drawn from a seeded generator);
one market's mark moves, then every market's at once. Prints the time from the new marks
to the complete list of due positions and accounts (the liquidation engine's input), and
the last line `risk: one market <X> ms, all markets <Y> ms, <P> positions` (median wall
times; the table above it adds min, max and the thread's CPU time, which a busy machine
does not inflate). Not a test; timing uses floats (the risk core never does).
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from rich.console import Console

from engine.risk import Bracket, RiskBook

BRACKETS = [  # Binance-like BTCUSDT brackets, notional in USDT minor units (8 decimals)
    Bracket(0, 4_000, 0),
    Bracket(50_000 * 10**8, 5_000, 50 * 10**8),
    Bracket(250_000 * 10**8, 10_000, 1_300 * 10**8),
    Bracket(1_000_000 * 10**8, 25_000, 16_300 * 10**8),
    Bracket(10_000_000 * 10**8, 50_000, 266_300 * 10**8),
]


def build(
    n_positions: int, n_accounts: int, n_markets: int, seed: int
) -> tuple[RiskBook, np.ndarray]:
    rng = np.random.default_rng(seed)
    qptl = np.full(n_markets, 10, dtype=np.int64)  # tick 0.01, lot 0.00001 -> 10 minor units
    book = RiskBook(n_accounts, qptl, [BRACKETS] * n_markets)
    marks = rng.integers(1_000_000, 7_000_000, n_markets).astype(np.int64)  # 10k-70k in ticks
    market = rng.integers(0, n_markets, n_positions).astype(np.int64)
    account = rng.integers(0, n_accounts, n_positions).astype(np.int64)
    qty = rng.integers(1_000, 200_000, n_positions).astype(np.int64)  # 0.01-2 units
    qty *= np.where(rng.random(n_positions) < 0.5, 1, -1)
    entry = (marks[market] * rng.uniform(0.97, 1.03, n_positions)).astype(np.int64)
    cost = qty * entry * qptl[market]
    notional = np.abs(cost)
    leverage = rng.integers(2, 21, n_positions)
    isolated = np.where(rng.random(n_positions) < 0.3, notional // leverage, 0).astype(np.int64)
    book.load(account, market, qty, cost, isolated)
    cross = np.bincount(account, weights=np.where(isolated == 0, notional, 0), minlength=n_accounts)
    book.wallet[:] = (cross / rng.uniform(3, 15, n_accounts)).astype(np.int64)
    book.on_marks(np.arange(n_markets, dtype=np.int64), marks)
    return book, marks


def _spread(label: str, wall: list[float], cpu: list[float]) -> str:
    """Median, min and max wall time, and the median CPU time of this thread: on a shared
    machine the wall time includes waiting for the core, the CPU time does not."""
    return (f"  {label:<12} median {statistics.median(wall):.3f} ms   min {min(wall):.3f}   "
            f"max {max(wall):.3f}   cpu median {statistics.median(cpu):.3f} ms")  # fmt: skip


def run(n_positions: int = 1_000_000, n_accounts: int = 10_000, n_markets: int = 50,
        repeats: int = 31, seed: int = 7) -> tuple[float, float]:  # fmt: skip
    """Time one-market and all-market mark changes; print and return the medians (ms)."""
    console = Console()
    started = time.perf_counter()
    book, marks = build(n_positions, n_accounts, n_markets, seed)
    built_s = time.perf_counter() - started
    rng = np.random.default_rng(seed + 1)
    one, everything, one_cpu, all_cpu, due = [], [], [], [], 0
    all_markets = np.arange(n_markets, dtype=np.int64)
    for r in range(repeats):
        m = np.array([r % n_markets], dtype=np.int64)
        moved = (marks[m] * rng.uniform(0.98, 1.02)).astype(np.int64)
        cpu, started = time.thread_time(), time.perf_counter()
        result = book.on_marks(m, moved)
        one.append((time.perf_counter() - started) * 1000)
        one_cpu.append((time.thread_time() - cpu) * 1000)
        marks[m] = moved
        moved_all = (marks * rng.uniform(0.98, 1.02, n_markets)).astype(np.int64)
        cpu, started = time.thread_time(), time.perf_counter()
        result = book.on_marks(all_markets, moved_all)
        everything.append((time.perf_counter() - started) * 1000)
        all_cpu.append((time.thread_time() - cpu) * 1000)
        marks[:] = moved_all
        due = len(result.positions) + len(result.accounts)
    one_ms, all_ms = statistics.median(one[1:]), statistics.median(everything[1:])
    console.print(f"positions {n_positions:,}, accounts {n_accounts:,}, markets {n_markets} "
                  f"(built and indexed in {built_s:.1f} s)")  # fmt: skip
    console.print(_spread("one market", one[1:], one_cpu[1:]))
    console.print(_spread("all markets", everything[1:], all_cpu[1:]))
    console.print(f"  due after the last all-market move: {due:,} positions and accounts")
    print(f"risk: one market {one_ms:.3f} ms, all markets {all_ms:.3f} ms, {n_positions} positions")
    return one_ms, all_ms
