"""Wind-down in the engine: account trading modes and a market's REDUCE_ONLY status on spot.

Every command goes to the engine and the reference model in lock step (the desk), so each
test is also a differential test of the rule.
"""

from __future__ import annotations

from engine import codes as c
from engine import commands as cmd

from .desk import ALICE, BOB, Desk, Events


def _rejected(events: Events) -> list[str]:
    return [e["reason"] for e in events if e["kind"] == "REJECTED"]


def _mode(desk: Desk, account: int, mode: int) -> Events:
    return desk.run(cmd.set_account_mode, account=account, mode=mode)


def test_a_reduce_only_account_may_sell_its_holdings_but_not_buy() -> None:
    d = Desk()
    d.place(ALICE, c.BUY, 5, 100)  # resting before the mode: it stays
    resting = d.last_order_id()

    assert _rejected(_mode(d, ALICE, c.ACCOUNT_MODE_REDUCE_ONLY)) == []
    buy = d.place(ALICE, c.BUY, 1, 99)
    sell = d.place(ALICE, c.SELL, 2, 101)
    grow = d.run(cmd.amend, order_id=resting, account=ALICE, price_ticks=100, qty_lots=6)
    shrink = d.run(cmd.amend, order_id=resting, account=ALICE, price_ticks=100, qty_lots=3)
    other = d.place(BOB, c.BUY, 1, 99)  # another account trades freely

    assert _rejected(buy) == ["ACCOUNT_REDUCE_ONLY"]
    assert _rejected(grow) == ["ACCOUNT_REDUCE_ONLY"]
    assert _rejected(sell + shrink + other) == []
    assert d.engine.account_mode(ALICE) == c.ACCOUNT_MODE_REDUCE_ONLY
    d.assert_same_state()


def test_a_cancel_only_account_can_only_cancel_until_it_is_normal_again() -> None:
    d = Desk()
    d.place(ALICE, c.BUY, 5, 100)
    resting = d.last_order_id()
    _mode(d, ALICE, c.ACCOUNT_MODE_CANCEL_ONLY)

    place = d.place(ALICE, c.SELL, 1, 110)
    amend = d.run(cmd.amend, order_id=resting, account=ALICE, price_ticks=100, qty_lots=1)
    cancel = d.run(cmd.cancel, order_id=resting, account=ALICE)
    _mode(d, ALICE, c.ACCOUNT_MODE_NORMAL)
    again = d.place(ALICE, c.BUY, 1, 100)

    assert _rejected(place) == _rejected(amend) == ["ACCOUNT_CANCEL_ONLY"]
    assert _rejected(cancel + again) == []
    assert [e["reason"] for e in cancel if e["kind"] == "ORDER_DONE"] == ["CANCELED_BY_USER"]
    d.assert_same_state()


def test_a_reduce_only_market_takes_sells_and_refuses_buys_from_everyone() -> None:
    d = Desk()
    d.place(BOB, c.SELL, 3, 101)
    d.run(cmd.set_market_status, market=0, status=c.MARKET_REDUCE_ONLY)

    buy = d.place(ALICE, c.BUY, 1, 101)
    sell = d.place(ALICE, c.SELL, 1, 102)

    assert _rejected(buy) == ["MARKET_REDUCE_ONLY"]
    assert _rejected(sell) == []
    assert d.engine.dump()["markets"][0]["status"] == c.MARKET_REDUCE_ONLY
    d.assert_same_state()


def test_the_market_status_is_said_before_the_account_mode() -> None:
    d = Desk(status=c.MARKET_REDUCE_ONLY)
    _mode(d, ALICE, c.ACCOUNT_MODE_REDUCE_ONLY)

    assert _rejected(d.place(ALICE, c.BUY, 1, 100)) == ["MARKET_REDUCE_ONLY"]
    d.assert_same_state()


def test_an_unknown_account_cannot_get_a_mode() -> None:
    d = Desk()
    events = d.run(cmd.set_account_mode, account=99, mode=c.ACCOUNT_MODE_CANCEL_ONLY)

    assert _rejected(events) == ["UNKNOWN_ACCOUNT"]
    d.assert_same_state()
