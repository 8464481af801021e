"""Omnibus custody over HTTP: tenants configured OMNIBUS get deposit addresses from the
platform's shared wallet (``0/<tenant slot>/<index>``), deposits credit the right tenant
and customer and grow its sub-ledger share, withdrawals are signed by the platform's hot
wallet under the tenant's own policy and approvals, and proofs of reserves report the
share. Switching mode needs an empty tenant."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette

from domains.accounts.keys import ApiKeyService, KeySpec
from domains.accounts.model import Brand
from domains.accounts.service import AccountsService
from domains.compliance.model import KycStatus
from domains.compliance.service import ComplianceService
from domains.custody import approvals, cold, keys
from domains.custody.omnibus import SubLedger
from domains.shared.context import Role, Scope, TenantScope
from graph.bootstrap import Platform
from graph.ops.seed import PLATFORM_DEMO_NAME, DemoKey
from tests.e2e.test_trading import balances as all_balances
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

OPEN = """mutation($s: String!, $t: WalletTemperature!, $x: String) {
  openWallet(asset: $s, temperature: $t, xpub: $x) { id address xpub } }"""
WALLETS = "query { wallets { id asset temperature address xpub } }"
MODE = """mutation($m: CustodyMode!) { setCustodyMode(mode: $m) { mode treasuryQuorum } }"""
SETTINGS = "query { custodySettings { mode limits { asset hotTxLimit } } }"
ADDRESS = """mutation($a: ID!, $s: String!) { requestDepositAddress(accountId: $a, asset: $s)
  { address asset derivationPath omnibus } }"""
SEND = """mutation($s: String!, $to: String!, $n: Decimal!) {
  simulateChainTransfer(asset: $s, address: $to, amount: $n) }"""
MINE = "mutation($n: Int!) { mineBlocks(count: $n) }"
W = """withdrawal { id status reason omnibus txId approvalPayload unsignedTransaction }"""
REQUEST = f"""mutation($a: ID!, $n: Decimal!, $d: String!) {{ requestWithdrawal(input:
  {{accountId: $a, asset: "BTC", amount: $n, destination: $d}}) {{ {W} }} }}"""
APPROVE = f"""mutation($id: ID!, $sig: String!) {{ approveWithdrawal(id: $id, signature: $sig)
  {{ {W} }} }}"""
COLD = f"""mutation($id: ID!, $t: String!) {{ submitColdSignature(id: $id, signedTransaction: $t)
  {{ {W} }} }}"""
TREASURY = """mutation($tx: Decimal!, $th: Decimal! = "50", $tg: Decimal! = "20") {
  setTreasurySettings(input: {asset: "BTC", hotTxLimit: $tx, hotDailyLimit: "100",
  sweepThreshold: $th, hotTarget: $tg}) }"""
SWEEP = f"""mutation {{ sweepHotWallet(asset: "BTC") {{ {W} }} }}"""
PUBLISH = """mutation { publishProofOfReserves(asset: "BTC") { custodyMode totalLiabilities
  hotWalletTotal coldWalletTotal omnibusShare sharedWalletTotal walletTotal } }"""
POLICY = """mutation { saveCustodyPolicyDraft(rules: [
  {name: "small", action: ALLOW, maxAmount: "0.1"},
  {name: "large", action: REQUIRE_APPROVALS, approvals: {join: ALL,
   quorums: [{group: "desk", required: 2}]}}]) { version } }"""
OUTSIDE = "bcrt1q4pvv7fky4mvmnsd89faf5hex4gzfl6h44xzl84"
# the demo seeds the platform's shared wallets; their cold keys derive from CAAS_DEMO_SEED
PLATFORM_COLD = cold.new_key_file("BTC", cold.demo_seed("caas-demo", PLATFORM_DEMO_NAME, "BTC"))


@dataclass(frozen=True)
class Bank:
    tenant_id: str
    admin: DemoKey
    traders: tuple[DemoKey, ...]
    approvers: tuple[Ed25519PrivateKey, ...]


async def ok(http: httpx.AsyncClient, q: str, v: dict[str, Any], key: DemoKey) -> Any:
    body = await gql(http, q, v, key=key)
    assert not body.get("errors"), body
    return body["data"]


async def btc(http: httpx.AsyncClient, key: DemoKey) -> Decimal:
    """The account's available BTC (0 before it ever held any)."""
    return (await all_balances(http, key)).get("BTC", (Decimal(0), Decimal(0)))[0]


async def _key(platform: Platform, key_id: str, spec: KeySpec) -> str:
    await platform.get(ApiKeyService).register(key_id, "s" * 43, f"sig_{key_id}", spec)
    return f"{key_id}.{'s' * 43}"


async def _bank(http: httpx.AsyncClient, platform: Platform, name: str) -> Bank:
    """A tenant with an admin, two verified customers (WITHDRAW keys), approvers, a policy."""
    accounts = platform.get(AccountsService)
    tenant = await accounts.create_tenant(name, "CH", Brand(display_name=name))
    scope, slug = TenantScope(tenant.id), name.split()[0].lower()
    admin_spec = KeySpec(Role.TENANT_ADMIN, tenant.id, None, label="admin", require_signature=False)
    admin = DemoKey("admin", "TENANT_ADMIN", await _key(platform, f"key_{slug}_admin", admin_spec),
                    tenant.id, None, None)  # fmt: skip
    traders = []
    for n in range(2):
        customer, account = await accounts.create_customer(scope, f"C{n}", f"c{n}@{slug}.example")
        kyc = platform.get(ComplianceService)
        await kyc.set_kyc_status(scope, customer.id, tenant.id, KycStatus.PENDING, 0, "test")
        await kyc.set_kyc_status(scope, customer.id, tenant.id, KycStatus.VERIFIED, 3, "test")
        spec = KeySpec(Role.TRADER, tenant.id, customer.id, label="t", require_signature=False,
                       scopes=frozenset({Scope.READ, Scope.TRADE, Scope.WITHDRAW}))  # fmt: skip
        token = await _key(platform, f"key_{slug}_c{n}", spec)
        traders.append(DemoKey(f"c{n}", "TRADER", token, tenant.id, customer.id, account.id))
    signers = (Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate())
    register = """mutation($n: String!, $p: String!) { registerApprover(name: $n, publicKey: $p,
      groups: ["desk"]) { id } }"""
    for i, signer in enumerate(signers):
        await ok(http, register, {"n": f"A{i}", "p": approvals.public_key_text(signer)}, admin)
    version = (await ok(http, POLICY, {}, admin))["saveCustodyPolicyDraft"]["version"]
    publish = "mutation($v: Int!) { publishCustodyPolicy(version: $v) { status } }"
    await ok(http, publish, {"v": version}, admin)
    return Bank(tenant.id, admin, tuple(traders), signers)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def platform_wallets(
    http: httpx.AsyncClient, app: Starlette, demo_keys: dict[str, DemoKey]
) -> dict[str, str]:
    """The platform's shared BTC wallets (operators open them): temperature -> xpub."""
    operator = demo_keys["operator"]
    for temperature, xpub in (("HOT", None), ("COLD", PLATFORM_COLD["xpub"])):
        body = await gql(http, OPEN, {"s": "BTC", "t": temperature, "x": xpub}, key=operator)
        assert not body.get("errors") or error_codes(body) == ["CONFLICT"], body
    rows = (await ok(http, WALLETS, {}, operator))["wallets"]
    await ok(http, TREASURY, {"tx": "1"}, operator)  # the shared hot wallet signs up to 1 BTC
    return {r["temperature"]: r["xpub"] for r in rows if r["asset"] == "BTC"}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def banks(
    http: httpx.AsyncClient, app: Starlette, platform_wallets: dict[str, str]
) -> tuple[Bank, Bank]:
    platform: Platform = app.state.platform
    first = await _bank(http, platform, "Alpha Omnibus Bank")
    second = await _bank(http, platform, "Beta Omnibus Bank")
    for bank in (first, second):
        mode = await ok(http, MODE, {"m": "OMNIBUS"}, bank.admin)
        assert mode["setCustodyMode"]["mode"] == "OMNIBUS"
    return first, second


async def _deposit(http: httpx.AsyncClient, bank: Bank, who: int, amount: str,
                   operator: DemoKey) -> dict[str, Any]:  # fmt: skip
    trader = bank.traders[who]
    address = await ok(http, ADDRESS, {"a": trader.account_id, "s": "BTC"}, trader)
    found: dict[str, Any] = address["requestDepositAddress"]
    await ok(http, SEND, {"s": "BTC", "to": found["address"], "n": amount}, operator)
    await ok(http, MINE, {"n": 4}, operator)
    return found


async def test_omnibus_addresses_come_from_the_platform_xpub_on_each_tenants_own_branch(
    http: httpx.AsyncClient, banks: tuple[Bank, Bank], platform_wallets: dict[str, str]
) -> None:
    seen: dict[str, tuple[int, ...]] = {}
    for bank in banks:
        assert (await ok(http, SETTINGS, {}, bank.admin))["custodySettings"]["mode"] == "OMNIBUS"
        for trader in bank.traders:
            got = await ok(http, ADDRESS, {"a": trader.account_id, "s": "BTC"}, trader)
            address = got["requestDepositAddress"]
            path = tuple(int(i) for i in address["derivationPath"].split("/"))
            assert address["omnibus"] is True and len(path) == 3 and path[0] == 0
            assert keys.path_address("BTC", platform_wallets["HOT"], path) == address["address"]
            seen[address["address"]] = path
    paths = list(seen.values())
    assert len(set(paths)) == 4, "every customer of every tenant has its own address"
    slots = [{p[1] for p in paths[:2]}, {p[1] for p in paths[2:]}]
    assert all(len(s) == 1 for s in slots) and slots[0] != slots[1], "one branch per tenant"


async def test_deposits_credit_the_right_customer_and_the_tenants_share(
    http: httpx.AsyncClient, app: Starlette, banks: tuple[Bank, Bank],
    demo_keys: dict[str, DemoKey],
) -> None:  # fmt: skip
    one, two = banks
    ledger: SubLedger = app.state.platform.get(SubLedger)
    share_before = await ledger.share(one.tenant_id, "BTC")
    before = await btc(http, one.traders[1])
    await _deposit(http, one, 1, "0.7", demo_keys["operator"])
    assert await btc(http, one.traders[1]) == before + Decimal("0.7")
    assert await ledger.share(one.tenant_id, "BTC") == share_before + 70_000_000
    assert await ledger.share(two.tenant_id, "BTC") == 0, "the other tenant's share is its own"
    snap = (await ok(http, PUBLISH, {}, one.admin))["publishProofOfReserves"]
    assert snap["custodyMode"] == "OMNIBUS" and Decimal(snap["hotWalletTotal"]) == 0
    assert Decimal(snap["omnibusShare"]) == Decimal(snap["walletTotal"]) == Decimal("0.7")
    assert Decimal(snap["totalLiabilities"]) == Decimal("0.7")
    assert Decimal(snap["sharedWalletTotal"]) >= Decimal("0.7")


async def test_withdrawals_are_signed_by_the_platform_under_the_tenants_policy(
    http: httpx.AsyncClient, app: Starlette, banks: tuple[Bank, Bank],
    demo_keys: dict[str, DemoKey], platform_wallets: dict[str, str],
) -> None:  # fmt: skip
    one, _ = banks
    platform: Platform = app.state.platform
    ledger = platform.get(SubLedger)
    trader = one.traders[0]
    await _deposit(http, one, 0, "2", demo_keys["operator"])
    share = await ledger.share(one.tenant_id, "BTC")
    small = await ok(http, REQUEST, {"a": trader.account_id, "n": "0.05", "d": OUTSIDE}, trader)
    w = small["requestWithdrawal"]["withdrawal"]
    assert w["status"] == "BROADCAST" and w["omnibus"] is True
    spent = platform.chain.transaction(w["txId"])
    shared_hot = keys.derive_address("BTC", platform_wallets["HOT"], keys.INTERNAL_CHAIN, 0)
    assert spent is not None and spent.from_address == shared_hot, "the shared hot wallet paid"
    assert await ledger.share(one.tenant_id, "BTC") == share - 5_000_000

    large = await ok(http, REQUEST, {"a": trader.account_id, "n": "0.5", "d": OUTSIDE}, trader)
    w = large["requestWithdrawal"]["withdrawal"]
    assert w["status"] == "PENDING_APPROVAL", "the tenant's own policy still decides"
    payload = approvals.unb64(w["approvalPayload"], "p")
    forged = approvals.sign(Ed25519PrivateKey.generate(), payload)
    body = await gql(http, APPROVE, {"id": w["id"], "sig": forged}, key=one.admin)
    assert error_codes(body) == ["APPROVAL_INVALID"]
    for signer in one.approvers:
        done = await ok(http, APPROVE, {"id": w["id"], "sig": approvals.sign(signer, payload)},
                        one.admin)  # fmt: skip
    assert done["approveWithdrawal"]["withdrawal"]["status"] == "BROADCAST"
    assert await ledger.share(one.tenant_id, "BTC") == share - 55_000_000

    operator = demo_keys["operator"]  # the platform's limits: above 0.01 BTC the cold key signs
    await ok(http, TREASURY, {"tx": "0.01", "th": "0.2", "tg": "0.1"}, operator)
    try:
        swept = (await ok(http, SWEEP, {}, operator))["sweepHotWallet"]["withdrawal"]
        assert swept["status"] == "BROADCAST" and swept["omnibus"] is False
        await ok(http, MINE, {"n": 1}, operator)
        assert await ledger.share(one.tenant_id, "BTC") == share - 55_000_000, "sweeps: no share"
        big = await ok(http, REQUEST, {"a": trader.account_id, "n": "0.08", "d": OUTSIDE}, trader)
        w = big["requestWithdrawal"]["withdrawal"]
        assert w["status"] == "AWAITING_COLD_SIGNATURE" and w["unsignedTransaction"]
        signed = cold.sign(PLATFORM_COLD, w["unsignedTransaction"])  # the platform's cold key
        sent = await ok(http, COLD, {"id": w["id"], "t": signed}, operator)
        assert sent["submitColdSignature"]["withdrawal"]["status"] == "BROADCAST"
        assert await ledger.share(one.tenant_id, "BTC") == share - 63_000_000
    finally:
        await ok(http, TREASURY, {"tx": "1"}, operator)


async def test_switching_mode_needs_an_empty_tenant(
    http: httpx.AsyncClient, banks: tuple[Bank, Bank], demo_keys: dict[str, DemoKey]
) -> None:
    one, two = banks
    assert await btc(http, one.traders[1]) > 0
    body = await gql(http, MODE, {"m": "SEGREGATED"}, key=one.admin)
    assert error_codes(body) == ["CUSTODY_BALANCE_HELD"]
    assert body["errors"][0]["extensions"]["reason"] == "BALANCES"
    assert (await ok(http, SETTINGS, {}, one.admin))["custodySettings"]["mode"] == "OMNIBUS"
    body = await gql(http, MODE, {"m": "SEGREGATED"}, key=one.traders[0])
    assert error_codes(body) == ["FORBIDDEN"]
    # the second bank holds nothing yet: it may switch back and forth
    for mode in ("SEGREGATED", "OMNIBUS"):
        assert (await ok(http, MODE, {"m": mode}, two.admin))["setCustodyMode"]["mode"] == mode
