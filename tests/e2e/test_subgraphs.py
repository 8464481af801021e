"""Each domain is a real Federation v2 subgraph at /subgraphs/<name>/graphql."""

from __future__ import annotations

import httpx
import pytest
from graphql import parse
from graphql.language import ObjectTypeDefinitionNode, ObjectTypeExtensionNode

from graph.ops.seed import DemoKey
from graph.schema import SUBGRAPHS
from tests.graphql_client import gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

ENTITY_OWNERS = {"Tenant": "accounts", "Customer": "accounts", "Account": "accounts",
                 "Market": "orders", "Order": "orders"}  # fmt: skip


@pytest.mark.parametrize("name", [s.name for s in SUBGRAPHS])
async def test_subgraph_serves_federation_v2_sdl(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], name: str
) -> None:
    body = await gql(http, "{ _service { sdl } }", path=f"/subgraphs/{name}/graphql")
    sdl = body["data"]["_service"]["sdl"]
    assert '@link(url: "https://specs.apollo.dev/federation/v2.9"' in sdl
    document = parse(sdl)
    keyed = {
        d.name.value
        for d in document.definitions
        if isinstance(d, ObjectTypeDefinitionNode | ObjectTypeExtensionNode)
        and any(directive.name.value == "key" for directive in d.directives or ())
    }
    assert keyed, "every subgraph takes part in at least one entity"
    assert keyed <= set(ENTITY_OWNERS)


async def test_each_entity_field_is_served_by_exactly_one_subgraph(
    http: httpx.AsyncClient,
) -> None:
    owners: dict[tuple[str, str], list[str]] = {}
    for subgraph in SUBGRAPHS:
        body = await gql(http, "{ _service { sdl } }", path=f"/subgraphs/{subgraph.name}/graphql")
        for definition in parse(body["data"]["_service"]["sdl"]).definitions:
            if (
                isinstance(definition, ObjectTypeDefinitionNode)
                and definition.name.value in ENTITY_OWNERS
            ):
                for field in definition.fields or ():
                    if field.name.value != "id":
                        key = (definition.name.value, field.name.value)
                        owners.setdefault(key, []).append(subgraph.name)
    assert owners[("Account", "orders")] == ["orders"]
    assert owners[("Account", "positions")] == ["positions"]
    assert owners[("Customer", "kyc")] == ["compliance"]
    assert owners[("Tenant", "wallets")] == ["custody"]
    assert all(len(names) == 1 for names in owners.values()), owners


async def test_entities_resolve_an_account_in_the_orders_subgraph(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    body = await gql(
        http,
        """query($r: [_Any!]!) { _entities(representations: $r) {
             ... on Account { id orders { nodes { id } } } } }""",
        {"r": [{"__typename": "Account", "id": alice.account_id}]},
        key=alice,
        path="/subgraphs/orders/graphql",
    )
    assert body["data"]["_entities"] == [{"id": alice.account_id, "orders": {"nodes": []}}]


async def test_entities_resolve_accounts_and_markets_in_their_owning_subgraphs(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    accounts = await gql(
        http,
        """query($r: [_Any!]!) { _entities(representations: $r) {
             ... on Account { id kind label } } }""",
        {"r": [{"__typename": "Account", "id": alice.account_id},
               {"__typename": "Account", "id": "acc_missing"}]},
        key=alice,
        path="/subgraphs/accounts/graphql",
    )  # fmt: skip
    assert accounts["data"]["_entities"] == [
        {"id": alice.account_id, "kind": "MAIN", "label": "Main"},
        None,
    ]
    markets = await gql(
        http,
        """query($r: [_Any!]!) { _entities(representations: $r) {
             ... on Market { id baseAsset quoteAsset lotSize } } }""",
        {"r": [{"__typename": "Market", "id": "ETH-USDT"}]},
        key=alice,
        path="/subgraphs/orders/graphql",
    )
    assert markets["data"]["_entities"] == [
        {"id": "ETH-USDT", "baseAsset": "ETH", "quoteAsset": "USDT", "lotSize": "0.0001"}
    ]


async def test_a_subgraph_does_not_serve_another_domains_root_fields(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    response = await http.post(
        "/subgraphs/orders/graphql",
        json={"query": "{ customers { nodes { id } } }"},
        headers={"authorization": f"Bearer {demo_keys['tenant_admin'].token}"},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "VALIDATION"
