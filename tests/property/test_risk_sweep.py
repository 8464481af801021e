"""The risk sweep against a from-scratch recomputation: after any sequence of mark changes,
the due isolated positions and due cross accounts are exactly what plain arithmetic says
(Python integers: no overflow, no shortcut), on small numbers where every boundary is hit
and on large ones near the 2**62 notional limit with generated bracket ladders."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.risk import PPM, Bracket, RiskBook

# small numbers on purpose: equalities (margin exactly at maintenance, notional exactly on a
# bracket floor) happen often, so the boundaries are exercised
BRACKETS = [Bracket(0, 100_000, 0), Bracket(100, 200_000, 10), Bracket(300, 500_000, 100)]


def maintenance(notional: int, brackets: list[Bracket] = BRACKETS) -> int:
    chosen = [b for b in brackets if b.floor_minor <= notional][-1]
    return -(-(notional * chosen.mmr_ppm) // PPM) - chosen.maint_minor


class Expected(NamedTuple):
    positions: set[int]  # due isolated positions (the caller's indices)
    accounts: set[int]  # due cross accounts
    upnl: list[int]  # per account, the cross positions' summed uPnL
    mm: list[int]  # and maintenance


def expected(book: RiskBook, marks: list[int]) -> Expected:
    """Due positions and accounts computed from nothing but the positions and marks."""
    due_positions: set[int] = set()
    upnl = [0] * book.n_accounts
    mm = [0] * book.n_accounts
    for i in range(len(book.pos_qty)):
        m, qty = int(book.pos_market[i]), int(book.pos_qty[i])
        q = int(book.qptl[m])
        p_upnl = qty * marks[m] * q - int(book.pos_cost[i])
        p_mm = maintenance(abs(qty) * marks[m] * q, book.brackets[m])
        if book.pos_isolated[i] > 0:
            if qty != 0 and book.pos_isolated[i] + p_upnl <= p_mm:
                due_positions.add(int(book.positions[i]))  # the caller's index
        else:
            a = int(book.pos_account[i])
            upnl[a] += p_upnl
            mm[a] += p_mm
    due_accounts = {a for a in range(book.n_accounts)
                    if mm[a] > 0 and book.wallet[a] + upnl[a] <= mm[a]}  # fmt: skip
    return Expected(due_positions, due_accounts, upnl, mm)


def isolated_due(book: RiskBook, i: int, mark: int) -> bool:
    """The plain test for stored isolated position i at a mark."""
    m, qty = int(book.pos_market[i]), int(book.pos_qty[i])
    q = int(book.qptl[m])
    notional = abs(qty) * mark * q
    upnl = qty * mark * q - int(book.pos_cost[i])
    return int(book.pos_isolated[i]) + upnl <= maintenance(notional, book.brackets[m])


def assert_liquidation_marks_are_exact(book: RiskBook) -> None:
    """Each isolated position's stored key sits exactly on its due boundary: a long is due
    at mark -key and not one tick above, a short at mark key and not one tick below (within
    the marks that keep its notional below 2**62)."""
    for i in np.flatnonzero((book.pos_isolated > 0) & (book.pos_qty != 0)).tolist():
        qty, key = int(book.pos_qty[i]), int(book.pos_key[i])
        top = (2**62 - 1) // (abs(qty) * int(book.qptl[int(book.pos_market[i])]))
        if qty > 0:
            edge = -key  # the last due mark, -1 if none
            assert edge == -1 or isolated_due(book, i, edge)
            assert edge == top or not isolated_due(book, i, edge + 1)
        else:
            edge = min(key, top + 1)  # the first due mark, top + 1 if none
            assert edge == top + 1 or isolated_due(book, i, edge)
            assert edge == 0 or not isolated_due(book, i, edge - 1)


def assert_account_sums_are_exact(book: RiskBook, want: Expected) -> None:
    assert book.acc_upnl.tolist() == want.upnl
    assert book.acc_mm.tolist() == want.mm


positions = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 2), st.integers(-20, 20),
              st.integers(5, 25), st.sampled_from([0, 0, 5, 20, 60])),
    min_size=1, max_size=40,
)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    positions,
    st.lists(st.integers(0, 200), min_size=6, max_size=6),
    st.lists(st.tuples(st.integers(0, 2), st.integers(1, 30)), min_size=1, max_size=12),
)
def test_the_sweep_matches_a_recomputation_after_every_mark_change(
    rows: list[tuple[int, int, int, int, int]], wallets: list[int],
    changes: list[tuple[int, int]],
) -> None:  # fmt: skip
    book = RiskBook(6, np.array([1, 1, 1], dtype=np.int64), [BRACKETS] * 3)
    book.wallet[:] = wallets
    account, market, qty, entry, margin = (
        np.array(c, dtype=np.int64) for c in zip(*rows, strict=True)
    )
    book.load(account, market, qty, qty * entry, margin)
    assert_liquidation_marks_are_exact(book)
    marks = [15, 15, 15]
    book.on_marks(np.arange(3), np.array(marks))  # every market priced once
    for m, price in changes:
        marks[m] = price
        due = book.on_marks(np.array([m]), np.array([price]))
        want_positions, want_accounts, *_ = want = expected(book, marks)
        assert_account_sums_are_exact(book, want)
        assert set(due.positions.tolist()) == {i for i in want_positions if market[i] == m}
        touched = {int(a) for a, mk, iso in zip(book.pos_account, book.pos_market,
                                                 book.pos_isolated, strict=True)
                   if mk == m and iso == 0}  # fmt: skip
        # every account the move touched is checked (a sweep may also report others that
        # are due: never one that is not)
        assert want_accounts & touched <= set(due.accounts.tolist()) <= want_accounts
    # and one sweep over every market reports everything that is due
    due = book.on_marks(np.arange(3), np.array(marks))
    want_positions, want_accounts, *_ = want = expected(book, marks)
    assert_account_sums_are_exact(book, want)
    assert set(due.positions.tolist()) == want_positions
    touched_all = {int(a) for a, iso in zip(book.pos_account, book.pos_isolated, strict=True)
                   if iso == 0}  # fmt: skip
    assert set(due.accounts.tolist()) == want_accounts & touched_all


@st.composite
def ladders(draw: st.DrawFn) -> list[Bracket]:
    """Continuous bracket ladders: rates up to 100%, floors up to 2**60, each maintenance
    amount exactly what keeps mm continuous (rates in steps of 1,000 ppm and floors in
    multiples of 1,000 make it an integer)."""
    floors = sorted(set(draw(st.lists(st.integers(1, 2**50), max_size=4))))
    rates = draw(st.lists(st.integers(0, 1000) | st.just(1000), min_size=len(floors) + 1,
                          max_size=len(floors) + 1))  # fmt: skip
    ladder = [Bracket(0, rates[0] * 1000, 0)]
    for floor, rate in zip(floors, rates[1:], strict=True):
        low, at = ladder[-1], floor * 1000
        amount = low.maint_minor + at * (rate * 1000 - low.mmr_ppm) // PPM
        ladder.append(Bracket(at, rate * 1000, amount))
    return ladder


# sizes past 2**63 / 1e6 lots take the sweep's slower exact path; a third of the positions
# are cross (margin 0); margins near 2**62 make shorts that no mark in range liquidates
sizes = st.integers(-(2**45), 2**45) | st.integers(2**43, 2**45).map(lambda n: n * (-1) ** n)
large_positions = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 2), sizes, st.integers(0, 2**14),
              st.just(0) | st.integers(1, 2**62) | st.integers(2**62 - 2**50, 2**62)),
    min_size=1, max_size=30,
)  # fmt: skip


@settings(max_examples=120, deadline=None)
@given(
    large_positions,
    st.lists(ladders(), min_size=3, max_size=3),
    st.lists(st.integers(1, 3), min_size=3, max_size=3),
    st.lists(st.integers(0, 2**62), min_size=4, max_size=4),
    st.lists(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2**14)), min_size=1,
                      max_size=4), min_size=1, max_size=6),
)  # fmt: skip
def test_large_positions_and_generated_brackets_match_a_recomputation(
    rows: list[tuple[int, int, int, int, int]], brackets: list[list[Bracket]],
    qptl: list[int], wallets: list[int], changes: list[list[tuple[int, int]]],
) -> None:  # fmt: skip
    """Sizes up to 2**45 lots and marks up to 2**14 ticks (notionals up to ~2**61), several
    markets moving in one call."""
    book = RiskBook(4, np.array(qptl, dtype=np.int64), brackets)
    book.wallet[:] = wallets
    account, market, qty, entry, margin = (
        np.array(c, dtype=np.int64) for c in zip(*rows, strict=True)
    )
    cost = qty * entry * np.array(qptl, dtype=np.int64)[market]
    book.load(account, market, qty, cost, margin)
    assert_liquidation_marks_are_exact(book)
    marks = [0, 0, 0]
    for change in [list(dict(c).items()) for c in changes]:  # distinct markets
        for m, price in change:
            marks[m] = price
        moved = {m for m, _ in change}
        due = book.on_marks(np.array([m for m, _ in change]), np.array([p for _, p in change]))
        want_positions, want_accounts, *_ = want = expected(book, marks)
        assert_account_sums_are_exact(book, want)
        assert set(due.positions.tolist()) == {i for i in want_positions if market[i] in moved}
        touched = {int(a) for a, mk, iso in zip(book.pos_account, book.pos_market,
                                                 book.pos_isolated, strict=True)
                   if mk in moved and iso == 0}  # fmt: skip
        assert want_accounts & touched <= set(due.accounts.tolist()) <= want_accounts
    due = book.on_marks(np.arange(3), np.array(marks))
    want_positions, want_accounts, *_ = want = expected(book, marks)
    assert_account_sums_are_exact(book, want)
    assert set(due.positions.tolist()) == want_positions
    cross = {int(a) for a, iso in zip(book.pos_account, book.pos_isolated, strict=True)
             if iso == 0}  # fmt: skip
    assert set(due.accounts.tolist()) == want_accounts & cross


@settings(max_examples=300, deadline=None)
@given(ladders(), st.integers(0, 2**62 - 1))
def test_maintenance_is_exact_up_to_the_notional_limit(
    ladder: list[Bracket], notional: int
) -> None:
    book = RiskBook(1, np.array([1], dtype=np.int64), [ladder])
    assert book.maintenance(0, notional) == maintenance(notional, ladder)
