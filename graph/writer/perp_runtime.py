"""The writer's perpetual-futures clockwork: funding settlements and the simulated index feed.

- Funding: every ``funding_check_seconds``, each perpetual whose next funding time (engine
  state) has passed gets an APPLY_FUNDING through the writer. The engine refuses an early
  one (RISK_FUNDING_NOT_DUE) and the funding time advances once accepted, so a retry or a
  second scheduler after a hand-over never settles an interval twice.
- Index feed (CAAS_VENUE=simulated): every ``index_feed_seconds``, each perpetual whose
  underlying spot symbol (``BASE-QUOTE``) the venue quotes gets the venue's mid price as its
  index (SET_INDEX_PRICE), rounded to the perpetual's tick.

Runs only in the process holding the writer lease; everything goes through the sequencer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import ROUND_HALF_EVEN
from typing import Protocol

from domains.orders.model import Market, MarketKind
from domains.orders.spec import MarketSpec
from domains.orders.venue_sim import SimulatedVenue
from domains.shared.engine_port import CommandBus
from domains.shared.errors import DomainError
from engine import codes
from engine import commands as cmd
from engine.layout import Records
from graph.settings import PerpSettings

log = logging.getLogger("caas.perp")


class PerpMarkets(Protocol):
    """What the clockwork needs of order entry (TradingService)."""

    async def markets(self, kind: MarketKind | None = None) -> list[Market]: ...
    async def perpetual(self, market_id: str) -> tuple[MarketSpec, int]: ...
    async def spec(self, market_id: str) -> MarketSpec: ...
    async def submit_checked(self, command: Records, note: dict[str, str] | None = None) -> int: ...


class PerpRuntime:
    """Funding scheduler and index feed of the engine writer."""

    def __init__(
        self,
        trading: PerpMarkets,
        bus: CommandBus,
        settings: PerpSettings,
        venue: SimulatedVenue | None = None,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._trading = trading
        self._bus = bus
        self._settings = settings
        self._venue = venue
        self._clock = clock
        self._tasks: list[asyncio.Task[None]] = []
        self.fundings = 0  # APPLY_FUNDING commands the engine accepted
        self.indexes = 0  # index prices posted by the feed

    def start(self) -> None:
        if self._settings.funding_check_seconds > 0:
            self._tasks.append(asyncio.create_task(
                self._every(self._settings.funding_check_seconds, self.settle_due_funding),
                name="perp-funding",
            ))  # fmt: skip
        if self._venue is not None and self._settings.index_feed_seconds > 0:
            self._tasks.append(asyncio.create_task(
                self._every(self._settings.index_feed_seconds, self.post_venue_indexes),
                name="perp-index-feed",
            ))  # fmt: skip

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @staticmethod
    async def _every(seconds: float, work: Callable[[], Awaitable[int]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed round is retried next round; never stop the clock
                log.exception("perpetual clockwork round failed")

    async def _perpetuals(self) -> list[tuple[str, int]]:
        markets = await self._trading.markets(MarketKind.PERPETUAL)
        return [(m.id, (await self._trading.perpetual(m.id))[1]) for m in markets]

    async def settle_due_funding(self) -> int:
        """Submit APPLY_FUNDING for every perpetual whose funding time has passed."""
        now, settled = self._clock(), 0
        for market_id, index in await self._perpetuals():
            if not self._bus.engine.is_perpetual(index):
                continue
            next_ns = self._bus.engine.mark(index)[2]
            if next_ns <= 0 or now < next_ns:
                continue
            submitted = await self._bus.submit(cmd.apply_funding(0, 0, market=index))
            events = submitted.events
            if events is not None and (events["kind"] == codes.EV_ACCEPTED).any():
                settled += 1
                log.info("funding settled", extra={"market": market_id, "seq": submitted.seq})
        self.fundings += settled
        return settled

    async def post_venue_indexes(self) -> int:
        """Post the venue's mid of each perpetual's underlying as its index price."""
        if self._venue is None:
            return 0
        posted = 0
        symbols = set(self._venue.symbols)
        for market_id, index in await self._perpetuals():
            underlying = market_id.removesuffix("-PERP")
            if underlying not in symbols:
                continue
            top = await self._venue.book_top(underlying)
            if top.bid_price_ticks is None or top.ask_price_ticks is None:
                continue
            spot = await self._trading.spec(underlying)
            perp, _ = await self._trading.perpetual(market_id)
            mid = spot.price(top.bid_price_ticks + top.ask_price_ticks) / 2
            ticks = int((mid / perp.market.tick_size).to_integral_value(ROUND_HALF_EVEN))
            try:
                await self._trading.submit_checked(
                    cmd.set_index_price(0, 0, market=index, price_ticks=max(1, ticks)),
                    {"by": "index-feed", "source": f"venue:{underlying}"},
                )
                posted += 1
            except DomainError as exc:
                log.warning("index price refused: %s", exc, extra={"market": market_id})
        self.indexes += posted
        return posted
