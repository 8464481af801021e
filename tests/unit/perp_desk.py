"""A perpetual-futures desk for engine tests: one linear perp market, funded accounts, an
insurance fund, and helpers that read positions and balances back.

Market 0: quote asset USDT (asset 1, minor units), 1 quote unit per tick x lot (so notional
= qty * price), maintenance brackets {floor 0: 0.5 %, 20x; floor 1_000_000: 1 %, 5_000, 10x}.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine import codes as c
from engine import commands as cmd
from engine.core import Engine, PerpPosition
from engine.events import describe_all
from engine.layout import EngineConfig, Records

CONFIG = EngineConfig(max_markets=2, max_accounts=12, max_assets=3, max_orders=256,
                      max_price_levels=64)  # fmt: skip
BTC, USDT = 0, 1
FEES, FUND = 9, 8
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4
PERP = 0
Events = list[dict[str, Any]]


class PerpDesk:
    """One perpetual market (0) and helpers; every command gets the next seq, ts = seq us."""

    def __init__(self, *, funds: int = 1_000_000, fund_balance: int = 0, **params: Any) -> None:
        self.engine = Engine(CONFIG)
        self.seq = 0
        self.run(cmd.add_market, market=PERP, base_asset=BTC, quote_asset=USDT,
                 base_per_lot=1, quote_per_tick_lot=1, fee_account=FEES, collar_bps=500,
                 perpetual=True)  # fmt: skip
        self.run(cmd.set_margin_bracket, market=PERP, index=0, notional_floor_minor=0,
                 maint_rate_ppm=5_000, maint_amount_minor=0, max_leverage=20)  # fmt: skip
        self.run(cmd.set_margin_bracket, market=PERP, index=1,
                 notional_floor_minor=1_000_000, maint_rate_ppm=10_000,
                 maint_amount_minor=5_000, max_leverage=10)  # fmt: skip
        spec = {"funding_interval_ns": 8 * 3600 * 10**9, "funding_cap_bps": 30,
                "basis_cap_bps": 50, "index_price_ticks": 10_000, **params}  # fmt: skip
        self.run(cmd.set_perp_params, market=PERP, insurance_account=FUND, **spec)
        for account in (ALICE, BOB, CAROL, DAVE):
            self.run(cmd.deposit_credit, account=account, asset=USDT, amount_minor=funds)
        if fund_balance:
            self.run(cmd.deposit_credit, account=FUND, asset=USDT, amount_minor=fund_balance)

    def run(self, factory: Callable[..., Records], ts_ns: int | None = None,
            **fields: Any) -> Events:  # fmt: skip
        """Build one command with the next seq and apply it; its events, described."""
        self.seq += 1
        ts = self.seq * 1_000 if ts_ns is None else ts_ns
        return describe_all(self.engine.apply(factory(self.seq, ts, **fields)))

    def place(self, account: int, side: int, qty: int, price: int = 0, **fields: Any) -> Events:
        """PLACE_ORDER in the perp market with order id = seq."""
        if price == 0 and "order_type" not in fields:
            fields["order_type"] = c.MARKET
        return self.run(cmd.place, order_id=self.seq + 1, account=account, market=PERP,
                        side=side, qty_lots=qty, price_ticks=price, **fields)  # fmt: skip

    def leverage(self, account: int, leverage: int, mode: int = c.MARGIN_CROSS) -> Events:
        """SET_LEVERAGE in the perp market."""
        return self.run(cmd.set_leverage, account=account, market=PERP, leverage=leverage,
                        margin_mode=mode)  # fmt: skip

    def index(self, price: int) -> Events:
        """SET_INDEX_PRICE in the perp market."""
        return self.run(cmd.set_index_price, market=PERP, price_ticks=price)

    def pos(self, account: int) -> PerpPosition:
        """The account's position in the perp market."""
        found = self.engine.position(account, PERP)
        assert found is not None
        return found

    def available(self, account: int) -> int:
        """USDT available."""
        return self.engine.balance(account, USDT)[0]

    def locked(self, account: int) -> int:
        """USDT locked (order margin, position margin)."""
        return self.engine.balance(account, USDT)[1]

    def assert_conserved(self) -> None:
        """sum(balances) - sum(open cost) == credits - debits, and sum(qty) == 0."""
        totals = self.engine.asset_totals(USDT)
        assert totals["balances"] - totals["open_cost"] == totals["credits"] - totals["debits"]
        positions = [self.engine.position(a, PERP) for a in range(CONFIG.max_accounts)]
        assert sum(p.qty for p in positions if p is not None) == 0
        for a in range(CONFIG.max_accounts):
            assert self.engine.balance(a, USDT)[0] >= 0, a


def codes_of(events: Events, kind: str) -> list[str]:
    """Reasons of the events of one kind, in order."""
    return [e["reason"] for e in events if e["kind"] == kind]


def of_kind(events: Events, kind: str) -> list[dict[str, Any]]:
    """The events of one kind, in order."""
    return [e for e in events if e["kind"] == kind]
