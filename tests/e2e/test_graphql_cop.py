"""graphql-cop's security checks as tests, on the composed graph and every subgraph:
alias overloading, batching, field duplication, directive overloading, circular
introspection, mutations over GET, CSRF-able content types, field suggestions, debug and
tracing output, the explorer, and masking of unexpected errors. Each refusal has a stable
code and changes nothing; the default app has introspection and GraphiQL on, a second
("hardened") app has both off."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from graphql import get_introspection_query
from starlette.applications import Starlette

from domains.accounts.service import AccountsService
from graph.errors import INTERNAL_MESSAGE
from graph.http.app import create_app
from graph.ops.seed import DemoKey
from graph.settings import Settings
from tests.e2e.hostile_input import ENDPOINTS, refusal_code, typed_answer
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
CIRCULAR_INTROSPECTION = (  # graphql-cop's own query
    "query cop { __schema { types { fields { type { fields { type { fields { type { fields "
    "{ type { name } } } } } } } } } } }"
)


def create_tenant(name: str) -> str:
    return (
        f'mutation {{ createTenant(input: {{name: "{name}", jurisdiction: "CH", '
        f'brand: {{displayName: "{name}"}}}}) {{ id }} }}'
    )


async def post(http: httpx.AsyncClient, path: str, query: str, **headers: str) -> httpx.Response:
    return await http.post(
        path, json={"query": query}, headers={"accept": GRAPHQL_RESPONSE_JSON, **headers}
    )


async def tenant_names(http: httpx.AsyncClient, operator: DemoKey) -> set[str]:
    body = await gql(http, "{ tenants(first: 200) { nodes { name } } }", key=operator)
    return {node["name"] for node in body["data"]["tenants"]["nodes"]}


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def hardened(mongodb_uri: str) -> AsyncIterator[httpx.AsyncClient]:
    """A second app as a locked-down deployment runs it: no introspection, no GraphiQL."""
    settings = Settings(
        mongodb_db=f"test_{uuid.uuid4().hex[:12]}",
        data_dir=Path("x"),
        graphiql=False,
        introspection=False,
    )
    application = create_app(settings, mongodb_uri)
    platform = application.state.platform
    await platform.start()
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client
    await platform.client.drop_database(settings.mongodb_db)
    await platform.close()


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_alias_overloading_is_refused_before_execution(
    http: httpx.AsyncClient, path: str
) -> None:
    query = "query cop { " + " ".join(f"alias{n}: __typename" for n in range(101)) + " }"
    response = await post(http, path, query)
    assert response.status_code == 400 and refusal_code(response) == "TOO_MANY_ALIASES"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_field_duplication_is_refused_and_up_to_the_limit_runs(
    http: httpx.AsyncClient, path: str
) -> None:
    refused = await post(http, path, "query cop { " + "__typename " * 500 + "}")
    assert refused.status_code == 400 and refusal_code(refused) == "TOO_MANY_FIELD_REPEATS"
    assert refused.json()["errors"][0]["extensions"]["maxFieldRepeats"] == 20
    at_limit = await post(http, path, "{ " + "__typename " * 20 + "}")
    assert typed_answer(at_limit) == {"data": {"__typename": "Query"}}
    one_more = await post(http, path, "{ " + "__typename " * 21 + "}")
    assert refusal_code(one_more) == "TOO_MANY_FIELD_REPEATS"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_field_duplication_through_fragments_is_refused_too(
    http: httpx.AsyncClient, path: str
) -> None:
    spreads = " ".join(f"...F{n}" for n in range(25))
    fragments = " ".join(f"fragment F{n} on Query {{ __typename }}" for n in range(25))
    inline = "{ " + "... on Query { __typename } " * 25 + "}"
    for query in (f"{{ {spreads} }} {fragments}", inline):
        response = await post(http, path, query)
        assert refusal_code(response) == "TOO_MANY_FIELD_REPEATS"


@pytest.mark.parametrize(
    "directives",
    ["@aa" * 10, " @skip(if: false)" * 10, " @include(if: true)" * 6, " @deprecated" * 50],
)
async def test_directive_overloading_is_one_error_not_one_per_directive(
    http: httpx.AsyncClient, directives: str
) -> None:
    for path in ENDPOINTS:
        response = await post(http, path, f"query cop {{ __typename {directives} }}")
        assert response.status_code == 400 and refusal_code(response) == "TOO_MANY_DIRECTIVES"


async def test_directives_up_to_the_limit_are_validated_as_usual(http: httpx.AsyncClient) -> None:
    query = "{ __typename @skip(if: false) @include(if: true) }"
    assert typed_answer(await post(http, "/graphql", query)) == {"data": {"__typename": "Query"}}
    five_unknown = await post(http, "/graphql", "{ __typename @a @b @c @d @e }")
    assert error_codes(five_unknown.json()) == ["VALIDATION"] * 5
    six = await post(http, "/graphql", "{ __typename @a @b @c @d @e @f }")
    assert refusal_code(six) == "TOO_MANY_DIRECTIVES"
    assert six.json()["errors"][0]["extensions"]["maxDirectives"] == 5


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_circular_introspection_query_is_too_deep_but_the_standard_one_runs(
    http: httpx.AsyncClient, path: str
) -> None:
    circular = await post(http, path, CIRCULAR_INTROSPECTION)
    assert circular.status_code == 400 and refusal_code(circular) == "QUERY_TOO_DEEP"
    standard = typed_answer(await post(http, path, get_introspection_query(descriptions=True)))
    assert "errors" not in standard and len(standard["data"]["__schema"]["types"]) > 25


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_get_runs_queries_but_refuses_mutations_with_405(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], path: str
) -> None:
    operator = demo_keys["operator"]
    auth = {"authorization": f"Bearer {operator.token}"}
    query = await http.get(path, params={"query": "{ __typename }"}, headers=auth)
    assert typed_answer(query) == {"data": {"__typename": "Query"}}
    mutation = await http.get(path, params={"query": create_tenant("GET Bank")}, headers=auth)
    assert mutation.status_code == 405 and mutation.headers["allow"] == "POST"
    assert refusal_code(mutation) == "METHOD_NOT_ALLOWED"
    assert "GET Bank" not in await tenant_names(http, operator)


def csrf_post(content_type: str, query: str) -> dict[str, Any]:
    """httpx arguments of a POST a page on another site can make without a preflight."""
    body = json.dumps({"query": query})
    if content_type == "text/plain":
        return {"content": body, "headers": {"content-type": "text/plain"}}
    if content_type == "multipart/form-data":
        return {"files": {"operations": (None, body)}}
    return {"data": {"query": query}}


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
async def test_a_form_post_never_executes_a_mutation(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], content_type: str
) -> None:
    """Browsers send these content types cross-site without a preflight (CSRF)."""
    operator = demo_keys["operator"]
    name = f"CSRF {content_type.split('/')[1]} Bank"
    for path in ENDPOINTS:
        request = csrf_post(content_type, create_tenant(name))
        headers = {"authorization": f"Bearer {operator.token}", **request.pop("headers", {})}
        response = await http.post(path, headers=headers, **request)
        assert response.status_code == 400 and refusal_code(response) == "BAD_REQUEST"
    assert name not in await tenant_names(http, operator)


async def test_a_batch_never_executes_a_mutation_and_json_posts_do(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator = demo_keys["operator"]
    headers = {"authorization": f"Bearer {operator.token}"}
    batch = [{"query": create_tenant("Batch Bank")}, {"query": "{ __typename }"}]
    for path in ENDPOINTS:
        response = await http.post(path, json=batch, headers=headers)
        assert response.status_code == 400 and refusal_code(response) == "BAD_REQUEST"
    single = await http.post(
        "/graphql", json={"query": create_tenant("JSON Bank")}, headers=headers
    )
    assert "errors" not in typed_answer(single)
    names = await tenant_names(http, operator)
    assert "JSON Bank" in names and "Batch Bank" not in names


SUGGESTIVE = [
    "{ viewr { role } }",  # field
    "{ viewer { rol } }",  # field of a type
    "{ markets(kin: SPOT) { id } }",  # argument
    "query($x: Strin) { __typename }",  # type
    'mutation { placeOrder(input: {accountId: "a", market: "BTC-USDT", side: BYU, '
    'type: LIMIT, quantity: "1"}) { replayed } }',  # enum value
]


@pytest.mark.parametrize("query", SUGGESTIVE)
async def test_field_suggestions_are_given_only_while_introspection_is_on(
    http: httpx.AsyncClient, hardened: httpx.AsyncClient, query: str
) -> None:
    open_body = typed_answer(await http.post("/graphql", json={"query": query}))
    assert "Did you mean" in str(open_body), open_body
    for path in ENDPOINTS:
        body = typed_answer(await hardened.post(path, json={"query": query}))
        assert error_codes(body) and "Did you mean" not in str(body), body


async def test_variable_values_get_no_suggestions_while_introspection_is_off(
    http: httpx.AsyncClient, hardened: httpx.AsyncClient
) -> None:
    query = "mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { replayed } }"
    for variables in (
        {"i": {"accountId": "a", "market": "m", "side": "BYU", "type": "LIMIT", "quantity": "1"}},
        {"i": {"accountId": "a", "market": "m", "side": "BUY", "typ": "LIMIT", "quantity": "1"}},
    ):
        request = {"query": query, "variables": variables}
        assert "Did you mean" in str(typed_answer(await http.post("/graphql", json=request)))
        body = typed_answer(await hardened.post("/graphql", json=request))
        assert set(error_codes(body)) == {"VALIDATION"} and "Did you mean" not in str(body), body


async def test_no_tracing_debug_or_stack_output_whatever_is_asked(http: httpx.AsyncClient) -> None:
    for params in ({}, {"debug": "1"}, {"debug": "true", "trace": "1"}):
        ask = {"query": "{ __typename }", "extensions": {"tracing": True, "debug": True}}
        response = await http.post("/graphql", params=params, json=ask)
        assert response.json() == {"data": {"__typename": "Query"}}
        error = (await http.post("/graphql", params=params, json={"query": "{ nope }"})).json()
        assert set(error["errors"][0]) <= {"message", "locations", "extensions"}
        assert error["errors"][0]["extensions"] == {"code": "VALIDATION"}


async def test_the_explorer_is_served_only_where_the_settings_enable_it(
    http: httpx.AsyncClient, hardened: httpx.AsyncClient
) -> None:
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    for path in ENDPOINTS:
        closed = await hardened.get(path, headers={"accept": "text/html"})
        assert closed.status_code == 404 and refusal_code(closed) == "NOT_FOUND"
        assert "graphiql" not in closed.text.lower()


@pytest.mark.parametrize("path", ["/graphql", "/subgraphs/accounts/graphql"])
async def test_an_unhandled_error_is_masked_as_internal_without_details(
    app: Starlette,
    http: httpx.AsyncClient,
    demo_keys: dict[str, DemoKey],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    async def explode(*_: object) -> None:
        raise RuntimeError("KeyError at /srv/caas/secret.py line 3: password=hunter2")

    monkeypatch.setattr(app.state.platform.get(AccountsService), "list_accounts", explode)
    headers = {"authorization": f"Bearer {demo_keys['alice'].token}"}
    response = await http.post(
        path, json={"query": "{ accounts { nodes { id } } }"}, headers=headers
    )
    error = response.json()["errors"][0]
    assert response.status_code == 200 and error["message"] == INTERNAL_MESSAGE
    assert set(error["extensions"]) == {"code", "correlationId"}
    assert error["extensions"]["code"] == "INTERNAL"
    assert not any(leak in response.text for leak in ("hunter2", "secret.py", "KeyError"))
