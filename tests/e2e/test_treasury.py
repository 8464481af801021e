"""The institution's treasury over HTTP: funded by operators, moved to and from customers by
tenant admins only, journaled like any transfer, and reconciled."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from starlette.applications import Starlette

from graph.ops.seed import DemoKey
from tests.e2e.test_trading import balances
from tests.factories import reconcile_platform
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

TREASURY = """query($t: ID!) { tenant(id: $t) { treasuryAccount { id kind label } } }"""
ADJUST = """mutation($a: ID!) { adjustBalance(input: {accountId: $a, asset: "USDT",
  amount: "250000", reason: "treasury funding"}) { sequence } }"""
TRANSFER = """mutation($f: ID!, $t: ID!, $amount: Decimal!) { transferFunds(input: {
  fromAccountId: $f, toAccountId: $t, asset: "USDT", amount: $amount}) { sequence } }"""
HELD = """query($id: ID!) { account(id: $id) { balances { asset available } } }"""


async def treasury_id(http: httpx.AsyncClient, key: DemoKey) -> str:
    body = await gql(http, TREASURY, {"t": key.tenant_id}, key=key)
    account = body["data"]["tenant"]["treasuryAccount"]
    assert account["kind"] == "TREASURY"
    return str(account["id"])


async def usdt(http: httpx.AsyncClient, key: DemoKey, account_id: str) -> Decimal:
    rows = (await gql(http, HELD, {"id": account_id}, key=key))["data"]["account"]["balances"]
    return sum((Decimal(r["available"]) for r in rows if r["asset"] == "USDT"), Decimal(0))


async def test_admins_fund_customers_from_the_treasury_and_take_funds_back(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    admin, operator, alice = demo_keys["tenant_admin"], demo_keys["operator"], demo_keys["alice"]
    treasury = await treasury_id(http, admin)
    assert await treasury_id(http, admin) == treasury  # one treasury per tenant
    start = await usdt(http, admin, treasury)  # the demo funds it on chain too
    assert (await gql(http, ADJUST, {"a": treasury}, key=operator))["data"]["adjustBalance"]
    before = (await balances(http, alice))["USDT"][0]

    sent = await gql(http, TRANSFER, {"f": treasury, "t": alice.account_id, "amount": "1000"},
                     key=admin)  # fmt: skip
    assert sent["data"]["transferFunds"]["sequence"] > 0
    assert (await balances(http, alice))["USDT"][0] == before + 1000
    taken = await gql(http, TRANSFER, {"f": alice.account_id, "t": treasury, "amount": "400"},
                      key=admin)  # fmt: skip
    assert taken["data"]["transferFunds"]["sequence"] > sent["data"]["transferFunds"]["sequence"]
    assert (await balances(http, alice))["USDT"][0] == before + 600
    assert await usdt(http, admin, treasury) == start + Decimal(250_000 - 600)


async def test_customers_cannot_see_or_touch_the_treasury(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    admin, alice = demo_keys["tenant_admin"], demo_keys["alice"]
    treasury = await treasury_id(http, admin)
    peek = await gql(http, TREASURY, {"t": alice.tenant_id}, key=alice)
    assert error_codes(peek) == ["FORBIDDEN"]
    before = await usdt(http, admin, treasury)
    grab = await gql(http, TRANSFER, {"f": treasury, "t": alice.account_id, "amount": "1"},
                     key=alice)  # fmt: skip
    assert error_codes(grab) in (["NOT_FOUND"], ["FORBIDDEN"])
    overdraw = await gql(http, TRANSFER, {"f": treasury, "t": alice.account_id,
                                          "amount": "999999999"}, key=admin)  # fmt: skip
    assert error_codes(overdraw) == ["INSUFFICIENT_FUNDS"]
    assert await usdt(http, admin, treasury) == before


async def test_the_treasury_reconciles(app: Starlette) -> None:
    report = await reconcile_platform(app.state.platform)
    assert report.differences == [] and report.conservation == []
