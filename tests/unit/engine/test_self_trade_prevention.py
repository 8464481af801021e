"""Named scenarios for every self-trade prevention mode (the taker's mode decides)."""

from __future__ import annotations

import pytest

from engine import codes as c

from .desk import ALICE, BOB, Desk, done, of_kind


def _self_cross(mode: int) -> tuple[Desk, int, int, list[dict[str, object]]]:
    """ALICE rests 3 @ 100 behind BOB's 1 @ 100, then buys 5 @ 100 with `mode`."""
    desk = Desk(stp_default=c.STP_NONE)
    desk.place(BOB, c.SELL, 1, 100)
    desk.place(ALICE, c.SELL, 3, 100)
    maker = desk.last_order_id()
    events = desk.place(ALICE, c.BUY, 5, 100, stp=mode)
    return desk, maker, desk.last_order_id(), events


def test_expire_taker_keeps_the_resting_order_and_expires_the_incoming_one() -> None:
    desk, maker, taker, events = _self_cross(c.STP_EXPIRE_TAKER)

    [prevented] = of_kind(events, "SELF_TRADE_PREVENTED")
    assert (prevented["maker_order_id"], prevented["qty"]) == (maker, 3)
    assert done(events, taker)["status"] == c.EXPIRED_IN_MATCH
    assert done(events, taker)["filled"] == 1
    assert desk.book() == ([], [(100, 3)])


def test_expire_maker_cancels_the_resting_order_and_the_taker_goes_on() -> None:
    desk, maker, taker, events = _self_cross(c.STP_EXPIRE_MAKER)

    assert done(events, maker)["reason"] == "STP_EXPIRE_MAKER"
    assert desk.book() == ([(100, 4)], [])
    order = desk.engine.order_state(taker)
    assert order is not None and order.filled_lots == 1


def test_expire_both_expires_maker_and_taker() -> None:
    desk, maker, taker, events = _self_cross(c.STP_EXPIRE_BOTH)

    assert done(events, maker)["status"] == c.EXPIRED_IN_MATCH
    assert done(events, taker)["reason"] == "STP_EXPIRE_BOTH"
    assert desk.book() == ([], [])


def test_stp_none_lets_an_account_trade_with_itself() -> None:
    _desk, maker, _, events = _self_cross(c.STP_NONE)

    assert [t["maker_order_id"] for t in of_kind(events, "TRADE")][-1] == maker
    assert of_kind(events, "SELF_TRADE_PREVENTED") == []


@pytest.mark.parametrize(
    ("market_default", "expected"),
    [(c.STP_EXPIRE_TAKER, "STP_EXPIRE_TAKER"), (c.STP_EXPIRE_BOTH, "STP_EXPIRE_BOTH")],
)
def test_orders_without_a_mode_use_the_market_default(market_default: int, expected: str) -> None:
    desk = Desk(stp_default=market_default)
    desk.place(ALICE, c.SELL, 1, 100)

    events = desk.place(ALICE, c.BUY, 1, 100)

    assert of_kind(events, "SELF_TRADE_PREVENTED")[0]["reason"] == expected


def test_fok_counts_self_liquidity_as_unavailable_under_expire_taker() -> None:
    desk = Desk()
    desk.place(ALICE, c.SELL, 5, 100)

    events = desk.place(ALICE, c.BUY, 1, 100, tif=c.FOK)

    assert done(events, desk.last_order_id())["reason"] == "FOK_NOT_FILLABLE"
    assert of_kind(events, "SELF_TRADE_PREVENTED") == []
