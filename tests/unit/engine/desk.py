"""A trading desk for scenario tests: one market, funded accounts, engine and reference in
lock step. Every command goes to both; their events must be identical, so each named
scenario is also a differential test.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from engine import codes as c
from engine import commands as cmd
from engine.core import Engine
from engine.events import describe_all
from engine.layout import EngineConfig, Records
from engine.reference import ReferenceEngine

CONFIG = EngineConfig(max_markets=2, max_accounts=10, max_assets=3, max_orders=64,
                      max_price_levels=8)  # fmt: skip
BASE, QUOTE = 0, 1
FEES = 9  # fee account
ALICE, BOB, CAROL = 1, 2, 3
BASE_FUNDS = 1_000_000  # 10_000 lots of 100 base units
QUOTE_FUNDS = 10_000_000
Events = list[dict[str, Any]]


class Desk:
    """Market 0: BASE/QUOTE, 100 base units per lot, 1 quote unit per tick x lot."""

    def __init__(self, config: EngineConfig = CONFIG, **market: Any) -> None:
        self.engine = Engine(config)
        self.reference = ReferenceEngine(config)
        self.seq = 0
        spec = {"base_per_lot": 100, "quote_per_tick_lot": 1, "collar_bps": 1000,
                "stp_default": c.STP_EXPIRE_TAKER, **market}  # fmt: skip
        self.run(cmd.add_market, market=0, base_asset=BASE, quote_asset=QUOTE,
                 fee_account=FEES, **spec)  # fmt: skip
        for account in (ALICE, BOB, CAROL):
            self.run(cmd.deposit_credit, account=account, asset=BASE, amount_minor=BASE_FUNDS)
            self.run(cmd.deposit_credit, account=account, asset=QUOTE, amount_minor=QUOTE_FUNDS)

    def apply(self, records: Records) -> Events:
        """Apply records to both engines, assert identical events, return them described."""
        events = self.engine.apply(records)
        expected = self.reference.apply(records)
        assert np.array_equal(events, expected), "engine and reference events differ"
        return describe_all(events)

    def run(self, factory: Callable[..., Records], **fields: Any) -> Events:
        """Build one command with the next seq and apply it."""
        self.seq += 1
        return self.apply(factory(self.seq, self.seq * 1_000, **fields))

    def place(self, account: int, side: int, qty: int, price: int = 0, **fields: Any) -> Events:
        """PLACE_ORDER in market 0 with order id = seq."""
        fields = {"market": 0, **fields}
        return self.run(cmd.place, order_id=self.seq + 1, account=account, side=side,
                        qty_lots=qty, price_ticks=price, **fields)  # fmt: skip

    def last_order_id(self) -> int:
        """Id of the order placed by the last command."""
        return self.seq

    def book(self) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(bids, asks) of market 0."""
        return self.engine.book(0, 10)

    def assert_same_state(self) -> None:
        """The engines agree on the whole state."""
        assert self.engine.dump() == self.reference.dump()


def of_kind(events: Events, kind: str) -> Events:
    """Events of one kind, in order."""
    return [e for e in events if e["kind"] == kind]


def kinds(events: Events) -> list[str]:
    """Kinds in order, balance events left out (they are checked separately)."""
    return [e["kind"] for e in events if e["kind"] != "BALANCE_CHANGED"]


def done(events: Events, order_id: int) -> dict[str, Any]:
    """The ORDER_DONE event of an order."""
    [event] = [e for e in of_kind(events, "ORDER_DONE") if e["order_id"] == order_id]
    return event


def rejection(events: Events) -> str:
    """Reason name of a rejected command."""
    assert events[0]["kind"] == "REJECTED", events[0]
    return str(events[0]["reason"])
