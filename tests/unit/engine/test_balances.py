"""Balances, locks, fees and custody commands."""

from __future__ import annotations

from engine import codes as c
from engine import commands as cmd

from .desk import (
    ALICE,
    BASE,
    BASE_FUNDS,
    BOB,
    FEES,
    QUOTE,
    QUOTE_FUNDS,
    Desk,
    of_kind,
    rejection,
)


def test_resting_buy_locks_notional_plus_the_highest_fee_rate() -> None:
    desk = Desk()
    desk.run(cmd.set_fee_rate, account=ALICE, maker_bps=10, taker_bps=25)

    desk.place(ALICE, c.BUY, 40, 100)  # notional 4_000, fee at 25 bps = 10

    assert desk.engine.balance(ALICE, QUOTE) == (QUOTE_FUNDS - 4_010, 4_010)


def test_fill_charges_maker_and_taker_fees_into_the_fee_account() -> None:
    desk = Desk()
    desk.run(cmd.set_fee_rate, account=ALICE, maker_bps=10, taker_bps=30)
    desk.run(cmd.set_fee_rate, account=BOB, maker_bps=10, taker_bps=30)
    desk.place(BOB, c.SELL, 100, 100)  # maker, notional 10_000

    events = desk.place(ALICE, c.BUY, 100, 100)  # taker

    [trade] = of_kind(events, "TRADE")
    assert (trade["maker_fee"], trade["taker_fee"]) == (10, 30)
    assert desk.engine.balance(ALICE, QUOTE) == (QUOTE_FUNDS - 10_030, 0)
    assert desk.engine.balance(ALICE, BASE) == (BASE_FUNDS + 10_000, 0)
    assert desk.engine.balance(BOB, QUOTE) == (QUOTE_FUNDS + 9_990, 0)
    assert desk.engine.balance(FEES, QUOTE) == (40, 0)
    desk.assert_same_state()


def test_buy_filled_below_its_limit_gets_the_excess_lock_back() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 10, 90)

    desk.place(ALICE, c.BUY, 10, 100)

    assert desk.engine.balance(ALICE, QUOTE) == (QUOTE_FUNDS - 900, 0)


def test_order_beyond_available_funds_is_rejected_before_the_book() -> None:
    desk = Desk()

    events = desk.place(ALICE, c.SELL, BASE_FUNDS // 100 + 1, 100)

    assert rejection(events) == "INSUFFICIENT_FUNDS"
    assert desk.book() == ([], [])


def test_balance_events_carry_absolute_values_once_per_command() -> None:
    desk = Desk()

    events = desk.place(ALICE, c.BUY, 10, 100)

    [changed] = of_kind(events, "BALANCE_CHANGED")
    assert (changed["account"], changed["available"], changed["locked"]) == (
        ALICE,
        QUOTE_FUNDS - 1_000,
        1_000,
    )


def test_withdrawal_hold_then_debit_leaves_custody() -> None:
    desk = Desk()

    desk.run(cmd.withdrawal_hold, account=ALICE, asset=BASE, amount_minor=500)
    held = desk.engine.balance(ALICE, BASE)
    desk.run(cmd.withdrawal_debit, account=ALICE, asset=BASE, amount_minor=500)

    assert held == (BASE_FUNDS - 500, 500)
    assert desk.engine.balance(ALICE, BASE) == (BASE_FUNDS - 500, 0)
    assert desk.engine.asset_totals(BASE)["debits"] == 500


def test_withdrawal_release_returns_held_funds() -> None:
    desk = Desk()
    desk.run(cmd.withdrawal_hold, account=ALICE, asset=BASE, amount_minor=500)

    desk.run(cmd.withdrawal_release, account=ALICE, asset=BASE, amount_minor=500)

    assert desk.engine.balance(ALICE, BASE) == (BASE_FUNDS, 0)


def test_withdrawal_release_cannot_unlock_order_funds() -> None:
    desk = Desk()
    desk.place(ALICE, c.SELL, 5, 100)

    events = desk.run(cmd.withdrawal_release, account=ALICE, asset=BASE, amount_minor=500)

    assert rejection(events) == "INSUFFICIENT_HELD"


def test_transfer_moves_available_funds_atomically() -> None:
    desk = Desk()

    desk.run(cmd.transfer, from_account=ALICE, to_account=BOB, asset=QUOTE, amount_minor=7)
    too_much = desk.run(cmd.transfer, from_account=ALICE, to_account=BOB, asset=QUOTE,
                        amount_minor=QUOTE_FUNDS)  # fmt: skip

    assert desk.engine.balance(BOB, QUOTE) == (QUOTE_FUNDS + 7, 0)
    assert rejection(too_much) == "INSUFFICIENT_FUNDS"


def test_conservation_holds_after_trading_with_fees() -> None:
    desk = Desk()
    desk.run(cmd.set_fee_rate, account=ALICE, maker_bps=7, taker_bps=13)
    desk.place(BOB, c.SELL, 33, 101)
    desk.place(ALICE, c.BUY, 50, 103)
    desk.place(BOB, c.SELL, 9, order_type=c.MARKET)

    for asset in (BASE, QUOTE):
        totals = desk.engine.asset_totals(asset)
        assert totals["balances"] == totals["credits"] - totals["debits"]
