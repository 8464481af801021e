"""Wind-down through an API-only process (real processes, the real Redis): the mode change is
forwarded to the one writer, the API process waits for its replica before it reads the
tenant's open orders, so the cancels of WITHDRAW_ONLY are complete; orders through either
process are refused until the tenant is NORMAL again."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from tests.e2e.test_scale_out import Servers, _gql, _keys, _place, env, servers

pytestmark = [pytest.mark.e2e, pytest.mark.store, pytest.mark.redis, pytest.mark.slow]
__all__ = ["env", "servers"]  # the fixtures this module uses

SET = """mutation($m: TradingMode!, $r: String!) { setTenantTradingMode(mode: $m, reason: $r)
  { previousMode accounts canceledOrders tenant { tradingMode } } }"""
ORDER = "query($id: ID!) { order(id: $id) { status } }"


async def _status(client: httpx.AsyncClient, url: str, key: dict[str, Any], order: str) -> str:
    status: str = (await _gql(client, url, key, ORDER, {"id": order}))["data"]["order"]["status"]
    return status


async def test_withdraw_only_through_an_api_process_cancels_every_order_and_refuses_new_ones(
    env: dict[str, str], servers: Servers
) -> None:
    keys = await asyncio.to_thread(_keys, env)
    alice, bob, risk, admin = keys["alice"], keys["bob"], keys["risk"], keys["tenant_admin"]
    writer = await asyncio.to_thread(servers.start, "writer", expect="writer")
    api = await asyncio.to_thread(servers.start, "api", "--role", "api", expect="api")
    async with httpx.AsyncClient(timeout=20) as client:
        where = [(api, alice), (writer, bob), (api, bob)]
        placed = [await _place(client, url, key, n) for n, (url, key) in enumerate(where)]
        orders = [p["data"]["placeOrder"]["order"]["id"] for p in placed]
        body = await _gql(client, api, risk, SET, {"m": "WITHDRAW_ONLY", "r": "licence"})
        changed = body["data"]["setTenantTradingMode"]
        assert changed["canceledOrders"] == 3, changed
        assert changed["tenant"]["tradingMode"] == "WITHDRAW_ONLY"
        deadline = time.monotonic() + 10
        for order, (_, owner) in zip(orders, where, strict=True):
            while await _status(client, api, owner, order) != "CANCELED":
                assert time.monotonic() < deadline, order
                await asyncio.sleep(0.1)
        for url in (api, writer):
            refused = await _place(client, url, alice, 10 if url == api else 11)
            assert refused["errors"][0]["extensions"]["code"] == "TRADING_MODE_RESTRICTED"
        restored = await _gql(client, api, admin, SET, {"m": "NORMAL", "r": "licence back"})
        assert restored["data"]["setTenantTradingMode"]["previousMode"] == "WITHDRAW_ONLY"
        again = await _place(client, api, alice, 12)
        assert again["data"]["placeOrder"]["order"]["status"] == "NEW", again
