"""Socialised loss: what neither an account's margin nor the insurance fund can cover is
taken from the unrealised profit of the market's winning positions, pro rata, by raising
their cost. No balance is left negative; conservation holds.

Market 0 of the perp desk: notional = qty * price, fees 0, index (and mark) 10_000. ALICE is
isolated long 10 at 10_000 with 5_000 of margin (20x) and 1_000 left in her wallet; she sells
(reduce-only) into bids at 9_000 (CAROL 6 lots, then DAVE 4), a loss of 10_000, 5_000 beyond
her margin.
Fills settle one maker at a time, buyer first, so the second haircut sees both winners.
"""

from __future__ import annotations

from engine import codes as c
from tests.unit.perp_desk import ALICE, BOB, CAROL, DAVE, FUND, PerpDesk, codes_of, of_kind


def _gap_desk(fund_balance: int = 0) -> PerpDesk:
    d = PerpDesk(funds=6_000, fund_balance=fund_balance)
    d.leverage(ALICE, 20, c.MARGIN_ISOLATED)
    d.leverage(BOB, 20)  # 6_000 covers 10 lots at 20x, not at the default 10x
    d.place(BOB, c.SELL, 10, 10_000)
    d.place(ALICE, c.BUY, 10, 10_000)
    d.place(CAROL, c.BUY, 6, 9_000)
    d.place(DAVE, c.BUY, 4, 9_000)
    assert d.available(ALICE) == 1_000
    return d


def _steps(events: list[dict[str, object]], reason: str) -> list[object]:
    return [e["amount"] for e in of_kind(events, "LIQUIDATION") if e["reason"] == reason]


def test_a_loss_beyond_margin_and_an_empty_fund_is_taken_from_the_winners_profit() -> None:
    d = _gap_desk()

    events = d.place(ALICE, c.SELL, 10, 9_000, reduce_only=True)

    # fill 1 (6 lots): loss 6_000, margin released 3_000 + the 2_000 left pay 5_000; 1_000
    # from CAROL (the only winner: +6_000 at the mark). Fill 2 (4 lots): loss 4_000, no
    # margin left; CAROL +5_000 and DAVE +4_000: 2_222 + 1 and 1_777.
    assert _steps(events, "LIQ_SOCIALIZED") == [1_000, 4_000]
    assert d.pos(CAROL).cost == 54_000 + 1_000 + 2_223
    assert d.pos(DAVE).cost == 36_000 + 1_777
    changed = {e["account"]: e["reason"] for e in of_kind(events, "POSITION_CHANGED")}
    assert changed[CAROL] == changed[DAVE] == "LIQ_SOCIALIZED"
    assert d.available(ALICE) == 1_000  # the isolated loss never reached her wallet
    assert d.pos(ALICE).qty == 0
    assert codes_of(events, "REJECTED") == []
    d.assert_conserved()  # includes: no balance below zero


def test_the_insurance_fund_pays_first_and_only_the_rest_is_socialised() -> None:
    d = _gap_desk(fund_balance=1_500)

    events = d.place(ALICE, c.SELL, 10, 9_000, reduce_only=True)

    assert _steps(events, "LIQ_INSURANCE_PAID") == [1_000, 500]
    assert _steps(events, "LIQ_SOCIALIZED") == [3_500]  # CAROL +6_000, DAVE +4_000
    assert d.pos(CAROL).cost == 54_000 + 2_100
    assert d.pos(DAVE).cost == 36_000 + 1_400
    assert d.engine.balance(FUND, 1)[0] == 0
    d.assert_conserved()


def test_the_haircut_never_takes_more_than_the_profit_a_winner_has() -> None:
    d = _gap_desk()
    d.place(ALICE, c.SELL, 10, 9_000, reduce_only=True)

    for account in (CAROL, DAVE):
        p = d.pos(account)
        assert p.qty * 10_000 - p.cost >= 0  # upnl at the mark after the haircut
    assert (d.pos(CAROL).qty, d.pos(DAVE).qty, d.pos(BOB).qty) == (6, 4, -10)
