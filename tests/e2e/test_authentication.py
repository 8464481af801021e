"""Authentication through the ASGI app: keys, scopes, signed requests, tokens, audit, WebSocket."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect
from starlette.applications import Starlette

from domains.accounts import credentials
from domains.accounts.auth_audit import MongoAuthAudit
from domains.shared.context import TenantScope
from graph.ops.seed import DemoKey
from graph.security.auth_settings import AuthSettings
from graph.security.authn import Authenticator
from graph.settings import Settings
from tests.e2e.test_subscriptions import SUBSCRIBE, ws_session
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

VIEWER = "{ viewer { keyId role customerId } }"
ISSUE = """mutation($input: IssueApiKeyInput!) { issueApiKey(input: $input) {
             token signingSecret key { id scopes requireSignature status allowedIps } } }"""
PLACE = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id } } }"""


@pytest.fixture(scope="module")
def settings() -> Settings:
    """The test proxy (127.0.0.1, httpx's ASGI peer) is trusted to set X-Forwarded-For."""
    auth = AuthSettings(trusted_proxies=("127.0.0.1/32",))
    return Settings(mongodb_db=f"test_{uuid.uuid4().hex[:12]}", data_dir=Path("unused"), auth=auth)


def as_key(issued: dict[str, Any], name: str = "issued") -> DemoKey:
    return DemoKey(name, "?", issued["token"], None, None, None, issued["signingSecret"])


async def issue(http: httpx.AsyncClient, by: DemoKey, **spec: Any) -> dict[str, Any]:
    body = await gql(http, ISSUE, {"input": spec}, key=by)
    assert "errors" not in body, body
    issued: dict[str, Any] = body["data"]["issueApiKey"]
    return issued


async def signed_post(
    http: httpx.AsyncClient,
    key_id: str,
    signing_secret: str,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    timestamp_ms: int | None = None,
    tamper: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    timestamp = str(timestamp_ms if timestamp_ms is not None else time.time_ns() // 1_000_000)
    canonical = credentials.canonical_request(timestamp, "POST", "/graphql", body)
    response = await http.post(
        "/graphql",
        content=tamper if tamper is not None else body,
        headers={
            "content-type": "application/json",
            "x-caas-key": key_id,
            "x-caas-timestamp": timestamp,
            "x-caas-signature": credentials.sign(signing_secret, canonical),
            **(headers or {}),
        },
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def reason(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or [{}]
    found: str | None = errors[0].get("extensions", {}).get("reason")
    return found


def order_input(key: DemoKey) -> dict[str, Any]:
    return {"accountId": key.account_id, "market": "BTC-USDT", "side": "BUY", "type": "LIMIT",
            "price": "50000", "quantity": "0.001"}  # fmt: skip


async def test_a_read_only_key_reads_but_cannot_trade(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    issued = await issue(
        http, demo_keys["tenant_admin"], role="TRADER", customerId=alice.customer_id,
        scopes=["READ"],
    )  # fmt: skip
    assert issued["key"]["scopes"] == ["READ"] and not issued["key"]["requireSignature"]
    reader = as_key(issued)
    seen = await gql(http, VIEWER, key=reader)
    assert seen["data"]["viewer"]["customerId"] == alice.customer_id
    placed = await gql(http, PLACE, {"input": order_input(alice)}, key=reader)
    assert error_codes(placed) == ["FORBIDDEN"] and placed["data"] is None
    assert reason(placed) == "MISSING_SCOPE" and placed["errors"][0]["path"] == ["placeOrder"]


async def test_an_admin_key_must_sign_and_signatures_are_checked_end_to_end(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    issued = await issue(http, demo_keys["tenant_admin"], role="COMPLIANCE")
    assert issued["key"]["requireSignature"]
    key_id, secret = issued["key"]["id"], issued["signingSecret"]
    unsigned = await gql(http, VIEWER, key=as_key(issued))
    assert error_codes(unsigned) == ["UNAUTHENTICATED"] and reason(unsigned) == "SIGNATURE_REQUIRED"
    assert unsigned["errors"][0]["extensions"]["serverTime"].endswith("Z")

    ok = await signed_post(http, key_id, secret, VIEWER)
    assert ok["data"]["viewer"]["role"] == "COMPLIANCE"
    stale = await signed_post(http, key_id, secret, VIEWER, timestamp_ms=1_000)
    assert reason(stale) == "STALE_TIMESTAMP" and "data" not in stale
    tampered = await signed_post(
        http, key_id, secret, VIEWER, tamper=b'{"query":"{ markets { id } }"}'
    )
    assert reason(tampered) == "BAD_SIGNATURE"
    wrong = await signed_post(http, key_id, "sig_not-the-secret", VIEWER)
    assert reason(wrong) == "BAD_SIGNATURE"
    garbage = await signed_post(http, key_id, secret, VIEWER, headers={"x-caas-timestamp": "soon"})
    assert reason(garbage) == "MALFORMED"


async def test_a_replayed_request_is_refused(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    issued = await issue(http, demo_keys["tenant_admin"], role="RISK", requireSignature=True)
    body = json.dumps({"query": VIEWER}).encode()
    timestamp = str(time.time_ns() // 1_000_000)
    canonical = credentials.canonical_request(timestamp, "POST", "/graphql", body)
    headers = {
        "content-type": "application/json",
        "x-caas-key": issued["key"]["id"],
        "x-caas-timestamp": timestamp,
        "x-caas-signature": credentials.sign(issued["signingSecret"], canonical),
    }
    first = (await http.post("/graphql", content=body, headers=headers)).json()
    again = (await http.post("/graphql", content=body, headers=headers)).json()
    assert first["data"]["viewer"]["role"] == "RISK"
    assert reason(again) == "REPLAYED"


async def test_the_ip_allow_list_uses_forwarded_for_from_the_trusted_proxy(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    issued = await issue(
        http, demo_keys["tenant_admin"], role="RISK", scopes=["READ"],
        allowedIps=["198.51.100.0/24"],
    )  # fmt: skip
    assert issued["key"]["allowedIps"] == ["198.51.100.0/24"]
    headers = {"authorization": f"Bearer {issued['token']}"}
    query = {"query": VIEWER}
    inside = await http.post(
        "/graphql", json=query, headers={**headers, "x-forwarded-for": "198.51.100.9"}
    )
    outside = await http.post(
        "/graphql", json=query, headers={**headers, "x-forwarded-for": "203.0.113.1"}
    )
    assert inside.json()["data"]["viewer"]["role"] == "RISK"
    assert reason(outside.json()) == "IP_NOT_ALLOWED"


async def test_rotation_and_revocation_through_the_api_take_effect_at_once(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    admin = demo_keys["tenant_admin"]
    issued = await issue(http, admin, role="RISK", scopes=["READ"])
    old = as_key(issued)
    assert "errors" not in await gql(http, VIEWER, key=old)  # now cached
    rotate = """mutation($id: ID!) { rotateApiKey(id: $id, overlapSeconds: 0) {
                  token signingSecret key { id generation } } }"""
    rotated = await gql(http, rotate, {"id": issued["key"]["id"]}, key=admin)
    new = as_key(rotated["data"]["rotateApiKey"])
    assert rotated["data"]["rotateApiKey"]["key"]["generation"] == 2
    assert reason(await gql(http, VIEWER, key=old)) == "BAD_CREDENTIALS"
    assert "errors" not in await gql(http, VIEWER, key=new)
    revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { status revokedAt } }"
    revoked = await gql(http, revoke, {"id": issued["key"]["id"]}, key=admin)
    assert revoked["data"]["revokeApiKey"]["status"] == "REVOKED"
    assert reason(await gql(http, VIEWER, key=new)) == "KEY_REVOKED"
    listed = await gql(http, "{ apiKeys(first: 200) { nodes { id status } } }", key=admin)
    statuses = {n["id"]: n["status"] for n in listed["data"]["apiKeys"]["nodes"]}
    assert statuses[issued["key"]["id"]] == "REVOKED"
    traders_may_not = await gql(http, revoke, {"id": issued["key"]["id"]}, key=demo_keys["alice"])
    assert error_codes(traders_may_not) == ["FORBIDDEN"]


async def test_customer_tokens_act_for_one_customer_of_the_tenant(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    admin, alice = demo_keys["tenant_admin"], demo_keys["alice"]
    mint = """mutation($c: ID!) { issueCustomerToken(customerId: $c, ttlSeconds: 120) {
                token customerId scopes expiresAt } }"""
    minted = await gql(http, mint, {"c": alice.customer_id}, key=admin)
    token = minted["data"]["issueCustomerToken"]["token"]
    front_end = DemoKey("front", "TRADER", token, None, None, None)
    seen = await gql(http, VIEWER, key=front_end)
    assert seen["data"]["viewer"] == {
        "keyId": seen["data"]["viewer"]["keyId"], "role": "TRADER",
        "customerId": alice.customer_id,
    }  # fmt: skip
    forged = DemoKey(
        "f", "TRADER", token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB"), None, None, None
    )
    assert reason(await gql(http, VIEWER, key=forged)) == "BAD_TOKEN"
    elsewhere = await gql(http, mint, {"c": "cus_of_another_tenant"}, key=admin)
    assert error_codes(elsewhere) == ["NOT_FOUND"]
    by_a_trader = await gql(http, mint, {"c": alice.customer_id}, key=alice)
    assert error_codes(by_a_trader) == ["FORBIDDEN"]


async def test_refusals_are_audited_without_secrets_and_operators_can_read_them(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    issued = await issue(http, demo_keys["tenant_admin"], role="RISK", scopes=["READ"])
    wrong = issued["token"][:-2] + ("xy" if not issued["token"].endswith("xy") else "zz")
    await gql(http, VIEWER, key=DemoKey("w", "RISK", wrong, None, None, None))
    await app.state.platform.get(Authenticator).audit.flush()
    query = """query($k: ID) { authAuditEvents(keyId: $k, first: 5) {
                 nodes { reason keyId ip path transport method at } } }"""
    body = await gql(http, query, {"k": issued["key"]["id"]}, key=demo_keys["operator"])
    events = body["data"]["authAuditEvents"]["nodes"]
    assert events[0]["reason"] == "BAD_CREDENTIALS" and events[0]["path"] == "/graphql"
    assert events[0]["ip"] == "127.0.0.1" and events[0]["keyId"] == issued["key"]["id"]
    stored = await app.state.platform.get(MongoAuthAudit).list(TenantScope(None), 500, None)
    text = repr(stored)
    assert issued["token"].split(".")[1] not in text and wrong.split(".")[1] not in text
    denied = await gql(http, query, {"k": None}, key=demo_keys["alice"])
    assert error_codes(denied) == ["FORBIDDEN"]


async def test_an_open_subscription_closes_with_4403_when_its_token_expires(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    mint = """mutation($c: ID!) { issueCustomerToken(customerId: $c, ttlSeconds: 1) { token } }"""
    minted = await gql(http, mint, {"c": alice.customer_id}, key=demo_keys["tenant_admin"])
    token = minted["data"]["issueCustomerToken"]["token"]
    async with ws_session(app, {"Authorization": f"Bearer {token}"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        with pytest.raises(WebSocketDisconnect) as closed:
            await asyncio.wait_for(ws.receive_json(timeout=10), timeout=10)
    assert closed.value.code == 4403 and closed.value.reason == "token expired"


async def test_a_refused_key_in_connection_init_closes_4403_and_is_audited(
    app: Starlette, demo_keys: dict[str, DemoKey]
) -> None:
    async with ws_session(app, {"Authorization": "Bearer key_demo_alice.wrong"}) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_json(timeout=5)
    assert closed.value.code == 4403
    await app.state.platform.get(Authenticator).audit.flush()
    events = await app.state.platform.get(MongoAuthAudit).list(
        TenantScope(None),
        5,
        None,
        key_id="key_demo_alice",
    )
    assert events[0].transport == "ws" and events[0].reason == "BAD_CREDENTIALS"
