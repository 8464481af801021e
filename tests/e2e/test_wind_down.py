"""Wind-down over HTTP and WebSocket: setTenantTradingMode per mode and per role, what each
mode refuses (orders, amends, customer cancels, withdrawals), the cancels of WITHDRAW_ONLY,
the audit trail, the tenantStatus stream, bad input, and a replay of the journal.

Demo data: Demo Bank (alice, bob, carol and the treasury) trades BTC-USDT, ETH-USDT and
BTC-USDT-PERP. Every test leaves the bank NORMAL again (the ``normal_again`` fixture).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from graph.settings import Settings
from tests.e2e.test_subscriptions import ws_session
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

SET = """mutation($m: TradingMode!, $r: String!, $t: ID) {
  setTenantTradingMode(mode: $m, reason: $r, tenant: $t) { previousMode accounts
  canceledOrders closedPositions firstSequence lastSequence
  tenant { id tradingMode tradingModeReason tradingModeSince } } }"""
TENANT = "query($t: ID!) { tenant(id: $t) { tradingMode tradingModeReason tradingModeSince } }"
PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id status } } }"""
CANCEL = "mutation($id: ID!) { cancelOrder(id: $id) { order { id status } } }"
AMEND = """mutation($id: ID!, $q: Decimal) { amendOrder(id: $id, quantity: $q) {
  order { id } } }"""
ORDER = "query($id: ID!) { order(id: $id) { status } }"
WITHDRAW = """mutation($a: ID!, $k: String!) { requestWithdrawal(input: {accountId: $a,
  asset: "BTC", amount: "0.01", destination: "bcrt1q4pvv7fky4mvmnsd89faf5hex4gzfl6h44xzl84",
  idempotencyKey: $k}) { withdrawal { id status } } }"""
TRAIL = """query($op: String) { auditTrail(operation: $op, first: 20) { nodes { actor role
  outcome arguments before after } } }"""
ARM = """mutation($a: ID!, $t: Int!) { countdownCancelAll(accountId: $a, timeoutMs: $t) {
  timeoutMs } }"""
STATUS = """subscription($t: ID) { tenantStatus(tenant: $t) { tenantId tradingMode reason since
  canceledOrders closedPositions } }"""


async def ok(http: httpx.AsyncClient, query: str, variables: dict[str, Any], key: DemoKey) -> Any:
    body = await gql(http, query, variables, key=key)
    assert not body.get("errors"), body
    return body["data"]


async def set_mode(
    http: httpx.AsyncClient, key: DemoKey, mode: str, reason: str = "drill",
    tenant: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    return await gql(http, SET, {"m": mode, "r": reason, "t": tenant}, key=key)


def order_input(key: DemoKey, side: str = "BUY", price: str = "60000", **extra: Any) -> Any:
    return {"accountId": key.account_id, "market": "BTC-USDT", "side": side, "type": "LIMIT",
            "price": price, "quantity": "0.001", **extra}  # fmt: skip


async def place(http: httpx.AsyncClient, key: DemoKey, **fields: Any) -> dict[str, Any]:
    return await gql(http, PLACE, {"i": order_input(key, **fields)}, key=key)


async def rest(http: httpx.AsyncClient, key: DemoKey, price: str = "60000") -> str:
    body = await place(http, key, price=price)
    assert "errors" not in body, body
    order_id: str = body["data"]["placeOrder"]["order"]["id"]
    return order_id


@pytest_asyncio.fixture(loop_scope="session", autouse=True)
async def normal_again(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> AsyncIterator[None]:
    yield
    body = await set_mode(http, demo_keys["tenant_admin"], "NORMAL", "drill over")
    assert "errors" not in body, body


async def test_risk_restricts_its_tenant_and_only_admins_restore_normal(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    risk, admin, tenant = demo_keys["risk"], demo_keys["tenant_admin"], demo_keys["risk"].tenant_id
    body = await set_mode(http, risk, "REDUCE_ONLY", "exposure limit breached")
    changed = body["data"]["setTenantTradingMode"]
    assert changed["previousMode"] == "NORMAL" and changed["accounts"] >= 1
    assert changed["tenant"]["tradingMode"] == "REDUCE_ONLY"
    assert changed["tenant"]["tradingModeReason"] == "exposure limit breached"
    assert changed["tenant"]["tradingModeSince"]
    seen = (await ok(http, TENANT, {"t": tenant}, demo_keys["alice"]))["tenant"]
    assert seen == {k: v for k, v in changed["tenant"].items() if k != "id"}  # customers see it
    for mode in ("CANCEL_ONLY", "HALTED", "WITHDRAW_ONLY"):
        body = await set_mode(http, risk, mode, f"risk says {mode}")
        assert body["data"]["setTenantTradingMode"]["tenant"]["tradingMode"] == mode, body
    assert error_codes(await set_mode(http, risk, "NORMAL", "all clear")) == ["FORBIDDEN"]
    for name in ("alice", "compliance"):
        assert error_codes(await set_mode(http, demo_keys[name], "HALTED")) == ["FORBIDDEN"]
    still = (await ok(http, TENANT, {"t": tenant}, admin))["tenant"]
    assert still["tradingMode"] == "WITHDRAW_ONLY"
    restored = await set_mode(http, admin, "NORMAL", "all clear")
    assert restored["data"]["setTenantTradingMode"]["previousMode"] == "WITHDRAW_ONLY"
    operator = demo_keys["operator"]
    assert error_codes(await set_mode(http, operator, "HALTED")) == ["VALIDATION"]
    by_operator = await set_mode(http, operator, "HALTED", "platform incident", tenant)
    assert by_operator["data"]["setTenantTradingMode"]["tenant"]["tradingMode"] == "HALTED"
    back = await set_mode(http, operator, "NORMAL", "incident over", tenant)
    assert back["data"]["setTenantTradingMode"]["tenant"]["tradingMode"] == "NORMAL"


async def test_bad_input_gets_a_stable_code_and_changes_nothing(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    risk, admin, operator = demo_keys["risk"], demo_keys["tenant_admin"], demo_keys["operator"]
    before = (await ok(http, TENANT, {"t": risk.tenant_id}, admin))["tenant"]
    for reason in ("", "   ", "x" * 501, "bad\x00reason"):
        assert error_codes(await set_mode(http, risk, "HALTED", reason)) == ["VALIDATION"], reason
    body = await gql(http, SET, {"m": "PANIC", "r": "no such mode"}, key=risk)
    assert error_codes(body) == ["VALIDATION"]
    assert error_codes(await set_mode(http, admin, "HALTED", "x", "ten_other")) == ["FORBIDDEN"]
    assert error_codes(await set_mode(http, risk, "HALTED", "x", "ten_other")) == ["FORBIDDEN"]
    assert error_codes(await set_mode(http, operator, "HALTED", "x", "ten_nobody")) == ["NOT_FOUND"]
    assert error_codes(await gql(http, SET, {"m": "HALTED", "r": "x"})) == ["UNAUTHENTICATED"]
    assert (await ok(http, TENANT, {"t": risk.tenant_id}, admin))["tenant"] == before


@pytest.mark.parametrize("mode", ["CANCEL_ONLY", "HALTED", "WITHDRAW_ONLY", "WOUND_DOWN"])
async def test_modes_without_trading_refuse_new_orders_and_amends(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], mode: str
) -> None:
    alice, admin = demo_keys["alice"], demo_keys["tenant_admin"]
    resting = await rest(http, alice, "59000")
    assert "errors" not in await set_mode(http, demo_keys["risk"], mode)
    for side in ("BUY", "SELL"):
        body = await place(http, alice, side=side, price="59000" if side == "BUY" else "90000")
        assert error_codes(body) == ["TRADING_MODE_RESTRICTED"], body
        assert body["errors"][0]["extensions"]["tradingMode"] == mode
    expected = "CANCELED" if mode in ("WITHDRAW_ONLY", "WOUND_DOWN") else "NEW"
    assert (await ok(http, ORDER, {"id": resting}, alice))["order"]["status"] == expected
    if expected == "NEW":  # (a cancelled order is no longer live: ORDER_NOT_FOUND)
        body = await gql(http, AMEND, {"id": resting, "q": "0.0005"}, key=alice)
        assert error_codes(body) == ["TRADING_MODE_RESTRICTED"], body
        await ok(http, CANCEL, {"id": resting}, admin)


async def test_reduce_only_lets_spot_holdings_be_sold_but_not_bought(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    resting = await rest(http, alice, "58000")
    assert "errors" not in await set_mode(http, demo_keys["risk"], "REDUCE_ONLY")
    body = await place(http, alice, side="BUY", price="58000")
    assert error_codes(body) == ["TRADING_MODE_RESTRICTED"], body
    sell = await place(http, alice, side="SELL", price="70000")
    assert "errors" not in sell, sell
    grow = await gql(http, AMEND, {"id": resting, "q": "0.002"}, key=alice)
    assert error_codes(grow) == ["TRADING_MODE_RESTRICTED"], grow
    shrink = await gql(http, AMEND, {"id": resting, "q": "0.0005"}, key=alice)
    assert "errors" not in shrink, shrink
    for order_id in (resting, sell["data"]["placeOrder"]["order"]["id"]):
        await ok(http, CANCEL, {"id": order_id}, alice)


async def test_halted_refuses_customer_cancels_and_withdrawals_but_not_the_bank(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, admin = demo_keys["alice"], demo_keys["tenant_admin"]
    resting = await rest(http, alice, "59700")
    assert "errors" not in await set_mode(http, demo_keys["risk"], "HALTED", "suspected breach")
    assert error_codes(await gql(http, CANCEL, {"id": resting}, key=alice)) == [
        "TRADING_MODE_RESTRICTED"
    ]
    armed = await gql(http, ARM, {"a": alice.account_id, "t": 5_000}, key=alice)
    assert error_codes(armed) == ["TRADING_MODE_RESTRICTED"], armed  # a cancel to come
    assert "errors" not in await gql(http, ARM, {"a": alice.account_id, "t": 0}, key=alice)
    refused = await gql(http, WITHDRAW, {"a": alice.account_id, "k": "halted-1"}, key=admin)
    assert error_codes(refused) == ["TENANT_HALTED"], refused
    assert (await ok(http, ORDER, {"id": resting}, alice))["order"]["status"] == "NEW"
    canceled = await ok(http, CANCEL, {"id": resting}, admin)  # the bank itself still may
    assert canceled["cancelOrder"]["order"]["status"] == "CANCELED"


async def test_withdraw_only_cancels_every_open_order_and_lets_withdrawals_run(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob, admin = demo_keys["alice"], demo_keys["bob"], demo_keys["tenant_admin"]
    orders = [await rest(http, alice, "59800"), await rest(http, bob, "59801"),
              await rest(http, alice, "59802")]  # fmt: skip
    body = await set_mode(http, admin, "WITHDRAW_ONLY", "licence withdrawn")
    changed = body["data"]["setTenantTradingMode"]
    assert changed["canceledOrders"] >= 3, changed
    for order_id in orders:
        assert (await ok(http, ORDER, {"id": order_id}, admin))["order"]["status"] == "CANCELED"
    platform: Platform = app.state.platform
    notes = [note async for doc in platform.db.journal.find({}, {"notes": 1})
             for note in doc.get("notes", {}).values()
             if note.get("trading_mode") == "WITHDRAW_ONLY"]  # fmt: skip
    assert len(notes) >= 2  # the modes and the cancels, each a journaled command
    withdrawal = await ok(http, WITHDRAW, {"a": alice.account_id, "k": "wo-1"}, admin)
    assert withdrawal["requestWithdrawal"]["withdrawal"]["status"] in ("BROADCAST", "CONFIRMED")


async def test_each_change_is_in_the_audit_trail_with_before_and_after(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    risk = demo_keys["risk"]
    assert "errors" not in await set_mode(http, risk, "CANCEL_ONLY", "audit me")
    assert error_codes(await set_mode(http, risk, "NORMAL", "not mine to lift")) == ["FORBIDDEN"]
    trail = await ok(http, TRAIL, {"op": "mutation setTenantTradingMode"}, demo_keys["compliance"])
    refused, done = trail["auditTrail"]["nodes"][:2]
    assert (refused["role"], refused["outcome"]) == ("RISK", "FORBIDDEN")
    assert list(json.loads(refused["arguments"])) == ["sha256"]
    assert (done["role"], done["outcome"]) == ("RISK", "OK")
    assert json.loads(done["arguments"])["reason"] == "audit me"
    assert json.loads(done["before"])["tradingMode"] == "NORMAL"
    after = json.loads(done["after"])
    assert after["tenant"]["tradingMode"] == "CANCEL_ONLY"


async def _next(ws: Any, sub_id: str = "1") -> dict[str, Any]:
    message = await ws.receive_json(timeout=5)
    while message.get("id") != sub_id or message["type"] == "complete":  # others' endings
        message = await ws.receive_json(timeout=5)
    assert message["type"] == "next", message
    data: dict[str, Any] = message["payload"]["data"]["tenantStatus"]
    return data


async def _subscribe(ws: Any, sub_id: str, variables: dict[str, Any]) -> None:
    payload = {"query": STATUS, "variables": variables}
    await ws.send_json({"id": sub_id, "type": "subscribe", "payload": payload})


async def _refusal(ws: Any, sub_id: str) -> str:
    message = await ws.receive_json(timeout=5)
    assert message["id"] == sub_id and message["type"] in ("error", "next"), message
    errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
    code: str = errors[0]["extensions"]["code"]
    return code


async def test_tenant_status_is_pushed_to_the_tenant_and_to_operators_only(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, tenant = demo_keys["alice"], demo_keys["alice"].tenant_id
    operator = demo_keys["operator"]
    async with ws_session(app, {"Authorization": f"Bearer {alice.token}"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        await _subscribe(ws, "1", {})
        first = await _next(ws)
        assert (first["tenantId"], first["tradingMode"]) == (tenant, "NORMAL")
        assert "errors" not in await set_mode(http, demo_keys["risk"], "HALTED", "pushed")
        pushed = await _next(ws)
        assert (pushed["tradingMode"], pushed["reason"]) == ("HALTED", "pushed")
        await _subscribe(ws, "2", {"t": "ten_other"})
        assert await _refusal(ws, "2") == "FORBIDDEN"
    async with ws_session(app, {"Authorization": f"Bearer {operator.token}"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        await _subscribe(ws, "n", {})
        assert await _refusal(ws, "n") == "VALIDATION"
        await _subscribe(ws, "t", {"t": tenant})
        assert (await _next(ws, "t"))["tradingMode"] == "HALTED"


async def test_the_wind_down_replays_to_the_same_engine_state(
    app: Starlette, settings: Settings, mongodb_uri: str
) -> None:
    live: Platform = app.state.platform
    await live.writer.projections.drain()
    replayed = Platform(settings, mongodb_uri, read_only=True)
    await replayed.start()
    try:
        assert replayed.writer.engine.last_seq == live.writer.engine.last_seq
        assert replayed.writer.engine.state_hash() == live.writer.engine.state_hash()
    finally:
        await replayed.close()
