"""Perpetual invariants over random trading, funding, index moves and liquidations.

After every command: the quote-asset identity sum(balances) - sum(open cost) == credits -
debits, sum(qty) == 0 in the market, no negative balance, position margins inside `locked`.
Replays (one batch, or a snapshot half-way) end bit-identical.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import codes as c
from engine import commands as cmd
from engine.core import Engine
from engine.layout import Records
from tests.unit.perp_desk import CONFIG, FEES, FUND, PERP, USDT

pytestmark = pytest.mark.property
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRADERS = (1, 2, 3, 4, 5)
HOUR = 3600 * 10**9


def _setup() -> list[Records]:
    out = [
        cmd.add_market(1, 0, market=PERP, base_asset=0, quote_asset=USDT, base_per_lot=1,
                       quote_per_tick_lot=1, fee_account=FEES, collar_bps=1000, perpetual=True),
        cmd.set_margin_bracket(2, 0, market=PERP, index=0, notional_floor_minor=0,
                               maint_rate_ppm=10_000, maint_amount_minor=0, max_leverage=20),
        cmd.set_margin_bracket(3, 0, market=PERP, index=1, notional_floor_minor=500_000,
                               maint_rate_ppm=25_000, maint_amount_minor=7_500,
                               max_leverage=10),
        cmd.set_perp_params(4, 0, market=PERP, insurance_account=FUND, funding_interval_ns=HOUR,
                            funding_cap_bps=75, basis_cap_bps=100, index_price_ticks=1_000),
        cmd.deposit_credit(5, 0, account=FUND, asset=USDT, amount_minor=10**9),
    ]  # fmt: skip
    for i, account in enumerate(TRADERS):
        out.append(cmd.deposit_credit(6 + 2 * i, 0, account=account, asset=USDT,
                                      amount_minor=2_000 + 3_000 * i))  # fmt: skip
        out.append(cmd.set_fee_rate(7 + 2 * i, 0, account=account, maker_bps=i, taker_bps=2 * i))
    return out


@st.composite
def perp_streams(draw: st.DrawFn) -> list[Records]:
    """A setup, then random orders, cancels, leverage changes, index moves and funding."""
    stream = _setup()
    seq, ts = 100, 0
    for _ in range(draw(st.integers(20, 80))):
        seq += 1
        ts += draw(st.sampled_from([1, HOUR // 4]))
        action = draw(st.sampled_from(["order"] * 6 + ["market", "cancel", "lev", "index",
                                                         "funding"]))  # fmt: skip
        account = draw(st.sampled_from(TRADERS))
        side = draw(st.sampled_from([c.BUY, c.SELL]))
        qty = draw(st.integers(1, 30))
        if action == "order":
            stream.append(cmd.place(
                seq, ts, order_id=seq, account=account, market=PERP, side=side, qty_lots=qty,
                price_ticks=draw(st.integers(900, 1_100)),
                tif=draw(st.sampled_from([c.GTC, c.IOC])),
                reduce_only=draw(st.booleans()),
            ))  # fmt: skip
        elif action == "market":
            stream.append(cmd.place(seq, ts, order_id=seq, account=account, market=PERP,
                                    side=side, qty_lots=qty, order_type=c.MARKET))  # fmt: skip
        elif action == "cancel":
            stream.append(cmd.cancel(seq, ts, order_id=draw(st.integers(100, seq)),
                                     account=account))  # fmt: skip
        elif action == "lev":
            stream.append(cmd.set_leverage(
                seq, ts, account=account, market=PERP, leverage=draw(st.integers(1, 20)),
                margin_mode=draw(st.sampled_from([c.MARGIN_CROSS, c.MARGIN_ISOLATED])),
            ))  # fmt: skip
        elif action == "index":
            price = draw(st.integers(800, 1_200))
            stream.append(cmd.set_index_price(seq, ts, market=PERP, price_ticks=price))
        else:
            stream.append(cmd.apply_funding(seq, ts, market=PERP))
    return stream


def _assert_invariants(engine: Engine) -> None:
    totals = engine.asset_totals(USDT)
    assert totals["balances"] - totals["open_cost"] == totals["credits"] - totals["debits"]
    positions = [engine.position(a, PERP) for a in range(CONFIG.max_accounts)]
    assert sum(p.qty for p in positions if p is not None) == 0
    for account, p in enumerate(positions):
        available, locked = engine.balance(account, USDT)
        assert available >= 0 and locked >= 0, account
        assert p is not None and 0 <= p.margin <= locked, account


@SETTINGS
@given(stream=perp_streams())
def test_perp_money_is_conserved_and_never_negative(stream: list[Records]) -> None:
    engine = Engine(CONFIG)

    for record in stream:
        engine.apply(record)

        _assert_invariants(engine)


@SETTINGS
@given(stream=perp_streams(), data=st.data())
def test_perp_replay_and_snapshot_restore_are_bit_identical(
    stream: list[Records], data: st.DataObject
) -> None:
    one_by_one = Engine(CONFIG)
    events = [one_by_one.apply(r) for r in stream]
    k = data.draw(st.integers(1, len(stream) - 1))
    halfway = Engine(CONFIG)
    halfway.apply(np.concatenate(stream[:k]))

    restored = Engine.restore(halfway.snapshot())
    later = restored.apply(np.concatenate(stream[k:]))

    assert restored.state_hash() == one_by_one.state_hash()
    assert later.tobytes() == b"".join(e.tobytes() for e in events[k:])
