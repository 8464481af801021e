"""Named scenarios for every order type and time in force."""

from __future__ import annotations

from engine import codes as c
from engine import commands as cmd

from .desk import ALICE, BOB, CAROL, Desk, done, kinds, of_kind, rejection


def test_limit_order_rests_when_nothing_crosses() -> None:
    desk = Desk()

    events = desk.place(ALICE, c.BUY, 5, 100)

    assert kinds(events) == ["ACCEPTED", "BOOK_DELTA"]
    assert desk.book() == ([(100, 5)], [])
    state = desk.engine.order_state(desk.last_order_id())
    assert state is not None and state.status == c.NEW


def test_limit_order_trades_at_maker_price_then_rests_remainder() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 3, 101)

    events = desk.place(ALICE, c.BUY, 5, 102)

    [trade] = of_kind(events, "TRADE")
    assert (trade["price"], trade["qty"]) == (101, 3)
    assert desk.book() == ([(102, 2)], [])
    order = desk.engine.order_state(desk.last_order_id())
    assert order is not None
    assert (order.status, order.filled_lots, order.remaining_lots) == (c.PARTIALLY_FILLED, 3, 2)


def test_price_time_priority_fills_the_older_order_first_at_a_level() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 2, 101)
    first = desk.last_order_id()
    desk.place(ALICE, c.SELL, 2, 101)
    desk.place(BOB, c.SELL, 2, 100)
    best = desk.last_order_id()

    events = desk.place(CAROL, c.BUY, 3, 101)

    assert [t["maker_order_id"] for t in of_kind(events, "TRADE")] == [best, first]


def test_ioc_remainder_expires_when_book_is_thin() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 2, 100)

    events = desk.place(ALICE, c.BUY, 5, 100, tif=c.IOC)

    final = done(events, desk.last_order_id())
    assert (final["status"], final["reason"], final["filled"]) == (c.EXPIRED, "IOC_REMAINDER", 2)
    assert desk.book() == ([], [])


def test_fok_that_cannot_fill_completely_changes_nothing() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 2, 100)
    before = desk.engine.state_hash()

    events = desk.place(ALICE, c.BUY, 3, 100, tif=c.FOK)

    assert done(events, desk.last_order_id())["reason"] == "FOK_NOT_FILLABLE"
    assert of_kind(events, "TRADE") == []
    assert desk.book() == ([], [(100, 2)])
    assert desk.engine.balance(ALICE, 1) == (10_000_000, 0)
    assert desk.engine.state_hash() != before  # only last_seq moved
    desk.assert_same_state()


def test_fok_that_can_fill_trades_across_levels() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 2, 100)
    desk.place(BOB, c.SELL, 2, 101)

    events = desk.place(ALICE, c.BUY, 3, 101, tif=c.FOK)

    assert [t["qty"] for t in of_kind(events, "TRADE")] == [2, 1]
    assert done(events, desk.last_order_id())["status"] == c.FILLED


def test_post_only_order_is_rejected_if_it_would_take() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 2, 100)

    events = desk.place(ALICE, c.BUY, 1, 100, post_only=True)

    assert rejection(events) == "POST_ONLY_WOULD_TAKE"
    assert desk.book() == ([], [(100, 2)])


def test_post_only_order_rests_when_it_would_not_take() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 2, 100)

    events = desk.place(ALICE, c.BUY, 1, 99, post_only=True)

    assert kinds(events) == ["ACCEPTED", "BOOK_DELTA"]


def test_market_order_walks_the_book_within_its_collar_and_expires_the_rest() -> None:
    desk = Desk(collar_bps=500)  # 5 %: from best ask 100 up to 105
    desk.place(BOB, c.SELL, 1, 100)
    desk.place(BOB, c.SELL, 1, 105)
    desk.place(BOB, c.SELL, 1, 106)

    events = desk.place(ALICE, c.BUY, 5, order_type=c.MARKET)

    assert [t["price"] for t in of_kind(events, "TRADE")] == [100, 105]
    final = done(events, desk.last_order_id())
    assert (final["status"], final["reason"], final["unfilled"]) == (c.EXPIRED, "MARKET_COLLAR", 3)
    assert desk.book() == ([], [(106, 1)])


def test_market_order_against_an_empty_side_is_rejected() -> None:
    desk = Desk()

    assert rejection(desk.place(ALICE, c.SELL, 1, order_type=c.MARKET)) == "NO_LIQUIDITY"


def test_market_order_that_empties_the_book_expires_with_no_liquidity() -> None:
    desk = Desk()
    desk.place(BOB, c.BUY, 1, 100)

    events = desk.place(ALICE, c.SELL, 4, order_type=c.MARKET)

    assert done(events, desk.last_order_id())["reason"] == "NO_LIQUIDITY"


def test_stop_market_waits_then_triggers_on_last_trade_price() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 10, 105)
    placed = desk.place(ALICE, c.BUY, 2, order_type=c.STOP_MARKET, stop_price_ticks=103)
    stop_id = desk.last_order_id()
    assert placed[0]["status"] == c.PENDING_TRIGGER
    desk.place(BOB, c.SELL, 1, 103)

    events = desk.place(CAROL, c.BUY, 1, 103)  # trades at 103

    assert kinds(events)[:4] == ["ACCEPTED", "TRADE", "ORDER_DONE", "BOOK_DELTA"]
    triggered = of_kind(events, "STOP_TRIGGERED")
    assert [(e["order_id"], e["price"]) for e in triggered] == [(stop_id, 103)]
    assert [t["taker_order_id"] for t in of_kind(events, "TRADE")][-1] == stop_id
    assert done(events, stop_id)["status"] == c.FILLED


def test_stop_limit_triggers_and_rests_its_unfilled_part() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 1, 99)
    desk.place(CAROL, c.BUY, 1, 99)  # last trade 99
    desk.place(ALICE, c.SELL, 3, 97, order_type=c.STOP_LIMIT, stop_price_ticks=98)
    stop_id = desk.last_order_id()
    desk.place(BOB, c.BUY, 1, 97)

    events = desk.place(CAROL, c.SELL, 1, 97)  # trade at 97 triggers the stop

    assert stop_id in [e["order_id"] for e in of_kind(events, "STOP_TRIGGERED")]
    assert desk.book() == ([], [(97, 3)])
    order = desk.engine.order_state(stop_id)
    assert order is not None and order.status == c.NEW


def test_stop_that_would_trigger_immediately_is_rejected() -> None:
    desk = Desk()
    desk.place(BOB, c.SELL, 1, 100)
    desk.place(ALICE, c.BUY, 1, 100)

    events = desk.place(ALICE, c.BUY, 1, order_type=c.STOP_MARKET, stop_price_ticks=100)

    assert rejection(events) == "STOP_WOULD_TRIGGER"


def test_stop_cascade_resolves_within_one_command() -> None:
    desk = Desk()
    desk.place(BOB, c.BUY, 1, 100)
    desk.place(BOB, c.BUY, 1, 99)
    desk.place(BOB, c.BUY, 5, 95)
    desk.place(CAROL, c.SELL, 1, order_type=c.STOP_MARKET, stop_price_ticks=100)
    desk.place(CAROL, c.SELL, 1, order_type=c.STOP_MARKET, stop_price_ticks=99)

    events = desk.place(ALICE, c.SELL, 1, 100)

    assert [t["price"] for t in of_kind(events, "TRADE")] == [100, 99, 95]
    desk.assert_same_state()


def test_cancel_only_market_refuses_orders_but_accepts_cancels() -> None:
    desk = Desk()
    desk.place(ALICE, c.BUY, 1, 100)
    order_id = desk.last_order_id()
    desk.run(cmd.set_market_status, market=0, status=c.MARKET_CANCEL_ONLY)

    refused = desk.place(ALICE, c.BUY, 1, 100)
    canceled = desk.run(cmd.cancel, order_id=order_id, account=ALICE)

    assert rejection(refused) == "MARKET_CANCEL_ONLY"
    assert done(canceled, order_id)["status"] == c.CANCELED


def test_halted_market_refuses_orders_until_trading_resumes() -> None:
    desk = Desk()
    desk.run(cmd.set_market_status, market=0, status=c.MARKET_HALTED)

    refused = desk.place(ALICE, c.BUY, 1, 100)
    desk.run(cmd.set_market_status, market=0, status=c.MARKET_TRADING)
    accepted = desk.place(ALICE, c.BUY, 1, 100)

    assert rejection(refused) == "MARKET_HALTED"
    assert accepted[0]["kind"] == "ACCEPTED"


def test_price_band_rejects_orders_far_from_the_reference_price() -> None:
    desk = Desk(band_bps=500, reference_price_ticks=100)

    inside = desk.place(ALICE, c.BUY, 1, 95)
    outside = desk.place(ALICE, c.BUY, 1, 94)

    assert inside[0]["kind"] == "ACCEPTED"
    assert rejection(outside) == "PRICE_OUTSIDE_BAND"
