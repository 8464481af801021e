"""SimulatedVenue properties over random order/advance/halt streams: limits, totals, determinism."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domains.orders.model import Side
from domains.orders.venue import BPS_PER_UNIT, BookTop, VenueOrderResult, VenueOrderStatus
from domains.orders.venue_sim import SimulatedVenue, VenueMarketSpec

pytestmark = pytest.mark.property
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STEP_NS = 1_000
SPECS = (
    VenueMarketSpec(
        symbol="AAA-USD",
        reference_price_ticks=1_000,
        levels=8,
        level_qty_lots=5,
        spread_ticks=3,
        level_step_ticks=2,
        volatility_bps=300,
        fee_bps=7,
        market_collar_bps=100,
    ),
    # A cheap market with a wild walk: deep bids fall below one tick and must disappear.
    VenueMarketSpec(
        symbol="BBB-USD",
        reference_price_ticks=6,
        levels=10,
        level_qty_lots=3,
        spread_ticks=2,
        level_step_ticks=1,
        volatility_bps=5_000,
        fee_bps=0,
    ),
)
LISTED = tuple(spec.symbol for spec in SPECS)


@dataclass(frozen=True)
class PlaceOrder:
    symbol: str
    side: Side
    qty_lots: int
    limit_price_ticks: int | None
    client_order_id: str


@dataclass(frozen=True)
class Advance:
    delta_ns: int


@dataclass(frozen=True)
class SetHalted:
    symbol: str
    halted: bool


Operation = PlaceOrder | Advance | SetHalted

place_orders = st.builds(
    PlaceOrder,
    symbol=st.sampled_from([*LISTED, "ZZZ-USD"]),
    side=st.sampled_from(Side),
    qty_lots=st.integers(-2, 80),
    limit_price_ticks=st.none() | st.integers(-1, 1_100),
    client_order_id=st.sampled_from([f"c-{i}" for i in range(12)]),
)
operations = st.lists(
    st.one_of(
        place_orders,
        place_orders,
        st.builds(Advance, delta_ns=st.integers(0, 3 * STEP_NS)),
        st.builds(SetHalted, symbol=st.sampled_from(LISTED), halted=st.booleans()),
    ),
    max_size=60,
)
seeds = st.integers(0, 2**32)


def _venue(seed: int) -> SimulatedVenue:
    return SimulatedVenue(SPECS, seed=seed, step_ns=STEP_NS)


def _effective_limit(venue: SimulatedVenue, order: PlaceOrder) -> int:
    if order.limit_price_ticks is not None:
        return order.limit_price_ticks
    reference_ticks = venue.reference_price_ticks(order.symbol)
    collar_ticks = reference_ticks * venue.spec(order.symbol).market_collar_bps // BPS_PER_UNIT
    if order.side is Side.BUY:
        return reference_ticks + collar_ticks
    return max(1, reference_ticks - collar_ticks)


def _assert_result_is_consistent(result: VenueOrderResult, order: PlaceOrder, limit: int) -> None:
    assert sum(fill.qty_lots for fill in result.fills) == result.filled_qty_lots
    assert sum(fill.notional_ticks_lots for fill in result.fills) == result.notional_ticks_lots
    assert 0 <= result.filled_qty_lots <= max(order.qty_lots, 0)
    for fill in result.fills:
        assert fill.price_ticks > 0 and fill.qty_lots > 0
        assert fill.notional_ticks_lots == fill.price_ticks * fill.qty_lots
        assert fill.price_ticks <= limit if order.side is Side.BUY else fill.price_ticks >= limit
    prices = [fill.price_ticks for fill in result.fills]
    assert prices == sorted(prices, reverse=order.side is Side.SELL)
    expected_status = (
        VenueOrderStatus.EXPIRED
        if result.filled_qty_lots == 0
        else VenueOrderStatus.FILLED
        if result.filled_qty_lots == order.qty_lots
        else VenueOrderStatus.PARTIALLY_FILLED_EXPIRED
    )
    assert result.status in (expected_status, VenueOrderStatus.REJECTED)
    assert result.status is not VenueOrderStatus.REJECTED or result.fills == ()


async def _assert_book_is_sane(venue: SimulatedVenue) -> None:
    for symbol in LISTED:
        top = await venue.book_top(symbol)
        if top.bid_price_ticks is not None and top.ask_price_ticks is not None:
            assert 0 < top.bid_price_ticks < top.ask_price_ticks
        bids = [level.price_ticks for level in venue.depth(symbol, Side.BUY)]
        asks = [level.price_ticks for level in venue.depth(symbol, Side.SELL)]
        assert bids == sorted(set(bids), reverse=True) and all(p > 0 for p in bids)
        assert asks == sorted(set(asks))


async def _replay(venue: SimulatedVenue, ops: list[Operation]) -> list[VenueOrderResult | BookTop]:
    outcomes: list[VenueOrderResult | BookTop] = []
    for op in ops:
        if isinstance(op, Advance):
            venue.advance(venue.now_ns + op.delta_ns)
            outcomes.extend([await venue.book_top(symbol) for symbol in LISTED])
        elif isinstance(op, SetHalted):
            venue.set_halted(op.symbol, op.halted)
        else:
            outcomes.append(
                await venue.place_ioc(
                    op.symbol, op.side, op.qty_lots, op.limit_price_ticks, op.client_order_id
                )
            )
    return outcomes


@SETTINGS
@given(ops=operations, seed=seeds)
async def test_fills_respect_limits_and_totals_and_the_book_never_crosses(
    ops: list[Operation], seed: int
) -> None:
    venue = _venue(seed)
    first_by_client_id: dict[str, tuple[PlaceOrder, VenueOrderResult]] = {}

    for op in ops:
        if not isinstance(op, PlaceOrder):
            await _replay(venue, [op])
        else:
            limit = _effective_limit(venue, op) if op.symbol in LISTED else 0
            [result] = await _replay(venue, [op])
            assert isinstance(result, VenueOrderResult)
            known = first_by_client_id.get(op.client_order_id)
            if known is None:
                _assert_result_is_consistent(result, op, limit)
                first_by_client_id[op.client_order_id] = (op, result)
            elif known[0] == op:
                assert result == known[1]
            else:
                assert result.reject_reason == "DUPLICATE_CLIENT_ORDER_ID"
        await _assert_book_is_sane(venue)


@SETTINGS
@given(ops=operations, seed=seeds)
async def test_each_execution_streams_once_and_never_sells_more_than_a_step_holds(
    ops: list[Operation], seed: int
) -> None:
    venue = _venue(seed)
    stream = venue.fills()
    depth_lots = {spec.symbol: sum(map(spec.level_qty_at, range(spec.levels))) for spec in SPECS}
    taken_lots: defaultdict[tuple[str, Side, int], int] = defaultdict(int)

    outcomes = await _replay(venue, ops)
    await venue.close()
    streamed = [fill async for fill in stream]

    assert len({fill.venue_fill_id for fill in streamed}) == len(streamed)
    executed = {r.venue_order_id: r for r in outcomes if isinstance(r, VenueOrderResult)}
    assert streamed == [fill for result in executed.values() for fill in result.fills]
    for fill in streamed:
        taken_lots[(fill.symbol, fill.side, fill.ts_ns // STEP_NS)] += fill.qty_lots
    assert all(lots <= depth_lots[key[0]] for key, lots in taken_lots.items())


@SETTINGS
@given(ops=operations, seed=seeds)
async def test_the_same_seed_and_the_same_calls_give_identical_results(
    ops: list[Operation], seed: int
) -> None:
    first, second = _venue(seed), _venue(seed)

    ours, theirs = await _replay(first, ops), await _replay(second, ops)

    assert ours == theirs
    assert [first.reference_price_ticks(s) for s in LISTED] == [
        second.reference_price_ticks(s) for s in LISTED
    ]
