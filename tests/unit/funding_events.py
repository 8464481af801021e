"""Hypothesis strategies for perpetual-futures event streams around funding rounds: batches
of funding rounds (a payment, a position change and a balance change per account, in any
order within the command, sometimes a liquidation among them, sometimes an unknown account
or market), trades' position changes, mark prices and the insurance fund's balance. What
the bulk round paths are checked against the per-event paths with
(tests/unit/domains/test_round_events.py, tests/unit/test_ledger_rounds.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import numpy as np
from hypothesis import strategies as st

from domains.orders.model import MarginBracket, Market, MarketKind, PerpParams
from domains.orders.spec import MarketSpec
from domains.shared.engine_port import AccountRef, AssetInfo
from engine import codes
from engine.layout import COMMAND_DTYPE, EVENT_DTYPE, Records

USDT = AssetInfo("USDT", 1, 8)
PERP = Market("BTC-USDT-PERP", MarketKind.PERPETUAL, "BTC", "USDT", Decimal("0.1"),
              Decimal("0.001"), Decimal("5"),
              margin_brackets=(MarginBracket(Decimal(0), 125, Decimal("0.004"), Decimal(0)),),
              perp=PerpParams())  # fmt: skip
SPEC = MarketSpec(PERP, AssetInfo("BTC", 2, 8), USDT)
KNOWN_MARKET, UNKNOWN_MARKET = 0, 5
INSURANCE = 9
UNKNOWN_ACCOUNT = 7
TRADERS = (1, 2, 3, 4, 5, 6, UNKNOWN_ACCOUNT)
TS_NS = 1_764_000_000_000_000_000
MINOR = st.integers(min_value=-(10**12), max_value=10**12)


class Directory:
    """Engine indices -> ids: traders 1-6 in two tenants, 7 unknown, 9 the insurance fund."""

    accounts: ClassVar[dict[int, AccountRef]] = {
        **{
            i: AccountRef(i, f"acc_{i}", "ten_a" if i % 2 else "ten_b", f"cus_{i}")
            for i in range(1, 7)
        },
        INSURANCE: AccountRef(INSURANCE, "platform:insurance:USDT", "platform", "platform"),
    }

    def account(self, index: int) -> AccountRef | None:
        return self.accounts.get(index)

    def asset_by_index(self, index: int) -> AssetInfo | None:
        return USDT if index == USDT.index else None

    def market_id(self, index: int) -> str | None:
        return PERP.id if index == KNOWN_MARKET else None


async def spec_for(market_id: str) -> MarketSpec:
    assert market_id == PERP.id
    return SPEC


def _event(seq: int, kind: int, **fields: int) -> dict[str, int]:
    return {"seq": seq, "kind": kind, **fields}


@st.composite
def _round(draw: st.DrawFn, seq: int) -> list[dict[str, int]]:
    """One funding round: per account paid its FUNDING, POSITION_CHANGED and
    BALANCE_CHANGED (shuffled within the command), maybe a liquidation step and the fund."""
    market = draw(st.sampled_from([KNOWN_MARKET, KNOWN_MARKET, KNOWN_MARKET, UNKNOWN_MARKET]))
    paid = draw(st.lists(st.sampled_from(TRADERS), min_size=1, max_size=6, unique=True))
    mark, rate = draw(st.integers(1, 10**7)), draw(st.integers(-5_000, 5_000))
    events: list[dict[str, int]] = []
    for account in paid:
        lots = draw(st.integers(-(10**6), 10**6).filter(lambda q: q != 0))
        events.append(_event(seq, codes.EV_FUNDING, account=account, market=market, qty=lots,
                             price=mark, value_a=draw(MINOR), value_b=rate))  # fmt: skip
        events.append(_event(
            seq, codes.EV_POSITION_CHANGED, account=account, market=market,
            qty=draw(st.sampled_from([lots, lots, lots, 0])), value_a=draw(MINOR),
            value_b=draw(MINOR), order_id=draw(MINOR), maker_order_id=draw(st.integers(1, 125)),
            status=draw(st.sampled_from([codes.MARGIN_CROSS, codes.MARGIN_ISOLATED])),
            code=codes.FUNDING_SETTLED,
        ))  # fmt: skip
        events.append(_event(seq, codes.EV_BALANCE_CHANGED, account=account, asset=USDT.index,
                             value_a=draw(st.integers(0, 10**12)), value_b=0))  # fmt: skip
    if draw(st.booleans()):
        events.append(_event(seq, codes.EV_BALANCE_CHANGED, account=INSURANCE,
                             asset=USDT.index, value_a=draw(st.integers(0, 10**9))))  # fmt: skip
    if draw(st.integers(0, 3)) == 0:  # the round liquidated (or deleveraged against) someone
        who, other = draw(st.sampled_from(paid)), draw(st.sampled_from((-1, *paid)))
        events.append(_event(
            seq, codes.EV_LIQUIDATION, account=who, maker_account=other, market=market,
            code=draw(st.sampled_from([codes.LIQ_STARTED, codes.LIQ_INSURANCE_PAID,
                                       codes.LIQ_AUTO_DELEVERAGED])),
            value_a=draw(st.integers(0, 10**9)), value_b=draw(st.integers(0, 10**9)),
        ))  # fmt: skip
    return draw(st.permutations(events))


@st.composite
def _trade(draw: st.DrawFn, seq: int) -> list[dict[str, int]]:
    """Position changes outside a round (a fill, a close to flat), maybe a mark price."""
    events = [
        _event(
            seq,
            codes.EV_POSITION_CHANGED,
            account=account,
            market=KNOWN_MARKET,
            qty=draw(st.integers(-(10**6), 10**6)),
            value_a=draw(MINOR),
            value_b=draw(MINOR),
            order_id=draw(MINOR),
            maker_order_id=draw(st.integers(1, 125)),
            status=codes.MARGIN_CROSS,
        )
        for account in draw(st.lists(st.sampled_from(TRADERS), min_size=1, max_size=2, unique=True))
    ]
    if draw(st.booleans()):
        events.append(_event(seq, codes.EV_MARK_PRICE, market=KNOWN_MARKET,
                             price=draw(st.integers(1, 10**7)), qty=draw(st.integers(1, 10**7)),
                             value_a=draw(st.integers(-5_000, 5_000))))  # fmt: skip
    return events


def _records(rows: list[dict[str, Any]], dtype: np.dtype[Any]) -> Records:
    out = np.zeros(len(rows), dtype=dtype)
    for i, row in enumerate(rows):
        for name, value in row.items():
            out[name][i] = value
    return out


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[Records, Records]]:
    """One to three batches of one to four commands each (rounds and trades), in order."""
    seq, out = 100, []
    for _ in range(draw(st.integers(1, 3))):
        commands: list[dict[str, int]] = []
        events: list[dict[str, int]] = []
        for _ in range(draw(st.integers(1, 4))):
            seq += 1
            is_round = draw(st.booleans())
            kind = codes.APPLY_FUNDING if is_round else codes.PLACE_ORDER
            events.append(_event(seq, codes.EV_ACCEPTED, code=kind))  # every command's verdict
            events += draw(_round(seq) if is_round else _trade(seq))
            commands.append({"seq": seq, "kind": kind, "ts_ns": TS_NS + seq * 1_000_000})
        out.append((_records(commands, COMMAND_DTYPE), _records(events, EVENT_DTYPE)))
    return out
