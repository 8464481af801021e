"""Omnibus conservation: whatever the deposits, withdrawals and platform sweeps of several
omnibus tenants, once the chain has settled the platform's shared wallets hold exactly the
sum of the tenants' sub-ledger shares, and each tenant's share equals what the engine owes
its customers."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from decimal import Decimal

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from domains.accounts.model import Brand
from domains.accounts.service import AccountsService
from domains.compliance.model import KycStatus
from domains.compliance.service import ComplianceService
from domains.custody.cold import new_key_file
from domains.custody.errors import InsufficientFundsError
from domains.custody.governance import Governance
from domains.custody.model import PLATFORM_TENANT, CustodyMode, TreasuryLimits, WalletTemperature
from domains.custody.omnibus import CustodyModes, SubLedger
from domains.custody.policy import PolicyAction, PolicyRule
from domains.custody.proofs import ReservesService
from domains.custody.service import CustodyService
from domains.custody.treasury import TreasuryService
from domains.custody.withdrawals import RequestWithdrawal, WithdrawalService
from domains.shared.context import Principal, Role, TenantScope
from graph.bootstrap import Platform

pytestmark = [pytest.mark.property, pytest.mark.store]
OUTSIDE = "bcrt1q4pvv7fky4mvmnsd89faf5hex4gzfl6h44xzl84"
SATS = Decimal("0.00000001")
OPERATOR = Principal("key_op", Role.OPERATOR, None)


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    traders: tuple[tuple[Principal, str], ...]  # (principal, account id)


async def _tenant(platform: Platform, name: str) -> Tenant:
    accounts = platform.get(AccountsService)
    tenant = await accounts.create_tenant(name, "CH", Brand(display_name=name))
    admin = Principal(f"key_{name}_admin", Role.TENANT_ADMIN, tenant.id)
    await platform.get(CustodyModes).set_mode(admin, CustodyMode.OMNIBUS)
    governance = platform.get(Governance)
    draft = await governance.save_draft(admin, [PolicyRule("all", PolicyAction.ALLOW)])
    await governance.publish(admin, draft.version)
    scope, traders = TenantScope(tenant.id), []
    for n in range(2):
        customer, account = await accounts.create_customer(scope, f"C{n}", f"c{n}@{name}.example")
        kyc = platform.get(ComplianceService)
        await kyc.set_kyc_status(scope, customer.id, tenant.id, KycStatus.PENDING, 0, "test")
        await kyc.set_kyc_status(scope, customer.id, tenant.id, KycStatus.VERIFIED, 3, "test")
        trader = Principal(f"key_{name}_{n}", Role.TRADER, tenant.id, customer.id)
        traders.append((trader, account.id))
    return Tenant(tenant.id, tuple(traders))


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def tenants(app: Starlette) -> tuple[Tenant, ...]:
    platform: Platform = app.state.platform
    custody, shared = platform.get(CustodyService), TenantScope(None)  # operator: the platform's
    await custody.open_wallet(shared, "BTC", WalletTemperature.HOT, "")
    await custody.open_wallet(
        shared, "BTC", WalletTemperature.COLD, "", new_key_file("BTC")["xpub"]
    )
    limits = TreasuryLimits(10**8, 10**12, 3_000_000, 1_000_000)
    await custody.set_treasury(OPERATOR, "BTC", limits, 2, 0, 3600)
    return (await _tenant(platform, "omnia"), await _tenant(platform, "omnib"))


deposit = st.tuples(st.just("deposit"), st.integers(0, 3), st.integers(1, 5_000_000))
withdraw = st.tuples(st.just("withdraw"), st.integers(0, 3), st.integers(1, 3_000_000))
mine = st.tuples(st.just("mine"), st.just(0), st.integers(1, 3))
sweep = st.tuples(st.just("sweep"), st.just(0), st.just(0))
ops = st.lists(st.one_of(deposit, withdraw, mine, sweep), min_size=1, max_size=10)


async def _apply(platform: Platform, tenants: tuple[Tenant, ...], op: tuple[str, int, int]) -> None:
    kind, who, amount = op
    principal, account_id = tenants[who // 2].traders[who % 2]
    if kind == "deposit":
        address = await platform.get(CustodyService).deposit_address(principal, account_id, "BTC")
        assert address.omnibus
        await platform.chain.send_from_outside("BTC", address.address, amount)
    elif kind == "withdraw":
        request = RequestWithdrawal(account_id, "BTC", amount * SATS, OUTSIDE)
        with contextlib.suppress(InsufficientFundsError):  # refused before anything was held
            await platform.get(WithdrawalService).request(principal, request)
    elif kind == "mine":
        await platform.chain.mine(amount)
    else:  # platform level: moves coins between the shared wallets, no tenant's share
        await platform.get(TreasuryService).sweep(PLATFORM_TENANT, "BTC", "test")


@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=ops)
async def test_shared_wallets_hold_the_sum_of_the_sub_ledgers_once_the_chain_settles(
    app: Starlette, tenants: tuple[Tenant, ...], steps: list[tuple[str, int, int]]
) -> None:
    platform: Platform = app.state.platform
    for step in steps:
        await _apply(platform, tenants, step)
    await platform.chain.mine(3)  # deposits buried deep enough (BTC: 3) and credited
    for _ in range(10):  # then every consolidation, sweep and withdrawal mined
        await platform.chain.mine()
        if platform.chain.pending_count() == 0:
            break
    assert platform.chain.pending_count() == 0
    reserves, ledger = platform.get(ReservesService), platform.get(SubLedger)
    shares = await ledger.shares("BTC")
    hot, cold = await reserves.wallet_totals(PLATFORM_TENANT, "BTC")
    assert hot + cold == sum(shares.values())
    for tenant in tenants:
        owed = sum(balance for _, balance in reserves.liabilities(tenant.tenant_id, "BTC"))
        assert owed == shares.get(tenant.tenant_id, 0)
