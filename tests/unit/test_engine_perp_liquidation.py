"""Mark price, funding and liquidation in the engine, with the arithmetic in each test.

Market 0 (tests/unit/perp_desk.py): notional = qty * price, bracket 0 maintenance rate 0.5 %
(mm = ceil(notional * 5_000 / 1e6)), funding cap 30 bps, basis cap 50 bps, index 10_000.
"""

from __future__ import annotations

from engine import codes as c
from engine import commands as cmd
from tests.unit.perp_desk import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    FUND,
    PERP,
    PerpDesk,
    codes_of,
    of_kind,
)

FUNDS = 1_000_000
HOUR_NS = 3600 * 10**9


def test_mark_is_index_plus_basis_clamped_to_the_cap() -> None:
    d = PerpDesk()
    d.place(DAVE, c.BUY, 1, 10_100)
    d.place(CAROL, c.SELL, 1, 10_300)

    events = d.index(10_000)

    # mid = (10_100 + 10_300) // 2 = 10_200; cap = 10_000 * 50 // 10_000 = 50 -> mark 10_050
    # funding estimate = (10_050 - 10_000) * 1e6 // 10_000 = 5_000 ppm, capped at 30 bps
    [mark] = of_kind(events, "MARK_PRICE")
    assert (mark["mark"], mark["index"], mark["funding_rate_ppm"]) == (10_050, 10_000, 3_000)
    assert d.engine.mark(PERP)[:2] == (10_050, 10_000)


def test_funding_is_refused_before_it_is_due_and_conserves_with_dust_to_the_fund() -> None:
    d = PerpDesk()
    d.place(ALICE, c.BUY, 10, 10_000, order_type=c.LIMIT)
    d.place(BOB, c.SELL, 7, 10_000)
    d.place(CAROL, c.SELL, 3, 10_000)
    d.place(DAVE, c.BUY, 1, 10_100)
    d.place(DAVE, c.SELL, 1, 10_300)
    d.index(10_000)  # mark 10_050, rate +3_000 ppm: longs pay
    due = d.engine.mark(PERP)[2]

    early = d.run(cmd.apply_funding, ts_ns=due - 1, market=PERP)
    events = d.run(cmd.apply_funding, ts_ns=due, market=PERP)

    assert codes_of(early, "REJECTED") == ["FUNDING_NOT_DUE"]
    # alice pays 10 * 10_050 * 3_000 // 1e6 = 301; bob gets 301 * 7 // 10 = 210,
    # carol 301 * 3 // 10 = 90; the dust 1 goes to the insurance fund
    payments = {e["account"]: e["payment"] for e in of_kind(events, "FUNDING")}
    assert payments == {ALICE: -301, BOB: 210, CAROL: 90}
    assert d.engine.balance(FUND, 1)[0] == 1
    assert d.engine.mark(PERP)[2] == due + 8 * HOUR_NS
    d.assert_conserved()


def test_isolated_long_is_liquidated_at_the_formula_price_and_the_fund_gets_the_rest() -> None:
    d = PerpDesk()
    d.leverage(ALICE, 20, c.MARGIN_ISOLATED)
    d.place(BOB, c.SELL, 10, 10_000)
    d.place(ALICE, c.BUY, 10, 10_000)
    # IM = ceil(100_000 / 20) = 5_000. Binance isolated long liquidation price:
    # LP = (WB - size * entry) / (size * MMR - size) = (5_000 - 100_000) / (0.05 - 10)
    #    = 9_547.7: due at 9_547 (margin + upnl = 5_000 - 4_530 = 470 <= mm ceil(477.35)
    # = 478), not at 9_548 (480 > 478)
    d.place(DAVE, c.BUY, 10, 9_540)  # the bid the liquidation order will hit
    not_yet = d.index(9_548)
    assert of_kind(not_yet, "LIQUIDATION") == []

    events = d.index(9_547)

    steps = codes_of(events, "LIQUIDATION")
    assert steps == ["LIQ_STARTED", "LIQ_ORDERS_CANCELED", "LIQ_ORDER_FILLED",
                     "LIQ_INSURANCE_CREDITED", "LIQ_DONE"]  # fmt: skip
    # bankruptcy price = ceil((100_000 - 5_000) / 10) = 9_500; the fill at 9_540 leaves
    # 10 * (9_540 - 9_500) = 400 for the fund; alice ends with her deposit minus the margin
    credited = of_kind(events, "LIQUIDATION")[3]
    assert (credited["amount"], credited["insurance_balance"]) == (400, 400)
    assert d.pos(ALICE).qty == 0
    assert d.engine.balance(ALICE, 1) == (FUNDS - 5_000, 0)
    d.assert_conserved()


def test_cross_long_liquidation_price_uses_the_whole_wallet() -> None:
    d = PerpDesk(funds=20_000)
    d.place(BOB, c.SELL, 10, 10_000)
    d.place(ALICE, c.BUY, 10, 10_000)  # leverage 10: IM 10_000, wallet stays 20_000
    # cross: 20_000 + 10 * (P - 10_000) <= ceil(10 * P * 0.005) -> 9.95 P <= 80_000
    # -> P <= 8_040.2: due at 8_040 (400 <= 402), not at 8_041 (410 > 403)
    d.place(DAVE, c.BUY, 10, 8_030)
    assert of_kind(d.index(8_041), "LIQUIDATION") == []

    events = d.index(8_040)

    assert codes_of(events, "LIQUIDATION")[0] == "LIQ_STARTED"
    assert d.pos(ALICE).qty == 0
    d.assert_conserved()


def test_liquidation_cancels_the_accounts_orders_first() -> None:
    d = PerpDesk(funds=20_000)
    d.place(BOB, c.SELL, 10, 10_000)
    d.place(ALICE, c.BUY, 10, 10_000)
    d.place(ALICE, c.BUY, 1, 7_000)  # locks 700 of the wallet
    d.place(DAVE, c.BUY, 10, 8_000)

    events = d.index(8_000)

    done = of_kind(events, "ORDER_DONE")
    assert done[0]["reason"] == "CANCELED_BY_LIQUIDATION"
    assert of_kind(events, "LIQUIDATION")[1]["qty"] == 1
    d.assert_conserved()


def test_without_liquidity_or_fund_the_position_is_auto_deleveraged_by_rank() -> None:
    d = PerpDesk()
    d.leverage(ALICE, 20, c.MARGIN_ISOLATED)
    d.leverage(BOB, 20)
    d.leverage(CAROL, 2)
    d.place(BOB, c.SELL, 6, 10_000)
    d.place(CAROL, c.SELL, 4, 10_000)
    d.place(ALICE, c.BUY, 10, 10_000)

    events = d.index(9_500)

    # no bid: the liquidation order (limit = bankruptcy 9_500) fills nothing; both shorts
    # gain (10_000 - 9_500) / 10_000 = 5 %; bob's effective leverage (57_000 / (3_000 +
    # 3_000) = 9.5) beats carol's (38_000 / (20_000 + 2_000) = 1.7): bob goes first
    adl = [e for e in of_kind(events, "LIQUIDATION") if e["reason"] == "LIQ_AUTO_DELEVERAGED"]
    assert [(e["account"], e["counterparty"], e["qty"], e["price"]) for e in adl] == [
        (ALICE, BOB, 6, 9_500), (BOB, ALICE, 6, 9_500),
        (ALICE, CAROL, 4, 9_500), (CAROL, ALICE, 4, 9_500),
    ]  # fmt: skip
    # bob closes 6 short at 9_500: -(6 * 9_500) + 60_000 = 3_000; carol 2_000
    assert (d.pos(BOB).realized, d.pos(CAROL).realized) == (3_000, 2_000)
    assert d.pos(ALICE).qty == d.pos(BOB).qty == d.pos(CAROL).qty == 0
    d.assert_conserved()


def test_insurance_fund_widens_the_liquidation_limit_and_pays_the_deficit() -> None:
    d = PerpDesk(fund_balance=1_000)
    d.leverage(ALICE, 20, c.MARGIN_ISOLATED)
    d.place(BOB, c.SELL, 10, 10_000)
    d.place(ALICE, c.BUY, 10, 10_000)
    d.place(DAVE, c.BUY, 10, 9_450)  # below bankruptcy 9_500, within 1_000 // 10 = 100

    events = d.index(9_500)

    # fill at 9_450: loss 5_500 on 5_000 margin: the fund pays 500
    paid = [e for e in of_kind(events, "LIQUIDATION") if e["reason"] == "LIQ_INSURANCE_PAID"]
    assert [(e["account"], e["amount"], e["insurance_balance"]) for e in paid] == [
        (ALICE, 500, 500)
    ]
    assert d.pos(ALICE).qty == 0
    d.assert_conserved()


def test_liquidation_orders_use_the_reserved_id_range_that_clients_cannot_use() -> None:
    d = PerpDesk()
    d.leverage(ALICE, 20, c.MARGIN_ISOLATED)
    d.place(BOB, c.SELL, 10, 10_000)
    d.place(ALICE, c.BUY, 10, 10_000)
    d.place(DAVE, c.BUY, 10, 9_540)

    events = d.index(9_547)
    reserved = d.run(cmd.place, order_id=c.LIQ_ORDER_ID_BASE + 5, account=CAROL, market=PERP,
                     side=c.BUY, qty_lots=1, price_ticks=9_000)  # fmt: skip

    [trade] = of_kind(events, "TRADE")
    assert trade["taker_order_id"] == c.LIQ_ORDER_ID_BASE + 1
    assert codes_of(reserved, "REJECTED") == ["INVALID_ORDER_ID"]


def test_isolated_loss_stays_in_its_margin_while_cross_uses_the_wallet() -> None:
    isolated, cross = PerpDesk(), PerpDesk()
    isolated.leverage(ALICE, 20, c.MARGIN_ISOLATED)
    cross.leverage(ALICE, 20, c.MARGIN_CROSS)
    for d in (isolated, cross):
        d.place(BOB, c.SELL, 10, 10_000)
        d.place(ALICE, c.BUY, 10, 10_000)  # IM 5_000 in both

    # at 9_520: isolated 5_000 - 4_800 = 200 <= mm ceil(476) -> liquidated; cross wallet
    # 1_000_000 - 4_800 is far above 476 -> kept
    isolated.index(9_520)
    cross.index(9_520)

    assert isolated.pos(ALICE).qty == 0
    assert cross.pos(ALICE).qty == 10
    isolated.assert_conserved()
    cross.assert_conserved()


def test_leverage_change_is_reported_as_a_position_change() -> None:
    d = PerpDesk()

    events = d.leverage(ALICE, 5, c.MARGIN_ISOLATED)

    [changed] = of_kind(events, "POSITION_CHANGED")
    assert (changed["leverage"], changed["margin_mode"], changed["qty"]) == (5, 1, 0)
    assert d.pos(ALICE).leverage == 5
