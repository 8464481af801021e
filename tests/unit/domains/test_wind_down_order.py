"""The order of a wind-down's closes at the mark (domains/orders/wind_down.py close_order):
per market, each close on the side that brings the insurance fund back towards flat."""

from __future__ import annotations

from dataclasses import dataclass

from domains.orders.wind_down import close_order


@dataclass(frozen=True)
class Held:
    qty: int


class FakeEngine:
    """positions_of / position / insurance_account, the parts close_order reads."""

    def __init__(self, positions: dict[int, dict[int, int]], fund: dict[int, int]) -> None:
        self._positions = positions  # account -> market -> qty
        self._fund = fund  # market -> the fund's own qty

    def positions_of(self, account: int) -> dict[int, Held]:
        return {m: Held(q) for m, q in self._positions.get(account, {}).items() if q}

    def position(self, account: int, market: int) -> Held:
        return Held(self._fund.get(market, 0) if account == 99 else 0)

    def insurance_account(self, market: int) -> int:
        return 99


def order(
    positions: dict[int, dict[int, int]], fund: dict[int, int] | None = None
) -> list[tuple[int, int]]:
    engine = FakeEngine(positions, fund or {})
    return close_order(engine, sorted(positions))  # type: ignore[arg-type]


def test_longs_and_shorts_alternate_so_the_fund_stays_near_flat() -> None:
    positions = {1: {0: 5}, 2: {0: 3}, 3: {0: -4}, 4: {0: -4}}
    assert order(positions) == [(1, 0), (3, 0), (4, 0), (2, 0)]  # fund: 5, 1, -3, 0


def test_a_fund_already_long_takes_the_shorts_first() -> None:
    positions = {1: {0: 5}, 3: {0: -4}}
    assert order(positions, {0: 10}) == [(3, 0), (1, 0)]


def test_markets_are_closed_one_after_another_and_flat_positions_skipped() -> None:
    positions = {1: {2: -1, 0: 1}, 2: {0: 0, 2: 2}}
    assert order(positions) == [(1, 0), (2, 2), (1, 2)]
