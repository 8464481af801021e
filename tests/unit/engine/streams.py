"""Command streams for engine tests: a small world, a hypothesis strategy, and runners.

The world is deliberately cramped (few slots, few price levels, few accounts, thin funds)
so random streams reach capacity limits, self-trades, stops, rejections and bad input.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from hypothesis import strategies as st

from engine import codes as c
from engine import commands as cmd
from engine.layout import COMMAND_DTYPE, EngineConfig, Records

SMALL = EngineConfig(max_markets=3, max_accounts=5, max_assets=3, max_orders=20, max_price_levels=5)
DUPLICATE = 10**9  # placeholder order id: "the previous command's seq"
FEE_ACCOUNT = 4
TRADERS = (0, 1, 2, 3)


def world(first_seq: int = 1) -> Records:
    """Two markets (one plain, one with band, steps and min notional), funds and fee rates."""
    s = first_seq
    parts = [
        cmd.add_market(s, 0, market=0, base_asset=0, quote_asset=1, base_per_lot=10,
                       quote_per_tick_lot=3, fee_account=FEE_ACCOUNT, collar_bps=300,
                       stp_default=c.STP_EXPIRE_TAKER),
        cmd.add_market(s + 1, 0, market=1, base_asset=2, quote_asset=1, base_per_lot=7,
                       quote_per_tick_lot=1, fee_account=FEE_ACCOUNT, collar_bps=1000,
                       band_bps=400, reference_price_ticks=100, min_notional_minor=300,
                       stp_default=c.STP_NONE, tick_step=2, lot_step=2),
    ]  # fmt: skip
    s += 2
    for account in TRADERS:
        for asset, amount in ((0, 600), (1, 40_000), (2, 500)):
            parts.append(
                cmd.deposit_credit(s, 0, account=account, asset=asset, amount_minor=amount)
            )
            s += 1
        parts.append(cmd.set_fee_rate(s, 0, account=account, maker_bps=account * 7,
                                      taker_bps=account * 13 + 5))  # fmt: skip
        s += 1
    return np.concatenate(parts)


def _record(values: dict[str, int]) -> Records:
    rec = np.zeros(1, dtype=COMMAND_DTYPE)
    for name, value in values.items():
        rec[name] = value
    return rec


order_ids = st.integers(1, 12)  # how many commands back the order was placed
accounts = st.sampled_from(TRADERS)
markets = st.sampled_from((0, 0, 1))
prices = st.integers(95, 105)
qtys = st.integers(1, 12)

good_place = st.fixed_dictionaries(
    {
        "kind": st.just(c.PLACE_ORDER),
        "account": accounts,
        "market": markets,
        "side": st.sampled_from((c.BUY, c.SELL)),
        "order_type": st.sampled_from((c.LIMIT,) * 8 + (c.MARKET, c.STOP_MARKET, c.STOP_LIMIT)),
        "tif": st.sampled_from((c.GTC,) * 6 + (c.IOC, c.FOK)),
        "price": prices,
        "stop_price": prices,
        "qty": qtys,
        "stp": st.sampled_from((0,) * 4 + (1, 2, 3, 4)),
        "flags": st.sampled_from((0,) * 6 + (c.FLAG_POST_ONLY,)),
        "client_tag": st.integers(0, 3),
    }
).map(lambda v: {**v, "tif": c.IOC} if v["order_type"] in (c.MARKET, c.STOP_MARKET) else v)

BAD_PLACE_FIELDS = {
    "account": st.sampled_from((-1, 7)),
    "market": st.sampled_from((-1, 2, 9)),
    "side": st.just(3),
    "order_type": st.just(9),
    "tif": st.sampled_from((c.GTC, 5)),
    "price": st.sampled_from((0, -3, 1, 1_000, 1 << 50)),
    "stop_price": st.sampled_from((0, 1, 1 << 50)),
    "qty": st.sampled_from((0, -1, 13, 200, 1 << 45)),
    "stp": st.just(6),
    "flags": st.sampled_from((c.FLAG_POST_ONLY, 4)),
    "order_id": st.sampled_from((0, -5, DUPLICATE)),
}
bad_place = st.tuples(good_place, st.sampled_from(sorted(BAD_PLACE_FIELDS))).flatmap(
    lambda pair: BAD_PLACE_FIELDS[pair[1]].map(lambda bad: {**pair[0], pair[1]: bad})
)
cancel_values = st.fixed_dictionaries(
    {"kind": st.just(c.CANCEL_ORDER), "order_id": order_ids, "account": accounts}
)
amend_values = st.fixed_dictionaries(
    {"kind": st.just(c.AMEND_ORDER), "order_id": order_ids, "account": accounts,
     "price": prices | st.just(0), "qty": qtys}
)  # fmt: skip
cancel_all_values = st.fixed_dictionaries(
    {"kind": st.just(c.CANCEL_ALL), "account": accounts | st.just(9), "market": markets}
)
money_values = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(
            (
                c.DEPOSIT_CREDIT,
                c.WITHDRAWAL_HOLD,
                c.WITHDRAWAL_RELEASE,
                c.WITHDRAWAL_DEBIT,
                c.TRANSFER,
            )
        ),
        "account": accounts | st.just(FEE_ACCOUNT),
        "account2": accounts | st.just(7),
        "asset": st.sampled_from((0, 1, 2, 1, 5)),
        "amount": st.integers(-5, 3000) | st.just(1 << 62),
    }
)
admin_values = st.one_of(
    st.fixed_dictionaries(
        {
            "kind": st.just(c.SET_MARKET_STATUS),
            "market": markets,
            "status": st.sampled_from((1, 1, 1, 2, 3, 4, 7)),
        }
    ),
    st.fixed_dictionaries(
        {"kind": st.just(c.SET_REFERENCE_PRICE), "market": markets, "price": prices}
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just(c.SET_FEE_RATE),
            "account": accounts,
            "bps1": st.integers(0, 60),
            "bps2": st.sampled_from((0, 25, 10_001)),
        }
    ),
    st.fixed_dictionaries(
        {
            "kind": st.just(c.SET_ACCOUNT_MODE),
            "account": accounts | st.just(-1),
            "status": st.sampled_from((0, 0, 1, 2, 5)),
        }
    ),
    st.fixed_dictionaries({"kind": st.sampled_from((0, 99, -1))}),  # -1: stale seq
    st.fixed_dictionaries(
        {
            "kind": st.just(c.ADD_MARKET),
            "market": st.sampled_from((0, 2, 3)),
            "asset": st.sampled_from((0, 2)),
            "asset2": st.sampled_from((1, 2, 4)),
            "qty": st.sampled_from((0, 5)),
            "stop_price": st.just(2),
            "bps2": st.just(200),
            "stp": st.sampled_from((0, 2)),
            "status": st.just(1),
            "tick_step": st.just(1),
            "lot_step": st.just(1),
            "account": st.just(FEE_ACCOUNT),
        }
    ),
)
WEIGHTED = (
    (good_place, 14), (bad_place, 1), (cancel_values, 4), (amend_values, 2),
    (cancel_all_values, 1), (money_values, 2), (admin_values, 1),
)  # fmt: skip
command_values = st.sampled_from([s for s, w in WEIGHTED for _ in range(w)]).flatmap(lambda s: s)


@st.composite
def streams(draw: Any, max_size: int = 60, min_size: int = 1) -> Records:
    """The world, then a random body; order ids are the command's seq (unique)."""
    head = world()
    body = draw(st.lists(command_values, min_size=min_size, max_size=max_size))
    first = int(head["seq"][-1]) + 1
    recs = []
    for i, values in enumerate(body):
        seq = first + i
        values = {"seq": seq, "ts_ns": seq * 1000, **values}
        if values["kind"] == -1:  # a stale seq: must be refused without effect
            values = {"seq": seq - 3, "kind": c.DEPOSIT_CREDIT, "amount": 5}
        elif values["kind"] == c.PLACE_ORDER:
            order_id = values.get("order_id", seq)
            values["order_id"] = seq - 1 if order_id == DUPLICATE else order_id
        elif values["kind"] in (c.CANCEL_ORDER, c.AMEND_ORDER):
            values["order_id"] = seq - values["order_id"]
        recs.append(_record(values))
    return np.concatenate([head, *recs])


def split_points(n: int) -> st.SearchStrategy[list[int]]:
    """Sorted cut points that split a stream of `n` commands into batches."""
    return st.lists(st.integers(1, max(1, n - 1)), max_size=4).map(lambda xs: sorted(set(xs)))


def batches(commands: Records, cuts: list[int]) -> list[Records]:
    """Split commands at the given indices."""
    bounds = [0, *cuts, len(commands)]
    return [commands[a:b] for a, b in itertools.pairwise(bounds) if b > a]
