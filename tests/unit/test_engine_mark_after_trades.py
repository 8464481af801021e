"""The mark follows the book after trades (the clamp rule, as after an index price), and a
mark a trade moved re-checks every position of the market, not only the traders'.

mark = index + clamp(mid - index, +-index * basis_cap_bps / 10_000), mid = (bid + ask) // 2
when both sides exist, else the index.
"""

from __future__ import annotations

from engine import codes as c
from engine import commands as cmd
from tests.unit.perp_desk import ALICE, BOB, CAROL, DAVE, PERP, PerpDesk, codes_of, of_kind


def _marks(events: list[dict[str, object]]) -> list[object]:
    return [e["mark"] for e in of_kind(events, "MARK_PRICE")]


def test_a_trade_that_leaves_a_two_sided_book_moves_the_mark_by_the_clamp_rule() -> None:
    d = PerpDesk()  # index 10_000, basis cap 50 bps: the mark stays within 9_950..10_050
    d.place(CAROL, c.BUY, 1, 9_990)
    d.place(BOB, c.SELL, 2, 10_040)

    traded = d.place(DAVE, c.BUY, 1, 10_040)  # leaves bid 9_990 / ask 10_040: mid 10_015
    again = d.place(ALICE, c.BUY, 1, 10_000)  # rests: no trade, the mark stays

    assert _marks(traded) == [10_015]
    assert _marks(again) == []
    assert d.engine.mark(PERP)[0] == 10_015
    wide = d.place(DAVE, c.SELL, 1, 9_000)  # takes ALICE's bid; book 9_990 / 10_040 again
    assert _marks(wide) == []  # same mid, same mark: no event


def test_the_mark_is_clamped_to_the_basis_cap_around_the_index() -> None:
    d = PerpDesk()
    d.place(CAROL, c.BUY, 1, 10_500)
    d.place(BOB, c.SELL, 2, 10_600)

    traded = d.place(DAVE, c.BUY, 1, 10_600)  # mid 10_550, capped at 10_000 + 50

    assert _marks(traded) == [10_050]


def test_a_mark_moved_by_other_accounts_trade_liquidates_a_due_position() -> None:
    d = PerpDesk(basis_cap_bps=1_000)  # the mark may move 10 % from the index
    d.leverage(ALICE, 20, c.MARGIN_ISOLATED)  # margin 5_000 on 10 lots at 10_000, mm 500
    d.place(BOB, c.SELL, 10, 10_000)
    d.place(ALICE, c.BUY, 10, 10_000)
    d.place(CAROL, c.BUY, 20, 9_000)
    d.place(BOB, c.SELL, 2, 9_100)

    traded = d.place(DAVE, c.BUY, 1, 9_100)  # book 9_000 / 9_100: mark 9_050, ALICE due

    assert _marks(traded)[0] == 9_050
    steps = [e for e in of_kind(traded, "LIQUIDATION") if e["account"] == ALICE]
    assert [e["reason"] for e in steps][:2] == ["LIQ_STARTED", "LIQ_ORDERS_CANCELED"]
    assert d.pos(ALICE).qty == 0
    assert codes_of(traded, "REJECTED") == []
    d.assert_conserved()


def test_spot_trades_never_emit_a_mark() -> None:
    d = PerpDesk()
    d.run(cmd.add_market, market=1, base_asset=0, quote_asset=1, base_per_lot=1,
          quote_per_tick_lot=1, fee_account=9)  # fmt: skip
    d.run(cmd.deposit_credit, account=BOB, asset=0, amount_minor=10)
    d.run(cmd.place, order_id=900, account=BOB, market=1, side=c.SELL, qty_lots=2,
          price_ticks=100)  # fmt: skip

    events = d.run(cmd.place, order_id=901, account=ALICE, market=1, side=c.BUY, qty_lots=1,
                   price_ticks=100)  # fmt: skip

    assert [e["kind"] for e in events].count("TRADE") == 1
    assert _marks(events) == []
