"""Compile every engine kernel once, so Numba's on-disk cache serves later processes.

The kernels are inlined aggressively for speed, which makes a cold compile take minutes on
a small machine; `make install` runs this once so servers and tests start in a second.
Imports no I/O beyond what Numba's cache does.
"""

from __future__ import annotations

import time

from engine import codes
from engine import commands as cmd
from engine.core import Engine
from engine.layout import EngineConfig


def warm() -> float:
    """Run one command of every kind through a tiny engine; return the seconds it took."""
    started = time.perf_counter()
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
    ]  # fmt: skip
    for record in batch:
        engine.apply(record)
    return time.perf_counter() - started
