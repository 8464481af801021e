"""Sandbox tenants over HTTP: createTenant(sandbox: true), the faucet and its limits, trading on
the sandbox's own market copy, the boundary to live data (stable errors and the isolation
probe with sandbox keys against the live demo bank), ``extensions.sandbox``, resetSandbox,
promoteTenant (configuration yes, balances no), the audit trail and reconciliation.

Demo data: Demo Bank (alice, bob) is live and trades BTC-USDT.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from domains.accounts.service import AccountsService
from domains.shared.context import Role, TenantScope
from graph.ops.seed import DemoKey
from tests.e2e.test_isolation import BUY, Rival, _probe_everything
from tests.factories import demo_style_key, reconcile_platform
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

CREATE = """mutation($in: CreateTenantInput!) { createTenant(input: $in) {
  id name sandbox promotedTo promotedFrom } }"""
FAUCET = """mutation($a: ID!, $s: String!, $n: Decimal!) { sandboxFaucet(account: $a, asset: $s,
  amount: $n) { accountId asset amount sequence remainingToday day } }"""
BALANCES = "query($a: ID!) { account(id: $a) { balances { asset available locked } } }"
PLACE = """mutation($a: ID!, $m: ID!, $s: Side!, $p: Decimal!, $q: Decimal!) {
  placeOrder(input: {accountId: $a, market: $m, side: $s, type: LIMIT, price: $p,
  quantity: $q}) { order { id status filledQuantity } } }"""
BOOK = "query($m: ID!) { orderBook(market: $m) { bids { price quantity } asks { price } } }"
TRADES = "query($m: ID!) { trades(market: $m) { nodes { id price quantity } } }"
MARKETS = "{ markets { id sandboxTenant sandboxOf } }"
MARKET = "query($m: ID!) { market(id: $m) { id } }"
RESET = """mutation($t: ID) { resetSandbox(tenant: $t) { tenantId accounts canceledOrders
  debitedBalances lockedLeft firstSequence lastSequence } }"""
PROMOTE = """mutation($t: ID!, $n: String) { promoteTenant(tenant: $t, name: $n) {
  sandbox { id name sandbox promotedTo } live { id name sandbox promotedFrom brand { displayName }
  listedMarkets routingPolicy { mode } feeSchedule { markupBps } } listedMarkets } }"""
CONFIG = """query($t: ID!) { tenant(id: $t) { listedMarkets routingPolicy { mode }
  feeSchedule { markupBps } } }"""
TRAIL = """query($op: String) { auditTrail(operation: $op, first: 20) { nodes { actor role
  outcome } } }"""
KYC = """mutation($c: ID!, $s: KycStatus!) { setKycStatus(customerId: $c, status: $s, level: 1)
  { status } }"""


@dataclass
class Pilot:
    """The sandbox tenant: its id, its copy of BTC-USDT and its keys."""

    tenant_id: str
    market: str
    keys: dict[str, DemoKey]


async def ok(http: httpx.AsyncClient, query: str, variables: dict[str, Any], key: DemoKey) -> Any:
    body = await gql(http, query, variables, key=key)
    assert not body.get("errors"), body
    return body["data"]


async def balances(http: httpx.AsyncClient, account: str, key: DemoKey) -> dict[str, Decimal]:
    data = await ok(http, BALANCES, {"a": account}, key)
    return {b["asset"]: Decimal(b["available"]) + Decimal(b["locked"])
            for b in data["account"]["balances"]}  # fmt: skip


async def eventually_balances(
    http: httpx.AsyncClient, account: str, key: DemoKey, expected: dict[str, Decimal]
) -> None:
    """The balance read model is written behind the journal: wait until it shows ``expected``."""
    seen: dict[str, Decimal] = {}
    for _ in range(100):
        seen = {a: v for a, v in (await balances(http, account, key)).items() if v}
        if seen == {a: v for a, v in expected.items() if v}:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"balances {seen} != {expected}")


async def eventually_trades(http: httpx.AsyncClient, market: str, key: DemoKey) -> list[Any]:
    """The market's trades once the trade read model (behind the journal) has any."""
    for _ in range(100):
        nodes: list[Any] = (await ok(http, TRADES, {"m": market}, key))["trades"]["nodes"]
        if nodes:
            return nodes
        await asyncio.sleep(0.05)
    raise AssertionError(f"no trades on {market}")


async def _customer(
    http: httpx.AsyncClient, app: Starlette, pilot_id: str, keys: dict[str, DemoKey], name: str
) -> DemoKey:
    created = await ok(http, """mutation($n: String!, $e: String!) { createCustomer(input:
      {displayName: $n, email: $e}) { id accounts { nodes { id } } } }""",
                       {"n": name, "e": f"{name}@pilot.example"}, keys["tenant_admin"])  # fmt: skip
    customer = created["createCustomer"]
    for status in ("PENDING", "VERIFIED"):
        await ok(http, KYC, {"c": customer["id"], "s": status}, keys["compliance"])
    trader = await demo_style_key(app.state.platform, Role.TRADER, pilot_id, customer["id"])
    return replace(trader, account_id=customer["accounts"]["nodes"][0]["id"])


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def pilot(app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]) -> Pilot:
    operator = demo_keys["operator"]
    created = await ok(http, CREATE, {"in": {
        "name": "Pilot Bank", "jurisdiction": "CH", "brand": {"displayName": "Pilot Crypto"},
        "sandbox": True, "sandboxMarkets": ["BTC-USDT"]}}, operator)  # fmt: skip
    tenant = created["createTenant"]
    assert tenant["sandbox"] is True and tenant["promotedTo"] is None
    keys = {role.value.lower(): await demo_style_key(app.state.platform, role, tenant["id"])
            for role in (Role.TENANT_ADMIN, Role.COMPLIANCE, Role.RISK)}  # fmt: skip
    keys["sam"] = await _customer(http, app, tenant["id"], keys, "sam")
    keys["tia"] = await _customer(http, app, tenant["id"], keys, "tia")
    markets = (await ok(http, MARKETS, {}, keys["tenant_admin"]))["markets"]
    assert len(markets) == 1 and markets[0]["sandboxOf"] == "BTC-USDT", markets
    assert markets[0]["sandboxTenant"] == tenant["id"]
    return Pilot(tenant["id"], markets[0]["id"], keys)


async def test_a_sandbox_tenant_trades_on_its_own_copy_of_a_live_market(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], pilot: Pilot
) -> None:
    admin, alice = pilot.keys["tenant_admin"], demo_keys["alice"]
    config = (await ok(http, CONFIG, {"t": pilot.tenant_id}, admin))["tenant"]
    assert config["listedMarkets"] == [pilot.market]
    assert config["routingPolicy"]["mode"] == "INTERNAL_ONLY"  # never to the venue
    assert pilot.market.startswith("BTC-USDT-SBX")
    live = [m["id"] for m in (await ok(http, MARKETS, {}, alice))["markets"]]
    assert pilot.market not in live and "BTC-USDT" in live
    assert (await ok(http, MARKET, {"m": pilot.market}, alice))["market"] is None
    sam, tia = pilot.keys["sam"], pilot.keys["tia"]
    await ok(http, FAUCET, {"a": sam.account_id, "s": "USDT", "n": "10000"}, sam)
    await ok(http, FAUCET, {"a": tia.account_id, "s": "BTC", "n": "1"}, admin)
    # a live ask below the sandbox bid: the two books never meet
    await ok(http, PLACE, {"a": alice.account_id, "m": "BTC-USDT", "s": "SELL", "p": "59000",
                           "q": "0.01"}, alice)  # fmt: skip
    bid = await ok(http, PLACE, {"a": sam.account_id, "m": pilot.market, "s": "BUY",
                                 "p": "60000", "q": "0.01"}, sam)  # fmt: skip
    assert bid["placeOrder"]["order"]["status"] == "NEW"
    ask = await ok(http, PLACE, {"a": tia.account_id, "m": pilot.market, "s": "SELL",
                                 "p": "60000", "q": "0.01"}, tia)  # fmt: skip
    assert ask["placeOrder"]["order"]["status"] == "FILLED"
    trades = await eventually_trades(http, pilot.market, sam)
    assert [(t["price"], t["quantity"]) for t in trades] == [("60000", "0.01")]
    live_book = (await ok(http, BOOK, {"m": "BTC-USDT"}, alice))["orderBook"]
    assert any(a["price"] == "59000" for a in live_book["asks"])  # the live ask still rests


async def test_the_faucet_credits_through_the_engine_within_its_limits(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], pilot: Pilot
) -> None:
    admin = pilot.keys["tenant_admin"]
    query = "query($t: ID!) { tenant(id: $t) { treasuryAccount { id } } }"
    treasury = (await ok(http, query, {"t": pilot.tenant_id}, admin))["tenant"]["treasuryAccount"]
    treasury = treasury["id"]
    grant = (await ok(http, FAUCET, {"a": treasury, "s": "ETH", "n": "20"}, admin))["sandboxFaucet"]
    assert (grant["asset"], grant["amount"], grant["remainingToday"]) == ("ETH", "20", "180")
    assert grant["sequence"] > 0
    await eventually_balances(http, treasury, admin, {"ETH": Decimal(20)})
    over = await gql(http, FAUCET, {"a": treasury, "s": "ETH", "n": "20.5"}, key=admin)
    assert error_codes(over) == ["FAUCET_LIMIT_EXCEEDED"]
    assert over["errors"][0]["extensions"]["limit"] == "PER_CALL"
    for _ in range(8):
        await ok(http, FAUCET, {"a": treasury, "s": "ETH", "n": "20"}, admin)
    await ok(http, FAUCET, {"a": treasury, "s": "ETH", "n": "19.5"}, admin)  # 199.5 given
    day = await gql(http, FAUCET, {"a": treasury, "s": "ETH", "n": "2"}, key=admin)
    assert error_codes(day) == ["FAUCET_LIMIT_EXCEEDED"]
    refusal = day["errors"][0]["extensions"]
    assert (refusal["limit"], refusal["remaining"]) == ("PER_DAY", "0.5")
    last = await ok(http, FAUCET, {"a": treasury, "s": "ETH", "n": "0.5"}, admin)
    assert last["sandboxFaucet"]["remainingToday"] == "0"
    await eventually_balances(http, treasury, admin, {"ETH": Decimal(200)})
    for variables, code in (
        ({"a": treasury, "s": "DOGE", "n": "1"}, "VALIDATION"),
        ({"a": treasury, "s": "USDT", "n": "-1"}, "VALIDATION"),
        ({"a": treasury, "s": "USDT", "n": "0.000000001"}, "VALIDATION"),
    ):
        assert error_codes(await gql(http, FAUCET, variables, key=admin)) == [code]
    alice = demo_keys["alice"]  # a live tenant: no faucet, and no reaching another tenant
    live = await gql(http, FAUCET, {"a": alice.account_id, "s": "USDT", "n": "1"}, key=alice)
    assert error_codes(live) == ["TENANT_NOT_SANDBOX"]
    sam = pilot.keys["sam"]
    across = await gql(http, FAUCET, {"a": alice.account_id, "s": "USDT", "n": "1"}, key=sam)
    assert error_codes(across) == ["NOT_FOUND"]
    trail = await ok(http, TRAIL, {"op": "mutation sandboxFaucet"}, pilot.keys["compliance"])
    outcomes = {n["outcome"] for n in trail["auditTrail"]["nodes"]}
    assert {"OK", "FAUCET_LIMIT_EXCEEDED", "VALIDATION"} <= outcomes
    assert (await reconcile_platform(app.state.platform)).clean


async def test_sandbox_credentials_get_stable_errors_for_live_data(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], pilot: Pilot
) -> None:
    sam, admin, alice = pilot.keys["sam"], pilot.keys["tenant_admin"], demo_keys["alice"]
    refused: list[tuple[str, dict[str, Any], DemoKey]] = [
        (PLACE, {"a": sam.account_id, "m": "BTC-USDT", "s": "BUY", "p": "60000", "q": "0.01"}, sam),
        (BOOK, {"m": "BTC-USDT"}, sam),
        (TRADES, {"m": "BTC-USDT"}, sam),
        (BOOK, {"m": pilot.market}, alice),
        (PLACE, {"a": alice.account_id, "m": pilot.market, "s": "BUY", "p": "60000", "q": "0.01"},
         alice),
        ('mutation { setListedMarkets(marketIds: ["BTC-USDT"]) { listedMarkets } }', {}, admin),
        ("mutation($m: ID!) { setListedMarkets(marketIds: [$m]) { listedMarkets } }",
         {"m": pilot.market}, demo_keys["tenant_admin"]),
        ("mutation { setRoutingPolicy(input: {mode: INTERNAL_THEN_EXTERNAL, maxSlippageBps: 50}) "
         "{ listedMarkets } }", {}, admin),
        ('mutation { setCustodyMode(mode: OMNIBUS) { mode } }', {}, admin),
    ]  # fmt: skip
    for query, variables, key in refused:
        body = await gql(http, query, variables, key=key)
        assert error_codes(body) == ["SANDBOX_BOUNDARY"], (query, body)
    assert (await ok(http, "query($a: ID!) { account(id: $a) { id } }",
                     {"a": alice.account_id}, sam))["account"] is None  # fmt: skip
    # the whole surface with the sandbox's keys against the live demo bank
    bob = demo_keys["bob"]
    assert bob.customer_id and bob.account_id
    live = Rival(bob.tenant_id or "", {"trader": bob})
    live.remember("customer", bob.customer_id)
    live.remember("account", bob.account_id)
    live.remember("tenant", bob.tenant_id or "")
    sub = await ok(http, 'mutation($c: ID!) { openSubAccount(customerId: $c, label: "bob-pilot") '
                   "{ id } }", {"c": bob.customer_id}, demo_keys["tenant_admin"])  # fmt: skip
    live.remember("sub_account", sub["openSubAccount"]["id"])
    live.secrets.update({"Bob Demo", "bob@demo.example"})
    placed = await ok(http, BUY, {"a": bob.account_id, "p": "58000", "c": "bob-live-1"}, bob)
    live.remember("order", placed["placeOrder"]["order"]["id"])
    live.remember("client_order_id", "bob-live-1")
    callers: dict[str, str | None] = {name: key.token for name, key in pilot.keys.items()}
    assert await _probe_everything(app, http, callers, live) >= len(callers) * 30


async def test_every_response_to_sandbox_credentials_says_so(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], pilot: Pilot
) -> None:
    sam, admin = pilot.keys["sam"], pilot.keys["tenant_admin"]
    for query, variables, key in (
        ("{ viewer { role } }", {}, sam),
        (BOOK, {"m": "BTC-USDT"}, sam),  # an error response too
        (FAUCET, {"a": sam.account_id, "s": "USDT", "n": "1"}, sam),
        ("{ viewer { role } }", {}, admin),
    ):
        body = await gql(http, query, variables, key=key)
        assert body["extensions"]["sandbox"] is True, body
    minted = await ok(http, "mutation($c: ID!) { issueCustomerToken(customerId: $c) { token } }",
                      {"c": sam.customer_id}, admin)  # fmt: skip
    token = replace(sam, token=minted["issueCustomerToken"]["token"])
    assert (await gql(http, "{ viewer { role } }", key=token))["extensions"]["sandbox"] is True
    for key in (demo_keys["alice"], demo_keys["tenant_admin"], demo_keys["operator"]):
        body = await gql(http, "{ viewer { role } }", key=key)
        assert "sandbox" not in (body.get("extensions") or {}), body
    assert "sandbox" not in (await gql(http, "{ __typename }")).get("extensions", {})


async def test_reset_empties_the_sandbox_with_journaled_commands(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], pilot: Pilot
) -> None:
    sam, admin = pilot.keys["sam"], pilot.keys["tenant_admin"]
    await ok(http, FAUCET, {"a": sam.account_id, "s": "USDT", "n": "500"}, sam)
    resting = await ok(http, PLACE, {"a": sam.account_id, "m": pilot.market, "s": "BUY",
                                     "p": "58000", "q": "0.001"}, sam)  # fmt: skip
    order = resting["placeOrder"]["order"]["id"]
    assert error_codes(await gql(http, RESET, {}, key=pilot.keys["risk"])) == ["FORBIDDEN"]
    report = (await ok(http, RESET, {}, admin))["resetSandbox"]
    assert report["tenantId"] == pilot.tenant_id
    assert report["canceledOrders"] >= 1 and report["debitedBalances"] >= 3
    assert report["lockedLeft"] == 0 and report["lastSequence"] > report["firstSequence"]
    status = await ok(http, "query($id: ID!) { order(id: $id) { status } }", {"id": order}, sam)
    assert status["order"]["status"] == "CANCELED"
    for key in (sam, pilot.keys["tia"]):
        await eventually_balances(http, key.account_id or "", key, {})
    assert await eventually_trades(http, pilot.market, sam)  # history stays
    assert (await ok(http, BOOK, {"m": pilot.market}, sam))["orderBook"]["bids"] == []
    again = await ok(http, FAUCET, {"a": sam.account_id, "s": "USDT", "n": "10"}, sam)
    assert again["sandboxFaucet"]["amount"] == "10"  # trading mode restored: usable again
    assert (await reconcile_platform(app.state.platform)).clean
    for key, tenant in ((demo_keys["operator"], demo_keys["alice"].tenant_id),
                        (demo_keys["tenant_admin"], None)):  # fmt: skip
        body = await gql(http, RESET, {"t": tenant}, key=key)
        assert error_codes(body) == ["TENANT_NOT_SANDBOX"], body


async def test_promote_makes_a_live_tenant_with_the_configuration_not_the_funds(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], pilot: Pilot
) -> None:
    operator, admin = demo_keys["operator"], pilot.keys["tenant_admin"]
    await ok(
        http,
        """mutation { setFeeSchedule(input: {tiers: [{minVolume30d: "0",
      makerBps: 5, takerBps: 9}], markupBps: 7}) { feeSchedule { markupBps } } }""",
        {},
        admin,
    )
    refused = await gql(http, PROMOTE, {"t": pilot.tenant_id}, key=admin)
    assert error_codes(refused) == ["FORBIDDEN"]
    live_demo = await gql(http, PROMOTE, {"t": demo_keys["alice"].tenant_id}, key=operator)
    assert error_codes(live_demo) == ["TENANT_NOT_SANDBOX"]
    promoted = (await ok(http, PROMOTE, {"t": pilot.tenant_id}, operator))["promoteTenant"]
    live, sandbox = promoted["live"], promoted["sandbox"]
    assert (live["name"], live["sandbox"], live["promotedFrom"]) == (
        "Pilot Bank",
        False,
        pilot.tenant_id,
    )
    assert sandbox["promotedTo"] == live["id"] and sandbox["name"].startswith("Pilot Bank [")
    assert live["brand"]["displayName"] == "Pilot Crypto"
    assert live["listedMarkets"] == ["BTC-USDT"] == promoted["listedMarkets"]
    assert live["routingPolicy"]["mode"] == "INTERNAL_ONLY"
    assert live["feeSchedule"]["markupBps"] == 7
    accounts = app.state.platform.get(AccountsService)
    scope = TenantScope(live["id"])
    assert await accounts.list_customers(scope, 10, None) == []
    assert await accounts.list_accounts(scope, None, 10, None) == []
    new_admin = await demo_style_key(app.state.platform, Role.TENANT_ADMIN, live["id"])
    body = await gql(http, "{ viewer { role } }", key=new_admin)
    assert "sandbox" not in (body.get("extensions") or {})
    assert [m["id"] for m in (await ok(http, MARKETS, {}, new_admin))["markets"]] == ["BTC-USDT"]
    twice = await gql(http, PROMOTE, {"t": pilot.tenant_id}, key=operator)
    assert error_codes(twice) == ["SANDBOX_ALREADY_PROMOTED"]
    assert twice["errors"][0]["extensions"]["promotedTo"] == live["id"]
    trail = await ok(http, TRAIL, {"op": "mutation setFeeSchedule"}, pilot.keys["compliance"])
    assert trail["auditTrail"]["nodes"]
    stored = json.dumps(await accounts.tenant_config(live["id"]), default=str)
    assert pilot.market not in stored  # the live tenant lists no sandbox market
