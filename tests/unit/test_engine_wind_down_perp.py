"""Wind-down on a perpetual: reduce-only account modes and market status, CLOSE_POSITION at
the mark (the insurance fund takes the position over), and ADJUST_MARGIN's refusal reason.

Market 0 of the perp desk: notional = qty * price, index 10_000 (mark = index with no
two-sided book), fund account FUND, leverage 10 by default.
"""

from __future__ import annotations

import numpy as np

import engine.state as engine_state
from engine import codes as c
from engine import commands as cmd
from engine.core import Engine
from engine.state import EngineState
from tests.unit.engine.old_layout import to_v3
from tests.unit.perp_desk import (
    ALICE,
    BOB,
    CAROL,
    FUND,
    PERP,
    USDT,
    PerpDesk,
    codes_of,
    of_kind,
)


def _long_alice(fund_balance: int = 0) -> PerpDesk:
    """ALICE long 10 at 10_000 against BOB's short."""
    d = PerpDesk(fund_balance=fund_balance)
    d.place(BOB, c.SELL, 10, 10_000)
    d.place(ALICE, c.BUY, 10, 10_000)
    assert d.pos(ALICE).qty == 10 and d.pos(BOB).qty == -10
    return d


def test_a_reduce_only_account_may_only_shrink_its_position() -> None:
    d = _long_alice()
    d.run(cmd.set_account_mode, account=ALICE, mode=c.ACCOUNT_MODE_REDUCE_ONLY)
    d.place(CAROL, c.BUY, 20, 9_990)  # liquidity for ALICE's sells

    grow = d.place(ALICE, c.BUY, 1, 10_000)
    flip = d.place(ALICE, c.SELL, 11, 9_990)
    before = d.locked(ALICE)
    shrink = d.place(ALICE, c.SELL, 4, 9_990)

    assert codes_of(grow, "REJECTED") == codes_of(flip, "REJECTED") == ["ACCOUNT_REDUCE_ONLY"]
    assert codes_of(shrink, "REJECTED") == []
    assert d.pos(ALICE).qty == 6
    assert d.locked(ALICE) < before  # the closing part released margin, nothing new locked
    d.assert_conserved()


def test_a_reduce_only_market_makes_every_order_reduce_only() -> None:
    d = _long_alice()
    d.run(cmd.set_market_status, market=PERP, status=c.MARKET_REDUCE_ONLY)

    opening = d.place(CAROL, c.BUY, 1, 10_000)
    closing = d.place(BOB, c.BUY, 3, 10_010)  # BOB is short: a buy reduces it
    resting = d.place(ALICE, c.SELL, 3, 10_010)

    assert codes_of(opening, "REJECTED") == ["MARKET_REDUCE_ONLY"]
    assert codes_of(closing + resting, "REJECTED") == []
    assert d.pos(BOB).qty == -7 and d.pos(ALICE).qty == 7
    d.assert_conserved()


def test_close_position_moves_it_to_the_fund_at_the_mark_with_every_step_an_event() -> None:
    d = _long_alice(fund_balance=1_000_000)
    d.index(10_100)  # mark 10_100: ALICE is up 10 * 100
    realized_before = d.pos(ALICE).realized

    events = d.run(cmd.close_position_at_mark, account=ALICE, market=PERP)

    assert codes_of(events, "REJECTED") == []
    (step,) = of_kind(events, "LIQUIDATION")
    assert (step["reason"], step["qty"], step["price"]) == ("LIQ_WOUND_DOWN", 10, 10_100)
    assert (step["amount"], step["counterparty"]) == (1_000, FUND)
    changed = {e["account"]: e for e in of_kind(events, "POSITION_CHANGED")}
    assert changed[ALICE]["qty"] == 0 and changed[FUND]["qty"] == 10
    assert {e["reason"] for e in changed.values()} == {"LIQ_WOUND_DOWN"}
    assert d.pos(ALICE).qty == 0 and d.pos(ALICE).margin == 0
    assert d.pos(ALICE).realized - realized_before == 1_000
    fund = d.pos(FUND)
    assert (fund.qty, fund.cost) == (10, 101_000)
    assert d.locked(ALICE) == 0
    d.assert_conserved()


def test_close_position_is_refused_and_changes_nothing_when_it_cannot_be_done() -> None:
    d = _long_alice()  # the fund has no balance to margin a takeover
    before = (d.pos(ALICE), d.available(ALICE), d.locked(ALICE), d.engine.position(FUND, PERP))

    no_margin = d.run(cmd.close_position_at_mark, account=ALICE, market=PERP)
    no_position = d.run(cmd.close_position_at_mark, account=CAROL, market=PERP)
    own = d.run(cmd.close_position_at_mark, account=FUND, market=PERP)
    unknown = d.run(cmd.close_position_at_mark, account=99, market=PERP)

    assert codes_of(no_margin, "REJECTED") == ["INSUFFICIENT_MARGIN"]
    assert codes_of(no_position + own, "REJECTED") == ["NO_POSITION", "NO_POSITION"]
    assert codes_of(unknown, "REJECTED") == ["UNKNOWN_ACCOUNT"]
    after = (d.pos(ALICE), d.available(ALICE), d.locked(ALICE), d.engine.position(FUND, PERP))
    assert after == before
    d.assert_conserved()


def test_close_position_needs_a_mark() -> None:
    d = PerpDesk(index_price_ticks=0)
    d.place(BOB, c.SELL, 1, 10_000)
    d.place(ALICE, c.BUY, 1, 10_000)

    events = d.run(cmd.close_position_at_mark, account=ALICE, market=PERP)

    assert codes_of(events, "REJECTED") == ["NO_MARK"]


def test_a_takeover_against_the_funds_own_position_needs_no_margin_for_that_part() -> None:
    d = _long_alice(fund_balance=100_000)
    d.run(cmd.close_position_at_mark, account=ALICE, market=PERP)  # fund long 10, margined
    d.run(cmd.withdrawal_hold, account=FUND, asset=USDT, amount_minor=d.available(FUND))
    d.place(CAROL, c.SELL, 4, 10_000)
    d.place(BOB, c.BUY, 4, 10_000)  # BOB short 6, CAROL short 4
    d.run(cmd.close_position_at_mark, account=CAROL, market=PERP)

    assert d.pos(FUND).qty == 6 and d.pos(CAROL).qty == 0
    d.assert_conserved()


def test_adjust_margin_without_an_isolated_position_says_so() -> None:
    d = _long_alice()  # cross position

    cross = d.run(cmd.adjust_margin, account=ALICE, market=PERP, amount_minor=100)
    none = d.run(cmd.adjust_margin, account=CAROL, market=PERP, amount_minor=100)

    assert codes_of(cross + none, "REJECTED") == ["NO_ISOLATED_POSITION"] * 2


def test_a_version_2_snapshot_restores_with_every_account_normal(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    d = _long_alice()
    live = Engine.restore(d.engine.snapshot())
    state = EngineState.from_bytes(d.engine.snapshot())
    v3 = to_v3(state)  # version 2 had version 3's other arrays
    old = EngineState(**{**v3.__dict__, "accounts": state.accounts[:, :2].copy()})
    monkeypatch.setattr(engine_state, "SNAPSHOT_VERSION", 2)
    v2 = old.to_bytes()
    monkeypatch.undo()

    migrated = EngineState.from_bytes(v2)

    assert migrated.accounts.shape == state.accounts.shape
    assert np.array_equal(migrated.accounts, state.accounts)
    assert Engine.restore(v2).state_hash() == live.state_hash()
