"""Routing to the simulated external venue over HTTP: remainders, settlement, policy, ledger."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domains.accounts.service import AccountsService
from domains.orders.model import Side
from domains.orders.routing import ExternalRouter, NewOrder, RouteRequest
from domains.orders.trading import CONFIG_TTL_S, TradingService
from domains.orders.venue import BookTop, Venue, VenueOrderResult
from domains.shared.context import TenantScope
from graph.ops.seed import DemoKey
from tests.e2e.test_trading import balances, book, place
from tests.factories import reconcile_platform
from tests.graphql_client import error_codes, gql

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


async def test_external_only_policy_bypasses_the_internal_book(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    admin, alice, bob = demo_keys["tenant_admin"], demo_keys["alice"], demo_keys["bob"]
    resting = await place(http, bob, side="SELL", price="64250", quantity="0.01")
    await gql(http, POLICY, {"mode": "EXTERNAL_ONLY", "slip": 50}, key=admin)
    await asyncio.sleep(CONFIG_TTL_S)
    try:
        before = await balances(http, alice)
        placed = await place(http, alice, type="MARKET", price=None, quantity="0.01",
                             clientOrderId="ext-1")  # fmt: skip
        first = placed["data"]["placeOrder"]
        found = await order(http, alice, first["order"]["id"])
        assert found["status"] == "FILLED" and found["routing"]["status"] == "FILLED"
        assert Decimal(found["routing"]["internalQuantity"]) == 0
        assert Decimal(found["routing"]["externalQuantity"]) == Decimal("0.01")
        assert (await book(http, alice))["asks"][0] == {"price": "64250", "quantity": "0.01"}
        after_first = await balances(http, alice)
        spent = before["USDT"][0] - after_first["USDT"][0]
        notional = Decimal(found["routing"]["externalAveragePrice"]) * Decimal("0.01")
        assert spent == notional + Decimal(found["routing"]["externalFee"])

        again = await place(http, alice, type="MARKET", price=None, quantity="0.01",
                            clientOrderId="ext-1")  # fmt: skip
        assert again["data"]["placeOrder"]["replayed"] is True
        assert again["data"]["placeOrder"]["order"]["id"] == first["order"]["id"]
        assert await balances(http, alice) == after_first  # the retry executed nothing
        different = await place(http, alice, type="MARKET", price=None, quantity="0.02",
                                clientOrderId="ext-1")  # fmt: skip
        assert error_codes(different) == ["DUPLICATE_CLIENT_ORDER_ID"]

        resting_limit = await place(http, alice, price="60000", quantity="0.01")
        assert error_codes(resting_limit) == ["VALIDATION"]
        too_big = await place(http, alice, type="MARKET", price=None, quantity="500")
        assert error_codes(too_big) == ["INSUFFICIENT_FUNDS"]
        unreachable = await place(http, alice, price="60000", quantity="0.01", timeInForce="IOC")
        expired = await order(http, alice, unreachable["data"]["placeOrder"]["order"]["id"])
        assert expired["status"] == "EXPIRED" and expired["routing"]["externalQuantity"] == "0"
    finally:
        await gql(http, POLICY, {"mode": "INTERNAL_THEN_EXTERNAL", "slip": 50}, key=admin)
        cancel = "mutation($id: ID!) { cancelOrder(id: $id) { order { status } } }"
        resting_id = resting["data"]["placeOrder"]["order"]["id"]
        canceled = await gql(http, cancel, {"id": resting_id}, key=bob)
    assert canceled["data"]["cancelOrder"]["order"]["status"] == "CANCELED"


class Crash(BaseException):
    """The process dying while the venue call is in flight."""


class CrashAtTheVenue:
    """A venue whose place_ioc never returns: the server died after the hold."""

    def __init__(self, venue: Venue) -> None:
        self._venue = venue

    async def book_top(self, symbol: str) -> BookTop:
        return await self._venue.book_top(symbol)

    async def place_ioc(self, *args: object, **kwargs: object) -> VenueOrderResult:
        raise Crash


async def test_a_route_interrupted_after_its_hold_is_finished_by_resume(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    platform = app.state.platform
    trading = platform.get(TradingService)
    alice = demo_keys["alice"]
    before = await balances(http, alice)
    spec = await trading.spec("BTC-USDT")
    ref = (await platform.get(AccountsService).accounts(TenantScope(None), [alice.account_id]))[0]
    request = RouteRequest(
        order_key=None, account=await trading.account_index(ref), spec=spec,
        market=await platform.directory.market_index("BTC-USDT"), side=Side.BUY,
        qty_lots=1_000, limit_ticks=None, max_slippage_bps=50, fee_bps=25,
        new_order=NewOrder("MARKET", 0, 1_000, "crash-1"),
    )  # fmt: skip
    crashing = ExternalRouter(CrashAtTheVenue(platform.venue), platform.writer, platform.directory)  # type: ignore[arg-type]
    with pytest.raises(Crash):
        await crashing.route(request)
    await platform.writer.projections.drain()  # the router's writes, not alice's own
    pending = await gql(http, "query($a: ID!) { orderByClientOrderId(accountId: $a, "
                        'clientOrderId: "crash-1") { id status routing { status } } }',
                        {"a": alice.account_id}, key=alice)  # fmt: skip
    found = pending["data"]["orderByClientOrderId"]
    assert found["routing"]["status"] == "PENDING" and found["status"] == "NEW"
    assert (await balances(http, alice))["USDT"][1] > before["USDT"][1]  # held

    assert await trading.resume_routes() == 1
    await platform.writer.projections.drain()  # the resumed route's writes, not alice's
    done = await order(http, alice, found["id"])
    assert done["status"] == "FILLED" and done["routing"]["status"] == "FILLED"
    after = await balances(http, alice)
    assert after["USDT"][1] == before["USDT"][1]  # the hold is released
    assert after["BTC"][0] == before["BTC"][0] + Decimal("0.01")
    assert await trading.resume_routes() == 0


async def test_the_books_reconcile_with_the_venue_clearing_account(app: Starlette) -> None:
    report = await reconcile_platform(app.state.platform)
    assert report.differences == [] and report.conservation == []
