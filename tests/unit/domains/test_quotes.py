"""Fee disclosure estimates (pure)."""

from __future__ import annotations

from decimal import Decimal

from domains.orders.model import Market, MarketKind, Side
from domains.orders.quotes import quote, walk
from domains.orders.spec import MarketSpec
from domains.shared.engine_port import AssetInfo

SPEC = MarketSpec(
    Market("BTC-USDT", MarketKind.SPOT, "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"),
           Decimal("5")),
    AssetInfo("BTC", 2, 8),
    AssetInfo("USDT", 1, 8),
)  # fmt: skip
ASKS = [(6_425_000, 500), (6_426_000, 1000)]  # 64250.00 x 0.005, 64260.00 x 0.01


def test_walk_takes_levels_in_order_and_stops_at_the_limit() -> None:
    assert walk(ASKS, 800, None, Side.BUY) == (800, 500 * 6_425_000 + 300 * 6_426_000)
    assert walk(ASKS, 800, 6_425_000, Side.BUY) == (500, 500 * 6_425_000)


def test_a_crossing_limit_is_part_taker_part_maker_with_fees_disclosed_separately() -> None:
    q = quote(SPEC, Side.BUY, 800, 6_425_000, ASKS, (10, 20), 5, "Crypto is volatile.")
    assert q.taker_quantity == Decimal("0.005") and q.maker_quantity == Decimal("0.003")
    assert q.notional == Decimal("514.00")
    taker_notional, maker_notional = Decimal("321.25"), Decimal("192.75")
    total = (taker_notional * 25 / 10_000).quantize(Decimal("1E-8"), "ROUND_DOWN") + (
        maker_notional * 15 / 10_000
    ).quantize(Decimal("1E-8"), "ROUND_DOWN")
    assert q.total_fee == total
    assert q.platform_fee.amount + q.institution_markup.amount == q.total_fee
    assert q.institution_markup.bps == 5
    assert q.total == q.notional + q.total_fee
    assert q.risk_warning == "Crypto is volatile."


def test_a_market_sell_beyond_the_book_reports_what_would_expire() -> None:
    bids = [(6_420_000, 100)]
    q = quote(SPEC, Side.SELL, 300, None, bids, (10, 20), 0, "")
    assert q.taker_quantity == Decimal("0.001") and q.unfilled_quantity == Decimal("0.002")
    assert q.total == q.notional - q.total_fee
    assert q.average_price == Decimal("64200")


def test_nothing_to_fill_has_no_average_price() -> None:
    q = quote(SPEC, Side.BUY, 100, None, [], (10, 20), 0, "")
    assert q.average_price is None and q.notional == 0
