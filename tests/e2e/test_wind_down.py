"""Wind-down over HTTP and WebSocket: setTenantTradingMode per mode and per role, what each
mode refuses (orders, amends, customer cancels, withdrawals), the cancels of WITHDRAW_ONLY,
the audit trail, the tenantStatus stream, bad input, and a replay of the journal.

Demo data: Demo Bank (alice, bob, carol and the treasury) trades BTC-USDT, ETH-USDT and
BTC-USDT-PERP. Every test leaves the bank NORMAL again (the ``normal_again`` fixture).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from domains.orders.outcomes import outcome
from engine import codes
from engine import commands as cmd
from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from graph.settings import Settings
from tests.e2e.test_perpetuals import _trader
from tests.e2e.test_subscriptions import ws_session
from tests.factories import reconcile_platform
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

SET = """mutation($m: TradingMode!, $r: String!, $t: ID) {
  setTenantTradingMode(mode: $m, reason: $r, tenant: $t) { previousMode accounts
  canceledOrders closedPositions positionsNotClosed firstSequence lastSequence
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
    tenant = risk.tenant_id
    by_operator = await set_mode(http, demo_keys["operator"], "HALTED", "platform says", tenant)
    assert "errors" not in by_operator, by_operator
    ops = {"op": "tenant.tradingMode"}  # in the platform's chain and the tenant's own too
    mine = (await ok(http, TRAIL, ops, demo_keys["compliance"]))["auditTrail"]["nodes"][0]
    assert (mine["role"], mine["outcome"]) == ("OPERATOR", "OK")
    assert json.loads(mine["before"])["tradingMode"] == "CANCEL_ONLY"
    assert json.loads(mine["after"])["tradingMode"] == "HALTED"


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


PERP_ORDER = """mutation($a: ID!, $s: Side!, $q: Decimal!, $p: Decimal!, $tif: TimeInForce) {
  placeOrder(input: {accountId: $a, market: "BTC-USDT-PERP", side: $s, type: LIMIT,
  quantity: $q, price: $p, timeInForce: $tif}) { order { id status } } }"""
POSITIONS = """query($a: ID!) { positions(accountId: $a) { side quantity } }"""
BALANCES = """query($a: ID!) { account(id: $a) { balances { asset available locked } } }"""
LIQUIDATIONS = """query($a: ID) { liquidations(accountId: $a, first: 20) { nodes { accountId
  step } } }"""


async def perp(
    http: httpx.AsyncClient, key: DemoKey, side: str, qty: str, price: str = "64250",
    tif: str = "GTC",
) -> dict[str, Any]:  # fmt: skip
    variables = {"a": key.account_id, "s": side, "q": qty, "p": price, "tif": tif}
    return await gql(http, PERP_ORDER, variables, key=key)


async def long_and_short(
    app: Starlette, http: httpx.AsyncClient, keys: dict[str, DemoKey], qty: str = "0.01"
) -> tuple[DemoKey, DemoKey]:
    """Two new futures customers of Demo Bank, long and short ``qty`` BTC-USDT-PERP."""
    buyer, seller = await _trader(app, http, keys, "Lou"), await _trader(app, http, keys, "Sid")
    assert "errors" not in await perp(http, buyer, "BUY", qty)
    filled = await perp(http, seller, "SELL", qty, tif="IOC")
    assert filled["data"]["placeOrder"]["order"]["status"] == "FILLED", filled
    return buyer, seller


async def positions(http: httpx.AsyncClient, key: DemoKey) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = (await ok(http, POSITIONS, {"a": key.account_id}, key))[
        "positions"
    ]
    return rows


async def test_reduce_only_lets_perpetual_positions_shrink_but_not_grow(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    buyer, seller = await long_and_short(app, http, demo_keys)
    assert "errors" not in await set_mode(http, demo_keys["risk"], "REDUCE_ONLY", "de-risk")
    for key, side in ((buyer, "BUY"), (seller, "SELL")):
        grow = await perp(http, key, side, "0.001")
        assert error_codes(grow) == ["TRADING_MODE_RESTRICTED"], grow
    assert "errors" not in await perp(http, buyer, "SELL", "0.004")
    shrink = await perp(http, seller, "BUY", "0.004", tif="IOC")
    assert shrink["data"]["placeOrder"]["order"]["status"] == "FILLED", shrink
    await app.state.platform.writer.projections.drain()
    assert [p["quantity"] for p in await positions(http, buyer)] == ["0.006"]
    assert [p["quantity"] for p in await positions(http, seller)] == ["-0.006"]


async def test_wound_down_cancels_orders_and_closes_positions_at_the_mark(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    buyer, seller = await long_and_short(app, http, demo_keys)
    resting = await perp(http, buyer, "BUY", "0.002", price="64000")
    assert "errors" not in resting, resting
    platform: Platform = app.state.platform
    engine, usdt = platform.writer.engine, platform.directory.asset("USDT")
    assert usdt is not None
    fund = engine.insurance_account(await platform.directory.market_index("BTC-USDT-PERP"))
    assert engine.balance(fund, usdt.index) == (0, 0)  # nothing to margin a takeover with
    admin = demo_keys["tenant_admin"]
    body = await set_mode(http, admin, "WOUND_DOWN", "orderly exit")
    first = body["data"]["setTenantTradingMode"]
    open_positions = first["positionsNotClosed"]  # these two and the REDUCE_ONLY test's
    assert first["closedPositions"] == 0 and open_positions >= 2, first
    assert first["canceledOrders"] >= 1
    order_id = resting["data"]["placeOrder"]["order"]["id"]
    assert (await ok(http, ORDER, {"id": order_id}, buyer))["order"]["status"] == "CANCELED"
    top_up = """mutation { adjustBalance(input: {accountId: "platform:insurance:USDT",
      asset: "USDT", amount: "1000", reason: "insurance fund capital for the wind-down"}) {
      sequence } }"""
    assert error_codes(await gql(http, top_up, key=admin)) == ["FORBIDDEN"]
    await ok(http, top_up, {}, demo_keys["operator"])
    body = await set_mode(http, admin, "WOUND_DOWN", "orderly exit, funded")  # again: closes
    again = body["data"]["setTenantTradingMode"]
    assert (again["closedPositions"], again["positionsNotClosed"]) == (open_positions, 0), again
    held = engine.position(fund, await platform.directory.market_index("BTC-USDT-PERP"))
    assert held is not None and held.qty == 0  # the tenant's longs and shorts offset
    await platform.writer.projections.drain()
    for key in (buyer, seller):
        assert await positions(http, key) == []
        rows = (await ok(http, BALANCES, {"a": key.account_id}, key))["account"]["balances"]
        usdt_row = next(r for r in rows if r["asset"] == "USDT")
        assert Decimal(usdt_row["available"]) > 0 and Decimal(usdt_row["locked"]) == 0
        steps = (await ok(http, LIQUIDATIONS, {"a": key.account_id}, key))["liquidations"]
        assert "WOUND_DOWN" in {n["step"] for n in steps["nodes"]}, steps
    assert error_codes(await perp(http, buyer, "BUY", "0.001")) == ["TRADING_MODE_RESTRICTED"]


async def test_an_account_opened_in_a_restricted_tenant_gets_its_mode_in_the_engine(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    assert "errors" not in await set_mode(http, demo_keys["risk"], "CANCEL_ONLY", "new ones too")
    late = await _trader(app, http, demo_keys, "Late")  # funded: its engine index is new
    platform: Platform = app.state.platform
    assert late.account_id and late.tenant_id and late.customer_id
    index = await platform.directory.account_index(late.account_id, late.tenant_id,
                                                   late.customer_id)  # fmt: skip
    assert platform.writer.engine.account_mode(index) == codes.ACCOUNT_MODE_CANCEL_ONLY
    market = await platform.directory.market_index("BTC-USDT")
    command = cmd.place(0, 0, order_id=0, account=index, market=market, side=codes.BUY,
                        order_type=codes.LIMIT, price_ticks=6_000_000, qty_lots=100)  # fmt: skip
    submitted = await platform.engines.bus.submit(command)  # past the API's own check
    assert submitted.events is not None
    assert outcome(submitted.events).code == codes.RISK_ACCOUNT_CANCEL_ONLY
    body = await set_mode(http, demo_keys["tenant_admin"], "NORMAL", "over")
    assert body["data"]["setTenantTradingMode"]["accounts"] >= 5
    assert platform.writer.engine.account_mode(index) == codes.ACCOUNT_MODE_NORMAL


MARKET_STATUS = """mutation($m: ID!, $s: MarketStatus!) { setMarketStatus(market: $m,
  status: $s) { id status } }"""


async def test_a_reduce_only_market_takes_sells_and_position_shrinking_orders_only(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator, alice = demo_keys["operator"], demo_keys["alice"]
    buyer, seller = await long_and_short(app, http, demo_keys, "0.002")
    for market in ("BTC-USDT", "BTC-USDT-PERP"):
        body = await ok(http, MARKET_STATUS, {"m": market, "s": "REDUCE_ONLY"}, operator)
        assert body["setMarketStatus"]["status"] == "REDUCE_ONLY"
    try:
        refused = await place(http, alice, side="BUY", price="60000")
        assert error_codes(refused) == ["MARKET_REDUCE_ONLY"], refused
        sell = await place(http, alice, side="SELL", price="70000")
        assert "errors" not in sell, sell
        await ok(http, CANCEL, {"id": sell["data"]["placeOrder"]["order"]["id"]}, alice)
        assert error_codes(await perp(http, buyer, "BUY", "0.001")) == ["MARKET_REDUCE_ONLY"]
        assert "errors" not in await perp(http, buyer, "SELL", "0.001")
        closing = await perp(http, seller, "BUY", "0.001", tif="IOC")
        assert closing["data"]["placeOrder"]["order"]["status"] == "FILLED", closing
        refused = await gql(http, MARKET_STATUS, {"m": "BTC-USDT", "s": "TRADING"}, key=alice)
        assert error_codes(refused) == ["FORBIDDEN"]
    finally:
        for market in ("BTC-USDT", "BTC-USDT-PERP"):
            await ok(http, MARKET_STATUS, {"m": market, "s": "TRADING"}, operator)


async def test_the_wind_down_replays_to_the_same_engine_state_and_the_books_agree(
    app: Starlette, settings: Settings, mongodb_uri: str
) -> None:
    live: Platform = app.state.platform
    report = await reconcile_platform(live)
    assert report.clean, report
    await live.writer.projections.drain()
    replayed = Platform(settings, mongodb_uri, read_only=True)
    await replayed.start()
    try:
        assert replayed.writer.engine.last_seq == live.writer.engine.last_seq
        assert replayed.writer.engine.state_hash() == live.writer.engine.state_hash()
    finally:
        await replayed.close()
