"""The dead-man's switch over HTTP: countdownCancelAll arms, renews and disarms; a countdown
that runs out cancels the account's orders on every market, through journaled commands that
a replay of the journal reproduces."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domains.orders.countdown import NOTE_COUNTDOWN
from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from graph.settings import Settings
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

ARM = """mutation($a: ID!, $t: Int!) { countdownCancelAll(accountId: $a, timeoutMs: $t) {
  accountId timeoutMs armedUntil } }"""
PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id status } } }"""
ORDER = "query($id: ID!) { order(id: $id) { status } }"


async def _rest(http: httpx.AsyncClient, key: DemoKey, market: str, price: str, tag: str) -> str:
    order = {"accountId": key.account_id, "market": market, "side": "BUY", "type": "LIMIT",
             "price": price, "quantity": "0.002", "clientOrderId": f"cd-{tag}"}  # fmt: skip
    body = await gql(http, PLACE, {"i": order}, key=key)
    assert "errors" not in body, body
    order_id: str = body["data"]["placeOrder"]["order"]["id"]
    return order_id


async def _status(http: httpx.AsyncClient, key: DemoKey, order_id: str) -> str:
    body = await gql(http, ORDER, {"id": order_id}, key=key)
    status: str = body["data"]["order"]["status"]
    return status


async def _arm(http: httpx.AsyncClient, key: DemoKey, timeout_ms: int) -> dict[str, Any]:
    body = await gql(http, ARM, {"a": key.account_id, "t": timeout_ms}, key=key)
    assert "errors" not in body, body
    armed: dict[str, Any] = body["data"]["countdownCancelAll"]
    return armed


async def test_a_countdown_not_renewed_cancels_every_order_of_the_account(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    orders = [await _rest(http, alice, "BTC-USDT", "62000", "a1"),
              await _rest(http, alice, "ETH-USDT", "3000", "a2")]  # fmt: skip
    armed = await _arm(http, alice, 1_000)
    assert armed["timeoutMs"] == 1_000 and armed["armedUntil"]
    await asyncio.sleep(0.6)
    assert await _arm(http, alice, 1_000)  # renewed: the cancel moves 0.6 s later
    await asyncio.sleep(0.7)  # 1.3 s after the first arm, 0.7 s after the renewal
    assert [await _status(http, alice, o) for o in orders] == ["NEW", "NEW"]
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if {await _status(http, alice, o) for o in orders} == {"CANCELED"}:
            break
        await asyncio.sleep(0.05)
    assert [await _status(http, alice, o) for o in orders] == ["CANCELED", "CANCELED"]
    platform: Platform = app.state.platform
    assert platform.countdowns.fired >= 1
    cancels = [note async for doc in platform.db.journal.find({}, {"notes": 1})
               for note in doc.get("notes", {}).values() if NOTE_COUNTDOWN in note]  # fmt: skip
    assert len(cancels) == 2  # one CANCEL_ALL per market with live orders, journaled


async def test_zero_disarms_and_orders_stay(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    bob = demo_keys["bob"]
    order = await _rest(http, bob, "BTC-USDT", "62001", "b1")
    await _arm(http, bob, 1_000)
    disarmed = await _arm(http, bob, 0)
    assert disarmed == {"accountId": bob.account_id, "timeoutMs": 0, "armedUntil": None}
    await asyncio.sleep(1.4)
    assert await _status(http, bob, order) == "NEW"


async def test_bad_timeouts_and_other_peoples_accounts_are_refused(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    for bad in (-1, 1, 999, 3_600_001):
        body = await gql(http, ARM, {"a": alice.account_id, "t": bad}, key=alice)
        assert error_codes(body) == ["VALIDATION"], (bad, body)
    body = await gql(http, ARM, {"a": bob.account_id, "t": 5_000}, key=alice)
    assert error_codes(body) in (["NOT_FOUND"], ["FORBIDDEN"]), body
    body = await gql(http, ARM, {"a": alice.account_id, "t": 5_000})
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_the_countdown_cancels_replay_to_the_same_engine_state(
    app: Starlette, settings: Settings, mongodb_uri: str
) -> None:
    live: Platform = app.state.platform
    await live.writer.projections.drain()
    replayed = Platform(settings, mongodb_uri, read_only=True)
    await replayed.start()  # snapshot (if any) + the journal, countdown cancels included
    try:
        assert replayed.writer.engine.last_seq == live.writer.engine.last_seq
        assert replayed.writer.engine.state_hash() == live.writer.engine.state_hash()
    finally:
        await replayed.close()
