"""Per-request DataLoaders of the orders domain."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from domains.orders.model import Market, Order
from domains.orders.service import OrdersService
from domains.shared.context import RequestContext, SharedDataLoader


def markets(ctx: RequestContext) -> DataLoader[str, Market | None]:
    """Platform markets by id (markets are public reference data)."""
    service = ctx.get(OrdersService)

    async def load(keys: list[str]) -> list[Market | None]:
        found = {m.id: m for m in await service.markets_by_ids(keys)}
        return [found.get(key) for key in keys]

    return ctx.loader("orders.market", lambda: SharedDataLoader(load_fn=load))


def orders(ctx: RequestContext) -> DataLoader[str, Order | None]:
    """Orders by id, visible to the caller."""
    service, scope = ctx.get(OrdersService), ctx.scope()

    async def load(keys: list[str]) -> list[Order | None]:
        found = {o.id: o for o in await service.orders(scope, keys)}
        return [found.get(key) for key in keys]

    return ctx.loader("orders.order", lambda: SharedDataLoader(load_fn=load))
