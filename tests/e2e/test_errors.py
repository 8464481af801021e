"""The error model over HTTP: clear GraphQL errors with stable codes, never a 500."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from domains.accounts.service import AccountsService
from graph.ops.seed import DemoKey
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]


async def test_malformed_json_is_a_400_graphql_error(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_a_mutation_over_get_is_refused_with_405(http: httpx.AsyncClient) -> None:
    response = await http.get("/graphql", params={"query": "mutation { __typename }"})
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["errors"][0]["extensions"]["code"] == "METHOD_NOT_ALLOWED"


async def test_unknown_field_is_a_validation_error(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    body = await gql(http, "{ noSuchField }", key=demo_keys["alice"])
    assert error_codes(body) == ["VALIDATION"]
    assert "noSuchField" in body["errors"][0]["message"]


async def test_wrong_variable_type_is_a_validation_error(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    body = await gql(
        http,
        "query($n: Int) { customers(first: $n) { nodes { id } } }",
        {"n": "ten"},
        key=demo_keys["tenant_admin"],
    )
    assert error_codes(body) == ["VALIDATION"]


async def test_decimal_input_must_be_a_string_without_exponent(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    query = """mutation($t: Decimal!) { createMarket(input: {baseAsset: "X1", quoteAsset: "USDT",
                 tickSize: $t, lotSize: "1", minNotional: "1"}) { id } }"""
    for bad in (0.01, "1e-2", "NaN", " 1"):
        body = await gql(http, query, {"t": bad}, key=demo_keys["operator"])
        assert error_codes(body) == ["VALIDATION"], bad
    markets = await gql(http, "{ markets { id } }", key=demo_keys["operator"])
    assert "X1-USDT" not in [m["id"] for m in markets["data"]["markets"]]


async def test_missing_and_unknown_credentials_are_unauthenticated(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    anonymous = await gql(http, "{ viewer { role } }")
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    forged = DemoKey("x", "TRADER", demo_keys["alice"].token[:-4] + "0000", None, None, None)
    body = await gql(http, "{ viewer { role } }", key=forged)
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert "unknown, revoked or malformed" in body["errors"][0]["message"]


async def test_page_size_above_the_maximum_is_refused(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    body = await gql(http, "{ accounts(first: 201) { nodes { id } } }", key=demo_keys["alice"])
    assert error_codes(body) == ["VALIDATION"]
    assert body["errors"][0]["extensions"]["max"] == 200


async def test_an_unexpected_failure_is_masked_with_a_correlation_id(
    app: Starlette,
    http: httpx.AsyncClient,
    demo_keys: dict[str, DemoKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def explode(*_: object) -> None:
        raise RuntimeError("secret connection string mongodb://admin:hunter2@db")

    service = app.state.platform.get(AccountsService)
    monkeypatch.setattr(service, "list_accounts", explode)
    response = await http.post(
        "/graphql",
        json={"query": "{ accounts { nodes { id } } }"},
        headers={"authorization": f"Bearer {demo_keys['alice'].token}"},
    )
    assert response.status_code == 200
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL"
    assert len(error["extensions"]["correlationId"]) == 32
    assert "hunter2" not in response.text and "Traceback" not in response.text


GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"


async def test_graphql_response_json_is_served_when_preferred_with_400_for_request_errors(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    headers = {
        "accept": f"{GRAPHQL_RESPONSE_JSON}, application/json;q=0.9",
        "authorization": f"Bearer {demo_keys['alice'].token}",
    }
    invalid = await http.post("/graphql", json={"query": "{ nope }"}, headers=headers)
    assert invalid.status_code == 400
    assert invalid.headers["content-type"].startswith(GRAPHQL_RESPONSE_JSON)
    assert "data" not in invalid.json()
    ok = await http.post("/graphql", json={"query": "{ viewer { role } }"}, headers=headers)
    assert ok.status_code == 200 and ok.json() == {"data": {"viewer": {"role": "TRADER"}}}
    query = "{ tenants(first: -1) { nodes { id } } }"
    field_error = await http.post("/graphql", json={"query": query}, headers=headers)
    assert field_error.status_code == 200 and field_error.json()["data"] is None


async def test_application_json_keeps_200_for_request_errors_without_a_data_entry(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/graphql", json={"query": "{ nope }"}, headers={"accept": "application/json"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert "data" not in response.json()


async def test_an_unacceptable_media_type_is_406(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept": "text/csv"}
    )
    assert response.status_code == 406
    assert response.json()["errors"][0]["extensions"]["code"] == "NOT_ACCEPTABLE"


@pytest.mark.parametrize("query", ["{", "query {", "{ viewer { role } } }", "mutation { ("])
async def test_a_syntax_error_is_a_validation_error_every_time(
    http: httpx.AsyncClient, query: str
) -> None:
    for _ in range(2):  # the second time the parser cache has seen the text
        body = await gql(http, query)
        assert error_codes(body) == ["VALIDATION"]
        assert "Syntax Error" in body["errors"][0]["message"]


async def test_the_explorer_page_and_its_assets_are_served_locally(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "/static/graphiql/graphiql.min.js" in page.text
    asset = await http.get("/static/graphiql/graphiql.min.js")
    assert asset.status_code == 200 and "javascript" in asset.headers["content-type"]
