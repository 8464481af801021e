"""The orders domain's answer to "which markets exist and of what kind" for other domains."""

from __future__ import annotations

from collections.abc import Sequence

from domains.orders.service import OrdersService


class OrdersMarketCatalog:
    """Implements the accounts domain's MarketCatalog port over the orders service."""

    def __init__(self, orders: OrdersService) -> None:
        self._orders = orders

    async def market_kinds(self, market_ids: Sequence[str]) -> dict[str, str]:
        """Kind (SPOT / PERPETUAL) of each existing market; unknown ids are left out."""
        return {m.id: m.kind.value for m in await self._orders.markets_by_ids(market_ids)}

    async def market_sandboxes(self, market_ids: Sequence[str]) -> dict[str, str | None]:
        """The sandbox tenant of each existing market (None for a live market)."""
        return {m.id: m.sandbox_tenant for m in await self._orders.markets_by_ids(market_ids)}
