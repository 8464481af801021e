"""Conservation across deposits, withdrawals and sweeps: once the chain has settled, what the
engine owes a tenant's customers equals what the tenant's wallets hold on the chain."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from starlette.applications import Starlette

from domains.accounts.model import Brand
from domains.accounts.service import AccountsService
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


@dataclass(frozen=True)
class Bank:
    tenant_id: str
    admin: Principal
    traders: tuple[Trader, ...]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def bank(app: Starlette) -> Bank:
    platform: Platform = app.state.platform
    accounts = platform.get(AccountsService)
    tenant = await accounts.create_tenant("Conservation Bank", "CH", Brand(display_name="C"))
    admin = Principal("key_c_admin", Role.TENANT_ADMIN, tenant.id)
    await open_btc_treasury(platform, TenantScope(tenant.id), admin)
    await allow_everything(platform, admin)
    return Bank(tenant.id, admin, await verified_traders(platform, tenant.id, "c"))


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=steps(traders=2, max_size=8))
async def test_customer_liabilities_equal_wallet_holdings_once_the_chain_settles(
    app: Starlette, bank: Bank, steps: list[tuple[str, int, int]]
) -> None:
    platform: Platform = app.state.platform
    for step in steps:
        await apply_step(platform, bank.traders[step[1]], bank.tenant_id, step)
    await settle(platform)
    reserves = platform.get(ReservesService)
    owed = sum(balance for _, balance in reserves.liabilities(bank.tenant_id, "BTC"))
    hot, cold = await reserves.wallet_totals(bank.tenant_id, "BTC")
    assert owed == hot + cold
    engine = platform.writer.engine
    totals = engine.asset_totals(platform.directory.asset("BTC").index)  # type: ignore[union-attr]
    assert totals["credits"] - totals["debits"] - totals["fees"] == totals["balances"]
