"""Every rejection reason, each from a bad command that must change nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from engine import codes as c
from engine import commands as cmd
from engine.layout import EngineConfig

from .desk import ALICE, BASE, BOB, CONFIG, QUOTE, Desk, Events

Setup = Callable[[Desk], object]
Bad = Callable[[Desk], Events]


def _nothing(desk: Desk) -> None:
    return None


def _resting(desk: Desk) -> None:
    desk.place(ALICE, c.BUY, 1, 100)


def _pending_stop(desk: Desk) -> None:
    desk.place(ALICE, c.BUY, 1, order_type=c.STOP_MARKET, stop_price_ticks=110)


def _last_trade_at_100(desk: Desk) -> None:
    desk.place(BOB, c.SELL, 1, 100)
    desk.place(ALICE, c.BUY, 1, 100)


def _offer_at_100(desk: Desk) -> None:
    desk.place(BOB, c.SELL, 1, 100)


def _all_levels_used(desk: Desk) -> None:
    for price in range(100, 100 - CONFIG.max_price_levels, -1):
        desk.place(ALICE, c.BUY, 1, price)


def _two_orders(desk: Desk) -> None:
    desk.place(ALICE, c.BUY, 1, 100)
    desk.place(ALICE, c.BUY, 1, 99)


def _alice_mode(mode: int) -> Setup:
    return lambda d: d.run(cmd.set_account_mode, account=ALICE, mode=mode)


def _unknown_kind(desk: Desk) -> Events:
    rec = cmd.deposit_credit(desk.seq + 1, 0, account=ALICE, asset=BASE, amount_minor=1)
    rec["kind"] = 77
    desk.seq += 1
    return desk.apply(rec)


def _stale_seq(desk: Desk) -> Events:
    return desk.apply(cmd.deposit_credit(desk.seq, 0, account=ALICE, asset=BASE, amount_minor=1))


def _on_last(factory: Callable[..., Any], **fields: Any) -> Bad:
    """A command about the order placed last."""
    return lambda d: d.run(factory, order_id=d.last_order_id(), **fields)


SMALL_BOOK = EngineConfig(max_accounts=10, max_assets=3, max_orders=2)
SCENARIOS: dict[str, tuple[dict[str, Any], Setup, Bad]] = {
    "UNKNOWN_COMMAND": ({}, _nothing, _unknown_kind),
    "SEQ_NOT_INCREASING": ({}, _nothing, _stale_seq),
    "UNKNOWN_MARKET": ({}, _nothing, lambda d: d.place(ALICE, c.BUY, 1, 100, market=1)),
    "INVALID_QUANTITY": ({}, _nothing, lambda d: d.place(ALICE, c.BUY, 0, 100)),
    "INVALID_PRICE": ({}, _nothing, lambda d: d.place(ALICE, c.BUY, 1, -5)),
    "PRICE_OFF_TICK": ({"tick_step": 5}, _nothing, lambda d: d.place(ALICE, c.BUY, 1, 101)),
    "QUANTITY_OFF_LOT": ({"lot_step": 2}, _nothing, lambda d: d.place(ALICE, c.BUY, 3, 100)),
    "UNKNOWN_ACCOUNT": ({}, _nothing, lambda d: d.place(99, c.BUY, 1, 100)),
    "UNKNOWN_ASSET": ({}, _nothing, lambda d: d.run(cmd.deposit_credit, account=ALICE, asset=7,
                                                    amount_minor=1)),
    "DUPLICATE_ORDER_ID": ({}, _resting, lambda d: d.run(
        cmd.place, order_id=d.last_order_id(), account=ALICE, market=0, side=c.BUY,
        qty_lots=1, price_ticks=99)),
    "UNKNOWN_ORDER": ({}, _nothing, lambda d: d.run(cmd.cancel, order_id=12345, account=ALICE)),
    "WRONG_OWNER": ({}, _resting, _on_last(cmd.cancel, account=BOB)),
    "INVALID_SIDE": ({}, _nothing, lambda d: d.place(ALICE, 2, 1, 100)),
    "INVALID_ORDER_TYPE": ({}, _nothing, lambda d: d.place(ALICE, c.BUY, 1, 100, order_type=7)),
    "INVALID_TIME_IN_FORCE": ({}, _nothing, lambda d: d.place(
        ALICE, c.BUY, 1, order_type=c.MARKET, tif=c.GTC)),
    "INVALID_STP_MODE": ({}, _nothing, lambda d: d.place(ALICE, c.BUY, 1, 100, stp=9)),
    "MARKET_EXISTS": ({}, _nothing, lambda d: d.run(
        cmd.add_market, market=0, base_asset=BASE, quote_asset=QUOTE, base_per_lot=1,
        quote_per_tick_lot=1, fee_account=9)),
    "INVALID_MARKET_SPEC": ({}, _nothing, lambda d: d.run(
        cmd.add_market, market=1, base_asset=BASE, quote_asset=BASE, base_per_lot=1,
        quote_per_tick_lot=1, fee_account=9)),
    "INVALID_AMOUNT": ({}, _nothing, lambda d: d.run(cmd.deposit_credit, account=ALICE,
                                                     asset=BASE, amount_minor=0)),
    "INVALID_FEE_RATE": ({}, _nothing, lambda d: d.run(cmd.set_fee_rate, account=ALICE,
                                                       maker_bps=-1, taker_bps=0)),
    "INVALID_STOP_PRICE": ({}, _nothing, lambda d: d.place(ALICE, c.BUY, 1,
                                                           order_type=c.STOP_MARKET)),
    "VALUE_TOO_LARGE": ({}, _nothing, lambda d: d.place(ALICE, c.BUY, 1 << 41, 100)),
    "INVALID_ORDER_ID": ({}, _nothing, lambda d: d.run(
        cmd.place, order_id=0, account=ALICE, market=0, side=c.BUY, qty_lots=1,
        price_ticks=100)),
    "NOTIONAL_TOO_SMALL": ({"min_notional_minor": 1_000}, _nothing,
                           lambda d: d.place(ALICE, c.BUY, 9, 100)),
    "INVALID_MARKET_STATUS": ({}, _nothing, lambda d: d.run(cmd.set_market_status, market=0,
                                                            status=9)),
    "ORDER_NOT_AMENDABLE": ({}, _pending_stop, _on_last(cmd.amend, account=ALICE,
                                                        price_ticks=10, qty_lots=1)),
    "INVALID_FLAGS": ({}, _nothing, lambda d: d.place(ALICE, c.BUY, 1, 100, tif=c.IOC,
                                                      post_only=True)),
    "SAME_ACCOUNT": ({}, _nothing, lambda d: d.run(cmd.transfer, from_account=ALICE,
                                                   to_account=ALICE, asset=BASE, amount_minor=1)),
    "STOP_WOULD_TRIGGER": ({}, _last_trade_at_100, lambda d: d.place(
        ALICE, c.SELL, 1, order_type=c.STOP_MARKET, stop_price_ticks=101)),
    "INSUFFICIENT_FUNDS": ({}, _nothing, lambda d: d.place(ALICE, c.BUY, 200_000, 100)),
    "PRICE_OUTSIDE_BAND": ({"band_bps": 100, "reference_price_ticks": 100}, _nothing,
                           lambda d: d.place(ALICE, c.BUY, 1, 102)),
    "MARKET_HALTED": ({"status": c.MARKET_HALTED}, _nothing,
                      lambda d: d.place(ALICE, c.BUY, 1, 100)),
    "MARKET_CANCEL_ONLY": ({"status": c.MARKET_CANCEL_ONLY}, _nothing,
                           lambda d: d.place(ALICE, c.BUY, 1, 100)),
    "INSUFFICIENT_HELD": ({}, _nothing, lambda d: d.run(cmd.withdrawal_debit, account=ALICE,
                                                        asset=BASE, amount_minor=1)),
    "POST_ONLY_WOULD_TAKE": ({}, _offer_at_100, lambda d: d.place(ALICE, c.BUY, 1, 100,
                                                                  post_only=True)),
    "NO_LIQUIDITY": ({}, _nothing, lambda d: d.place(ALICE, c.BUY, 1, order_type=c.MARKET)),
    "BOOK_FULL": ({"config": SMALL_BOOK}, _two_orders, lambda d: d.place(ALICE, c.BUY, 1, 98)),
    "PRICE_LEVELS_FULL": ({}, _all_levels_used, lambda d: d.place(ALICE, c.BUY, 1, 50)),
    "INVALID_ACCOUNT_MODE": ({}, _nothing, lambda d: d.run(cmd.set_account_mode, account=ALICE,
                                                           mode=9)),
    "ACCOUNT_CANCEL_ONLY": ({}, _alice_mode(c.ACCOUNT_MODE_CANCEL_ONLY),
                            lambda d: d.place(ALICE, c.SELL, 1, 100)),
    "ACCOUNT_REDUCE_ONLY": ({}, _alice_mode(c.ACCOUNT_MODE_REDUCE_ONLY),
                            lambda d: d.place(ALICE, c.BUY, 1, 100)),
    "MARKET_REDUCE_ONLY": ({"status": c.MARKET_REDUCE_ONLY}, _nothing,
                           lambda d: d.place(ALICE, c.BUY, 1, 100)),
}  # fmt: skip


@pytest.mark.parametrize("reason", sorted(SCENARIOS))
def test_bad_command_is_rejected_with_its_reason_and_changes_nothing(reason: str) -> None:
    options, setup, bad = SCENARIOS[reason]
    market = {k: v for k, v in options.items() if k != "config"}
    desk = Desk(options.get("config", CONFIG), **market)
    setup(desk)
    before = desk.engine.dump()

    events = bad(desk)

    assert [(e["kind"], e["reason"]) for e in events] == [("REJECTED", reason)]
    after = desk.engine.dump()
    assert {**after, "last_seq": 0} == {**before, "last_seq": 0}
    desk.assert_same_state()


def test_every_rejection_reason_has_a_scenario() -> None:
    outcomes = {
        *("OK", "FOK_NOT_FILLABLE", "IOC_REMAINDER", "CANCELED_BY_USER", "MARKET_COLLAR"),
        *("STP_EXPIRE_TAKER", "STP_EXPIRE_MAKER", "STP_EXPIRE_BOTH"),
    }

    spot = {name for code, name in c.REASON_NAMES.items() if code not in c.PERP_REASONS}

    assert spot - outcomes == set(SCENARIOS)


def test_reason_codes_are_grouped_by_stage() -> None:
    stages = {name: c.reason_stage(code) for code, name in c.REASON_NAMES.items()}

    assert stages["INSUFFICIENT_FUNDS"] == "RISK"
    assert stages["UNKNOWN_MARKET"] == "VALIDATION"
    assert stages["POST_ONLY_WOULD_TAKE"] == "MATCH"
    assert c.RISK_INSUFFICIENT_FUNDS == -2001
