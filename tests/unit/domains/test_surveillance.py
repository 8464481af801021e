"""Each trade surveillance pattern fires on a constructed scenario and stays silent on a
clean one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from domains.compliance.alert_model import AlertRule
from domains.compliance.aml import Hit
from domains.compliance.surveillance import (
    OrderFact,
    Owner,
    SurveillanceParams,
    TradeFact,
    TradeSurveillance,
)

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
PARAMS = SurveillanceParams("ten_a", "BTC-USDT")
ALICE_MAIN = Owner("ten_a", "cus_alice", "acc_alice_main")
ALICE_SUB = Owner("ten_a", "cus_alice", "acc_alice_sub")
BOB = Owner("ten_a", "cus_bob", "acc_bob")
CAROL = Owner("ten_a", "cus_carol", "acc_carol")
n = iter(range(1, 1_000_000))


def trade(buyer: Owner, seller: Owner, qty: str = "0.5", seconds: float = 0,
          price: str = "64000") -> TradeFact:  # fmt: skip
    seq = next(n)
    return TradeFact(seq, f"BTC-USDT:{seq:012d}", "BTC-USDT", Decimal(price), Decimal(qty),
                     buyer, seller, T0 + dt.timedelta(seconds=seconds))  # fmt: skip


def order(owner: Owner, side: str, price: str, qty: str, seconds: float) -> OrderFact:
    return OrderFact(f"ord_{next(n):016d}", owner, "BTC-USDT", side, Decimal(price),
                     Decimal(qty), T0 + dt.timedelta(seconds=seconds))  # fmt: skip


def test_a_trade_between_two_accounts_of_one_owner_is_a_wash_trade() -> None:
    hits = TradeSurveillance().on_trade(trade(ALICE_MAIN, ALICE_SUB), PARAMS)
    assert [h.rule for h in hits] == [AlertRule.SURVEILLANCE_WASH_TRADE]
    assert hits[0].customer_id == "cus_alice"


def test_a_trade_between_two_owners_is_not_a_wash_trade() -> None:
    assert TradeSurveillance().on_trade(trade(ALICE_MAIN, BOB), PARAMS) == []


def test_the_same_quantity_going_back_and_forth_is_a_circular_trade() -> None:
    watch = TradeSurveillance()
    assert watch.on_trade(trade(ALICE_MAIN, BOB, "0.5"), PARAMS) == []
    hits = watch.on_trade(trade(BOB, ALICE_MAIN, "0.5", seconds=60), PARAMS)
    assert [h.rule for h in hits] == [AlertRule.SURVEILLANCE_CIRCULAR_TRADE]


def test_trades_with_different_partners_quantities_or_far_apart_are_not_circular() -> None:
    watch = TradeSurveillance()
    watch.on_trade(trade(ALICE_MAIN, BOB, "0.5"), PARAMS)
    assert watch.on_trade(trade(CAROL, ALICE_MAIN, "0.5", seconds=10), PARAMS) == []
    assert watch.on_trade(trade(BOB, ALICE_MAIN, "0.9", seconds=20), PARAMS) == []
    assert watch.on_trade(trade(BOB, ALICE_MAIN, "0.5", seconds=3600), PARAMS) == []


def spoof(watch: TradeSurveillance, owner: Owner, qty: str, price: str,
          lifetime: float) -> list[Hit]:  # fmt: skip
    """Three orders entered and cancelled unfilled, then an execution on the other side."""
    watch.on_trade(trade(CAROL, BOB, "0.01", price="64000"), PARAMS)  # sets the touch
    hits: list[Hit] = []
    for i in range(3):
        placed = order(owner, "BUY", price, qty, seconds=i * 5)
        watch.on_order_accepted(placed, PARAMS)
        hits += watch.on_order_done(placed.order_id, True, Decimal(0),
                                    placed.at + dt.timedelta(seconds=lifetime), PARAMS)  # fmt: skip
    hits += watch.on_trade(trade(BOB, owner, "0.1", seconds=20), PARAMS)
    return hits


def test_large_orders_near_the_touch_cancelled_with_an_opposite_fill_are_spoofing() -> None:
    hits = spoof(TradeSurveillance(), ALICE_MAIN, qty="1", price="63990", lifetime=2)
    assert [h.rule for h in hits] == [AlertRule.SURVEILLANCE_SPOOFING]


def test_small_far_or_long_lived_orders_are_not_spoofing() -> None:
    assert spoof(TradeSurveillance(), ALICE_MAIN, qty="0.01", price="63990", lifetime=2) == []
    assert spoof(TradeSurveillance(), ALICE_MAIN, qty="1", price="60000", lifetime=2) == []
    assert spoof(TradeSurveillance(), ALICE_MAIN, qty="1", price="63990", lifetime=120) == []


def test_cancels_without_an_opposite_execution_are_not_spoofing_by_default() -> None:
    watch = TradeSurveillance()
    watch.on_trade(trade(CAROL, BOB, "0.01"), PARAMS)
    for i in range(3):
        placed = order(ALICE_MAIN, "BUY", "63990", "1", seconds=i)
        watch.on_order_accepted(placed, PARAMS)
        assert watch.on_order_done(placed.order_id, True, Decimal(0), placed.at, PARAMS) == []
