"""Per-request DataLoaders of the accounts domain: one scoped query per batch."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from strawberry.dataloader import DataLoader

from domains.accounts.model import Account, Customer, Tenant, TenantConfig
from domains.accounts.service import AccountsService
from domains.shared.context import RequestContext, SharedDataLoader

T = TypeVar("T", Account, Customer, Tenant)


def _loader(
    ctx: RequestContext, name: str, fetch: Callable[[list[str]], Awaitable[Sequence[T]]]
) -> DataLoader[str, T | None]:
    async def load(keys: list[str]) -> list[T | None]:
        found = {row.id: row for row in await fetch(keys)}
        return [found.get(key) for key in keys]

    return ctx.loader(name, lambda: SharedDataLoader(load_fn=load))


def accounts(ctx: RequestContext) -> DataLoader[str, Account | None]:
    """Accounts by id, visible to the caller (others load as None)."""
    scope, service = ctx.scope(), ctx.get(AccountsService)
    return _loader(ctx, "accounts.account", lambda keys: service.accounts(scope, keys))


def customers(ctx: RequestContext) -> DataLoader[str, Customer | None]:
    """Customers by id, visible to the caller."""
    scope, service = ctx.scope(), ctx.get(AccountsService)
    return _loader(ctx, "accounts.customer", lambda keys: service.customers(scope, keys))


def tenants(ctx: RequestContext) -> DataLoader[str, Tenant | None]:
    """Tenants by id, visible to the caller."""
    scope, service = ctx.scope(), ctx.get(AccountsService)
    return _loader(ctx, "accounts.tenant", lambda keys: service.tenants(scope, keys))


def tenant_configs(ctx: RequestContext) -> DataLoader[str, TenantConfig | None]:
    """Tenant configurations by tenant id, for tenants visible to the caller."""
    scope, service = ctx.scope(), ctx.get(AccountsService)

    async def load(keys: list[str]) -> list[TenantConfig | None]:
        found = {c.tenant_id: c for c in await service.tenant_configs(scope, keys)}
        return [found.get(key) for key in keys]

    return ctx.loader("accounts.tenant_config", lambda: SharedDataLoader(load_fn=load))
