"""The composed graph over HTTP: cross-subgraph queries, scoping, pagination."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from graph.ops.seed import DemoKey
from tests.factories import record_order
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]


async def _record_order(app: Starlette, key: DemoKey, price: str = "64250.5") -> str:
    return await record_order(app.state.platform, key, price)


async def test_account_query_crosses_all_five_subgraphs(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    order_id = await _record_order(app, alice)
    body = await gql(
        http,
        """query($id: ID!) { account(id: $id) {
             id kind
             orders { nodes { id price status market { id tickSize } account { id } } }
             positions { quantity }
             customer { displayName kyc { status level }
                        tenant { name wallets { asset temperature } } } } }""",
        {"id": alice.account_id},
        key=alice,
    )
    assert "errors" not in body
    account = body["data"]["account"]
    assert account["kind"] == "MAIN"
    assert account["orders"]["nodes"] == [
        {
            "id": order_id,
            "price": "64250.5",
            "status": "NEW",
            "market": {"id": "BTC-USDT", "tickSize": "0.01"},
            "account": {"id": alice.account_id},
        }
    ]
    assert account["positions"] == []
    assert account["customer"]["kyc"] == {"status": "VERIFIED", "level": 1}
    assert {w["asset"] for w in account["customer"]["tenant"]["wallets"]} == {"BTC", "ETH", "USDT"}


async def test_order_resolves_its_account_and_customer(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    bob = demo_keys["bob"]
    order_id = await _record_order(app, bob, "100")
    body = await gql(
        http,
        "query($id: ID!) { order(id: $id) { quantity account { label customer { email } } } }",
        {"id": order_id},
        key=bob,
    )
    assert body["data"]["order"] == {
        "quantity": "0.01",
        "account": {"label": "Main", "customer": {"email": "bob@demo.example"}},
    }


async def test_a_trader_sees_nothing_of_another_customer(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    bobs_order = await _record_order(app, bob)
    body = await gql(
        http,
        """query($acc: ID!, $ord: ID!, $cus: ID!) {
             account(id: $acc) { id } order(id: $ord) { id } customer(id: $cus) { id }
             orders(accountId: $acc) { nodes { id } } accounts { nodes { id } } }""",
        {"acc": bob.account_id, "ord": bobs_order, "cus": bob.customer_id},
        key=alice,
    )
    data = body["data"]
    assert data["account"] is None and data["order"] is None and data["customer"] is None
    assert data["orders"]["nodes"] == []
    assert data["accounts"]["nodes"] == [{"id": alice.account_id}]


async def test_another_tenant_sees_nothing_of_the_demo_bank(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator, alice = demo_keys["operator"], demo_keys["alice"]
    created = await gql(
        http,
        """mutation { createTenant(input: {name: "Other Bank", jurisdiction: "de",
             brand: {displayName: "Other"}}) { id jurisdiction } }""",
        key=operator,
    )
    assert created["data"]["createTenant"]["jurisdiction"] == "DE"
    other_tenant = created["data"]["createTenant"]["id"]
    body = await gql(
        http,
        "query($t: ID!) { tenant(id: $t) { id } tenants { nodes { name } } }",
        {"t": other_tenant},
        key=alice,
    )
    assert body["data"]["tenant"] is None
    assert body["data"]["tenants"]["nodes"] == [{"name": "Demo Bank"}]


async def test_customers_page_with_cursors_until_the_end(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    admin = demo_keys["tenant_admin"]
    query = """query($after: String) { customers(first: 1, after: $after) {
                 nodes { email } pageInfo { hasNextPage endCursor } } }"""
    seen, after = [], None
    for _ in range(5):
        page = (await gql(http, query, {"after": after}, key=admin))["data"]["customers"]
        seen += [n["email"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert sorted(seen) == ["alice@demo.example", "bob@demo.example", "carol@demo.example"]


async def test_tenant_admin_onboards_a_customer_with_a_main_account(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    admin = demo_keys["tenant_admin"]
    body = await gql(
        http,
        """mutation { createCustomer(input: {displayName: "Carol", email: "Carol@Example.com"}) {
             email kyc { status } accounts { nodes { kind label } } } }""",
        key=admin,
    )
    assert body["data"]["createCustomer"] == {
        "email": "carol@example.com",
        "kyc": {"status": "NOT_STARTED"},
        "accounts": {"nodes": [{"kind": "MAIN", "label": "Main"}]},
    }


async def test_roles_are_enforced_on_mutations(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    body = await gql(
        http,
        """mutation { createMarket(input: {baseAsset: "SOL", quoteAsset: "USDT",
             tickSize: "0.01", lotSize: "0.01", minNotional: "5"}) { id } }""",
        key=demo_keys["alice"],
    )
    assert error_codes(body) == ["FORBIDDEN"]
    assert body["data"] is None
    markets = await gql(http, "{ markets { id } }", key=demo_keys["alice"])
    assert [m["id"] for m in markets["data"]["markets"]] == [
        "BTC-USDT",
        "BTC-USDT-PERP",
        "ETH-USDT",
    ]
