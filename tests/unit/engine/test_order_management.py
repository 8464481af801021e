"""Named scenarios for cancel, cancel-all and amend."""

from __future__ import annotations

from engine import codes as c
from engine import commands as cmd

from .desk import ALICE, BOB, CAROL, QUOTE, QUOTE_FUNDS, Desk, done, kinds, of_kind, rejection


def test_cancel_removes_the_order_and_releases_its_funds() -> None:
    desk = Desk()
    desk.place(ALICE, c.BUY, 5, 100)
    order_id = desk.last_order_id()

    events = desk.run(cmd.cancel, order_id=order_id, account=ALICE)

    assert kinds(events) == ["ACCEPTED", "BOOK_DELTA", "ORDER_DONE"]
    assert (done(events, order_id)["status"], done(events, order_id)["reason"]) == (
        c.CANCELED,
        "CANCELED_BY_USER",
    )
    assert desk.engine.balance(ALICE, QUOTE) == (QUOTE_FUNDS, 0)
    assert desk.engine.order_state(order_id) is None


def test_cancel_of_someone_elses_order_is_rejected_and_changes_nothing() -> None:
    desk = Desk()
    desk.place(ALICE, c.BUY, 5, 100)
    before = desk.engine.dump()

    events = desk.run(cmd.cancel, order_id=desk.last_order_id(), account=BOB)

    assert rejection(events) == "WRONG_OWNER"
    assert {**desk.engine.dump(), "last_seq": 0} == {**before, "last_seq": 0}


def test_cancel_all_cancels_one_accounts_orders_and_stops_in_one_market() -> None:
    desk = Desk()
    desk.place(ALICE, c.BUY, 1, 99)
    desk.place(BOB, c.BUY, 1, 99)
    desk.place(ALICE, c.SELL, 1, 105)
    desk.place(ALICE, c.BUY, 1, order_type=c.STOP_MARKET, stop_price_ticks=110)

    events = desk.run(cmd.cancel_all, account=ALICE, market=0)

    assert len(of_kind(events, "ORDER_DONE")) == 3
    assert desk.book() == ([(99, 1)], [])
    assert desk.engine.open_orders(ALICE) == []
    assert len(desk.engine.open_orders(BOB, market=0)) == 1


def test_amend_quantity_down_keeps_time_priority() -> None:
    desk = Desk()
    desk.place(ALICE, c.SELL, 5, 101)
    first = desk.last_order_id()
    desk.place(BOB, c.SELL, 5, 101)

    amended = desk.run(cmd.amend, order_id=first, account=ALICE, price_ticks=101, qty_lots=2)
    events = desk.place(CAROL, c.BUY, 1, 101)

    assert of_kind(amended, "ORDER_AMENDED")[0]["kept_priority"] == 1
    assert of_kind(events, "TRADE")[0]["maker_order_id"] == first
    assert desk.book() == ([], [(101, 6)])


def test_amend_quantity_up_loses_time_priority() -> None:
    desk = Desk()
    desk.place(ALICE, c.SELL, 5, 101)
    first = desk.last_order_id()
    desk.place(BOB, c.SELL, 5, 101)
    second = desk.last_order_id()

    amended = desk.run(cmd.amend, order_id=first, account=ALICE, price_ticks=101, qty_lots=6)
    events = desk.place(CAROL, c.BUY, 1, 101)

    assert of_kind(amended, "ORDER_AMENDED")[0]["kept_priority"] == 0
    assert of_kind(events, "TRADE")[0]["maker_order_id"] == second


def test_amend_to_a_crossing_price_trades_like_a_new_order() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 2, 101)
    desk.place(ALICE, c.BUY, 3, 99)
    order_id = desk.last_order_id()

    events = desk.run(cmd.amend, order_id=order_id, account=ALICE, price_ticks=101, qty_lots=3)

    assert [t["qty"] for t in of_kind(events, "TRADE")] == [2]
    assert desk.book() == ([(101, 1)], [])
    desk.assert_same_state()


def test_amend_that_needs_more_funds_than_available_is_rejected() -> None:
    desk = Desk()
    desk.place(ALICE, c.BUY, 1, 100)

    events = desk.run(cmd.amend, order_id=desk.last_order_id(), account=ALICE,
                      price_ticks=100, qty_lots=200_000)  # fmt: skip

    assert rejection(events) == "INSUFFICIENT_FUNDS"
    assert desk.book() == ([(100, 1)], [])


def test_pending_stop_cannot_be_amended() -> None:
    desk = Desk()
    desk.place(ALICE, c.BUY, 1, order_type=c.STOP_MARKET, stop_price_ticks=110)

    events = desk.run(cmd.amend, order_id=desk.last_order_id(), account=ALICE,
                      price_ticks=100, qty_lots=1)  # fmt: skip

    assert rejection(events) == "ORDER_NOT_AMENDABLE"
