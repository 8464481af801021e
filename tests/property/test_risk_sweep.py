"""The risk sweep against a from-scratch recomputation: after any sequence of mark changes,
the due isolated positions and due cross accounts are exactly what plain arithmetic says."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.risk import PPM, Bracket, RiskBook

# small numbers on purpose: equalities (margin exactly at maintenance, notional exactly on a
# bracket floor) happen often, so the boundaries are exercised
BRACKETS = [Bracket(0, 100_000, 0), Bracket(100, 200_000, 10), Bracket(300, 500_000, 100)]


def maintenance(notional: int) -> int:
    chosen = [b for b in BRACKETS if b.floor_minor <= notional][-1]
    return -(-(notional * chosen.mmr_ppm) // PPM) - chosen.maint_minor


def expected(book: RiskBook, marks: list[int]) -> tuple[set[int], set[int]]:
    """Due positions and accounts computed from nothing but the positions and marks."""
    due_positions: set[int] = set()
    upnl = [0] * book.n_accounts
    mm = [0] * book.n_accounts
    for i in range(len(book.pos_qty)):
        m, qty = int(book.pos_market[i]), int(book.pos_qty[i])
        if qty == 0:
            continue
        q = int(book.qptl[m])
        p_upnl = qty * marks[m] * q - int(book.pos_cost[i])
        p_mm = maintenance(abs(qty) * marks[m] * q)
        if book.pos_isolated[i] > 0:
            if book.pos_isolated[i] + p_upnl <= p_mm:
                due_positions.add(int(book.positions[i]))  # the caller's index
        else:
            a = int(book.pos_account[i])
            upnl[a] += p_upnl
            mm[a] += p_mm
    due_accounts = {a for a in range(book.n_accounts)
                    if mm[a] > 0 and book.wallet[a] + upnl[a] <= mm[a]}  # fmt: skip
    return due_positions, due_accounts


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
    marks = [15, 15, 15]
    book.on_marks(np.arange(3), np.array(marks))  # every market priced once
    for m, price in changes:
        marks[m] = price
        due = book.on_marks(np.array([m]), np.array([price]))
        want_positions, want_accounts = expected(book, marks)
        assert set(due.positions.tolist()) == {i for i in want_positions if market[i] == m}
        touched = {int(a) for a, mk, iso in zip(book.pos_account, book.pos_market,
                                                 book.pos_isolated, strict=True)
                   if mk == m and iso == 0}  # fmt: skip
        # every account the move touched is checked (a sweep may also report others that
        # are due: never one that is not)
        assert want_accounts & touched <= set(due.accounts.tolist()) <= want_accounts
    # and one sweep over every market reports everything that is due
    due = book.on_marks(np.arange(3), np.array(marks))
    want_positions, want_accounts = expected(book, marks)
    assert set(due.positions.tolist()) == want_positions
    touched_all = {int(a) for a, iso in zip(book.pos_account, book.pos_isolated, strict=True)
                   if iso == 0}  # fmt: skip
    assert set(due.accounts.tolist()) == want_accounts & touched_all
