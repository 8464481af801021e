"""RiskBook refuses what its arithmetic cannot honour, and changes nothing when it does."""

from __future__ import annotations

import numpy as np
import pytest

from engine.risk import Bracket, RiskBook

LADDER = [Bracket(0, 10_000, 0), Bracket(1_000, 20_000, 10)]  # continuous: 10 at 1,000


def book_with_one_cross_position() -> RiskBook:
    book = RiskBook(1, np.array([1, 1], dtype=np.int64), [LADDER, LADDER])
    one = np.array([1], dtype=np.int64)
    book.load(one * 0, one * 0, one * 5, one * 500, one * 0)
    book.on_marks(np.array([0, 1]), np.array([100, 100]))
    return book


def test_a_ladder_whose_maintenance_jumps_at_a_floor_is_refused() -> None:
    jump = [Bracket(0, 10_000, 0), Bracket(1_000, 20_000, 0)]  # 10 -> 20 at 1,000
    with pytest.raises(ValueError, match="jumps by 10 at notional 1000"):
        RiskBook(1, np.array([1], dtype=np.int64), [jump])


@pytest.mark.parametrize(
    ("ladder", "reason"),
    [
        ([Bracket(5, 10_000, 0)], "starts at notional 0"),
        ([Bracket(0, 10_000, 0), Bracket(0, 20_000, 0)], "floors must increase"),
        ([Bracket(0, 1_000_001, 0)], "rate is 0..1000000 ppm"),
        ([Bracket(0, -1, 0)], "rate is 0..1000000 ppm"),
    ],
)
def test_malformed_ladders_are_refused(ladder: list[Bracket], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        RiskBook(1, np.array([1], dtype=np.int64), [ladder])


@pytest.mark.parametrize(
    ("markets", "marks", "reason"),
    [
        ([0], [-1], "ticks >= 0 of existing markets"),
        ([2], [100], "ticks >= 0 of existing markets"),
        ([0, 0], [100, 101], "each market at most once"),
        ([0, 1], [100], "one mark per market"),
    ],
)
def test_bad_marks_are_refused_and_change_nothing(
    markets: list[int], marks: list[int], reason: str
) -> None:
    book = book_with_one_cross_position()
    before = (book.mark.copy(), book.acc_upnl.copy(), book.acc_mm.copy())
    with pytest.raises(ValueError, match=reason):
        book.on_marks(np.array(markets), np.array(marks))
    assert book.mark.tolist() == before[0].tolist()
    assert book.acc_upnl.tolist() == before[1].tolist()
    assert book.acc_mm.tolist() == before[2].tolist()


def test_maintenance_is_refused_beyond_the_notional_limit() -> None:
    book = book_with_one_cross_position()
    assert book.maintenance(0, 2**62 - 1) == -(-((2**62 - 1) * 20_000) // 10**6) - 10
    with pytest.raises(ValueError, match="0 <= n < 2"):
        book.maintenance(0, 2**62)
