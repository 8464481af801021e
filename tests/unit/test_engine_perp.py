"""Perpetual futures in the engine: margin locks, positions, PnL, fees, reduce-only, leverage.

Arithmetic is written out in each test (Binance's linear-contract formulas, integers): market
0 has 1 quote unit per tick x lot, so notional = qty * price; initial margin = ceil(notional
/ leverage); fee = notional * bps // 10_000.
"""

from __future__ import annotations

from engine import codes as c
from engine import commands as cmd
from engine.core import Engine
from tests.unit.perp_desk import (
    ALICE,
    BOB,
    CAROL,
    CONFIG,
    DAVE,
    FEES,
    PERP,
    USDT,
    PerpDesk,
    codes_of,
    of_kind,
)

FUNDS = 1_000_000


def test_opening_a_long_moves_initial_margin_and_fees() -> None:
    d = PerpDesk()
    d.run(cmd.set_fee_rate, account=ALICE, maker_bps=2, taker_bps=5)
    d.run(cmd.set_fee_rate, account=BOB, maker_bps=2, taker_bps=5)
    d.leverage(ALICE, 10)
    d.leverage(BOB, 20)

    d.place(BOB, c.SELL, 10, 10_000)
    # bob's order lock: ceil(100_000 / 20) + 100_000 * 5 // 10_000 = 5_000 + 50
    assert d.locked(BOB) == 5_050
    events = d.place(ALICE, c.BUY, 10, 10_000)

    # alice: IM = ceil(100_000 / 10) = 10_000 locked as position margin; taker fee 50
    assert d.pos(ALICE) == d.pos(ALICE).__class__(10, 100_000, 10_000, 10, c.MARGIN_CROSS, 0)
    assert (d.available(ALICE), d.locked(ALICE)) == (FUNDS - 10_000 - 50, 10_000)
    # bob: IM = 5_000; maker fee 100_000 * 2 // 10_000 = 20
    assert (d.pos(BOB).qty, d.pos(BOB).cost, d.pos(BOB).margin) == (-10, -100_000, 5_000)
    assert (d.available(BOB), d.locked(BOB)) == (FUNDS - 5_000 - 20, 5_000)
    assert d.engine.balance(FEES, USDT) == (70, 0)
    changed = of_kind(events, "POSITION_CHANGED")
    assert [(e["account"], e["qty"], e["cost"], e["margin"]) for e in changed] == [
        (ALICE, 10, 100_000, 10_000), (BOB, -10, -100_000, 5_000),
    ]  # fmt: skip
    d.assert_conserved()


def test_closing_realises_pnl_and_releases_margin_pro_rata() -> None:
    d = PerpDesk()
    d.place(BOB, c.SELL, 10, 10_000)
    d.place(ALICE, c.BUY, 10, 10_000)  # default leverage min(10, 20) = 10: IM 10_000

    d.place(CAROL, c.BUY, 4, 11_000)
    d.place(ALICE, c.SELL, 4, 11_000)

    # closing 4 of 10: cost removed 100_000 * 4 // 10 = 40_000, PnL 4 * 11_000 - 40_000
    # = 4_000; margin released 10_000 * 4 // 10 = 4_000
    p = d.pos(ALICE)
    assert (p.qty, p.cost, p.margin, p.realized) == (6, 60_000, 6_000, 4_000)
    assert (d.available(ALICE), d.locked(ALICE)) == (FUNDS - 10_000 + 4_000 + 4_000, 6_000)
    d.assert_conserved()


def test_a_fill_through_zero_closes_then_opens_the_other_way() -> None:
    d = PerpDesk()
    d.place(BOB, c.SELL, 5, 10_000)
    d.place(ALICE, c.BUY, 5, 10_000)

    d.place(CAROL, c.BUY, 8, 9_000)
    d.place(ALICE, c.SELL, 8, 9_000)

    # close 5: PnL 5 * 9_000 - 50_000 = -5_000; open 3 short: cost -27_000, IM 2_700
    p = d.pos(ALICE)
    assert (p.qty, p.cost, p.margin, p.realized) == (-3, -27_000, 2_700, -5_000)
    assert d.available(ALICE) == FUNDS - 5_000 - 2_700
    d.assert_conserved()


def test_short_loses_when_price_rises() -> None:
    d = PerpDesk()
    d.place(BOB, c.BUY, 2, 10_000)
    d.place(ALICE, c.SELL, 2, 10_000)
    d.place(CAROL, c.SELL, 2, 10_500)
    d.place(ALICE, c.BUY, 2, 10_500)

    # short closed: -(2 * 10_500) - (-20_000) = -1_000
    assert (d.pos(ALICE).qty, d.pos(ALICE).realized) == (0, -1_000)
    assert (d.available(ALICE), d.locked(ALICE)) == (FUNDS - 1_000, 0)
    d.assert_conserved()


def test_order_without_enough_margin_is_refused_and_changes_nothing() -> None:
    d = PerpDesk(funds=9_999)
    before = d.engine.snapshot()

    # notional 100_000 at leverage 10 needs 10_000
    events = d.place(ALICE, c.BUY, 10, 10_000)

    assert codes_of(events, "REJECTED") == ["INSUFFICIENT_MARGIN"]
    assert d.engine.balance(ALICE, USDT) == (9_999, 0)
    assert Engine.restore(before).dump()["orders"] == d.engine.dump()["orders"]


def test_reduce_only_is_refused_when_it_would_increase_or_flip() -> None:
    d = PerpDesk()
    d.place(BOB, c.SELL, 5, 10_000)
    d.place(ALICE, c.BUY, 5, 10_000)

    more = d.place(ALICE, c.BUY, 1, 10_000, reduce_only=True)
    flip = d.place(ALICE, c.SELL, 6, 10_000, reduce_only=True)
    flat = d.place(CAROL, c.SELL, 1, 10_000, reduce_only=True)

    assert codes_of(more + flip + flat, "REJECTED") == ["REDUCE_ONLY"] * 3


def test_reduce_only_locks_only_its_fee_and_never_flips_at_fill() -> None:
    d = PerpDesk()
    d.run(cmd.set_fee_rate, account=ALICE, maker_bps=10, taker_bps=10)
    d.place(BOB, c.SELL, 5, 10_000)
    d.place(ALICE, c.BUY, 5, 10_000)
    d.place(ALICE, c.SELL, 5, 10_100, reduce_only=True)
    # fee lock only: 5 * 10_100 * 10 // 10_000 = 50 (+ the position margin 5_000)
    assert d.locked(ALICE) == 5_000 + 50
    d.place(DAVE, c.BUY, 3, 10_000)
    d.place(ALICE, c.SELL, 3, 10_000)  # a plain sell: position 5 -> 2

    events = d.place(CAROL, c.BUY, 5, 10_100)

    # the resting reduce-only sell trades only the 2 lots that still reduce, then is cut
    assert [e["qty"] for e in of_kind(events, "TRADE")] == [2]
    assert d.pos(ALICE).qty == 0
    assert codes_of(events, "ORDER_DONE") == ["REDUCE_ONLY_CUT"]
    assert d.engine.open_orders(ALICE) == []
    d.assert_conserved()


def test_leverage_above_the_bracket_or_a_mode_change_with_a_position_is_refused() -> None:
    d = PerpDesk()
    too_high = d.leverage(ALICE, 21)
    d.place(BOB, c.SELL, 1, 10_000)
    d.place(ALICE, c.BUY, 1, 10_000)
    switch = d.leverage(ALICE, 10, c.MARGIN_ISOLATED)

    assert codes_of(too_high, "REJECTED") == ["INVALID_LEVERAGE"]
    assert codes_of(switch, "REJECTED") == ["POSITION_OPEN"]
    assert d.pos(ALICE).mode == c.MARGIN_CROSS


def test_perp_commands_and_reduce_only_on_a_spot_market_are_refused() -> None:
    engine = Engine(CONFIG)
    engine.apply(cmd.add_market(1, 0, market=1, base_asset=0, quote_asset=1, base_per_lot=1,
                                quote_per_tick_lot=1, fee_account=9))  # fmt: skip

    index = engine.apply(cmd.set_index_price(2, 0, market=1, price_ticks=100))
    order = cmd.place(3, 0, order_id=3, account=1, market=1, side=c.BUY, qty_lots=1,
                      price_ticks=100, reduce_only=True)  # fmt: skip
    reduce_only = engine.apply(order)

    assert int(index["code"][0]) == c.VALIDATION_NOT_PERPETUAL
    assert int(reduce_only["code"][0]) == c.VALIDATION_INVALID_FLAGS
    assert engine.position(1, 1) is None


def test_cancel_returns_the_whole_margin_lock() -> None:
    d = PerpDesk()
    d.place(ALICE, c.SELL, 10, 10_500)
    assert d.locked(ALICE) == 10_500

    d.run(cmd.cancel, order_id=d.seq, account=ALICE)

    assert d.engine.balance(ALICE, USDT) == (FUNDS, 0)


def test_isolated_margin_can_be_added_and_removed_down_to_initial_margin() -> None:
    d = PerpDesk()
    d.leverage(ALICE, 10, c.MARGIN_ISOLATED)
    d.place(BOB, c.SELL, 10, 10_000)
    d.place(ALICE, c.BUY, 10, 10_000)

    added = d.run(cmd.adjust_margin, account=ALICE, market=PERP, amount_minor=2_000)
    too_much = d.run(cmd.adjust_margin, account=ALICE, market=PERP, amount_minor=-2_001)
    removed = d.run(cmd.adjust_margin, account=ALICE, market=PERP, amount_minor=-2_000)

    assert codes_of(added + removed, "REJECTED") == []
    assert codes_of(too_much, "REJECTED") == ["INSUFFICIENT_MARGIN"]
    assert d.pos(ALICE).margin == 10_000
    d.assert_conserved()


def test_snapshot_restore_then_replay_is_bit_identical_with_perp_commands() -> None:
    d = PerpDesk()
    d.place(BOB, c.SELL, 5, 10_000)
    d.place(ALICE, c.BUY, 5, 10_000)
    snapshot = d.engine.snapshot()
    later = [
        cmd.set_index_price(d.seq + 1, 0, market=PERP, price_ticks=9_000),
        cmd.apply_funding(d.seq + 2, 10**15, market=PERP),
        cmd.place(d.seq + 3, 0, order_id=77, account=CAROL, market=PERP, side=c.BUY,
                  qty_lots=2, price_ticks=9_500),
    ]  # fmt: skip
    events = [d.engine.apply(r) for r in later]

    restored = Engine.restore(snapshot)
    replayed = [restored.apply(r) for r in later]

    assert restored.state_hash() == d.engine.state_hash()
    assert [e.tobytes() for e in replayed] == [e.tobytes() for e in events]
    assert restored.position(ALICE, PERP) == d.engine.position(ALICE, PERP)
