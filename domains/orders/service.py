"""Orders use cases: markets and order queries; knows nothing of GraphQL."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

from domains.orders.errors import DuplicateMarketError
from domains.orders.model import Market, MarketKind, Order, OrderStatus
from domains.shared.context import TenantScope
from domains.shared.errors import ValidationError
from domains.shared.scalars import utcnow


class OrdersRepository(Protocol):
    """What the service needs from storage."""

    async def insert_market(self, market: Market) -> None: ...
    async def markets(self, kind: MarketKind | None) -> list[Market]: ...
    async def markets_by_ids(self, ids: Sequence[str]) -> list[Market]: ...
    async def insert_order(self, order: Order) -> None: ...
    async def orders_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Order]: ...
    async def list_orders(
        self,
        scope: TenantScope,
        account_id: str | None,
        status: Sequence[OrderStatus],
        first: int,
        after: str | None,
    ) -> list[Order]: ...


def _positive(value: Decimal, field: str) -> Decimal:
    if value <= 0:
        raise ValidationError(f"{field} must be greater than zero", field=field)
    return value


class OrdersService:
    """Markets and orders."""

    def __init__(self, repository: OrdersRepository) -> None:
        self._repo = repository

    async def create_market(
        self,
        base_asset: str,
        quote_asset: str,
        tick_size: Decimal,
        lot_size: Decimal,
        min_notional: Decimal,
        kind: MarketKind = MarketKind.SPOT,
    ) -> Market:
        """List a new platform market ``BASE-QUOTE``."""
        base, quote = base_asset.strip().upper(), quote_asset.strip().upper()
        for field, asset in (("baseAsset", base), ("quoteAsset", quote)):
            if not asset.isalnum() or not 2 <= len(asset) <= 10:
                raise ValidationError(f"{field} must be 2-10 letters or digits", field=field)
        market = Market(
            id=f"{base}-{quote}" + ("-PERP" if kind is MarketKind.PERPETUAL else ""),
            kind=kind,
            base_asset=base,
            quote_asset=quote,
            tick_size=_positive(tick_size, "tickSize"),
            lot_size=_positive(lot_size, "lotSize"),
            min_notional=min_notional
            if min_notional >= 0
            else _positive(min_notional, "minNotional"),
            created_at=utcnow(),
        )
        if await self._repo.markets_by_ids([market.id]):
            raise DuplicateMarketError(f"market {market.id} exists already", market=market.id)
        await self._repo.insert_market(market)
        return market

    async def markets(self, kind: MarketKind | None = None) -> list[Market]:
        return await self._repo.markets(kind)

    async def markets_by_ids(self, ids: Sequence[str]) -> list[Market]:
        return await self._repo.markets_by_ids(ids)

    async def orders(self, scope: TenantScope, ids: Sequence[str]) -> list[Order]:
        return await self._repo.orders_by_ids(scope, ids)

    async def list_orders(
        self,
        scope: TenantScope,
        account_id: str | None,
        status: Sequence[OrderStatus],
        first: int,
        after: str | None,
    ) -> list[Order]:
        return await self._repo.list_orders(scope, account_id, status, first, after)

    async def record_order(self, order: Order) -> None:
        """Store an order in the read model (the trading vertical's projector calls this)."""
        await self._repo.insert_order(order)
