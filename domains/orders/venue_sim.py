"""Simulated global order book behind the Venue interface: seeded, explicit time, integers only."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from domains.orders.model import Side
from domains.orders.venue import (
    BPS_PER_UNIT,
    BookTop,
    VenueFill,
    VenueOrderResult,
    VenueOrderStatus,
    VenueRejectReason,
    VenueSymbolNotFoundError,
    VenueUnavailableError,
)

NS_PER_SECOND = 1_000_000_000


@dataclass(frozen=True)
class VenueMarketSpec:
    """One venue market; prices in integer ticks, quantities in integer lots."""

    symbol: str
    reference_price_ticks: int
    levels: int = 20
    level_qty_lots: int = 1_000
    spread_ticks: int = 2
    level_step_ticks: int = 1
    volatility_bps: int = 5
    fee_bps: int = 10
    depth_growth_pct: int = 50
    market_collar_bps: int = 500

    def __post_init__(self) -> None:
        positive = ("levels", "level_qty_lots", "spread_ticks", "level_step_ticks")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{self.symbol}: {name} must be positive")
        non_negative = ("volatility_bps", "fee_bps", "depth_growth_pct", "market_collar_bps")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"{self.symbol}: {name} must not be negative")
        if self.reference_price_ticks < self.min_reference_price_ticks:
            raise ValueError(f"{self.symbol}: reference price leaves no positive best bid")

    @property
    def min_reference_price_ticks(self) -> int:
        """The lowest reference price that keeps the best bid on a positive tick."""
        return self.spread_ticks // 2 + 1

    def level_qty_at(self, depth: int) -> int:
        """Resting lots at a depth (0 = best level), growing with depth."""
        return self.level_qty_lots + self.level_qty_lots * self.depth_growth_pct * depth // 100


@dataclass(frozen=True)
class BookLevel:
    """One price level of the simulated book as it stands now (after consumption)."""

    price_ticks: int
    qty_lots: int


class _SymbolBook:
    """Reference random walk and consumed liquidity of one symbol; its own seeded RNG."""

    def __init__(self, spec: VenueMarketSpec, seed: int) -> None:
        self.spec = spec
        self.halted = False
        self.reference_price_ticks = spec.reference_price_ticks
        self._rng = random.Random(f"{seed}:{spec.symbol}")
        self._taken_lots: dict[Side, list[int]] = {}
        self._replenish()

    def _replenish(self) -> None:
        # Keyed by the resting side: Side.BUY holds bids, Side.SELL holds asks.
        self._taken_lots = {Side.BUY: [0] * self.spec.levels, Side.SELL: [0] * self.spec.levels}

    def step(self) -> None:
        """One step of the walk: move the reference by at most volatility_bps, replenish."""
        max_move_ticks = self.reference_price_ticks * self.spec.volatility_bps // BPS_PER_UNIT
        move_ticks = self._rng.randint(-max_move_ticks, max_move_ticks)
        self.reference_price_ticks = max(
            self.spec.min_reference_price_ticks, self.reference_price_ticks + move_ticks
        )
        self._replenish()

    def level_price_ticks(self, resting_side: Side, depth: int) -> int:
        """Price of a level; bids may fall to zero or below deep in a cheap book (skipped)."""
        best_bid_ticks = self.reference_price_ticks - self.spec.spread_ticks // 2
        if resting_side is Side.BUY:
            return best_bid_ticks - depth * self.spec.level_step_ticks
        return best_bid_ticks + self.spec.spread_ticks + depth * self.spec.level_step_ticks

    def levels(self, resting_side: Side) -> list[tuple[int, BookLevel]]:
        """Non-empty levels of one side, best first, with their depth index."""
        found: list[tuple[int, BookLevel]] = []
        taken = self._taken_lots[resting_side]
        for depth in range(self.spec.levels):
            price_ticks = self.level_price_ticks(resting_side, depth)
            qty_lots = self.spec.level_qty_at(depth) - taken[depth]
            if price_ticks > 0 and qty_lots > 0:
                found.append((depth, BookLevel(price_ticks, qty_lots)))
        return found

    def collar_price_ticks(self, side: Side) -> int:
        """The limit a market order gets: the reference moved by the collar, against the taker."""
        collar_ticks = self.reference_price_ticks * self.spec.market_collar_bps // BPS_PER_UNIT
        if side is Side.BUY:
            return self.reference_price_ticks + collar_ticks
        return max(1, self.reference_price_ticks - collar_ticks)

    def take(self, side: Side, qty_lots: int, limit_price_ticks: int) -> list[BookLevel]:
        """Walk the opposite side best-first within the limit; consume and return executions."""
        resting_side = Side.SELL if side is Side.BUY else Side.BUY
        executions: list[BookLevel] = []
        remaining_lots = qty_lots
        for depth, level in self.levels(resting_side):
            crosses = (
                level.price_ticks <= limit_price_ticks
                if side is Side.BUY
                else level.price_ticks >= limit_price_ticks
            )
            if remaining_lots == 0 or not crosses:
                break
            fill_lots = min(remaining_lots, level.qty_lots)
            self._taken_lots[resting_side][depth] += fill_lots
            remaining_lots -= fill_lots
            executions.append(BookLevel(level.price_ticks, fill_lots))
        return executions


class FillStream:
    """Async iterator over fills published after it was opened; ends when the venue closes."""

    def __init__(self, subscribers: list[asyncio.Queue[VenueFill | None]]) -> None:
        self._queue: asyncio.Queue[VenueFill | None] = asyncio.Queue()
        self._subscribers = subscribers
        subscribers.append(self._queue)

    def __aiter__(self) -> FillStream:
        return self

    async def __anext__(self) -> VenueFill:
        fill = await self._queue.get()
        if fill is None:
            self.close()
            raise StopAsyncIteration
        return fill

    def close(self) -> None:
        """Stop receiving fills (fills already queued stay readable until the end marker)."""
        if self._queue in self._subscribers:
            self._subscribers.remove(self._queue)
        self._queue.put_nowait(None)


_RequestKey = tuple[str, Side, int, int | None]


class SimulatedVenue:
    """A deterministic external venue: same seed and same calls give the same results."""

    def __init__(
        self,
        specs: Iterable[VenueMarketSpec],
        *,
        seed: int = 0,
        start_ts_ns: int = 0,
        step_ns: int = NS_PER_SECOND,
        latency_ns: int = 0,
    ) -> None:
        if step_ns <= 0 or latency_ns < 0:
            raise ValueError("step_ns must be positive and latency_ns not negative")
        self.available = True
        self.latency_ns = latency_ns
        self._books: dict[str, _SymbolBook] = {}
        for spec in specs:
            if spec.symbol in self._books:
                raise ValueError(f"duplicate venue symbol {spec.symbol}")
            self._books[spec.symbol] = _SymbolBook(spec, seed)
        self._start_ts_ns = start_ts_ns
        self._step_ns = step_ns
        self._steps_done = 0
        self._now_ns = start_ts_ns
        self._order_count = 0
        self._results: dict[str, tuple[_RequestKey, VenueOrderResult]] = {}
        self._subscribers: list[asyncio.Queue[VenueFill | None]] = []
        self._closed = False

    @property
    def now_ns(self) -> int:
        """The venue clock, moved only by advance()."""
        return self._now_ns

    @property
    def symbols(self) -> tuple[str, ...]:
        """Listed symbols in spec order."""
        return tuple(self._books)

    def spec(self, symbol: str) -> VenueMarketSpec:
        """The market spec of a listed symbol."""
        return self._book(symbol).spec

    def reference_price_ticks(self, symbol: str) -> int:
        """Where the random walk stands now."""
        return self._book(symbol).reference_price_ticks

    def set_halted(self, symbol: str, halted: bool = True) -> None:
        """Halt (or resume) one symbol: orders are REJECTED with VENUE_HALTED meanwhile."""
        self._book(symbol).halted = halted

    def advance(self, ts_ns: int) -> None:
        """Move the clock to ts_ns, taking one walk step per step_ns boundary crossed."""
        if ts_ns < self._now_ns:
            raise ValueError(f"venue time goes forward only: {ts_ns} < {self._now_ns}")
        target_steps = (ts_ns - self._start_ts_ns) // self._step_ns
        for book in self._books.values():
            for _ in range(target_steps - self._steps_done):
                book.step()
        self._steps_done = target_steps
        self._now_ns = ts_ns

    def depth(self, symbol: str, resting_side: Side) -> tuple[BookLevel, ...]:
        """Resting levels of one side (BUY = bids, SELL = asks), best first."""
        return tuple(level for _, level in self._book(symbol).levels(resting_side))

    async def place_ioc(
        self,
        symbol: str,
        side: Side,
        qty_lots: int,
        limit_price_ticks: int | None,
        client_order_id: str,
    ) -> VenueOrderResult:
        """Fill within the limit (None: the collar around the reference); the rest expires."""
        self._ensure_available()
        if self.latency_ns > 0:
            await asyncio.sleep(self.latency_ns / NS_PER_SECOND)
            self._ensure_available()
        key: _RequestKey = (symbol, side, qty_lots, limit_price_ticks)
        known = self._results.get(client_order_id)
        if known is not None:
            known_key, known_result = known
            if known_key == key:
                return known_result
            return self._rejected(key, client_order_id, VenueRejectReason.DUPLICATE_CLIENT_ORDER_ID)
        result = self._execute(key, client_order_id)
        self._results[client_order_id] = (key, result)
        for fill in result.fills:
            for queue in self._subscribers:
                queue.put_nowait(fill)
        return result

    async def cancel(self, venue_order_id: str) -> bool:
        """IOC orders are done when place_ioc returns, so there is never anything to cancel."""
        self._ensure_available()
        return False

    async def book_top(self, symbol: str) -> BookTop:
        """Best bid and ask with their remaining lots."""
        self._ensure_available()
        book = self._book(symbol)
        bids, asks = book.levels(Side.BUY), book.levels(Side.SELL)
        return BookTop(
            symbol=symbol,
            bid_price_ticks=bids[0][1].price_ticks if bids else None,
            bid_qty_lots=bids[0][1].qty_lots if bids else 0,
            ask_price_ticks=asks[0][1].price_ticks if asks else None,
            ask_qty_lots=asks[0][1].qty_lots if asks else 0,
            ts_ns=self._now_ns,
        )

    def fills(self) -> FillStream:
        """A stream of every fill executed from now on, until close()."""
        stream = FillStream(self._subscribers)
        if self._closed:
            stream.close()
        return stream

    async def close(self) -> None:
        """Refuse further calls and end every fill stream."""
        self._closed = True
        for queue in self._subscribers:
            queue.put_nowait(None)
        self._subscribers.clear()

    def _book(self, symbol: str) -> _SymbolBook:
        book = self._books.get(symbol)
        if book is None:
            raise VenueSymbolNotFoundError(f"venue does not list {symbol}", symbol=symbol)
        return book

    def _ensure_available(self) -> None:
        if self._closed or not self.available:
            raise VenueUnavailableError("simulated venue is unavailable", venue="SIMULATED")

    def _next_order_id(self) -> str:
        self._order_count += 1
        return f"SIM-{self._order_count:08d}"

    def _rejected(self, key: _RequestKey, client_order_id: str, reason: str) -> VenueOrderResult:
        symbol, side, qty_lots, limit_price_ticks = key
        return VenueOrderResult(
            venue_order_id=self._next_order_id(),
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            requested_qty_lots=qty_lots,
            limit_price_ticks=limit_price_ticks,
            status=VenueOrderStatus.REJECTED,
            reject_reason=reason,
            ts_ns=self._now_ns,
        )

    def _execute(self, key: _RequestKey, client_order_id: str) -> VenueOrderResult:
        symbol, side, qty_lots, limit_price_ticks = key
        book = self._books.get(symbol)
        if book is None:
            return self._rejected(key, client_order_id, VenueRejectReason.UNKNOWN_SYMBOL)
        if qty_lots <= 0:
            return self._rejected(key, client_order_id, VenueRejectReason.INVALID_QUANTITY)
        if limit_price_ticks is not None and limit_price_ticks <= 0:
            return self._rejected(key, client_order_id, VenueRejectReason.INVALID_PRICE)
        if book.halted:
            return self._rejected(key, client_order_id, VenueRejectReason.VENUE_HALTED)
        effective_limit = (
            book.collar_price_ticks(side) if limit_price_ticks is None else limit_price_ticks
        )
        venue_order_id = self._next_order_id()
        fee_bps = book.spec.fee_bps
        fills = tuple(
            VenueFill(
                venue_fill_id=f"{venue_order_id}-{n}",
                venue_order_id=venue_order_id,
                client_order_id=client_order_id,
                symbol=symbol,
                side=side,
                price_ticks=execution.price_ticks,
                qty_lots=execution.qty_lots,
                notional_ticks_lots=execution.price_ticks * execution.qty_lots,
                fee_bps=fee_bps,
                ts_ns=self._now_ns,
            )
            for n, execution in enumerate(book.take(side, qty_lots, effective_limit), start=1)
        )
        filled_qty_lots = sum(fill.qty_lots for fill in fills)
        if filled_qty_lots == qty_lots:
            status = VenueOrderStatus.FILLED
        elif filled_qty_lots > 0:
            status = VenueOrderStatus.PARTIALLY_FILLED_EXPIRED
        else:
            status = VenueOrderStatus.EXPIRED
        return VenueOrderResult(
            venue_order_id=venue_order_id,
            client_order_id=client_order_id,
            symbol=symbol,
            side=side,
            requested_qty_lots=qty_lots,
            limit_price_ticks=limit_price_ticks,
            status=status,
            filled_qty_lots=filled_qty_lots,
            notional_ticks_lots=sum(fill.notional_ticks_lots for fill in fills),
            fee_bps=fee_bps,
            fills=fills,
            ts_ns=self._now_ns,
        )


class LiveSimulatedVenue(SimulatedVenue):
    """The simulator on a real clock: before each call it advances to the current time,
    so its reference price walks as time passes (the server's external venue)."""

    def __init__(
        self,
        specs: Iterable[VenueMarketSpec],
        *,
        seed: int = 0,
        clock: Callable[[], int] = time.time_ns,
        latency_ns: int = 0,
    ) -> None:
        self._clock = clock
        super().__init__(specs, seed=seed, start_ts_ns=clock(), latency_ns=latency_ns)

    def _catch_up(self) -> None:
        self.advance(max(self.now_ns, self._clock()))

    async def place_ioc(
        self,
        symbol: str,
        side: Side,
        qty_lots: int,
        limit_price_ticks: int | None,
        client_order_id: str,
    ) -> VenueOrderResult:
        """Advance to now, then fill within the limit; the rest expires."""
        self._catch_up()
        return await super().place_ioc(symbol, side, qty_lots, limit_price_ticks, client_order_id)

    async def book_top(self, symbol: str) -> BookTop:
        """Advance to now, then the best bid and ask."""
        self._catch_up()
        return await super().book_top(symbol)


def demo_venue_specs() -> tuple[VenueMarketSpec, ...]:
    """BTC-USDT (tick 0.01, lot 0.00001 BTC) and ETH-USDT (tick 0.01, lot 0.0001 ETH).

    Levels grow by half the base size per level: 10 levels hold 32.5 base sizes, so about
    1.95 BTC and 19.5 ETH sit within the first 10 levels of each side.
    """
    return (
        VenueMarketSpec(
            symbol="BTC-USDT",
            reference_price_ticks=6_425_000,
            levels=20,
            level_qty_lots=6_000,
            spread_ticks=100,
            level_step_ticks=50,
            volatility_bps=2,
            fee_bps=10,
        ),
        VenueMarketSpec(
            symbol="ETH-USDT",
            reference_price_ticks=315_000,
            levels=20,
            level_qty_lots=6_000,
            spread_ticks=10,
            level_step_ticks=5,
            volatility_bps=3,
            fee_bps=10,
        ),
    )


def simulated_venue_for_demo(seed: int = 7, *, start_ts_ns: int = 0) -> SimulatedVenue:
    """A simulated venue listing BTC-USDT and ETH-USDT, stepping once a second."""
    return SimulatedVenue(demo_venue_specs(), seed=seed, start_ts_ns=start_ts_ns)
