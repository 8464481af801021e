"""Compile every engine kernel once, so Numba's on-disk cache serves later processes.

A cold compile takes a couple of minutes on a small machine; `make test` runs this first
and `caas serve` runs it in a child process while it answers /readyz with the progress, so
servers and tests then start in seconds. Imports no I/O beyond what Numba's cache does.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from collections.abc import Callable
from typing import Any

from numba.core import event
from numba.core.registry import CPUDispatcher

import engine.kernels
from engine import codes
from engine import commands as cmd
from engine.core import Engine
from engine.layout import EngineConfig

Progress = Callable[[int, int], None]  # (kernels compiled so far, kernels in all)


def kernel_count() -> int:
    """How many kernels the engine defines (each compiles once per signature it is used at)."""
    found = 0
    for info in pkgutil.iter_modules(engine.kernels.__path__):
        module = importlib.import_module(f"engine.kernels.{info.name}")
        for value in vars(module).values():
            if isinstance(value, CPUDispatcher) and value.py_func.__module__ == module.__name__:
                found += 1
    return found


class _Counter(event.Listener):
    """Counts distinct kernels whose compilation ended and reports them."""

    def __init__(self, progress: Progress, total: int) -> None:
        self._progress, self._total, self._done = progress, total, set[str]()

    def on_start(self, ev: Any) -> None:
        return None

    def on_end(self, ev: Any) -> None:
        dispatcher = ev.data.get("dispatcher") if isinstance(ev.data, dict) else None
        name = getattr(getattr(dispatcher, "py_func", None), "__qualname__", None)
        if name is not None and name not in self._done:
            self._done.add(name)
            self._progress(min(len(self._done), self._total), self._total)


def warm(progress: Progress | None = None) -> float:
    """Run one command of every kind through a tiny engine; return the seconds it took.

    `progress(done, total)` is called as each kernel finishes compiling (not at all when
    the cache is warm)."""
    started = time.perf_counter()
    if progress is None:
        return _run_every_kind(started)
    total = kernel_count()
    with event.install_listener("numba:compile", _Counter(progress, total)):
        seconds = _run_every_kind(started)
    progress(total, total)
    return seconds


def _run_every_kind(started: float) -> float:
    engine = Engine(EngineConfig(max_markets=2, max_accounts=8, max_assets=4, max_orders=64))
    batch = [
        cmd.add_market(1, 0, market=0, base_asset=1, quote_asset=2, base_per_lot=1,
                       quote_per_tick_lot=1, fee_account=0, reference_price_ticks=100),
        cmd.deposit_credit(2, 0, account=1, asset=2, amount_minor=10**9),
        cmd.deposit_credit(3, 0, account=2, asset=1, amount_minor=10**6),
        cmd.place(4, 0, order_id=4, account=2, market=0, side=codes.SELL, price_ticks=101,
                  qty_lots=5),
        cmd.place(5, 0, order_id=5, account=1, market=0, side=codes.BUY, price_ticks=101,
                  qty_lots=2),
        cmd.amend(6, 0, order_id=4, account=2, price_ticks=101, qty_lots=2),
        cmd.place(7, 0, order_id=7, account=1, market=0, side=codes.BUY, qty_lots=1,
                  order_type=codes.MARKET),
        cmd.place(8, 0, order_id=8, account=1, market=0, side=codes.BUY, price_ticks=110,
                  stop_price_ticks=105, qty_lots=1, order_type=codes.STOP_LIMIT),
        cmd.cancel(9, 0, order_id=8, account=1),
        cmd.cancel_all(10, 0, account=2, market=0),
        cmd.transfer(11, 0, from_account=1, to_account=3, asset=2, amount_minor=5),
        cmd.withdrawal_hold(12, 0, account=1, asset=2, amount_minor=5),
        cmd.withdrawal_release(13, 0, account=1, asset=2, amount_minor=5),
        cmd.withdrawal_debit(14, 0, account=1, asset=2, amount_minor=0),
        cmd.set_fee_rate(15, 0, account=1, maker_bps=1, taker_bps=2),
        cmd.set_reference_price(16, 0, market=0, price_ticks=100),
        cmd.set_market_status(17, 0, market=0, status=codes.MARKET_TRADING),
        # a perpetual: every perp command, a trade into positions, a liquidation with ADL
        cmd.add_market(18, 0, market=1, base_asset=1, quote_asset=2, base_per_lot=1,
                       quote_per_tick_lot=1, fee_account=0, perpetual=True),
        cmd.set_margin_bracket(19, 0, market=1, index=0, notional_floor_minor=0,
                               maint_rate_ppm=5_000, maint_amount_minor=0, max_leverage=20),
        cmd.set_perp_params(20, 0, market=1, insurance_account=3, funding_interval_ns=1,
                            funding_cap_bps=30, basis_cap_bps=50, index_price_ticks=100),
        cmd.set_leverage(21, 0, account=1, market=1, leverage=20,
                         margin_mode=codes.MARGIN_ISOLATED),
        cmd.place(22, 0, order_id=22, account=2, market=1, side=codes.SELL, price_ticks=100,
                  qty_lots=5),
        cmd.deposit_credit(23, 0, account=2, asset=2, amount_minor=10**6),
        cmd.place(24, 0, order_id=24, account=2, market=1, side=codes.SELL, price_ticks=100,
                  qty_lots=5),
        cmd.place(25, 0, order_id=25, account=1, market=1, side=codes.BUY, price_ticks=100,
                  qty_lots=5),
        cmd.adjust_margin(26, 0, account=1, market=1, amount_minor=1),
        cmd.place(27, 0, order_id=27, account=1, market=1, side=codes.SELL, price_ticks=120,
                  qty_lots=1, reduce_only=True),
        cmd.amend(28, 0, order_id=27, account=1, price_ticks=121, qty_lots=1),
        cmd.apply_funding(29, 10, market=1),
        cmd.set_index_price(30, 11, market=1, price_ticks=90),
        cmd.set_account_mode(31, 12, account=2, mode=codes.ACCOUNT_MODE_REDUCE_ONLY),
        cmd.close_position_at_mark(32, 13, account=2, market=1),
        cmd.bust_position(33, 14, account=1, clearing_account=4, market=1, qty_lots=0,
                          cost_minor=0, realized_minor=0, margin_minor=0),
        cmd.bust_carry(34, 15, clearing_account=4, market=1),
    ]  # fmt: skip
    for record in batch:
        engine.apply(record)
    return time.perf_counter() - started
