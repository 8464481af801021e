"""SimulatedVenue scenarios: book walking, limits, IOC expiry, idempotency, rejections, outage."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import replace
from fractions import Fraction

import pytest

from domains.orders.model import Side
from domains.orders.venue import (
    BookTop,
    Venue,
    VenueFill,
    VenueOrderStatus,
    VenueSymbolNotFoundError,
    VenueUnavailableError,
    fee_minor,
)
from domains.orders.venue_sim import (
    NS_PER_SECOND,
    BookLevel,
    SimulatedVenue,
    VenueMarketSpec,
    simulated_venue_for_demo,
)

# Best bid 999, best ask 1001; five levels a side holding 10, 20, 30, 40, 50 lots.
SPEC = VenueMarketSpec(
    symbol="TEST-USD",
    reference_price_ticks=1_000,
    levels=5,
    level_qty_lots=10,
    spread_ticks=2,
    level_step_ticks=1,
    volatility_bps=0,
    fee_bps=10,
    depth_growth_pct=100,
    market_collar_bps=500,
)


def _venue(spec: VenueMarketSpec = SPEC, *, latency_ns: int = 0) -> SimulatedVenue:
    return SimulatedVenue([spec], seed=1, latency_ns=latency_ns)


def _prices_and_lots(fills: tuple[VenueFill, ...]) -> list[tuple[int, int]]:
    return [(fill.price_ticks, fill.qty_lots) for fill in fills]


def test_the_simulated_venue_satisfies_the_venue_protocol() -> None:
    venue: Venue = _venue()

    assert isinstance(venue, SimulatedVenue)


def test_the_simulated_book_has_levels_growing_with_depth_around_the_reference() -> None:
    venue = _venue()

    asks, bids = venue.depth("TEST-USD", Side.SELL), venue.depth("TEST-USD", Side.BUY)

    assert asks == tuple(BookLevel(1001 + i, 10 * (i + 1)) for i in range(5))
    assert bids == tuple(BookLevel(999 - i, 10 * (i + 1)) for i in range(5))


async def test_a_market_buy_walks_the_asks_in_price_order() -> None:
    venue = _venue()

    result = await venue.place_ioc("TEST-USD", Side.BUY, 35, None, "c-1")

    assert result.status is VenueOrderStatus.FILLED
    assert _prices_and_lots(result.fills) == [(1001, 10), (1002, 20), (1003, 5)]
    assert result.filled_qty_lots == 35 and result.unfilled_qty_lots == 0
    assert result.notional_ticks_lots == 1001 * 10 + 1002 * 20 + 1003 * 5
    assert result.average_price_ticks == Fraction(result.notional_ticks_lots, 35)
    assert result.fee_bps == 10 and all(fill.fee_bps == 10 for fill in result.fills)


async def test_a_market_sell_walks_the_bids_down_in_price_order() -> None:
    venue = _venue()

    result = await venue.place_ioc("TEST-USD", Side.SELL, 12, None, "c-1")

    assert result.status is VenueOrderStatus.FILLED
    assert _prices_and_lots(result.fills) == [(999, 10), (998, 2)]


async def test_a_limit_buy_never_fills_above_its_limit_and_the_remainder_expires() -> None:
    venue = _venue()

    result = await venue.place_ioc("TEST-USD", Side.BUY, 100, 1002, "c-1")

    assert result.status is VenueOrderStatus.PARTIALLY_FILLED_EXPIRED
    assert _prices_and_lots(result.fills) == [(1001, 10), (1002, 20)]
    assert result.filled_qty_lots == 30 and result.unfilled_qty_lots == 70


async def test_a_limit_sell_above_the_best_bid_expires_without_fills() -> None:
    venue = _venue()

    result = await venue.place_ioc("TEST-USD", Side.SELL, 5, 1000, "c-1")

    assert result.status is VenueOrderStatus.EXPIRED
    assert result.fills == () and result.average_price_ticks is None


async def test_a_market_order_stops_at_the_venue_collar() -> None:
    venue = _venue(replace(SPEC, market_collar_bps=20))

    result = await venue.place_ioc("TEST-USD", Side.BUY, 100, None, "c-1")

    assert result.status is VenueOrderStatus.PARTIALLY_FILLED_EXPIRED
    assert max(fill.price_ticks for fill in result.fills) == 1002


async def test_an_order_larger_than_the_whole_book_fills_the_book_and_expires_the_rest() -> None:
    venue = _venue()

    result = await venue.place_ioc("TEST-USD", Side.BUY, 1_000, 2_000, "c-1")
    top = await venue.book_top("TEST-USD")

    assert result.filled_qty_lots == 150 and result.unfilled_qty_lots == 850
    assert top.ask_price_ticks is None and top.ask_qty_lots == 0
    assert top.bid_price_ticks == 999


async def test_a_retry_with_the_same_client_order_id_returns_the_original_result() -> None:
    venue = _venue()
    first = await venue.place_ioc("TEST-USD", Side.BUY, 15, None, "c-1")
    top_after_first = await venue.book_top("TEST-USD")

    retry = await venue.place_ioc("TEST-USD", Side.BUY, 15, None, "c-1")

    assert retry == first
    assert await venue.book_top("TEST-USD") == top_after_first
    assert top_after_first == BookTop("TEST-USD", 999, 10, 1002, 15, 0)


async def test_reusing_a_client_order_id_for_a_different_order_is_rejected() -> None:
    venue = _venue()
    first = await venue.place_ioc("TEST-USD", Side.BUY, 15, None, "c-1")

    reused = await venue.place_ioc("TEST-USD", Side.BUY, 16, None, "c-1")

    assert reused.status is VenueOrderStatus.REJECTED
    assert reused.reject_reason == "DUPLICATE_CLIENT_ORDER_ID"
    assert await venue.place_ioc("TEST-USD", Side.BUY, 15, None, "c-1") == first


async def test_consumed_liquidity_replenishes_on_the_next_step_only() -> None:
    venue = _venue()
    await venue.place_ioc("TEST-USD", Side.BUY, 10, None, "c-1")

    venue.advance(NS_PER_SECOND - 1)
    before_step = await venue.book_top("TEST-USD")
    venue.advance(NS_PER_SECOND)
    after_step = await venue.book_top("TEST-USD")

    assert (before_step.ask_price_ticks, before_step.ask_qty_lots) == (1002, 20)
    assert (after_step.ask_price_ticks, after_step.ask_qty_lots) == (1001, 10)
    assert after_step.ts_ns == NS_PER_SECOND


def test_the_reference_walks_within_the_volatility_bound_on_every_step() -> None:
    venue = _venue(replace(SPEC, volatility_bps=50))
    references = [venue.reference_price_ticks("TEST-USD")]

    for step in range(1, 200):
        venue.advance(step * NS_PER_SECOND)
        references.append(venue.reference_price_ticks("TEST-USD"))

    moves = [abs(b - a) for a, b in itertools.pairwise(references)]
    assert all(move <= a * 50 // 10_000 for move, a in zip(moves, references, strict=False))
    assert len(set(references)) > 1


def test_venue_time_goes_forward_only() -> None:
    venue = _venue()
    venue.advance(5 * NS_PER_SECOND)

    with pytest.raises(ValueError, match="forward only"):
        venue.advance(NS_PER_SECOND)


async def test_an_unlisted_symbol_is_rejected_as_unknown_symbol() -> None:
    venue = _venue()

    result = await venue.place_ioc("DOGE-USD", Side.BUY, 1, None, "c-1")

    assert result.status is VenueOrderStatus.REJECTED
    assert result.reject_reason == "UNKNOWN_SYMBOL" and result.fills == ()


@pytest.mark.parametrize("qty_lots", [0, -5])
async def test_a_non_positive_quantity_is_rejected_as_invalid_quantity(qty_lots: int) -> None:
    venue = _venue()

    result = await venue.place_ioc("TEST-USD", Side.BUY, qty_lots, None, "c-1")

    assert result.status is VenueOrderStatus.REJECTED
    assert result.reject_reason == "INVALID_QUANTITY"


async def test_a_non_positive_limit_price_is_rejected_as_invalid_price() -> None:
    venue = _venue()

    result = await venue.place_ioc("TEST-USD", Side.SELL, 1, 0, "c-1")

    assert result.reject_reason == "INVALID_PRICE"


async def test_a_halted_symbol_rejects_orders_until_resumed() -> None:
    venue = _venue()
    venue.set_halted("TEST-USD")

    halted = await venue.place_ioc("TEST-USD", Side.BUY, 1, None, "c-1")
    venue.set_halted("TEST-USD", halted=False)
    resumed = await venue.place_ioc("TEST-USD", Side.BUY, 1, None, "c-2")

    assert halted.status is VenueOrderStatus.REJECTED
    assert halted.reject_reason == "VENUE_HALTED"
    assert resumed.status is VenueOrderStatus.FILLED


async def test_an_outage_raises_unavailable_and_a_later_retry_executes_once() -> None:
    venue = _venue()
    venue.available = False

    with pytest.raises(VenueUnavailableError) as outage:
        await venue.place_ioc("TEST-USD", Side.BUY, 10, None, "c-1")
    with pytest.raises(VenueUnavailableError):
        await venue.book_top("TEST-USD")
    venue.available = True
    retried = await venue.place_ioc("TEST-USD", Side.BUY, 10, None, "c-1")

    assert outage.value.extensions["code"] == "UNAVAILABLE"
    assert retried.status is VenueOrderStatus.FILLED
    assert (await venue.book_top("TEST-USD")).ask_price_ticks == 1002


async def test_an_outage_during_the_latency_raises_and_executes_nothing() -> None:
    venue = _venue(latency_ns=20_000_000)

    pending = asyncio.ensure_future(venue.place_ioc("TEST-USD", Side.BUY, 10, None, "c-1"))
    await asyncio.sleep(0)
    venue.available = False

    with pytest.raises(VenueUnavailableError):
        await pending
    venue.available = True
    assert (await venue.book_top("TEST-USD")).ask_qty_lots == 10


async def test_the_fill_stream_delivers_each_fill_once_in_order_and_ends_on_close() -> None:
    venue = _venue()
    stream = venue.fills()

    first = await venue.place_ioc("TEST-USD", Side.BUY, 15, None, "c-1")
    await venue.place_ioc("TEST-USD", Side.BUY, 15, None, "c-1")
    second = await venue.place_ioc("TEST-USD", Side.SELL, 5, None, "c-2")
    await venue.close()
    streamed = [fill async for fill in stream]

    assert streamed == [*first.fills, *second.fills]
    assert [fill.venue_fill_id for fill in streamed] == [
        "SIM-00000001-1",
        "SIM-00000001-2",
        "SIM-00000002-1",
    ]


async def test_a_closed_venue_refuses_orders_and_its_new_streams_are_empty() -> None:
    venue = _venue()
    await venue.close()

    with pytest.raises(VenueUnavailableError):
        await venue.place_ioc("TEST-USD", Side.BUY, 1, None, "c-1")
    assert [fill async for fill in venue.fills()] == []


async def test_cancelling_an_ioc_order_returns_false_because_it_is_already_done() -> None:
    venue = _venue()
    result = await venue.place_ioc("TEST-USD", Side.BUY, 1, None, "c-1")

    assert await venue.cancel(result.venue_order_id) is False


async def test_book_top_of_an_unlisted_symbol_raises_not_found() -> None:
    venue = _venue()

    with pytest.raises(VenueSymbolNotFoundError):
        await venue.book_top("DOGE-USD")


def test_a_spec_without_a_positive_best_bid_or_with_empty_levels_is_refused() -> None:
    with pytest.raises(ValueError, match="positive best bid"):
        VenueMarketSpec(symbol="X", reference_price_ticks=1, spread_ticks=4)
    with pytest.raises(ValueError, match="levels must be positive"):
        VenueMarketSpec(symbol="X", reference_price_ticks=100, levels=0)


def test_the_fee_in_minor_units_rounds_down() -> None:
    assert fee_minor(notional_minor=12_345, fee_bps=10) == 12
    assert fee_minor(notional_minor=9_999, fee_bps=1) == 0


async def test_the_demo_venue_holds_about_two_btc_and_twenty_eth_within_ten_levels() -> None:
    venue = simulated_venue_for_demo()

    btc_asks = venue.depth("BTC-USDT", Side.SELL)[:10]
    eth_bids = venue.depth("ETH-USDT", Side.BUY)[:10]
    btc_top = await venue.book_top("BTC-USDT")

    assert venue.symbols == ("BTC-USDT", "ETH-USDT")
    assert 180_000 <= sum(level.qty_lots for level in btc_asks) <= 220_000  # lots of 0.00001 BTC
    assert 180_000 <= sum(level.qty_lots for level in eth_bids) <= 220_000  # lots of 0.0001 ETH
    assert btc_top.bid_price_ticks is not None and btc_top.ask_price_ticks is not None
    assert btc_top.bid_price_ticks < 6_425_000 < btc_top.ask_price_ticks
