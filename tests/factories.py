"""Test data builders shared by the suites."""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any

from pymongo import AsyncMongoClient
from redis import Redis

from domains.accounts.balances import MongoBalances
from domains.accounts.keys import ApiKeyService, KeySpec
from domains.orders.model import Order, OrderStatus, OrderType, Side
from domains.orders.service import OrdersService
from domains.shared.context import Role
from domains.shared.ids import new_id
from domains.shared.scalars import utcnow
from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from graph.writer.reconcile import ReconcileReport, reconcile


async def record_order(platform: Platform, key: DemoKey, price: str = "64250.5") -> str:
    """Record a NEW limit order of ``key``'s account in the read model (publishes it to the
    tenant's order stream) without going through the engine."""
    assert key.tenant_id and key.customer_id and key.account_id
    order = Order(
        id=new_id("ord"),
        tenant_id=key.tenant_id,
        customer_id=key.customer_id,
        account_id=key.account_id,
        market_id="BTC-USDT",
        side=Side.BUY,
        type=OrderType.LIMIT,
        price=Decimal(price),
        quantity=Decimal("0.01"),
        filled_quantity=Decimal("0"),
        status=OrderStatus.NEW,
        created_at=utcnow(),
    )
    await platform.get(OrdersService).record_order(order)
    return order.id


async def demo_style_key(
    platform: Platform, role: Role, tenant_id: str | None, customer_id: str | None = None
) -> DemoKey:
    """A key like the demo keys: default scopes, usable unsigned (registered, not issued)."""
    key_id, secret, signing = new_id("key"), secrets.token_urlsafe(32), "sig_" + new_id("s")
    spec = KeySpec(role, tenant_id, customer_id, label="test", require_signature=False)
    await platform.get(ApiKeyService).register(key_id, secret, signing, spec)
    return DemoKey(key_id, role.value, f"{key_id}.{secret}", tenant_id, customer_id, None, signing)


async def reconcile_platform(platform: Platform) -> ReconcileReport:
    """`caas reconcile` on a running platform: engine, balance read model and ledger (once
    the read models, written behind the journal, caught up with the engine)."""
    await platform.writer.projections.drain()
    return await reconcile(
        platform.writer.engine, platform.directory, platform.get(MongoBalances), platform.db
    )


async def drop_run_data(mongodb_uri: str, database: str, redis_url: str) -> None:
    """Remove what a run of `caas serve` processes left: its database and its Redis keys
    (prefix ``test:<database>:``, as graph.ops.servers.soak_env's CAAS_REDIS_PREFIX)."""
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    await mongo.drop_database(database)
    await mongo.close()
    redis = Redis.from_url(redis_url)
    stale = list(redis.scan_iter(match=f"test:{database}:*"))
    if stale:
        redis.delete(*stale)
    redis.close()
