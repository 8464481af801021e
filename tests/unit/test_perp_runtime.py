"""The writer's index feed: the venue's mid of the underlying, rounded to the perpetual's tick,
posted as SET_INDEX_PRICE for each perpetual whose underlying the venue quotes."""

from __future__ import annotations

from decimal import Decimal

from domains.orders.model import MarginBracket, Market, MarketKind, PerpParams
from domains.orders.spec import MarketSpec
from domains.orders.venue_sim import simulated_venue_for_demo
from domains.shared.engine_port import AssetInfo
from engine import codes
from engine.layout import Records
from graph.settings import PerpSettings
from graph.writer.perp_runtime import PerpRuntime

USDT, BTC, SOL = AssetInfo("USDT", 1, 8), AssetInfo("BTC", 2, 8), AssetInfo("SOL", 3, 8)
BRACKETS = (MarginBracket(Decimal(0), 100, Decimal("0.005"), Decimal(0)),)


def _perp(base: str) -> Market:
    return Market(f"{base}-USDT-PERP", MarketKind.PERPETUAL, base, "USDT", Decimal("0.1"),
                  Decimal("0.001"), Decimal("5"), margin_brackets=BRACKETS,
                  perp=PerpParams())  # fmt: skip


SPOT = Market("BTC-USDT", MarketKind.SPOT, "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"),
              Decimal("5"))  # fmt: skip


class Trading:
    """The order-entry calls the clockwork makes, recording what it submits."""

    def __init__(self) -> None:
        self.submitted: list[Records] = []
        self.perps = {"BTC-USDT-PERP": (MarketSpec(_perp("BTC"), BTC, USDT), 3),
                      "SOL-USDT-PERP": (MarketSpec(_perp("SOL"), SOL, USDT), 4)}  # fmt: skip

    async def markets(self, kind: MarketKind | None = None) -> list[Market]:
        assert kind is MarketKind.PERPETUAL
        return [spec.market for spec, _ in self.perps.values()]

    async def perpetual(self, market_id: str) -> tuple[MarketSpec, int]:
        return self.perps[market_id]

    async def spec(self, market_id: str) -> MarketSpec:
        assert market_id == "BTC-USDT"
        return MarketSpec(SPOT, BTC, USDT)

    async def submit_checked(self, command: Records, note: dict[str, str] | None = None) -> int:
        self.submitted.append(command)
        return len(self.submitted)


async def test_the_index_feed_posts_the_venue_mid_on_the_perpetuals_tick() -> None:
    trading, venue = Trading(), simulated_venue_for_demo()
    runtime = PerpRuntime(trading, None, PerpSettings(), venue)  # type: ignore[arg-type]
    top = await venue.book_top("BTC-USDT")
    assert top.bid_price_ticks is not None and top.ask_price_ticks is not None
    # the venue quotes in the spot market's ticks (0.01): mid in USDT, then perp ticks (0.1)
    mid = Decimal(top.bid_price_ticks + top.ask_price_ticks) / 2 * Decimal("0.01")
    assert await runtime.post_venue_indexes() == 1  # SOL-USDT is not quoted by the venue
    (command,) = trading.submitted
    assert int(command["kind"][0]) == codes.SET_INDEX_PRICE and int(command["market"][0]) == 3
    assert int(command["price"][0]) == int((mid / Decimal("0.1")).to_integral_value())
    assert runtime.indexes == 1
