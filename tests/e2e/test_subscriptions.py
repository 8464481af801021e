"""Subscriptions over graphql-transport-ws through the ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from httpx_ws import AsyncWebSocketSession, WebSocketDisconnect, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from graph.ops.seed import DemoKey
from tests.e2e.test_graph import _record_order

pytestmark = [pytest.mark.e2e, pytest.mark.store]

SUBSCRIBE = """subscription($account: ID) { orderUpdates(account: $account) {
                 order { id status account { id } } } }"""


@asynccontextmanager
async def ws_session(
    app: Starlette, payload: dict[str, Any]
) -> AsyncIterator[AsyncWebSocketSession]:
    async with httpx.AsyncClient(transport=ASGIWebSocketTransport(app=app)) as client:
        connect: AbstractAsyncContextManager[AsyncWebSocketSession] = aconnect_ws(
            "http://testserver/graphql", client, subprotocols=["graphql-transport-ws"]
        )
        async with connect as ws:
            await ws.send_json({"type": "connection_init", "payload": payload})
            yield ws


async def test_a_trader_receives_its_own_order_updates_and_not_others(
    app: Starlette, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    async with ws_session(app, {"Authorization": f"Bearer {alice.token}"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        await ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": SUBSCRIBE, "variables": {}}}
        )
        await asyncio.sleep(0.1)
        await _record_order(app, bob)
        mine = await _record_order(app, alice)
        message = await ws.receive_json(timeout=5)
        assert message["type"] == "next" and message["id"] == "1"
        order = message["payload"]["data"]["orderUpdates"]["order"]
        assert order == {"id": mine, "status": "NEW", "account": {"id": alice.account_id}}
        await ws.send_json({"id": "1", "type": "complete"})


async def test_subscribing_to_another_customers_account_is_an_error(
    app: Starlette, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    async with ws_session(app, {"Authorization": f"Bearer {alice.token}"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        variables = {"account": bob.account_id}
        await ws.send_json(
            {
                "id": "a",
                "type": "subscribe",
                "payload": {"query": SUBSCRIBE, "variables": variables},
            }
        )
        message = await ws.receive_json(timeout=5)
        assert message["type"] in ("error", "next")
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"


async def test_unknown_credentials_in_connection_init_close_with_4403(
    app: Starlette, demo_keys: dict[str, DemoKey]
) -> None:
    async with ws_session(app, {"Authorization": "Bearer key_nope.secret"}) as ws:
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.receive_json(timeout=5)
    assert closed.value.code == 4403


async def test_subscribing_without_credentials_is_unauthenticated(app: Starlette) -> None:
    async with ws_session(app, {}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        await ws.send_json({"id": "x", "type": "subscribe", "payload": {"query": SUBSCRIBE}})
        message = await ws.receive_json(timeout=5)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
