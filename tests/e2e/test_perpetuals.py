"""Perpetual market definitions and the liquidation-price what-if, over HTTP."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from domains.orders.trading import CONFIG_TTL_S
from graph.seed import DemoKey
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

CREATE = """mutation($b: [MarginBracketInput!]!) { createPerpetualMarket(input: {baseAsset: "BTC",
  quoteAsset: "USDT", tickSize: "0.1", lotSize: "0.001", minNotional: "5",
  marginBrackets: $b}) { id kind marginBrackets { notionalFloor maxLeverage maintRate } } }"""
BRACKETS = [
    {"notionalFloor": "0", "maxLeverage": 125, "maintRate": "0.004", "maintAmount": "0"},
    {"notionalFloor": "50000", "maxLeverage": 100, "maintRate": "0.005", "maintAmount": "50"},
    {"notionalFloor": "250000", "maxLeverage": 50, "maintRate": "0.01", "maintAmount": "1300"},
]
WHAT_IF = """query($m: ID!, $s: Side!, $q: Decimal!, $p: Decimal!, $l: Int!) {
  liquidationPrice(market: $m, side: $s, quantity: $q, price: $p, leverage: $l) {
    liquidationPrice notional initialMargin maintenanceMargin } }"""
PERMIT = """mutation { setProductPermissions(jurisdiction: "CH", products: [SPOT, PERPETUAL])
  { products } }"""
LIST = """mutation { setListedMarkets(marketIds: ["BTC-USDT", "ETH-USDT", "BTC-USDT-PERP"])
  { listedMarkets } }"""


async def test_a_customer_sees_the_liquidation_price_before_placing(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator, admin, alice = demo_keys["operator"], demo_keys["tenant_admin"], demo_keys["alice"]
    jump = [dict(BRACKETS[0]), {**BRACKETS[1], "maintAmount": "0"}]
    assert error_codes(await gql(http, CREATE, {"b": jump}, key=operator)) == ["VALIDATION"]
    assert error_codes(await gql(http, CREATE, {"b": BRACKETS}, key=admin)) == ["FORBIDDEN"]
    created = (await gql(http, CREATE, {"b": BRACKETS}, key=operator))["data"]
    assert created["createPerpetualMarket"]["id"] == "BTC-USDT-PERP"
    assert created["createPerpetualMarket"]["marginBrackets"][1] == {
        "notionalFloor": "50000", "maxLeverage": 100, "maintRate": "0.005",
    }  # fmt: skip

    args = {"m": "BTC-USDT-PERP", "s": "BUY", "q": "1", "p": "10000", "l": 10}
    assert error_codes(await gql(http, WHAT_IF, args, key=alice)) == ["MARKET_NOT_LISTED"]
    assert error_codes(await gql(http, LIST, key=admin)) == ["PRODUCT_NOT_PERMITTED"]
    await gql(http, PERMIT, key=operator)
    assert "errors" not in await gql(http, LIST, key=admin)
    await asyncio.sleep(CONFIG_TTL_S)  # listings apply within the configuration cache's TTL

    # long 1 BTC at 10,000, 10x: margin 1,000; LP = (1000 - 10000) / (0.004 - 1) = 9036.14...
    body = await gql(http, WHAT_IF, args, key=alice)
    assert "errors" not in body, body
    long = body["data"]["liquidationPrice"]
    assert long == {
        "liquidationPrice": "9036.2", "notional": "10000",
        "initialMargin": "1000", "maintenanceMargin": "40",
    }  # fmt: skip
    # short: LP = (1000 + 10000) / (0.004 + 1) = 10956.17..., rounded down for a short
    short = (await gql(http, WHAT_IF, {**args, "s": "SELL"}, key=alice))["data"]
    assert short["liquidationPrice"]["liquidationPrice"] == "10956.1"

    too_much = await gql(http, WHAT_IF, {**args, "q": "5", "p": "60000", "l": 100}, key=alice)
    assert error_codes(too_much) == ["VALIDATION"]  # 300,000 notional allows 50x at most
    off_tick = await gql(http, WHAT_IF, {**args, "p": "10000.05"}, key=alice)
    assert error_codes(off_tick) == ["INVALID_TICK"]
    spot = await gql(http, WHAT_IF, {**args, "m": "BTC-USDT"}, key=alice)
    assert error_codes(spot) == ["VALIDATION"]
