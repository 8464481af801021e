"""The world both custody conservation properties run in: a BTC treasury, KYC-verified
traders under an allow-all policy, the random steps (deposit, withdraw, mine, sweep) and
settling the simulated chain."""

from __future__ import annotations

import contextlib
from decimal import Decimal

from hypothesis import strategies as st

from domains.accounts.service import AccountsService
from domains.compliance.model import KycStatus
from domains.compliance.service import ComplianceService
from domains.custody.cold import new_key_file
from domains.custody.errors import InsufficientFundsError
from domains.custody.governance import Governance
from domains.custody.model import TreasuryLimits, WalletTemperature
from domains.custody.policy import PolicyAction, PolicyRule
from domains.custody.service import CustodyService
from domains.custody.treasury import TreasuryService
from domains.custody.withdrawals import RequestWithdrawal, WithdrawalService
from domains.shared.context import Principal, Role, TenantScope
from graph.bootstrap import Platform

OUTSIDE = "bcrt1q4pvv7fky4mvmnsd89faf5hex4gzfl6h44xzl84"
SATS = Decimal("0.00000001")
Trader = tuple[Principal, str]  # (principal, account id)


async def open_btc_treasury(platform: Platform, scope: TenantScope, by: Principal) -> None:
    """HOT and COLD BTC wallets of `scope` (None: the platform's shared ones) and their limits."""
    custody = platform.get(CustodyService)
    await custody.open_wallet(scope, "BTC", WalletTemperature.HOT, "")
    await custody.open_wallet(scope, "BTC", WalletTemperature.COLD, "", new_key_file("BTC")["xpub"])
    limits = TreasuryLimits(10**8, 10**12, 3_000_000, 1_000_000)
    await custody.set_treasury(by, "BTC", limits, 2, 0, 3600)


async def allow_everything(platform: Platform, admin: Principal) -> None:
    """Publish a custody policy that allows every withdrawal without approvals."""
    governance = platform.get(Governance)
    draft = await governance.save_draft(admin, [PolicyRule("all", PolicyAction.ALLOW)])
    await governance.publish(admin, draft.version)


async def verified_traders(platform: Platform, tenant_id: str, name: str) -> tuple[Trader, ...]:
    """Two customers of the tenant at KYC level 3 (withdrawals pass the level's daily limit)."""
    accounts, kyc = platform.get(AccountsService), platform.get(ComplianceService)
    scope, traders = TenantScope(tenant_id), []
    for n in range(2):
        customer, account = await accounts.create_customer(scope, f"C{n}", f"c{n}@{name}.example")
        await kyc.set_kyc_status(scope, customer.id, tenant_id, KycStatus.PENDING, 0, "test")
        await kyc.set_kyc_status(scope, customer.id, tenant_id, KycStatus.VERIFIED, 3, "test")
        traders.append(
            (Principal(f"key_{name}_{n}", Role.TRADER, tenant_id, customer.id), account.id)
        )
    return tuple(traders)


def steps(traders: int, max_size: int) -> st.SearchStrategy[list[tuple[str, int, int]]]:
    """Random custody steps: (kind, trader index, amount in satoshis or blocks)."""
    who = st.integers(0, traders - 1)
    deposit = st.tuples(st.just("deposit"), who, st.integers(1, 5_000_000))
    withdraw = st.tuples(st.just("withdraw"), who, st.integers(1, 3_000_000))
    mine = st.tuples(st.just("mine"), st.just(0), st.integers(1, 3))
    sweep = st.tuples(st.just("sweep"), st.just(0), st.just(0))
    return st.lists(st.one_of(deposit, withdraw, mine, sweep), min_size=1, max_size=max_size)


async def apply_step(
    platform: Platform, trader: Trader, sweep_tenant: str, step: tuple[str, int, int]
) -> bool | None:
    """Run one step; for a deposit, whether its address was an omnibus one (else None)."""
    kind, _, amount = step
    principal, account_id = trader
    if kind == "deposit":
        address = await platform.get(CustodyService).deposit_address(principal, account_id, "BTC")
        await platform.chain.send_from_outside("BTC", address.address, amount)
        return address.omnibus
    if kind == "withdraw":
        request = RequestWithdrawal(account_id, "BTC", amount * SATS, OUTSIDE)
        with contextlib.suppress(InsufficientFundsError):  # refused before anything was held
            await platform.get(WithdrawalService).request(principal, request)
    elif kind == "mine":
        await platform.chain.mine(amount)
    else:
        await platform.get(TreasuryService).sweep(sweep_tenant, "BTC", "test")
    return None


async def settle(platform: Platform) -> None:
    """Bury deposits deep enough (BTC: 3) to credit them, then mine until nothing is pending."""
    await platform.chain.mine(3)
    for _ in range(10):  # every consolidation, sweep and withdrawal mined
        await platform.chain.mine()
        if platform.chain.pending_count() == 0:
            break
    assert platform.chain.pending_count() == 0
