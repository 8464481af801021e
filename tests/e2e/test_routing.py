"""Routing to the simulated external venue over HTTP: remainders, settlement, policy, ledger."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domains.orders.trading import CONFIG_TTL_S
from graph.seed import DemoKey
from tests.e2e.test_trading import balances, place
from tests.graphql_client import gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

ORDER = """query($id: ID!) { order(id: $id) { status quantity filledQuantity reason
  routing { venue status internalQuantity requestedQuantity externalQuantity limitPrice
            externalAveragePrice externalFee reason } } }"""
POLICY = """mutation($mode: RoutingMode!, $slip: Int!) {
  setRoutingPolicy(input: {mode: $mode, maxSlippageBps: $slip}) { routingPolicy { mode } } }"""
TAKER_BPS = Decimal(25)  # the demo tenant: 20 bps platform taker fee + 5 bps markup


async def order(http: httpx.AsyncClient, key: DemoKey, order_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await gql(http, ORDER, {"id": order_id}, key=key))["data"]["order"]
    return found


async def test_a_market_remainder_fills_at_the_venue_and_settles_exactly(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    await place(http, bob, side="SELL", price="64250", quantity="0.01")
    before = await balances(http, alice)
    placed = await place(http, alice, type="MARKET", price=None, quantity="0.05")
    order_id = placed["data"]["placeOrder"]["order"]["id"]
    routed = await order(http, alice, order_id)
    assert routed["status"] == "FILLED" and routed["filledQuantity"] == "0.05"
    routing = routed["routing"]
    assert routing["venue"] == "SIMULATED" and routing["status"] == "FILLED"
    assert Decimal(routing["internalQuantity"]) == Decimal("0.01")
    assert Decimal(routing["externalQuantity"]) == Decimal("0.04")
    average = Decimal(routing["externalAveragePrice"])
    assert Decimal("64000") < average <= Decimal(routing["limitPrice"])

    internal_cost = Decimal("642.50") * (1 + TAKER_BPS / 10_000)
    external_notional = average * Decimal("0.04")
    external_fee = Decimal(routing["externalFee"])
    expected_fee = external_notional * TAKER_BPS / 10_000
    assert external_fee == expected_fee.quantize(Decimal("0.00000001"), rounding="ROUND_DOWN")
    after = await balances(http, alice)
    assert after["BTC"][0] == before["BTC"][0] + Decimal("0.05")
    assert after["USDT"] == (
        before["USDT"][0] - internal_cost - external_notional - external_fee,
        Decimal(0),
    )  # the route's hold is released: nothing stays locked

    tape = await gql(http, '{ trades(market: "BTC-USDT", first: 10) { nodes { quantity venue } } }',
                     key=alice)  # fmt: skip
    venues = [(n["venue"], Decimal(n["quantity"])) for n in tape["data"]["trades"]["nodes"]]
    assert sum(q for v, q in venues if v == "EXTERNAL") == Decimal("0.04")


async def test_an_ioc_limit_the_venue_cannot_reach_is_not_routed(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    before = await balances(http, alice)
    placed = await place(http, alice, price="60000", quantity="0.01", timeInForce="IOC")
    found = await order(http, alice, placed["data"]["placeOrder"]["order"]["id"])
    assert found["status"] == "EXPIRED" and found["routing"] is None
    assert await balances(http, alice) == before


async def test_a_sell_remainder_routes_and_pays_the_customer(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    bob = demo_keys["bob"]
    before = await balances(http, bob)
    placed = await place(http, bob, side="SELL", type="MARKET", price=None, quantity="0.02")
    found = await order(http, bob, placed["data"]["placeOrder"]["order"]["id"])
    assert found["status"] == "FILLED" and found["routing"]["status"] == "FILLED"
    proceeds = Decimal(found["routing"]["externalAveragePrice"]) * Decimal("0.02")
    after = await balances(http, bob)
    assert after["BTC"][0] == before["BTC"][0] - Decimal("0.02")
    assert after["USDT"][0] == before["USDT"][0] + proceeds - Decimal(
        found["routing"]["externalFee"]
    )


async def test_internal_only_policy_keeps_orders_off_the_venue(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    admin, alice = demo_keys["tenant_admin"], demo_keys["alice"]
    changed = await gql(http, POLICY, {"mode": "INTERNAL_ONLY", "slip": 50}, key=admin)
    assert changed["data"]["setRoutingPolicy"]["routingPolicy"]["mode"] == "INTERNAL_ONLY"
    await asyncio.sleep(CONFIG_TTL_S)  # configuration changes apply within CONFIG_TTL_S
    try:
        before = await balances(http, alice)
        placed = await place(http, alice, type="MARKET", price=None, quantity="0.01")
        found = await order(http, alice, placed["data"]["placeOrder"]["order"]["id"])
        assert (found["status"], found["reason"]) == ("REJECTED", "NO_LIQUIDITY")
        assert found["routing"] is None
        assert await balances(http, alice) == before
    finally:
        await gql(http, POLICY, {"mode": "INTERNAL_THEN_EXTERNAL", "slip": 50}, key=admin)


async def test_the_books_reconcile_with_the_venue_clearing_account(app: Starlette) -> None:
    from domains.accounts.balances import MongoBalances
    from graph.reconcile import reconcile

    platform = app.state.platform
    report = await reconcile(
        platform.writer.engine, platform.directory, platform.get(MongoBalances), platform.db
    )
    assert report.differences == [] and report.conservation == []
