"""Omnibus conservation: whatever the deposits, withdrawals and platform sweeps of several
omnibus tenants, once the chain has settled the platform's shared wallets hold exactly the
sum of the tenants' sub-ledger shares, and each tenant's share equals what the engine owes
its customers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from starlette.applications import Starlette

from domains.accounts.model import Brand
from domains.accounts.service import AccountsService
from domains.custody.model import PLATFORM_TENANT, CustodyMode
from domains.custody.omnibus import CustodyModes, SubLedger
from domains.custody.proofs import ReservesService
from domains.shared.context import Principal, Role, TenantScope
from graph.bootstrap import Platform
from tests.property.custody_world import (
    Trader,
    allow_everything,
    apply_step,
    open_btc_treasury,
    settle,
    steps,
    verified_traders,
)

pytestmark = [pytest.mark.property, pytest.mark.store]
OPERATOR = Principal("key_op", Role.OPERATOR, None)


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    traders: tuple[Trader, ...]


async def _tenant(platform: Platform, name: str) -> Tenant:
    tenant = await platform.get(AccountsService).create_tenant(name, "CH", Brand(display_name=name))
    admin = Principal(f"key_{name}_admin", Role.TENANT_ADMIN, tenant.id)
    await platform.get(CustodyModes).set_mode(admin, CustodyMode.OMNIBUS)
    await allow_everything(platform, admin)
    return Tenant(tenant.id, await verified_traders(platform, tenant.id, name))


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def tenants(app: Starlette) -> tuple[Tenant, ...]:
    platform: Platform = app.state.platform
    await open_btc_treasury(platform, TenantScope(None), OPERATOR)  # the platform's wallets
    return (await _tenant(platform, "omnia"), await _tenant(platform, "omnib"))


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=steps(traders=4, max_size=10))
async def test_shared_wallets_hold_the_sum_of_the_sub_ledgers_once_the_chain_settles(
    app: Starlette, tenants: tuple[Tenant, ...], steps: list[tuple[str, int, int]]
) -> None:
    platform: Platform = app.state.platform
    for step in steps:
        trader = tenants[step[1] // 2].traders[step[1] % 2]
        # a platform-level sweep moves coins between the shared wallets, no tenant's share
        omnibus = await apply_step(platform, trader, PLATFORM_TENANT, step)
        assert omnibus in (None, True)
    await settle(platform)
    reserves, ledger = platform.get(ReservesService), platform.get(SubLedger)
    shares = await ledger.shares("BTC")
    hot, cold = await reserves.wallet_totals(PLATFORM_TENANT, "BTC")
    assert hot + cold == sum(shares.values())
    for tenant in tenants:
        owed = sum(balance for _, balance in reserves.liabilities(tenant.tenant_id, "BTC"))
        assert owed == shares.get(tenant.tenant_id, 0)
