"""Orders use cases: markets and order queries; knows nothing of GraphQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterable, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Protocol

import orjson

from domains.orders.errors import DuplicateMarketError
from domains.orders.model import Market, MarketKind, Order, OrderQuery
from domains.orders.repository import order_document, order_from_document
from domains.shared.context import TenantScope
from domains.shared.errors import ValidationError
from domains.shared.events import EventBus, tenant_topic
from domains.shared.scalars import utcnow


class OrdersRepository(Protocol):
    """What the service needs from storage."""

    async def insert_market(self, market: Market) -> None: ...
    async def markets(self, kind: MarketKind | None) -> list[Market]: ...
    async def markets_by_ids(self, ids: Sequence[str]) -> list[Market]: ...
    async def insert_order(self, order: Order) -> None: ...
    async def orders_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Order]: ...
    async def list_orders(
        self, scope: TenantScope, query: OrderQuery, first: int, after: str | None
    ) -> list[Order]: ...


def _positive(value: Decimal, field: str) -> Decimal:
    if value <= 0:
        raise ValidationError(f"{field} must be greater than zero", field=field)
    return value


ORDER_STREAM = "orders"


def order_event(order: Order) -> bytes:
    """The payload of an order update on the ``orders.<tenant>`` topic."""
    return orjson.dumps(order_document(order), default=str)


def order_from_event(payload: bytes) -> Order:
    document = orjson.loads(payload)
    for field in ("created_at", "updated_at"):
        if document.get(field):
            document[field] = dt.datetime.fromisoformat(document[field])
    return order_from_document(document)


def new_market(
    base_asset: str,
    quote_asset: str,
    tick_size: Decimal,
    lot_size: Decimal,
    min_notional: Decimal,
    kind: MarketKind = MarketKind.SPOT,
    reference_price: Decimal | None = None,
) -> Market:
    """A validated market ``BASE-QUOTE`` (``-PERP`` for perpetuals); no I/O."""
    base, quote = base_asset.strip().upper(), quote_asset.strip().upper()
    for field, asset in (("baseAsset", base), ("quoteAsset", quote)):
        if not asset.isalnum() or not 2 <= len(asset) <= 10:
            raise ValidationError(f"{field} must be 2-10 letters or digits", field=field)
    if min_notional < 0:
        raise ValidationError("minNotional must not be negative", field="minNotional")
    if reference_price is not None:
        _positive(reference_price, "referencePrice")
    return Market(
        id=f"{base}-{quote}" + ("-PERP" if kind is MarketKind.PERPETUAL else ""),
        kind=kind,
        base_asset=base,
        quote_asset=quote,
        tick_size=_positive(tick_size, "tickSize"),
        lot_size=_positive(lot_size, "lotSize"),
        min_notional=min_notional,
        reference_price=reference_price,
        created_at=utcnow(),
    )


class OrdersService:
    """Markets and orders."""

    def __init__(self, repository: OrdersRepository, events: EventBus) -> None:
        self._repo = repository
        self._events = events

    async def create_market(
        self,
        base_asset: str,
        quote_asset: str,
        tick_size: Decimal,
        lot_size: Decimal,
        min_notional: Decimal,
        kind: MarketKind = MarketKind.SPOT,
        reference_price: Decimal | None = None,
    ) -> Market:
        """Store a new platform market (order entry registers it with the engine)."""
        market = new_market(base_asset, quote_asset, tick_size, lot_size, min_notional, kind,
                            reference_price)  # fmt: skip
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
        self, scope: TenantScope, query: OrderQuery, first: int, after: str | None
    ) -> list[Order]:
        return await self._repo.list_orders(scope, query, first, after)

    async def record_order(self, order: Order) -> None:
        """Store an order in the read model and publish it to the tenant's order stream."""
        await self._repo.insert_order(order)
        await self._events.publish(tenant_topic(ORDER_STREAM, order.tenant_id), order_event(order))

    def order_updates(self, tenant_id: str) -> AbstractAsyncContextManager[AsyncIterable[bytes]]:
        """Subscribe to the tenant's order stream (payloads decode with ``order_from_event``)."""
        return self._events.subscribe(tenant_topic(ORDER_STREAM, tenant_id))
