"""Query limits (tokens, depth, aliases, cost), page size and payload size: just under passes,
just over is refused before execution with a stable code, on every endpoint and transport.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from domains.accounts.service import AccountsService
from graph.ops.seed import DemoKey
from graph.security.limits import LimitSettings
from graph.settings import Settings
from tests.graphql_client import error_codes

pytestmark = [pytest.mark.e2e, pytest.mark.store]

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
LIMITS = LimitSettings(
    max_tokens=300,
    max_comments=5,
    max_field_repeats=300,  # the token test repeats __typename (tests/e2e/test_graphql_cop.py)
    max_depth=6,
    max_aliases=4,
    max_cost=1_000,
    max_body_bytes=8_192,
    max_ws_message_bytes=8_192,
    rate_limits=False,
)
ENDPOINTS = ["/graphql", "/subgraphs/accounts/graphql"]
DEPTH_6 = ['account(id: "nope")', "customer", "accounts", "nodes", "customer", "tenant"]
DEPTH_7 = ['account(id: "nope")', "customer", "accounts", "nodes", "customer", "accounts", "nodes"]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(mongodb_db=f"test_{uuid.uuid4().hex[:12]}", data_dir=Path("x"), limits=LIMITS)


async def post(
    http: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    key: DemoKey | None = None,
    path: str = "/graphql",
) -> httpx.Response:
    headers = {"accept": GRAPHQL_RESPONSE_JSON}
    if key is not None:
        headers["authorization"] = f"Bearer {key.token}"
    body = {"query": query, "variables": variables or {}}
    return await http.post(path, json=body, headers=headers)


def chain(levels: int) -> str:
    """A query ``levels`` (6 or 7) fields deep: account -> customer -> accounts -> ..."""
    fields = DEPTH_6 if levels == 6 else DEPTH_7
    return "{ " + " { ".join(fields) + " { id }" + " }" * levels


def refused(response: httpx.Response, code: str) -> dict[str, Any]:
    """The single error of a request refused before execution with ``code``."""
    assert response.status_code == 400, response.text
    body: dict[str, Any] = response.json()
    assert "data" not in body and error_codes(body) == [code], body
    error: dict[str, Any] = body["errors"][0]
    return error


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_query_at_the_depth_limit_runs_and_one_level_deeper_is_query_too_deep(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], path: str
) -> None:
    admin = demo_keys["tenant_admin"]
    at_limit = await post(http, chain(6), key=admin, path=path)
    assert at_limit.status_code == 200 and at_limit.json() == {"data": {"account": None}}
    error = refused(await post(http, chain(7), key=admin, path=path), "QUERY_TOO_DEEP")
    assert error["extensions"]["maxDepth"] == 6 and "depth of 6" in error["message"]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_aliases_at_the_limit_run_and_one_more_is_too_many_aliases(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], path: str
) -> None:
    alice = demo_keys["alice"]
    four = "{ a: viewer { role } b: viewer { role } c: viewer { role } d: viewer { role } }"
    answer = await post(http, four, key=alice, path=path)
    assert answer.status_code == 200 and answer.json()["data"]["d"] == {"role": "TRADER"}
    hidden_in_fragment = "{ ...F e: viewer { role } } fragment F on Query " + four
    error = refused(await post(http, hidden_in_fragment, key=alice, path=path), "TOO_MANY_ALIASES")
    assert error["extensions"]["maxAliases"] == 4 and "5 aliases" in error["message"]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_document_at_the_token_limit_parses_and_one_token_more_is_query_too_large(
    http: httpx.AsyncClient, path: str
) -> None:
    def typenames(count: int) -> str:  # count + 2 lexical tokens
        return "{ " + " ".join(["__typename"] * count) + " }"

    answer = await post(http, typenames(298), path=path)
    assert answer.status_code == 200 and answer.json()["data"]["__typename"] == "Query"
    for _ in range(2):  # the second time the parser cache has seen the text
        error = refused(await post(http, typenames(299), path=path), "QUERY_TOO_LARGE")
        assert "more than 300 tokens" in error["message"]
    comments = "".join(f"# {n}\n" for n in range(6)) + "{ __typename }"
    refused(await post(http, comments, path=path), "QUERY_TOO_LARGE")


def accounts_query() -> str:
    return "query($n: Int) { accounts(first: $n) { nodes { id balances { asset } } } }"


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_cost_at_the_limit_runs_and_above_it_is_refused_before_execution(
    app: Starlette,
    http: httpx.AsyncClient,
    demo_keys: dict[str, DemoKey],
    path: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = demo_keys["alice"]
    # cost = 1 (accounts) + n * (1 (nodes) + 10 (balances, default list size) * 1)
    under = await post(http, accounts_query(), {"n": 90}, key=alice, path=path)
    assert under.status_code == 200 and "errors" not in under.json()  # 991

    async def must_not_run(*_: object) -> None:
        raise AssertionError("executed a query over the cost limit")

    monkeypatch.setattr(app.state.platform.get(AccountsService), "list_accounts", must_not_run)
    over = await post(http, accounts_query(), {"n": 91}, key=alice, path=path)
    error = refused(over, "QUERY_TOO_COSTLY")
    assert error["extensions"]["cost"] == 1_002 and error["extensions"]["maxCost"] == 1_000
    assert "1002" in error["message"] and "1000" in error["message"]


async def test_cost_counts_the_default_page_size_when_first_is_left_out(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    # 1 + 50 * (1 + 1 + 10 * (1 + 0)) * ... customers(50) x accounts(default 50): far over
    nested = "{ customers { nodes { accounts { nodes { id } } } } }"
    error = refused(await post(http, nested, key=demo_keys["tenant_admin"]), "QUERY_TOO_COSTLY")
    assert error["extensions"]["cost"] == 1 + 50 * (1 + 1 + 50 * 1)


PAGED = [
    ("operator", "{ tenants(first: %d) { pageInfo { hasNextPage } } }"),
    ("tenant_admin", "{ customers(first: %d) { pageInfo { hasNextPage } } }"),
    ("alice", "{ accounts(first: %d) { pageInfo { hasNextPage } } }"),
    ("alice", "{ orders(first: %d) { pageInfo { hasNextPage } } }"),
    ("alice", '{ trades(market: "BTC-USDT", first: %d) { pageInfo { hasNextPage } } }'),
    ("tenant_admin", "{ customers(first: 1) { nodes { accounts(first: %d) { nodes { id } } } } }"),
    ("alice", "{ accounts(first: 1) { nodes { orders(first: %d) { nodes { id } } } } }"),
]


@pytest.mark.parametrize(("key", "query"), PAGED)
async def test_every_connection_refuses_a_page_over_the_maximum(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], key: str, query: str
) -> None:
    ok = await post(http, query % 0, key=demo_keys[key])
    assert ok.status_code == 200 and "errors" not in ok.json(), ok.text
    too_big = (await post(http, query % 201, key=demo_keys[key])).json()
    assert error_codes(too_big) == ["VALIDATION"]
    assert too_big["errors"][0]["extensions"] == {
        "code": "VALIDATION",
        "field": "first",
        "max": 200,
    }


def padded_body(size: int) -> bytes:
    """A valid request body of exactly ``size`` bytes (the query padded with spaces)."""
    template = '{"query": "{ __typename %s}"}'
    return (template % (" " * (size - len(template) + 2))).encode()


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_a_body_at_the_limit_is_served_and_one_byte_more_is_413(
    http: httpx.AsyncClient, path: str
) -> None:
    headers = {"content-type": "application/json"}
    at_limit = await http.post(path, content=padded_body(8_192), headers=headers)
    assert at_limit.status_code == 200 and at_limit.json() == {"data": {"__typename": "Query"}}
    over = await http.post(path, content=padded_body(8_193), headers=headers)
    assert over.status_code == 413
    assert over.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert "8192 bytes" in over.json()["errors"][0]["message"]


async def test_a_chunked_body_without_content_length_is_counted_as_it_arrives(
    http: httpx.AsyncClient,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        body = padded_body(20_000)
        for start in range(0, len(body), 4_096):
            yield body[start : start + 4_096]

    response = await http.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


@asynccontextmanager
async def ws_connect(
    app: Starlette, path: str = "/graphql"
) -> AsyncIterator[AsyncWebSocketSession]:
    """A graphql-transport-ws connection to ``path`` through the ASGI app."""
    async with httpx.AsyncClient(transport=ASGIWebSocketTransport(app=app)) as client:
        connect: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
            f"http://testserver{path}", client, subprotocols=["graphql-transport-ws"]
        )
        async with connect as ws:
            yield ws


async def ws_exchange(app: Starlette, path: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Init, send ``messages``, return the first message after the ack."""
    async with ws_connect(app, path) as ws:
        await ws.send_json({"type": "connection_init", "payload": {}})
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        for message in messages:
            await ws.send_json(message)
        try:
            answer: dict[str, Any] = await ws.receive_json(timeout=5)
        except WebSocketDisconnect as closed:
            return {"type": "closed", "code": closed.code, "reason": closed.reason}
        return answer


def subscribe(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_limits_apply_to_websocket_operations_as_error_messages(
    app: Starlette, path: str
) -> None:
    too_deep = await ws_exchange(app, path, [subscribe(chain(7))])
    assert too_deep["type"] == "error" and too_deep["id"] == "1"
    assert too_deep["payload"][0]["extensions"]["code"] == "QUERY_TOO_DEEP"
    large = await ws_exchange(app, path, [subscribe("{ " + "__typename " * 299 + "}")])
    assert large["type"] == "error"
    assert large["payload"][0]["extensions"]["code"] == "QUERY_TOO_LARGE"
    costly = await ws_exchange(app, path, [subscribe(accounts_query(), {"n": 91})])
    assert costly["type"] == "error"
    assert costly["payload"][0]["extensions"] == {
        "code": "QUERY_TOO_COSTLY",
        "cost": 1_002,
        "maxCost": 1_000,
    }


async def test_a_websocket_message_over_the_limit_closes_the_socket_with_1009(
    app: Starlette,
) -> None:
    small = await ws_exchange(app, "/graphql", [subscribe("{ __typename }")])
    assert small["type"] == "next" and small["payload"] == {"data": {"__typename": "Query"}}
    big = await ws_exchange(app, "/graphql", [subscribe("{ __typename }" + " " * 8_192)])
    assert big == {"type": "closed", "code": 1009, "reason": "message exceeds 8192 bytes"}


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_an_unexpected_exception_is_a_masked_internal_error_on_every_endpoint(
    app: Starlette,
    http: httpx.AsyncClient,
    demo_keys: dict[str, DemoKey],
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    async def explode(*_: object) -> None:
        raise RuntimeError("mongodb://admin:hunter2@db/caas in /srv/caas/domains/x.py")

    monkeypatch.setattr(app.state.platform.get(AccountsService), "list_accounts", explode)
    response = await post(http, "{ accounts { nodes { id } } }", key=demo_keys["bob"], path=path)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None and error_codes(body) == ["INTERNAL"]
    assert body["errors"][0]["message"].startswith("Internal error.")
    assert set(body["errors"][0]["extensions"]) == {"code", "correlationId"}
    for leaked in ("hunter2", "Traceback", "/srv/caas", "RuntimeError", "mongodb://"):
        assert leaked not in response.text
