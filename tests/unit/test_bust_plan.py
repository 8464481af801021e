"""The arithmetic of bustTrades (domains/orders/bust_plan.py), by hand and as properties
against the engine: conservation, never negative, and "as if the trades had not happened"
compared with a replay of the trade events that skips the busted ones."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from domains.orders import bust_plan as plan
from engine import codes as c
from engine import commands as cmd
from tests.unit.engine.desk import ALICE, BASE, BOB, CAROL, FEES, QUOTE, Desk, of_kind

BUYER, SELLER, FEE_ACCOUNT = 1, 2, 9


def _trade(number: int, buyer: int = BUYER, seller: int = SELLER, **fields: Any) -> plan.BustTrade:
    values = {"base_minor": 100, "notional_minor": 5_000, "buyer_fee": 5, "seller_fee": 3,
              "buyer_is_maker": False, **fields}  # fmt: skip
    return plan.BustTrade(number=number, buyer=buyer, seller=seller, base_asset=BASE,
                          quote_asset=QUOTE, **values)  # fmt: skip


def test_one_trade_reverses_base_notional_and_both_fees() -> None:
    r = plan.reverse([_trade(1)], FEE_ACCOUNT)
    # the buyer got 100 base and paid 5,000 + 5 fee; the seller got 5,000 - 3
    assert r.deltas == {(BUYER, BASE): -100, (BUYER, QUOTE): 5_005, (SELLER, BASE): 100,
                        (SELLER, QUOTE): -4_997, (FEE_ACCOUNT, QUOTE): -8}  # fmt: skip
    assert sum(v for (_, s), v in r.deltas.items() if s == QUOTE) == 0
    # the buyer took (taker), the seller made
    assert r.fee_refunds == (plan.FeeRefund(BUYER, QUOTE, False, 5),
                             plan.FeeRefund(SELLER, QUOTE, True, 3))  # fmt: skip


def test_a_party_on_both_sides_is_netted() -> None:
    # BUYER buys 100 for 5,000 then sells the 100 back for 5,200 (fees 5 / 3 each time)
    r = plan.reverse([_trade(1), _trade(2, buyer=SELLER, seller=BUYER, notional_minor=5_200)],
                     FEE_ACCOUNT)  # fmt: skip
    # BUYER: +5,005 (first) - (5,200 - 3) (second) = -192; base -100 + 100 = 0 (dropped)
    assert r.deltas == {(BUYER, QUOTE): -192, (SELLER, QUOTE): 5_205 - 4_997,
                        (FEE_ACCOUNT, QUOTE): -16}  # fmt: skip


def test_everyone_able_to_pay_is_paid_in_full() -> None:
    r = plan.reverse([_trade(1)], FEE_ACCOUNT)
    taken = plan.collects(r, lambda account, asset: 10**9)
    s = plan.settle(r, taken)
    assert not s.shortfalls and not s.unpaid
    assert s.payouts == {(BUYER, QUOTE): 5_005, (SELLER, BASE): 100}
    refunds = [t.refund for t in taken if t.refund is not None]
    assert [(f.payer, f.amount) for f in refunds] == [(BUYER, 5), (SELLER, 3)]


def test_a_withdrawn_party_leaves_a_shortfall_and_the_claims_are_paid_pro_rata() -> None:
    # two buyers each owe 100 base back to one seller... and the seller owes quote to both
    trades = [_trade(1, buyer=1, seller=3), _trade(2, buyer=2, seller=3, base_minor=300)]
    r = plan.reverse(trades, FEE_ACCOUNT)
    assert r.deltas[(3, BASE)] == 400
    # buyer 1 withdrew all but 40 of its base; buyer 2 has everything
    available = {(1, BASE): 40, (2, BASE): 300}
    taken = plan.collects(r, lambda a, s: available.get((a, s), 10**9))
    s = plan.settle(r, taken)
    assert s.shortfalls == {(1, BASE): 60}
    assert s.payouts[(3, BASE)] == 340 and s.unpaid == {(3, BASE): 60}
    assert s.recovered(BASE) == 340


def test_pro_rata_floors_and_hands_the_remainder_to_the_largest_claims() -> None:
    claims = {(1, 0): 5, (2, 0): 3, (3, 0): 3}
    # 7 of 11: floors 3, 1, 1 (= 5); two units left: the largest claim, then account 2
    assert plan.pro_rata(claims, 7) == {(1, 0): 4, (2, 0): 2, (3, 0): 1}
    assert plan.pro_rata(claims, 11) == claims
    assert plan.pro_rata(claims, 0) == {(1, 0): 0, (2, 0): 0, (3, 0): 0}


def test_a_fee_account_short_of_funds_refunds_in_payer_order() -> None:
    r = plan.reverse([_trade(1), _trade(2)], FEE_ACCOUNT)  # refunds: buyer 10, seller 6
    taken = plan.collects(r, lambda a, s: 12 if a == FEE_ACCOUNT else 10**9)
    refunds = [(t.refund.payer, t.amount) for t in taken if t.refund is not None]
    assert refunds == [(BUYER, 10), (SELLER, 2)]
    s = plan.settle(r, taken)
    assert s.shortfalls == {(FEE_ACCOUNT, QUOTE): 4}
    assert sum(s.unpaid.values()) == 4


# --- against the engine ---------------------------------------------------------------------
CLEARING = 7
ACCOUNTS = (ALICE, BOB, CAROL)

orders = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        st.sampled_from((c.BUY, c.SELL)),
        st.integers(1, 30),
        st.integers(95, 105),
    ),
    min_size=8,
    max_size=40,
)
withdrawals = st.lists(
    st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from((BASE, QUOTE)), st.integers(0, 4_000)),
    max_size=3,
)


def _trade_of(event: dict[str, Any]) -> plan.BustTrade:
    """A BustTrade from the engine's own TRADE event (the desk's market: 100 base per lot,
    1 quote per tick-lot)."""
    buy = event["side"] == c.BUY
    taker, maker = event["taker_account"], event["maker_account"]
    taker_fee, maker_fee = event["taker_fee"], event["maker_fee"]
    return plan.BustTrade(
        number=event["trade_seq"], buyer=taker if buy else maker,
        seller=maker if buy else taker, base_asset=BASE, quote_asset=QUOTE,
        base_minor=event["qty"] * 100, notional_minor=event["qty"] * event["price"],
        buyer_fee=taker_fee if buy else maker_fee, seller_fee=maker_fee if buy else taker_fee,
        buyer_is_maker=not buy,
    )  # fmt: skip


def _totals(desk: Desk, accounts: tuple[int, ...]) -> dict[tuple[int, int], int]:
    out = {}
    for account in accounts:
        for asset in (BASE, QUOTE):
            available, locked = desk.engine.balance(account, asset)
            out[(account, asset)] = available + locked
    return out


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(orders=orders, withdrawals=withdrawals, data=st.data())
def test_a_bust_conserves_never_goes_negative_and_equals_a_replay_without_the_trades(
    orders: list[tuple[int, int, int, int]],
    withdrawals: list[tuple[int, int, int]],
    data: st.DataObject,
) -> None:
    desk = Desk()
    for account, maker, taker in ((ALICE, 2, 5), (BOB, 1, 4), (CAROL, 0, 7)):
        desk.run(cmd.set_fee_rate, account=account, maker_bps=maker, taker_bps=taker)
    funded = _totals(desk, ACCOUNTS)
    trades: list[dict[str, Any]] = []
    for account, side, qty, price in orders:
        trades += of_kind(desk.place(account, side, qty, price), "TRADE")
    if not trades:
        return
    for account, asset, keep in withdrawals:  # all but `keep` leaves: shortfalls
        amount = max(desk.engine.balance(account, asset)[0] - keep, 0)
        if amount:
            desk.run(cmd.withdrawal_hold, account=account, asset=asset, amount_minor=amount)
            desk.run(cmd.withdrawal_debit, account=account, asset=asset, amount_minor=amount)
    first = data.draw(st.integers(1, len(trades)))
    last = data.draw(st.integers(first, len(trades)))
    busted = [t for t in trades if first <= t["trade_seq"] <= last]
    everyone = (*ACCOUNTS, FEES, CLEARING)
    before = _totals(desk, everyone)

    reversal = plan.reverse([_trade_of(t) for t in busted], FEES)
    taken = plan.collects(reversal, lambda a, s: desk.engine.balance(a, s)[0])
    for collect in taken:
        events = desk.run(cmd.transfer, from_account=collect.account, to_account=CLEARING,
                          asset=collect.asset, amount_minor=collect.amount)  # fmt: skip
        assert events[0]["kind"] == "ACCEPTED", events[0]
    settlement = plan.settle(reversal, taken)
    for (account, asset), amount in settlement.payouts.items():
        events = desk.run(cmd.transfer, from_account=CLEARING, to_account=account, asset=asset,
                          amount_minor=amount)  # fmt: skip
        assert events[0]["kind"] == "ACCEPTED", events[0]
    after = _totals(desk, everyone)
    event("shortfall" if settlement.shortfalls else "paid in full")

    for asset in (BASE, QUOTE):  # conservation: a bust creates and destroys nothing
        assert sum(v for (_, s), v in after.items() if s == asset) == sum(
            v for (_, s), v in before.items() if s == asset
        )
        assert sum(v for (_, s), v in settlement.shortfalls.items() if s == asset) == sum(
            v for (_, s), v in settlement.unpaid.items() if s == asset
        )
    assert after[(CLEARING, BASE)] == after[(CLEARING, QUOTE)] == 0
    assert all(v >= 0 for v in after.values())
    for account in (*ACCOUNTS, FEES):
        for asset in (BASE, QUOTE):
            assert desk.engine.balance(account, asset)[0] >= 0

    # the replay that skips the busted trades: funding + every other trade's effect - what
    # was withdrawn, from the engine's own events (not from the plan)
    replay = {key: funded.get(key, 0) for key in before}
    for t in trades:
        if first <= t["trade_seq"] <= last:
            continue
        bt = _trade_of(t)
        replay[(bt.buyer, BASE)] += bt.base_minor
        replay[(bt.seller, BASE)] -= bt.base_minor
        replay[(bt.buyer, QUOTE)] -= bt.notional_minor + bt.buyer_fee
        replay[(bt.seller, QUOTE)] += bt.notional_minor - bt.seller_fee
        replay[(FEES, QUOTE)] += bt.buyer_fee + bt.seller_fee
    all_trades = dict.fromkeys(before, 0)
    for t in trades:  # what the trades did in all, to find what was withdrawn
        bt = _trade_of(t)
        all_trades[(bt.buyer, BASE)] += bt.base_minor
        all_trades[(bt.seller, BASE)] -= bt.base_minor
        all_trades[(bt.buyer, QUOTE)] -= bt.notional_minor + bt.buyer_fee
        all_trades[(bt.seller, QUOTE)] += bt.notional_minor - bt.seller_fee
        all_trades[(FEES, QUOTE)] += bt.buyer_fee + bt.seller_fee
    withdrawn = {}  # what left the platform: funding + what the trades did - what is there
    for key in before:
        withdrawn[key] = funded.get(key, 0) + all_trades[key] - before[key]
        expected = replay[key] - withdrawn[key]
        owed_not_taken = settlement.shortfalls.get(key, 0)
        owed_not_paid = settlement.unpaid.get(key, 0)
        # as if never happened, but for what a party could not give back or was not paid
        assert after[key] - owed_not_taken + owed_not_paid == expected, key
    if not settlement.shortfalls:
        assert all(after[k] == replay[k] - withdrawn[k] for k in before)
