"""Rate limits through the ASGI app with the in-process limiter (no REDIS_URL): per API key
with separate read and mutation budgets, per client address without a valid key; refused as
RATE_LIMITED with retryAfter, HTTP 429 with Retry-After, never 401.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from graph.ops.seed import DemoKey
from graph.security.limits import LimitSettings
from graph.settings import Settings
from tests.e2e.test_limits import ws_connect

pytestmark = [pytest.mark.e2e, pytest.mark.store]

LIMITS = LimitSettings(
    rate_reads="5/minute",
    rate_mutations="2/minute",
    rate_anonymous="3/minute",
    rate_auth_failures="4/minute",
    trusted_proxy_hops=1,
)
CANCEL = 'mutation { cancelOrder(id: "ord_nope") { order { id } } }'


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(mongodb_db=f"test_{uuid.uuid4().hex[:12]}", data_dir=Path("x"), limits=LIMITS)


async def call(
    http: httpx.AsyncClient,
    query: str,
    *,
    token: str | None = None,
    address: str = "203.0.113.1",
    accept: str = "application/json",
    path: str = "/graphql",
) -> httpx.Response:
    headers = {"accept": accept, "x-forwarded-for": f"198.51.100.7, {address}"}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    return await http.post(path, json={"query": query}, headers=headers)


def assert_rate_limited(response: httpx.Response, budget: str) -> int:
    assert response.status_code == 429, response.text
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= 60
    body: dict[str, Any] = response.json()
    assert "data" not in body
    [error] = body["errors"]
    assert error["extensions"] == {
        "code": "RATE_LIMITED",
        "retryAfter": retry_after,
        "budget": budget,
    }
    return retry_after


async def test_anonymous_requests_are_limited_per_address_with_429_and_retry_after(
    http: httpx.AsyncClient,
) -> None:
    for _ in range(3):
        assert (await call(http, "{ __typename }", address="203.0.113.10")).status_code == 200
    assert_rate_limited(await call(http, "{ __typename }", address="203.0.113.10"), "anonymous")
    strict = await call(
        http, "{ __typename }", address="203.0.113.10", accept="application/graphql-response+json"
    )
    assert_rate_limited(strict, "anonymous")
    other_address = await call(http, "{ __typename }", address="203.0.113.11")
    assert other_address.status_code == 200


async def test_unknown_keys_spend_the_address_budget_and_get_429_not_401(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    forged = demo_keys["alice"].token[:-4] + "0000"
    for _ in range(3):
        answer = await call(http, "{ viewer { role } }", token=forged, address="203.0.113.20")
        assert answer.status_code == 200
        assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    refused = await call(http, "{ viewer { role } }", token=forged, address="203.0.113.20")
    assert_rate_limited(refused, "anonymous")


async def test_an_address_that_keeps_failing_authentication_is_refused_before_verification(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    """Refused credentials spend the address's auth-failure budget; once it is spent, even a
    valid key from that address is answered 429 without any (argon2) verification."""
    forged, alice = demo_keys["bob"].token[:-4] + "0000", demo_keys["alice"].token
    for _ in range(4):
        await call(http, "{ viewer { role } }", token=forged, address="203.0.113.30")
    throttled = await call(http, "{ viewer { role } }", token=alice, address="203.0.113.30")
    assert_rate_limited(throttled, "auth_failures")
    elsewhere = await call(http, "{ viewer { role } }", token=alice, address="203.0.113.31")
    assert elsewhere.json()["data"]["viewer"]["role"] == "TRADER"


async def test_a_key_has_separate_read_and_mutation_budgets_shared_by_every_endpoint(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    bob, carol = demo_keys["bob"].token, demo_keys["tenant_admin"].token
    for n in range(5):  # reads from several addresses and endpoints: one budget per key
        path = "/graphql" if n % 2 else "/subgraphs/accounts/graphql"
        answer = await call(
            http, "{ viewer { role } }", token=bob, address=f"192.0.2.{n}", path=path
        )
        assert answer.status_code == 200 and "errors" not in answer.json()
    assert_rate_limited(await call(http, "{ viewer { role } }", token=bob), "reads")
    for _ in range(2):  # mutations have their own budget (ORDER_NOT_FOUND: it executed)
        answer = await call(http, CANCEL, token=bob)
        assert answer.status_code == 200
        assert answer.json()["errors"][0]["extensions"]["code"] == "ORDER_NOT_FOUND"
    assert_rate_limited(await call(http, CANCEL, token=bob), "mutations")
    other_key = await call(http, "{ viewer { role } }", token=carol)
    assert other_key.status_code == 200 and "errors" not in other_key.json()


async def test_a_websocket_subscribe_over_the_budget_is_a_rate_limited_error_message(
    app: Starlette, demo_keys: dict[str, DemoKey]
) -> None:
    operator = demo_keys["operator"].token
    async with ws_connect(app) as ws:
        await ws.send_json(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {operator}"}}
        )
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        answers = []
        for n in range(6):
            payload = {"query": "{ viewer { role } }"}
            await ws.send_json({"id": str(n), "type": "subscribe", "payload": payload})
            answers.append(await ws.receive_json(timeout=5))
            if answers[-1]["type"] == "next":
                assert (await ws.receive_json(timeout=5))["type"] == "complete"
    assert [a["type"] for a in answers] == ["next"] * 5 + ["error"]
    extensions = answers[-1]["payload"][0]["extensions"]
    assert extensions["code"] == "RATE_LIMITED" and extensions["retryAfter"] >= 1
