"""BUST_POSITION and the perpetual bust's arithmetic (domains/orders/perp_bust_plan.py)
against the engine: random perpetual trades, a random range busted the way
domains/orders/busts.py does it (the legs as one group, the collection, the carry, the
payouts), then the lots per market sum to 0, the margin asset is conserved, no balance is
negative, and every position and balance equals a second engine that never saw the busted
trades (each trade is its own pair of orders, so skipping a pair skips exactly its trade).
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domains.orders import bust_plan as plan
from domains.orders import perp_bust_plan as pplan
from engine import codes as c
from engine import commands as cmd
from tests.unit.perp_desk import ALICE, BOB, CAROL, CONFIG, DAVE, FEES, PERP, USDT, PerpDesk

CLEARING = 10
TRADERS = (ALICE, BOB, CAROL, DAVE)
Trade = tuple[int, int, int, int, int]  # maker, taker, taker side, qty, price


def _desk(trades: list[Trade]) -> tuple[PerpDesk, list[dict[str, Any]]]:
    d = PerpDesk()
    for i, account in enumerate(TRADERS):
        d.run(cmd.set_fee_rate, account=account, maker_bps=i, taker_bps=2 + i)
    done = []
    for maker, taker, side, qty, price in trades:
        d.place(maker, 1 - side, qty, price)
        events = d.place(taker, side, qty, price)
        (trade,) = [e for e in events if e["kind"] == "TRADE"]
        done.append(trade)
    return d, done


def _fills(trades: list[dict[str, Any]]) -> list[pplan.PerpFill]:
    out = []
    for t in trades:
        buy = t["side"] in ("BUY", c.BUY)
        taker, maker = (t["taker_account"], t["taker_fee"]), (t["maker_account"], t["maker_fee"])
        buyer, seller = (taker, maker) if buy else (maker, taker)
        for (account, fee), sign, is_maker in ((buyer, 1, not buy), (seller, -1, buy)):
            out.append(pplan.PerpFill(t["trade_seq"], account, sign * t["qty"], t["price"],
                                      fee, is_maker))  # fmt: skip
    return out


def _bust(d: PerpDesk, trades: list[dict[str, Any]], busted: frozenset[int]) -> dict[str, Any]:
    """What domains/orders/busts.py does, straight on the engine."""
    fills = _fills(trades)
    parties = sorted({f.account for f in fills if f.number in busted})
    by_account = pplan.fills_by_account(fills)
    plans = []
    for a in parties:
        pos = d.pos(a)
        now = pplan.PositionState(pos.qty, pos.cost, pos.margin, pos.realized)
        plans.append(pplan.plan_position(a, now, by_account[a], busted, 1, pos.leverage,
                                         pos.mode == c.MARGIN_ISOLATED))  # fmt: skip
    assert pplan.conserved(plans)
    d.run(cmd.set_account_mode, account=CLEARING, mode=c.ACCOUNT_MODE_CANCEL_ONLY)
    for p in sorted(plans, key=lambda p: (p.leg.cost, p.account)):
        g = p.leg
        events = d.run(cmd.bust_position, account=p.account, clearing_account=CLEARING,
                       market=PERP, qty_lots=g.qty, cost_minor=g.cost, realized_minor=g.realized,
                       margin_minor=g.margin)  # fmt: skip
        assert [e["reason"] for e in events if e["kind"] == "REJECTED"] == []
    reversal = pplan.money(plans, fills, busted, USDT, FEES)
    taken = plan.collects(reversal, lambda a, s: d.engine.balance(a, s)[0])
    for t in taken:
        events = d.run(cmd.transfer, from_account=t.account, to_account=CLEARING, asset=USDT,
                       amount_minor=t.amount)  # fmt: skip
        assert [e["reason"] for e in events if e["kind"] == "REJECTED"] == []
    d.run(cmd.bust_carry, clearing_account=CLEARING, market=PERP)
    pool = d.available(CLEARING)
    settlement = plan.settle(reversal, taken, {USDT: pool})
    for (account, _), amount in sorted(settlement.payouts.items()):
        d.run(cmd.transfer, from_account=CLEARING, to_account=account, asset=USDT,
              amount_minor=amount)  # fmt: skip
    return {"plans": plans, "settlement": settlement, "pool": pool}


def _state(d: PerpDesk) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    for a in range(CONFIG.max_accounts):
        if a == CLEARING:
            continue
        p = d.pos(a)
        out.append((a, p.qty, p.cost, p.margin, p.realized, *d.engine.balance(a, USDT)))
    return out


one_trade = st.tuples(
    st.sampled_from(TRADERS), st.sampled_from(TRADERS), st.sampled_from([0, 1]),
    st.integers(1, 8), st.integers(95, 105).map(lambda p: p * 100),
)  # fmt: skip
trade_lists = (
    st.lists(one_trade, min_size=1, max_size=10)
    .map(lambda ts: [t for t in ts if t[0] != t[1]])
    .filter(bool)
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trades=trade_lists, data=st.data())
def test_a_bust_leaves_every_position_and_balance_as_if_the_trades_never_happened(
    trades: list[Trade], data: st.DataObject
) -> None:
    first = data.draw(st.integers(1, len(trades)))
    last = data.draw(st.integers(first, len(trades)))
    d, done = _desk(trades)
    busted = frozenset(range(first, last + 1))

    result = _bust(d, done, busted)
    replay, _ = _desk([t for i, t in enumerate(trades, 1) if i not in busted])

    assert all(not p.differs for p in result["plans"])  # only trades moved these positions
    assert not result["settlement"].shortfalls and not result["settlement"].unpaid
    assert _state(d) == _state(replay)
    clearing = d.pos(CLEARING)
    assert (clearing.qty, clearing.cost, d.available(CLEARING), d.locked(CLEARING)) == (0, 0, 0, 0)
    d.assert_conserved()


def test_a_party_that_withdrew_its_profit_is_short_and_the_rest_stays_uncovered() -> None:
    # ALICE buys 5 at 10_000 from BOB (trade 1), sells 5 at 10_500 to CAROL (trade 2):
    # +2_500 realised, then withdraws everything she has
    d, done = _desk([(BOB, ALICE, c.BUY, 5, 10_000), (CAROL, ALICE, c.SELL, 5, 10_500)])
    d.run(cmd.withdrawal_hold, account=ALICE, asset=USDT, amount_minor=d.available(ALICE))
    d.run(cmd.withdrawal_debit, account=ALICE, asset=USDT, amount_minor=d.locked(ALICE))

    result = _bust(d, done, frozenset({1}))

    # without trade 1 ALICE is short 5 from 10_500: her +2_500 goes back, less the fee of
    # trade 1 refunded to her (taker, 2 bps of 50_000 = 10)
    alice = next(p for p in result["plans"] if p.account == ALICE)
    assert (alice.target.qty, alice.target.cost, alice.target.realized) == (-5, -52_500, 0)
    assert alice.owed == -2_500 + 10
    s = result["settlement"]
    assert s.shortfalls == {(ALICE, USDT): 2_490}
    assert d.pos(ALICE).qty == -5 and d.pos(BOB).qty == 0 and d.pos(CAROL).qty == 5
    # BOB is owed his fee back (maker, 1 bps: 5); nothing came in, so it is unpaid, and
    # the clearing account holds the rest of ALICE's debt as a cost nobody paid
    assert s.unpaid == {(BOB, USDT): 5}
    assert d.available(CLEARING) == 0 and d.pos(CLEARING).qty == 0
    assert d.pos(CLEARING).cost == 2_490 - 5
    d.assert_conserved()


def test_a_leg_is_refused_only_for_what_it_names_never_for_the_positions_state() -> None:
    d, _ = _desk([(BOB, ALICE, c.BUY, 5, 10_000)])

    def leg(**fields: Any) -> list[str]:
        values = {"account": ALICE, "clearing_account": CLEARING, "market": PERP, "qty_lots": 0,
                  "cost_minor": 0, "realized_minor": 0, "margin_minor": 0, **fields}  # fmt: skip
        return [e["reason"] for e in d.run(cmd.bust_position, **values) if e["kind"] == "REJECTED"]

    assert leg(clearing_account=ALICE) == ["SAME_ACCOUNT"]
    assert leg(clearing_account=99) == ["UNKNOWN_ACCOUNT"]
    assert leg(market=1) == ["UNKNOWN_MARKET"]
    assert leg(qty_lots=1 << 41) == ["VALUE_TOO_LARGE"]
    assert leg(cost_minor=-(1 << 63)) == ["VALUE_TOO_LARGE"]
    (carry,) = [e for e in d.run(cmd.bust_carry, clearing_account=ALICE, market=PERP)
                if e["kind"] == "REJECTED"]  # fmt: skip
    assert carry["reason"] == "POSITION_OPEN"
    # a leg that leaves ALICE flat with a cost realises it and releases all her margin
    assert leg(qty_lots=-5, cost_minor=-40_000, margin_minor=-1) == []
    alice = d.pos(ALICE)
    assert (alice.qty, alice.cost, alice.margin, alice.realized) == (0, 0, 0, -10_000)
    # the clearing account holds the lots and, having no balance, the cost as a cost
    assert (d.pos(CLEARING).qty, d.pos(CLEARING).cost, d.available(CLEARING)) == (5, 50_000, 0)
    d.assert_conserved()
