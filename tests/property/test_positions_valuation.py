"""Valuation properties: the liquidation price a position shows is where its margin ratio
reaches 1: one tick beyond it the position is due, one tick on the safe side it is not, for
longs and shorts, cross and isolated, across brackets."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domains.orders.model import MarginBracket
from domains.positions.model import MarginMode, Position
from domains.positions.valuation import MarketRisk, value_account

pytestmark = pytest.mark.property
SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BRACKETS = (
    MarginBracket(Decimal(0), 125, Decimal("0.004"), Decimal(0)),
    MarginBracket(Decimal(50_000), 100, Decimal("0.005"), Decimal(50)),
    MarginBracket(Decimal(250_000), 50, Decimal("0.01"), Decimal(1_300)),
)
TICK, UNIT = Decimal("0.1"), Decimal("0.00000001")


def _risk(mark: Decimal) -> dict[str, MarketRisk]:
    return {"P": MarketRisk(BRACKETS, TICK, UNIT, mark)}


def _due(position: Position, mark: Decimal, available: Decimal) -> bool:
    # exact maintenance (not rounded to minor units) so the boundary is the formula's
    views, _ = value_account([position], _risk(mark), {"USDT": available})
    (view,) = views
    assert view.unrealized_pnl is not None and view.maintenance_margin is not None
    notional = abs(position.quantity) * mark
    bracket = max((b for b in BRACKETS if b.notional_floor <= notional),
                  key=lambda b: b.notional_floor)  # fmt: skip
    exact_mm = notional * bracket.maint_rate - bracket.maint_amount
    wallet = position.margin + (available if position.margin_mode is MarginMode.CROSS else 0)
    return wallet + view.unrealized_pnl <= exact_mm


@SETTINGS
@given(
    lots=st.integers(1, 20_000),  # 0.001 .. 20 BTC
    entry_ticks=st.integers(50_000, 1_000_000),  # 5,000 .. 100,000
    leverage=st.integers(2, 50),
    long=st.booleans(),
    isolated=st.booleans(),
    extra=st.integers(0, 5_000),
)
def test_one_tick_beyond_the_liquidation_price_is_due_and_at_it_is_not(
    lots: int, entry_ticks: int, leverage: int, long: bool, isolated: bool, extra: int
) -> None:
    size, entry = Decimal(lots) / 1000, Decimal(entry_ticks) / 10
    margin = (size * entry / leverage).quantize(UNIT)
    quantity = size if long else -size
    mode = MarginMode.ISOLATED if isolated else MarginMode.CROSS
    position = Position("a:P", "t", "c", "a", "P", quantity, entry, Decimal(0),
                        cost=quantity * entry, margin=margin, leverage=leverage,
                        margin_mode=mode)  # fmt: skip
    available = Decimal(extra)
    views, _ = value_account([position], _risk(entry), {"USDT": available})
    lp = views[0].liquidation_price
    if lp is None:  # no positive price liquidates it: the lowest tick is safe for a long
        assert long and not _due(position, TICK, available)
        return
    beyond = lp - TICK if long else lp + TICK
    if beyond > 0:
        assert _due(position, beyond, available)
    safer = lp + TICK if long else lp - TICK
    if safer > 0:
        assert not _due(position, safer, available)
    assert not _due(position, entry, available)  # never due at entry (leverage <= 50)
