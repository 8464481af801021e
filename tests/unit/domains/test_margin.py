"""Hand-computed margin cases (Binance USDⓈ-M formulas), the arithmetic written out."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from domains.orders.model import MarginBracket, validate_brackets
from domains.positions.margin import estimate, liquidation_price, maintenance_margin
from domains.shared.errors import ValidationError

# BTCUSDT-like brackets: 0.4% to 50k, 0.5% (amount 50) to 250k, 1% (amount 1,300) above
BTC = validate_brackets([
    MarginBracket(D(0), 125, D("0.004"), D(0)),
    MarginBracket(D(50_000), 100, D("0.005"), D(50)),
    MarginBracket(D(250_000), 50, D("0.01"), D(1_300)),
])  # fmt: skip


def test_maintenance_margin_follows_the_brackets_and_is_continuous() -> None:
    assert maintenance_margin(BTC, D(10_000)) == D(40)  # 10,000 x 0.4%
    assert maintenance_margin(BTC, D(50_000)) == D(200)  # 50,000 x 0.5% - 50 = 200 = 0.4%
    assert maintenance_margin(BTC, D(100_000)) == D(450)  # 100,000 x 0.5% - 50
    assert maintenance_margin(BTC, D(300_000)) == D(1_700)  # 300,000 x 1% - 1,300


def test_isolated_long_liquidation_price() -> None:
    # 1 BTC long at 10,000 with 1,000 isolated margin (10x):
    # LP = (1000 - 0 + 0 + 0 - 1 x 1 x 10000) / (1 x 0.004 - 1 x 1) = -9000 / -0.996
    price = liquidation_price(BTC, size=D(1), entry_price=D(10_000), long=True,
                              wallet_balance=D(1_000))  # fmt: skip
    assert price == D(-9000) / D("-0.996")
    # at that mark the margin balance equals the maintenance margin
    assert price is not None
    balance = D(1_000) + (price - D(10_000))
    assert abs(balance - maintenance_margin(BTC, price)) < D("1e-20")


def test_isolated_short_liquidation_price_and_rounding_towards_safety() -> None:
    # 1 BTC short at 10,000 with 1,000 margin: LP = (1000 + 10000) / (0.004 + 1) = 10956.17...
    exact = liquidation_price(BTC, size=D(1), entry_price=D(10_000), long=False,
                              wallet_balance=D(1_000))  # fmt: skip
    assert exact == D(11_000) / D("1.004")
    ticked = liquidation_price(BTC, size=D(1), entry_price=D(10_000), long=False,
                               wallet_balance=D(1_000), tick_size=D("0.1"))  # fmt: skip
    assert ticked == D("10956.1")  # down for a short


def test_a_large_position_uses_the_bracket_of_its_liquidation_notional() -> None:
    # 5 BTC long at 60,000 (notional 300,000) with 30,000 margin (10x):
    # bracket 3: (30000 + 1300 - 300000) / (5 x 0.01 - 5) = -268700 / -4.95 = 54282.83
    # -> notional at LP = 271,414 (in bracket 3, consistent)
    price = liquidation_price(BTC, size=D(5), entry_price=D(60_000), long=True,
                              wallet_balance=D(30_000))  # fmt: skip
    assert price == D(-268_700) / D("-4.95")


def test_cross_position_counts_the_rest_of_the_account() -> None:
    # same long, wallet 5,000, other positions: maintenance 500, unrealised PnL -1,000
    # LP = (5000 - 500 - 1000 + 0 - 10000) / (0.004 - 1) = -6500 / -0.996
    price = liquidation_price(BTC, size=D(1), entry_price=D(10_000), long=True,
                              wallet_balance=D(5_000), other_maintenance=D(500),
                              other_unrealized_pnl=D(-1_000))  # fmt: skip
    assert price == D(-6_500) / D("-0.996")


def test_a_fully_collateralised_long_cannot_be_liquidated() -> None:
    assert liquidation_price(BTC, size=D(1), entry_price=D(10_000), long=True,
                             wallet_balance=D(20_000)) is None  # fmt: skip


def test_estimate_checks_leverage_against_the_bracket() -> None:
    est = estimate(BTC, size=D(1), entry_price=D(10_000), long=True, leverage=10,
                   tick_size=D("0.1"))  # fmt: skip
    assert est.initial_margin == D(1_000) and est.maintenance_margin == D(40)
    assert est.liquidation_price == D("9036.2")  # 9036.144... rounded up for a long
    with pytest.raises(ValidationError):
        estimate(BTC, size=D(5), entry_price=D(60_000), long=True, leverage=100)  # max 50x


def test_brackets_must_be_continuous() -> None:
    with pytest.raises(ValidationError):
        validate_brackets([MarginBracket(D(0), 125, D("0.004"), D(0)),
                           MarginBracket(D(50_000), 100, D("0.005"), D(0))])  # fmt: skip
