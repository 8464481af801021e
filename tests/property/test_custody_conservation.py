"""Conservation across deposits, withdrawals and sweeps: once the chain has settled, what the
engine owes a tenant's customers equals what the tenant's wallets hold on the chain."""

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
from domains.custody.model import TreasuryLimits, WalletTemperature
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


@dataclass(frozen=True)
class Bank:
    tenant_id: str
    admin: Principal
    traders: tuple[tuple[Principal, str], ...]  # (principal, account id)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def bank(app: Starlette) -> Bank:
    platform: Platform = app.state.platform
    accounts = platform.get(AccountsService)
    tenant = await accounts.create_tenant("Conservation Bank", "CH", Brand(display_name="C"))
    admin = Principal("key_c_admin", Role.TENANT_ADMIN, tenant.id)
    custody, scope = platform.get(CustodyService), TenantScope(tenant.id)
    await custody.open_wallet(scope, "BTC", WalletTemperature.HOT, "")
    await custody.open_wallet(scope, "BTC", WalletTemperature.COLD, "", new_key_file("BTC")["xpub"])
    limits = TreasuryLimits(10**8, 10**12, 3_000_000, 1_000_000)
    await custody.set_treasury(admin, "BTC", limits, 2, 0, 3600)
    governance = platform.get(Governance)
    draft = await governance.save_draft(admin, [PolicyRule("all", PolicyAction.ALLOW)])
    await governance.publish(admin, draft.version)
    traders = []
    for n in range(2):
        customer, account = await accounts.create_customer(scope, f"C{n}", f"c{n}@c.example")
        kyc = platform.get(ComplianceService)  # withdrawals pass the KYC level's daily limit
        await kyc.set_kyc_status(scope, customer.id, tenant.id, KycStatus.PENDING, 0, "test")
        await kyc.set_kyc_status(scope, customer.id, tenant.id, KycStatus.VERIFIED, 3, "test")
        traders.append((Principal(f"key_c{n}", Role.TRADER, tenant.id, customer.id), account.id))
    return Bank(tenant.id, admin, tuple(traders))


deposit = st.tuples(st.just("deposit"), st.integers(0, 1), st.integers(1, 5_000_000))
withdraw = st.tuples(st.just("withdraw"), st.integers(0, 1), st.integers(1, 3_000_000))
mine = st.tuples(st.just("mine"), st.integers(0, 1), st.integers(1, 3))
sweep = st.tuples(st.just("sweep"), st.just(0), st.just(0))
ops = st.lists(st.one_of(deposit, withdraw, mine, sweep), min_size=1, max_size=8)


async def _apply(platform: Platform, bank: Bank, op: tuple[str, int, int]) -> None:
    kind, who, amount = op
    principal, account_id = bank.traders[who]
    if kind == "deposit":
        address = await platform.get(CustodyService).deposit_address(principal, account_id, "BTC")
        await platform.chain.send_from_outside("BTC", address.address, amount)
    elif kind == "withdraw":
        request = RequestWithdrawal(account_id, "BTC", amount * SATS, OUTSIDE)
        with contextlib.suppress(InsufficientFundsError):  # refused before anything was held
            await platform.get(WithdrawalService).request(principal, request)
    elif kind == "mine":
        await platform.chain.mine(amount)
    else:
        await platform.get(TreasuryService).sweep(bank.tenant_id, "BTC", "test")


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=ops)
async def test_customer_liabilities_equal_wallet_holdings_once_the_chain_settles(
    app: Starlette, bank: Bank, steps: list[tuple[str, int, int]]
) -> None:
    platform: Platform = app.state.platform
    for step in steps:
        await _apply(platform, bank, step)
    await platform.chain.mine(3)  # deposits buried deep enough (BTC: 3) and credited
    for _ in range(10):  # then every consolidation, sweep and withdrawal mined
        await platform.chain.mine()
        if platform.chain.pending_count() == 0:
            break
    assert platform.chain.pending_count() == 0
    reserves = platform.get(ReservesService)
    owed = sum(balance for _, balance in reserves.liabilities(bank.tenant_id, "BTC"))
    hot, cold = await reserves.wallet_totals(bank.tenant_id, "BTC")
    assert owed == hot + cold
    engine = platform.writer.engine
    totals = engine.asset_totals(platform.directory.asset("BTC").index)  # type: ignore[union-attr]
    assert totals["credits"] - totals["debits"] - totals["fees"] == totals["balances"]
