"""Idempotent demo data: a demo bank, its staff keys, two customers, markets and wallets.

Demo secrets are derived from CAAS_DEMO_SEED so a re-run prints the same keys; they are
for a laptop demo only and never for a deployment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import os
from dataclasses import asdict, dataclass, replace
from decimal import Decimal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domains.accounts.balances import MongoBalances
from domains.accounts.configuration import system_actor
from domains.accounts.keys import ApiKeyService, KeySpec
from domains.accounts.model import Brand, FeeSchedule, FeeTier, Product
from domains.accounts.service import AccountsService
from domains.compliance.model import KycStatus, Suitability
from domains.compliance.service import ComplianceService
from domains.custody.approvals import public_key_text
from domains.custody.calls import CustodyCalls
from domains.custody.cold import demo_seed, new_key_file
from domains.custody.deposits import DepositWatcher
from domains.custody.governance import Governance
from domains.custody.model import WalletTemperature
from domains.custody.policy import (
    ApprovalRequirement,
    GroupJoin,
    GroupQuorum,
    PolicyAction,
    PolicyRule,
)
from domains.custody.service import CustodyService
from domains.orders.commands import AdjustBalance
from domains.orders.model import MarginBracket
from domains.orders.routing import CLEARING_ACCOUNT_ID
from domains.orders.service import OrdersService
from domains.orders.trading import TradingService
from domains.positions.perp_commands import PerpetualCommands
from domains.positions.service import PositionsService
from domains.shared.context import Role, TenantScope
from domains.shared.errors import ConflictError
from graph.bootstrap import Platform

DEMO_TENANT = "Demo Bank"
DEMO_MARKETS = (
    ("BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("5"), Decimal("64250")),
    ("ETH", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("5"), Decimal("3150")),
)
DEMO_FUNDING = (("USDT", Decimal("100000")), ("BTC", Decimal("2")), ("ETH", Decimal("20")))
VENUE_INVENTORY = (("USDT", Decimal("5000000")), ("BTC", Decimal("50")), ("ETH", Decimal("500")))
PLATFORM_DEMO_NAME = "platform"  # `caas cold-keygen --demo-tenant platform`: shared cold keys
DEMO_CUSTOMERS = (("Alice Demo", "alice@demo.example"), ("Bob Demo", "bob@demo.example"))
# a professional (KYC level 3) customer who passed the derivatives suitability assessment
DEMO_FUTURES_CUSTOMER = ("Carol Demo", "carol@demo.example")
# accounts funded on the chain with DEMO_FUNDING: every customer's main account and the treasury
DEMO_FUNDED_ACCOUNTS = len(DEMO_CUSTOMERS) + 2
DEMO_PERPETUAL = ("BTC", "USDT", Decimal("0.1"), Decimal("0.001"), Decimal("5"), Decimal("64250"))
DEMO_BRACKETS = (
    MarginBracket(Decimal(0), 125, Decimal("0.004"), Decimal(0)),
    MarginBracket(Decimal(50_000), 100, Decimal("0.005"), Decimal(50)),
    MarginBracket(Decimal(250_000), 50, Decimal("0.01"), Decimal(1_300)),
)


@dataclass(frozen=True)
class DemoKey:
    """A demo credential as printed for the user."""

    name: str
    role: str
    token: str
    tenant_id: str | None
    customer_id: str | None
    account_id: str | None
    signing_secret: str | None = None  # HMAC key for signed requests (README)


def _demo_secret(key_id: str) -> str:
    seed = os.environ.get("CAAS_DEMO_SEED", "caas-demo").encode()
    return hmac.new(seed, key_id.encode(), hashlib.sha256).hexdigest()


async def _ensure_key(
    platform: Platform,
    key_id: str,
    role: Role,
    tenant_id: str | None,
    customer_id: str | None = None,
) -> tuple[str, str]:
    """The demo key's token and signing secret. Demo keys may be used unsigned (GraphiQL),
    whatever their scopes, unless CAAS_SIGNATURE_POLICY=all."""
    secret, signing_secret = _demo_secret(key_id), "sig_" + _demo_secret(key_id + ":sign")
    spec = KeySpec(
        role, tenant_id, customer_id, label=f"demo {role.value.lower()}", require_signature=False
    )
    await platform.get(ApiKeyService).register(key_id, secret, signing_secret, spec)
    return f"{key_id}.{secret}", signing_secret


async def seed_demo(platform: Platform) -> list[DemoKey]:
    """Create (or find) the demo data and return the demo credentials."""
    accounts = platform.get(AccountsService)
    orders = platform.get(OrdersService)
    trading = platform.get(TradingService)
    for base, quote, tick, lot, min_notional, reference in DEMO_MARKETS:
        if not await orders.markets_by_ids([f"{base}-{quote}"]):
            await trading.create_market(base, quote, tick, lot, min_notional, reference)

    perpetual = await _seed_perpetual(platform)
    await _fund_venue_clearing(platform)
    tenant = await accounts.tenant_by_name(DEMO_TENANT)
    if tenant is None:
        brand = Brand(
            display_name="Demo Bank Crypto",
            logo_url="https://demo.example/logo.svg",
            support_email="support@demo.example",
        )
        tenant = await accounts.create_tenant(DEMO_TENANT, "CH", brand)
    scope = TenantScope(tenant.id)
    seeder = system_actor("seed")
    schedule = FeeSchedule.of(
        [FeeTier(Decimal(0), 10, 20), FeeTier(Decimal(1_000_000), 8, 16)], markup_bps=5
    )
    await accounts.set_fee_schedule(seeder, tenant.id, schedule)
    await accounts.set_product_permissions(seeder, tenant.jurisdiction,
                                           [Product.SPOT, Product.PERPETUAL])  # fmt: skip
    listed = [f"{b}-{q}" for b, q, *_ in DEMO_MARKETS]
    await accounts.set_listed_markets(seeder, tenant.id, [*listed, perpetual])
    token, signing = await _ensure_key(platform, "key_demo_operator", Role.OPERATOR, None)
    keys = [DemoKey("operator", "OPERATOR", token, None, None, None, signing)]
    for role in (Role.TENANT_ADMIN, Role.COMPLIANCE, Role.RISK):
        key_id = f"key_demo_{role.value.lower()}"
        token, signing = await _ensure_key(platform, key_id, role, tenant.id)
        keys.append(DemoKey(role.value.lower(), role.value, token, tenant.id, None, None, signing))

    await _seed_custody(platform, scope, tenant.id)
    await _seed_platform_wallets(platform)

    funding: list[str] = []
    for display_name, email in (*DEMO_CUSTOMERS, DEMO_FUTURES_CUSTOMER):
        futures = (display_name, email) == DEMO_FUTURES_CUSTOMER
        customer = await accounts.customer_by_email(scope, email)
        if customer is None:
            customer, _ = await accounts.create_customer(scope, display_name, email)
            kyc = platform.get(ComplianceService)
            level = 3 if futures else 1
            await kyc.set_kyc_status(scope, customer.id, tenant.id, KycStatus.PENDING, 0, "seed")
            await kyc.set_kyc_status(scope, customer.id, tenant.id, KycStatus.VERIFIED, level,
                                     "seed")  # fmt: skip
            if futures:
                await _suitable(platform, customer.id, tenant.id)
        main = await accounts.list_accounts(scope, customer.id, 200, None)
        name = email.split("@")[0]
        token, signing = await _ensure_key(
            platform, f"key_demo_{name}", Role.TRADER, tenant.id, customer.id
        )
        if main:
            funding.append(main[-1].id)
        account = main[-1].id if main else None
        keys.append(DemoKey(name, "TRADER", token, tenant.id, customer.id, account, signing))
    # the treasury too, so the tenant admin can take the other side of the demo's perpetual
    funding.append((await accounts.treasury_account(tenant.id)).id)
    await _fund_on_chain(platform, tenant.id, funding)
    return keys


async def _seed_perpetual(platform: Platform) -> str:
    """BTC-USDT-PERP with Binance-like brackets, its index at the reference price."""
    base, quote, tick, lot, min_notional, reference = DEMO_PERPETUAL
    market_id = f"{base}-{quote}-PERP"
    if not await platform.get(OrdersService).markets_by_ids([market_id]):
        await platform.get(TradingService).create_perpetual_market(
            base, quote, tick, lot, min_notional, DEMO_BRACKETS, reference
        )
    if not await platform.get(PositionsService).mark_prices([market_id]):
        await platform.get(PerpetualCommands).post_index_price(
            system_actor("seed"), market_id, reference
        )
    return market_id


async def _suitable(platform: Platform, customer_id: str, tenant_id: str) -> None:
    """A passed derivatives suitability assessment with the risk disclosure acknowledged."""
    now = dt.datetime.now(dt.UTC)
    await platform.get(ComplianceService).record_suitability(Suitability(
        customer_id, tenant_id, "demo-q1", 90, True, "demo-disclosure-1", now, "seed", now,
    ))  # fmt: skip


DEMO_POLICY = (
    PolicyRule("small BTC", PolicyAction.ALLOW, ("BTC",), max_amount=Decimal("0.1")),
    PolicyRule("small ETH", PolicyAction.ALLOW, ("ETH",), max_amount=Decimal("2")),
    PolicyRule("small USDT", PolicyAction.ALLOW, ("USDT",), max_amount=Decimal("5000")),
    PolicyRule("everything else", PolicyAction.REQUIRE_APPROVALS,
               requirement=ApprovalRequirement(GroupJoin.ALL, (GroupQuorum("treasury", 2),))),
)  # fmt: skip
DEMO_APPROVERS = ("Ada Approver", "Ben Approver", "Cy Approver")


def demo_approver_key(name: str) -> Ed25519PrivateKey:
    """A demo approver's Ed25519 key, derived from CAAS_DEMO_SEED (demo only)."""
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(_demo_secret(f"approver:{name}")))


async def _seed_custody(platform: Platform, scope: TenantScope, tenant_id: str) -> None:
    """Hot wallets (keys sealed here), cold wallets from demo xpubs, approvers, a policy."""
    custody, governance = platform.get(CustodyService), platform.get(Governance)
    demo_text = os.environ.get("CAAS_DEMO_SEED", "caas-demo")
    for asset in ("BTC", "ETH", "USDT"):
        with contextlib.suppress(ConflictError):
            await custody.open_wallet(scope, asset, WalletTemperature.HOT, "")
        cold = new_key_file(asset, demo_seed(demo_text, DEMO_TENANT, asset))
        with contextlib.suppress(ConflictError):
            await custody.open_wallet(scope, asset, WalletTemperature.COLD, "", cold["xpub"])
    admin = system_actor("seed")
    seeder = replace(admin, role=Role.TENANT_ADMIN, tenant_id=tenant_id)
    if not await governance.approvers(tenant_id):
        for name in DEMO_APPROVERS:
            public = public_key_text(demo_approver_key(name))
            await governance.register_approver(seeder, name, public, ["treasury"], None)
    if not await governance.policies(tenant_id):
        draft = await governance.save_draft(seeder, DEMO_POLICY)
        await governance.publish(seeder, draft.version)


async def _fund_on_chain(platform: Platform, tenant_id: str, account_ids: list[str]) -> None:
    """Fund demo accounts once through the simulated chain: a faucet transfer to each
    account's deposit address, then blocks until the deposits are credited (and their
    consolidations mined), so the demo's coins are on the chain and its proofs of reserves
    cover its liabilities. Through CustodyCalls: the chain runs in the engine writer."""
    calls, custody = platform.get(CustodyCalls), platform.get(CustodyService)
    admin = replace(system_actor("seed"), role=Role.TENANT_ADMIN, tenant_id=tenant_id)
    operator, scope = system_actor("seed"), TenantScope(tenant_id)
    sent = False
    for account_id in account_ids:
        held = await platform.get(MongoBalances).of_accounts(TenantScope(None), [account_id])
        if held or await custody.deposits(scope, account_id, 1, None):
            continue  # funded (or its faucet transfers are on the chain already)
        for asset, amount in DEMO_FUNDING:
            address = await calls.deposit_address(admin, account_id, asset)
            await calls.simulate_transfer(operator, asset, address.address, amount)
            sent = True
    pending = await custody.pending_deposit_count(tenant_id)
    if sent or pending:
        depth = max(platform.get(DepositWatcher).confirmations.get(a, 6) for a, _ in DEMO_FUNDING)
        await calls.mine_blocks(operator, depth, notify_each=False)  # one custody pass: credit
        await calls.mine_blocks(operator, 1)  # and the consolidations mined


async def _seed_platform_wallets(platform: Platform) -> None:
    """The platform's shared wallets that OMNIBUS tenants use (cold from demo xpubs)."""
    custody = platform.get(CustodyService)
    demo_text = os.environ.get("CAAS_DEMO_SEED", "caas-demo")
    for asset in ("BTC", "ETH", "USDT"):
        with contextlib.suppress(ConflictError):
            await custody.open_wallet(TenantScope(None), asset, WalletTemperature.HOT, "")
        cold = new_key_file(asset, demo_seed(demo_text, PLATFORM_DEMO_NAME, asset))
        with contextlib.suppress(ConflictError):
            await custody.open_wallet(
                TenantScope(None), asset, WalletTemperature.COLD, "", cold["xpub"]
            )


async def _fund_venue_clearing(platform: Platform) -> None:
    """Give the venue clearing account its inventory once (what the bank keeps at the venue)."""
    if platform.settings.venue == "none":
        return
    held = await platform.get(MongoBalances).of_accounts(TenantScope(None), [CLEARING_ACCOUNT_ID])
    if held:
        return
    for asset, amount in VENUE_INVENTORY:
        await platform.get(TradingService).adjust_balance(
            system_actor("seed"),
            AdjustBalance(CLEARING_ACCOUNT_ID, asset, amount, "venue clearing inventory"),
        )


def as_json_rows(keys: list[DemoKey]) -> list[dict[str, str | None]]:
    return [asdict(k) for k in keys]
