"""Positions use cases: positions at the mark, tenant risk summary, funding and liquidation
history; knows nothing of GraphQL."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from domains.orders.spec import MarketSpec
from domains.positions.model import (
    FundingPayment,
    InsuranceFund,
    LiquidationEvent,
    MarkPrice,
    Position,
)
from domains.positions.valuation import MarketRisk, PositionView, value_account
from domains.shared.context import TenantScope

SpecLookup = Callable[[str], Awaitable[MarketSpec]]
LARGEST = 10
# margin-ratio bands of the risk summary: [lower, upper) as fractions; the last is due
BANDS: tuple[tuple[str, Decimal, Decimal | None], ...] = (
    ("SAFE", Decimal(0), Decimal("0.5")),
    ("WATCH", Decimal("0.5"), Decimal("0.8")),
    ("DANGER", Decimal("0.8"), Decimal(1)),
    ("LIQUIDATION", Decimal(1), None),
)


class PositionsRepository(Protocol):
    """What the service needs from storage (MongoPositionsRepository)."""

    async def upsert(self, position: Position) -> None: ...
    async def for_accounts(
        self, scope: TenantScope, account_ids: Sequence[str]
    ) -> list[Position]: ...
    async def open_positions(
        self, scope: TenantScope, market_ids: Sequence[str] | None = None
    ) -> list[Position]: ...
    async def marks(self, market_ids: Sequence[str] | None = None) -> dict[str, MarkPrice]: ...
    async def funding(
        self, scope: TenantScope, account_id: str, market_id: str | None, first: int,
        after_key: str | None,
    ) -> list[FundingPayment]: ...  # fmt: skip
    async def liquidations(
        self, scope: TenantScope, account_id: str | None, market_id: str | None, first: int,
        after_key: str | None,
    ) -> list[LiquidationEvent]: ...  # fmt: skip
    async def insurance_funds(self) -> list[InsuranceFund]: ...


class Wallets(Protocol):
    """Available balances of accounts (the accounts domain's balance read model)."""

    async def available(
        self, scope: TenantScope, account_ids: Sequence[str]
    ) -> dict[str, dict[str, Decimal]]: ...


@dataclass(frozen=True)
class MarketExposure:
    """A tenant's exposure on one perpetual at the mark."""

    market_id: str
    mark: Decimal | None
    long_notional: Decimal
    short_notional: Decimal
    margin_in_use: Decimal
    positions: int

    @property
    def net_notional(self) -> Decimal:
        return self.long_notional - self.short_notional


@dataclass(frozen=True)
class RatioBand:
    """How many accounts have their worst margin ratio in [lower, upper)."""

    name: str
    lower: Decimal
    upper: Decimal | None
    accounts: int


@dataclass(frozen=True)
class RiskSummary:
    """A tenant's perpetual risk at the current marks."""

    markets: list[MarketExposure]
    margin_in_use: dict[str, Decimal]
    bands: list[RatioBand]
    insurance_funds: list[InsuranceFund]
    largest: list[PositionView]
    accounts: int


class PositionsService:
    """Position read models valued at the mark, and the tenant risk views."""

    def __init__(
        self,
        repository: PositionsRepository,
        spec_for: SpecLookup | None = None,
        wallets: Wallets | None = None,
    ) -> None:
        self._repo = repository
        self._spec_for = spec_for
        self._wallets = wallets
        self._summaries: dict[TenantScope, asyncio.Future[RiskSummary]] = {}

    async def positions_by_account(
        self, scope: TenantScope, account_ids: Sequence[str]
    ) -> dict[str, list[Position]]:
        """Open positions (non-zero quantity) grouped by account id."""
        grouped: dict[str, list[Position]] = {key: [] for key in account_ids}
        for position in await self._repo.for_accounts(scope, account_ids):
            if position.quantity != 0:
                grouped[position.account_id].append(position)
        return grouped

    async def record(self, position: Position) -> None:
        """Store a position read model (the positions projector calls this)."""
        await self._repo.upsert(position)

    async def _markets(self, market_ids: set[str]) -> dict[str, MarketRisk]:
        assert self._spec_for is not None
        marks = await self._repo.marks(sorted(market_ids))
        out: dict[str, MarketRisk] = {}
        for market_id in market_ids:
            spec = await self._spec_for(market_id)
            mark = marks.get(market_id)
            out[market_id] = MarketRisk(
                spec.market.margin_brackets, spec.market.tick_size,
                Decimal(1).scaleb(-spec.quote.decimals), mark.mark if mark else None,
            )  # fmt: skip
        return out

    async def valued(
        self, scope: TenantScope, positions: Sequence[Position]
    ) -> tuple[list[PositionView], dict[str, Decimal]]:
        """Positions at their marks (by account, as given) and each account's worst ratio."""
        by_account: dict[str, list[Position]] = {}
        for p in positions:
            by_account.setdefault(p.account_id, []).append(p)
        markets = await self._markets({p.market_id for p in positions})
        wallets = (
            await self._wallets.available(scope, sorted(by_account))
            if self._wallets is not None and by_account else {}
        )  # fmt: skip
        views: list[PositionView] = []
        ratios: dict[str, Decimal] = {}
        for account_id, held in by_account.items():
            valued, worst = value_account(held, markets, wallets.get(account_id, {}))
            views.extend(valued)
            ratios[account_id] = worst
        return views, ratios

    async def account_positions(
        self, scope: TenantScope, account_ids: Sequence[str]
    ) -> dict[str, list[PositionView]]:
        """Open positions of accounts at the mark, grouped by account id."""
        grouped = await self.positions_by_account(scope, account_ids)
        views, _ = await self.valued(scope, [p for ps in grouped.values() for p in ps])
        out: dict[str, list[PositionView]] = {key: [] for key in account_ids}
        for view in views:
            out[view.position.account_id].append(view)
        return out

    async def open_positions(
        self, scope: TenantScope, market_ids: Sequence[str] | None = None
    ) -> list[PositionView]:
        """Every open position the scope sees, at the mark (a tenant's, for staff)."""
        views, _ = await self.valued(scope, await self._repo.open_positions(scope, market_ids))
        return views

    async def risk_summary(self, scope: TenantScope) -> RiskSummary:
        """Exposure per market, margin in use, accounts by margin-ratio band, the insurance
        funds and the largest positions of the scope's tenant."""
        views, ratios = await self.valued(scope, await self._repo.open_positions(scope))
        exposure: dict[str, list[Decimal]] = {}
        counts: dict[str, int] = {}
        marks: dict[str, Decimal | None] = {}
        margin: dict[str, Decimal] = {}
        for view in views:
            p = view.position
            row = exposure.setdefault(p.market_id, [Decimal(0), Decimal(0), Decimal(0)])
            notional = view.notional if view.notional is not None else abs(p.cost)
            row[0 if p.quantity > 0 else 1] += notional
            row[2] += p.margin
            counts[p.market_id] = counts.get(p.market_id, 0) + 1
            marks[p.market_id] = view.mark
            margin[p.quote_asset] = margin.get(p.quote_asset, Decimal(0)) + p.margin
        markets = [MarketExposure(m, marks[m], row[0], row[1], row[2], counts[m])
                   for m, row in sorted(exposure.items())]  # fmt: skip
        bands = [
            RatioBand(name, low, high, sum(
                1 for r in ratios.values() if r >= low and (high is None or r < high)))
            for name, low, high in BANDS
        ]  # fmt: skip
        largest = sorted(views, key=lambda v: (-(v.notional or abs(v.position.cost)),
                                               v.position.id))[:LARGEST]  # fmt: skip
        return RiskSummary(markets, margin, bands, await self._repo.insurance_funds(), largest,
                           len(ratios))  # fmt: skip

    async def shared_risk_summary(self, scope: TenantScope) -> RiskSummary:
        """risk_summary, computed once for every caller of the same scope asking while it is
        being computed (the dashboards a mark price change wakes at once)."""
        running = self._summaries.get(scope)
        if running is None:
            running = asyncio.ensure_future(self.risk_summary(scope))
            self._summaries[scope] = running
            running.add_done_callback(lambda _: self._summaries.pop(scope, None))
        return await asyncio.shield(running)

    async def funding_payments(
        self, scope: TenantScope, account_id: str, market_id: str | None, first: int,
        after_key: str | None,
    ) -> list[FundingPayment]:  # fmt: skip
        return await self._repo.funding(scope, account_id, market_id, first, after_key)

    async def liquidations(
        self, scope: TenantScope, account_id: str | None, market_id: str | None, first: int,
        after_key: str | None,
    ) -> list[LiquidationEvent]:  # fmt: skip
        return await self._repo.liquidations(scope, account_id, market_id, first, after_key)

    async def mark_prices(self, market_ids: Sequence[str] | None = None) -> dict[str, MarkPrice]:
        return await self._repo.marks(market_ids)
