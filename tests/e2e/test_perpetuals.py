"""Perpetual futures over HTTP and WebSocket: listing, the liquidation-price what-if, trading
long and short, PnL at the mark, funding, a liquidation reaching the insurance fund, the
risk views and their streams, and the refusals with their stable codes.

Demo data: BTC-USDT-PERP (tick 0.1, lot 0.001; brackets 0.4% to 50,000, 0.5% - 50 to
250,000, 1% - 1,300 above) listed by Demo Bank (CH permits derivatives). Fees: Demo Bank's
all-in maker 15 / taker 25 bps (10 / 20 + 5 markup).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domains.shared.context import Role
from graph.ops.seed import DemoKey
from graph.settings import PerpSettings, Settings
from tests.e2e.test_subscriptions import ws_session
from tests.factories import demo_style_key, reconcile_platform
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

PERP = "BTC-USDT-PERP"
FUNDING_INTERVAL_S = 2.0


@pytest.fixture(scope="module")
def settings() -> Settings:
    """Funding every 2 s of engine time, settled when the test asks (no timer, no feed)."""
    perp = PerpSettings(FUNDING_INTERVAL_S, funding_check_seconds=0, index_feed_seconds=0)
    return Settings(mongodb_db=f"test_{uuid.uuid4().hex[:12]}", data_dir=Path("unused"),
                    perp=perp)  # fmt: skip


CREATE = """mutation($b: [MarginBracketInput!]!) { createPerpetualMarket(input: {baseAsset: "ETH",
  quoteAsset: "USDT", tickSize: "0.01", lotSize: "0.01", minNotional: "5",
  marginBrackets: $b}) { id kind marginBrackets { notionalFloor maxLeverage maintRate } } }"""
BRACKETS = [
    {"notionalFloor": "0", "maxLeverage": 125, "maintRate": "0.004", "maintAmount": "0"},
    {"notionalFloor": "50000", "maxLeverage": 100, "maintRate": "0.005", "maintAmount": "50"},
    {"notionalFloor": "250000", "maxLeverage": 50, "maintRate": "0.01", "maintAmount": "1300"},
]
WHAT_IF = """query($m: ID!, $s: Side!, $q: Decimal!, $p: Decimal!, $l: Int!) {
  liquidationPrice(market: $m, side: $s, quantity: $q, price: $p, leverage: $l) {
    liquidationPrice notional initialMargin maintenanceMargin } }"""
ORDER = """mutation($a: ID!, $s: Side!, $q: Decimal!, $p: Decimal, $t: OrderType! = LIMIT,
  $r: Boolean! = false, $tif: TimeInForce) { placeOrder(input: {accountId: $a,
  market: "BTC-USDT-PERP", side: $s, type: $t, quantity: $q, price: $p, reduceOnly: $r,
  timeInForce: $tif}) { order { id status filledQuantity } } }"""
INDEX = """mutation($p: Decimal!) { postIndexPrice(market: "BTC-USDT-PERP", price: $p) }"""
POSITIONS = """query($a: ID!) { positions(accountId: $a) { side quantity entryPrice markPrice
  notional unrealizedPnl realizedPnl leverage marginMode positionMargin maintenanceMargin
  marginRatio liquidationPrice market { id } } }"""
LEVERAGE = """mutation($a: ID!, $l: Int!, $m: MarginMode!) { setLeverage(accountId: $a,
  market: "BTC-USDT-PERP", leverage: $l, marginMode: $m) { sequence position { leverage } } }"""
BALANCES = """query($a: ID!) { account(id: $a) { balances { asset available locked } } }"""
RISK = """{ riskSummary { markets { marketId markPrice longNotional shortNotional netNotional
  marginInUse openPositions } marginInUse { asset amount }
  marginRatioBands { name accounts } insuranceFunds { asset balance }
  largestPositions { accountId quantity } accountsWithPositions } }"""


async def _ok(http: httpx.AsyncClient, query: str, variables: dict[str, Any],
              key: DemoKey) -> Any:  # fmt: skip
    body = await gql(http, query, variables, key=key)
    assert not body.get("errors"), body
    return body["data"]


async def _trader(
    app: Starlette, http: httpx.AsyncClient, keys: dict[str, DemoKey], name: str,
    usdt: str = "20000", level: int = 3, suitable: bool = True,
) -> DemoKey:  # fmt: skip
    """A Demo Bank customer with an account funded in USDT, KYC level and suitability."""
    admin, operator = keys["tenant_admin"], keys["operator"]
    email = f"{name}-{uuid.uuid4().hex[:6]}@demo.example"
    created = await _ok(http, "mutation($n: String!, $e: String!) { createCustomer(input: "
                        "{displayName: $n, email: $e}) { id } }", {"n": name, "e": email},
                        admin)  # fmt: skip
    customer = created["createCustomer"]["id"]
    listed = await _ok(http, "query($c: ID!) { accounts(customerId: $c) { nodes { id } } }",
                       {"c": customer}, admin)  # fmt: skip
    account = listed["accounts"]["nodes"][0]["id"]
    for status in ("PENDING", "VERIFIED"):
        await _ok(http, "mutation($c: ID!, $s: KycStatus!, $l: Int!) { setKycStatus("
                  "customerId: $c, status: $s, level: $l) { status } }",
                  {"c": customer, "s": status, "l": level}, keys["compliance"])  # fmt: skip
    await _ok(http, """mutation($a: ID!, $n: Decimal!) { adjustBalance(input: {accountId: $a,
      asset: "USDT", amount: $n, reason: "futures test"}) { sequence } }""",
              {"a": account, "n": usdt}, operator)  # fmt: skip
    key = await demo_style_key(app.state.platform, Role.TRADER, admin.tenant_id, customer)
    key = replace(key, account_id=account)
    if suitable:
        await _ok(
            http,
            """mutation($c: ID!) { recordSuitability(input: {customerId: $c,
          questionnaireVersion: "q1", score: 80, passed: true, disclosureVersion: "d1",
          acknowledgedAt: "2026-01-01T00:00:00Z"}) { passed } }""",
            {"c": customer},
            key,
        )
    return key


async def _position(http: httpx.AsyncClient, key: DemoKey) -> dict[str, Any] | None:
    rows = (await _ok(http, POSITIONS, {"a": key.account_id}, key))["positions"]
    return rows[0] if rows else None


async def _usdt(http: httpx.AsyncClient, key: DemoKey) -> tuple[Decimal, Decimal]:
    rows = (await _ok(http, BALANCES, {"a": key.account_id}, key))["account"]["balances"]
    usdt = next(r for r in rows if r["asset"] == "USDT")
    return Decimal(usdt["available"]), Decimal(usdt["locked"])


async def test_a_perpetual_is_listed_and_the_liquidation_price_known_before_placing(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator, admin, alice = demo_keys["operator"], demo_keys["tenant_admin"], demo_keys["alice"]
    jump = [dict(BRACKETS[0]), {**BRACKETS[1], "maintAmount": "0"}]
    assert error_codes(await gql(http, CREATE, {"b": jump}, key=operator)) == ["VALIDATION"]
    assert error_codes(await gql(http, CREATE, {"b": BRACKETS}, key=admin)) == ["FORBIDDEN"]
    created = (await gql(http, CREATE, {"b": BRACKETS}, key=operator))["data"]
    assert created["createPerpetualMarket"]["id"] == "ETH-USDT-PERP"
    assert created["createPerpetualMarket"]["marginBrackets"][1] == {
        "notionalFloor": "50000", "maxLeverage": 100, "maintRate": "0.005",
    }  # fmt: skip
    again = await gql(http, CREATE, {"b": BRACKETS}, key=operator)
    assert error_codes(again) == ["CONFLICT"]

    args = {"m": PERP, "s": "BUY", "q": "1", "p": "10000", "l": 10}
    not_listed = await gql(http, WHAT_IF, {**args, "m": "ETH-USDT-PERP", "p": "3000"}, key=alice)
    assert error_codes(not_listed) == ["MARKET_NOT_LISTED"]
    # long 1 BTC at 10,000, 10x: margin 1,000; LP = (1000 - 10000) / (0.004 - 1) = 9036.14...
    body = await gql(http, WHAT_IF, args, key=alice)
    assert body["data"]["liquidationPrice"] == {
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


async def test_a_jurisdiction_without_derivatives_cannot_list_a_perpetual(
    app: Starlette, http: httpx.AsyncClient
) -> None:
    from domains.accounts.model import Brand
    from domains.accounts.service import AccountsService

    accounts = app.state.platform.get(AccountsService)
    tenant = await accounts.create_tenant("Spot Only Bank", "DE", Brand(display_name="Spot"))
    admin = await demo_style_key(app.state.platform, Role.TENANT_ADMIN, tenant.id)
    listed = await gql(http, 'mutation { setListedMarkets(marketIds: ["BTC-USDT", '
                       '"BTC-USDT-PERP"]) { listedMarkets } }', key=admin)  # fmt: skip
    assert error_codes(listed) == ["PRODUCT_NOT_PERMITTED"]


async def test_refusals_have_stable_codes_and_change_nothing(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    keys = demo_keys
    unsuitable = await _trader(app, http, keys, "Erin", suitable=False)
    before = await _usdt(http, unsuitable)
    body = await gql(http, ORDER, {"a": unsuitable.account_id, "s": "BUY", "q": "0.01",
                                   "p": "64000"}, key=unsuitable)  # fmt: skip
    assert error_codes(body) == ["SUITABILITY_REQUIRED"]
    basic = await _trader(app, http, keys, "Fay", level=1)  # level 1 is spot only
    body = await gql(http, ORDER, {"a": basic.account_id, "s": "BUY", "q": "0.01",
                                   "p": "64000"}, key=basic)  # fmt: skip
    assert error_codes(body) == ["KYC_REQUIRED"]

    trader = await _trader(app, http, keys, "Gus", usdt="100")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"q": "0.1", "p": "64000"}, "INSUFFICIENT_MARGIN"),  # 640 margin, 100 held
        ({"q": "0.001", "p": "64000", "r": True}, "REDUCE_ONLY_REJECTED"),  # nothing to reduce
        ({"q": "0.0001", "p": "64000"}, "INVALID_LOT"),
        ({"q": "0.001", "p": "64000.05"}, "INVALID_TICK"),
    ]
    for variables, code in cases:
        answer = await gql(http, ORDER, {"a": trader.account_id, "s": "BUY", **variables},
                           key=trader)  # fmt: skip
        assert error_codes(answer) == [code], (variables, answer)
    spot_reduce = await gql(
        http,
        """mutation($a: ID!) { placeOrder(input: {accountId: $a,
      market: "BTC-USDT", side: BUY, type: LIMIT, quantity: "0.01", price: "60000",
      reduceOnly: true}) { order { id } } }""",
        {"a": trader.account_id},
        key=trader,
    )
    assert error_codes(spot_reduce) == ["VALIDATION"]
    too_high = await gql(http, LEVERAGE, {"a": trader.account_id, "l": 126, "m": "CROSS"},
                         key=trader)  # fmt: skip
    assert error_codes(too_high) == ["VALIDATION"]
    index = await gql(http, INDEX, {"p": "10000"}, key=keys["tenant_admin"])
    assert error_codes(index) == ["FORBIDDEN"]
    bad = await gql(http, INDEX, {"p": "-1"}, key=keys["operator"])
    assert error_codes(bad) == ["VALIDATION"]
    risk = await gql(http, RISK, key=trader)
    assert error_codes(risk) == ["FORBIDDEN"]
    assert await _usdt(http, unsuitable) == before
    assert await _usdt(http, trader) == (Decimal(100), Decimal(0))
    assert await _position(http, trader) is None


SUBSCRIBE_LIQUIDATIONS = """subscription { liquidations(market: "BTC-USDT-PERP") { accountId
  step quantity count price amount insuranceFundAfter } }"""
SUBSCRIBE_RISK = """subscription { riskSummary { insuranceFunds { asset balance }
  accountsWithPositions markets { marketId markPrice } } }"""
SUBSCRIBE_POSITIONS = """subscription { positions { position { accountId quantity markPrice
  unrealizedPnl } } }"""
CANCEL_ALL = """mutation($a: ID!) { cancelAllOrders(accountId: $a, market: "BTC-USDT-PERP")
  { canceledCount } }"""
FUNDING = """query($a: ID!) { fundingPayments(accountId: $a, market: "BTC-USDT-PERP", first: 5)
  { nodes { quantity markPrice rate amount asset } } }"""
LIQUIDATIONS = """query($a: ID) { liquidations(accountId: $a, first: 20) { nodes { accountId
  step amount insuranceFundAfter } pageInfo { hasNextPage } } }"""


async def _subscribe(ws: Any, op: str, query: str) -> None:
    await ws.send_json({"id": op, "type": "subscribe", "payload": {"query": query}})


class Messages:
    """The `next` messages of one WebSocket by operation id (others kept for later)."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        self._pending: dict[str, list[dict[str, Any]]] = {}

    async def next(self, op: str) -> dict[str, Any]:
        while not self._pending.get(op):
            message = await self._ws.receive_json(timeout=10)
            assert message["type"] != "error", message
            if message["type"] == "next":
                payload: dict[str, Any] = message["payload"]
                assert "errors" not in payload, payload
                self._pending.setdefault(message["id"], []).append(payload["data"])
        return self._pending[op].pop(0)


async def test_long_and_short_pnl_funding_and_a_liquidation_reaching_the_insurance_fund(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    keys, operator, risk = demo_keys, demo_keys["operator"], demo_keys["risk"]
    dave = await _trader(app, http, keys, "Dave")
    cleo = await _trader(app, http, keys, "Cleo")
    await _ok(http, INDEX, {"p": "64000"}, operator)

    # Cleo sells 0.1 at 64,000 (maker), Dave buys it (taker): notional 6,400, margin at 10x 640
    await _ok(http, ORDER, {"a": cleo.account_id, "s": "SELL", "q": "0.1", "p": "64000"}, cleo)
    taken = await _ok(http, ORDER, {"a": dave.account_id, "s": "BUY", "q": "0.1", "p": "64000"},
                      dave)  # fmt: skip
    assert taken["placeOrder"]["order"]["status"] == "FILLED"
    # fees (all-in): taker 25 bps of 6,400 = 16, maker 15 bps = 9.6, from available
    assert await _usdt(http, dave) == (Decimal(20_000 - 640 - 16), Decimal(640))
    assert await _usdt(http, cleo) == (Decimal("19350.4"), Decimal(640))

    await _ok(http, INDEX, {"p": "65000"}, operator)  # empty book: mark = index = 65,000
    long = await _position(http, dave)
    assert long is not None
    assert long == {
        "side": "LONG", "quantity": "0.1", "entryPrice": "64000", "markPrice": "65000",
        "notional": "6500", "unrealizedPnl": "100",  # 0.1 x 65,000 - 6,400
        "realizedPnl": "0", "leverage": 10, "marginMode": "CROSS", "positionMargin": "640",
        "maintenanceMargin": "26",  # 6,500 x 0.4%
        # cross: 26 / (wallet 19,344 + 640 + upnl 100) = 0.00129...
        "marginRatio": "0.0013", "liquidationPrice": None,  # 19,984 covers any fall
        "market": {"id": PERP},
    }  # fmt: skip
    short = await _position(http, cleo)
    assert short is not None and short["unrealizedPnl"] == "-100"
    # LP = (WB + side... ) = (19,990.4 + 6,400) / (0.1 x 0.004 + 0.1) = 262,852.58 -> down
    assert short["liquidationPrice"] == "262852.5"

    # reduce-only: Cleo's buy rests locking its fee only; Dave's sell of half closes half
    await _ok(http, ORDER, {"a": cleo.account_id, "s": "BUY", "q": "0.05", "p": "65000",
                            "r": True}, cleo)  # fmt: skip
    flip = await gql(http, ORDER, {"a": dave.account_id, "s": "SELL", "q": "0.2", "p": "65000",
                                   "r": True}, key=dave)  # fmt: skip
    assert error_codes(flip) == ["REDUCE_ONLY_REJECTED"]
    await _ok(http, ORDER, {"a": dave.account_id, "s": "SELL", "q": "0.05", "p": "65000",
                            "r": True}, dave)  # fmt: skip
    long = await _position(http, dave)
    assert long is not None
    # realised: 0.05 x 65,000 - 0.05 x 64,000 = 50; margin released pro rata: 640 / 2
    assert (long["quantity"], long["realizedPnl"], long["positionMargin"]) == ("0.05", "50", "320")
    short = await _position(http, cleo)
    assert short is not None and (short["quantity"], short["realizedPnl"]) == ("-0.05", "-50")

    # funding: a book 65,600 / 65,800 (mid 65,700) against index 65,000; the basis is capped at
    # 0.5% of the index: mark = 65,000 + 325 = 65,325; rate = 325 / 65,000 = 0.5% (cap 0.75%)
    await _ok(http, ORDER, {"a": dave.account_id, "s": "BUY", "q": "0.001", "p": "65600"}, dave)
    await _ok(http, ORDER, {"a": cleo.account_id, "s": "SELL", "q": "0.001", "p": "65800"}, cleo)
    await _ok(http, INDEX, {"p": "65000"}, operator)
    assert (await _position(http, dave) or {})["markPrice"] == "65325"
    runtime = app.state.platform.perp_runtime
    for _ in range(50):  # the market's funding time passes every 2 s of engine time
        if await runtime.settle_due_funding():
            break
        await asyncio.sleep(0.1)
    # the round is the runtime's write, not the caller's: wait for the read models behind it
    await app.state.platform.writer.projections.drain()
    paid = (await _ok(http, FUNDING, {"a": dave.account_id}, dave))["fundingPayments"]["nodes"]
    # the long pays 0.05 x 65,325 x 0.5% = 16.33125; the only short receives it all
    assert paid[0] == {"quantity": "0.05", "markPrice": "65325", "rate": "0.005",
                       "amount": "-16.33125", "asset": "USDT"}  # fmt: skip
    got = (await _ok(http, FUNDING, {"a": cleo.account_id}, cleo))["fundingPayments"]["nodes"]
    assert got[0]["amount"] == "16.33125"
    for key in (dave, cleo):
        await _ok(http, CANCEL_ALL, {"a": key.account_id}, key)

    # Hal: isolated 10x long 0.1 at 65,000 (margin 650); bankruptcy 65,000 - 650 / 0.1 = 58,500
    hal = await _trader(app, http, keys, "Hal", usdt="1000")
    await _ok(http, LEVERAGE, {"a": hal.account_id, "l": 10, "m": "ISOLATED"}, hal)
    await _ok(http, ORDER, {"a": cleo.account_id, "s": "SELL", "q": "0.1", "p": "65000"}, cleo)
    await _ok(http, ORDER, {"a": hal.account_id, "s": "BUY", "q": "0.1", "p": "65000"}, hal)
    isolated = await _position(http, hal)
    assert isolated is not None and isolated["marginMode"] == "ISOLATED"
    # LP = (650 - 6,500) / (0.1 x 0.004 - 0.1) = 58,734.94 -> up to the tick
    assert isolated["liquidationPrice"] == "58735"
    await _ok(http, ORDER, {"a": dave.account_id, "s": "BUY", "q": "0.1", "p": "58700"}, dave)

    payload = {"Authorization": f"Bearer {risk.token}"}
    async with ws_session(app, payload) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        messages = Messages(ws)
        await _subscribe(ws, "liq", SUBSCRIBE_LIQUIDATIONS)
        await _subscribe(ws, "risk", SUBSCRIBE_RISK)
        await _subscribe(ws, "pos", SUBSCRIBE_POSITIONS)  # every account of the tenant
        first = (await messages.next("risk"))["riskSummary"]
        assert first["accountsWithPositions"] == 3  # Dave, Cleo, Hal
        initial = [(await messages.next("pos"))["positions"]["position"] for _ in range(3)]
        assert {p["accountId"] for p in initial} == {dave.account_id, cleo.account_id,
                                                     hal.account_id}  # fmt: skip
        await asyncio.sleep(0.2)
        # index 58,700, one-sided book: mark 58,700; 650 + (58,700 - 65,000) x 0.1 = 20 <=
        # maintenance 5,870 x 0.4% = 23.48: due. The liquidation order sells at the bid.
        await _ok(http, INDEX, {"p": "58700"}, operator)
        steps: list[dict[str, Any]] = []
        while not steps or steps[-1]["step"] != "DONE":
            steps.append((await messages.next("liq"))["liquidations"])
        assert {s["accountId"] for s in steps} == {hal.account_id}
        names = [s["step"] for s in steps]
        assert names[0] == "STARTED" and "ORDER_FILLED" in names
        # one position concerned, equity 20 - maintenance 23.48 (a count, not a quantity)
        assert (steps[0]["count"], steps[0]["quantity"], steps[0]["amount"]) == (1, None, "-3.48")
        filled = next(s for s in steps if s["step"] == "ORDER_FILLED")
        assert (filled["quantity"], filled["price"]) == ("0.1", "58700")
        credited = next(s for s in steps if s["step"] == "INSURANCE_CREDITED")
        fund = Decimal(credited["insuranceFundAfter"])
        # the fill beat bankruptcy by (58,700 - 58,500) x 0.1 = 20 (liquidation orders pay no
        # fee): the fund, empty before (funding left no dust), receives exactly that
        assert (credited["amount"], credited["insuranceFundAfter"]) == ("20", "20")
        hal_now = (await messages.next("pos"))["positions"]["position"]
        while hal_now["accountId"] != hal.account_id or hal_now["quantity"] != "0":
            hal_now = (await messages.next("pos"))["positions"]["position"]  # FLAT once closed
        summary = (await messages.next("risk"))["riskSummary"]
        while summary["accountsWithPositions"] != 2:
            summary = (await messages.next("risk"))["riskSummary"]
        assert summary["insuranceFunds"] == [{"asset": "USDT", "balance": str(fund)}]

    assert await _position(http, hal) is None
    orders = await _ok(
        http,
        """query($a: ID!) { orders(accountId: $a, first: 5) { nodes {
      side quantity filledQuantity status reason reduceOnly } } }""",
        {"a": hal.account_id},
        hal,
    )
    assert orders["orders"]["nodes"][0] == {  # the engine's liquidation order, newest
        "side": "SELL", "quantity": "0.1", "filledQuantity": "0.1", "status": "FILLED",
        "reason": "LIQUIDATION", "reduceOnly": True,
    }  # fmt: skip
    listed = (await _ok(http, LIQUIDATIONS, {"a": hal.account_id}, hal))["liquidations"]
    assert [n["step"] for n in reversed(listed["nodes"])] == names
    paged, after = [], None  # Relay cursors: two steps a page, newest first
    while True:
        page = (await _ok(http, """query($a: ID, $after: String) { liquidations(accountId: $a,
          first: 2, after: $after) { nodes { step } pageInfo { hasNextPage endCursor } } }""",
                          {"a": hal.account_id, "after": after}, hal))["liquidations"]  # fmt: skip
        paged += [n["step"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert paged == [n["step"] for n in listed["nodes"]]
    summary = (await _ok(http, RISK, {}, risk))["riskSummary"]
    exposure = {m["marketId"]: m for m in summary["markets"]}[PERP]
    # Dave: long 0.05 + 0.1 bought from Hal's liquidation; Cleo: short 0.05 + 0.1
    assert (exposure["longNotional"], exposure["shortNotional"]) == ("8805", "8805")
    assert exposure["netNotional"] == "0" and summary["accountsWithPositions"] == 2
    # engine, balance read model and ledger agree; conservation with the open cost
    report = await reconcile_platform(app.state.platform)
    assert report.clean, report


async def test_risk_views_and_streams_are_tenant_isolated(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    from domains.accounts.model import Brand
    from domains.accounts.service import AccountsService

    accounts = app.state.platform.get(AccountsService)
    tenant = await accounts.create_tenant("Risk Rival", "CH", Brand(display_name="Rival"))
    rival_risk = await demo_style_key(app.state.platform, Role.RISK, tenant.id)
    ours = await _trader(app, http, demo_keys, "Ivy")
    summary = (await _ok(http, RISK, {}, rival_risk))["riskSummary"]
    assert summary["markets"] == [] and summary["accountsWithPositions"] == 0
    assert summary["largestPositions"] == []
    seen = await _ok(http, POSITIONS, {"a": ours.account_id}, rival_risk)
    assert seen["positions"] == []
    others = await _ok(http, LIQUIDATIONS, {"a": None}, rival_risk)
    assert others["liquidations"]["nodes"] == []

    async with ws_session(app, {"Authorization": f"Bearer {ours.token}"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        await _subscribe(ws, "all", SUBSCRIBE_POSITIONS)  # account: null needs RISK
        message = await ws.receive_json(timeout=5)
        assert message["type"] == "error" or "errors" in message["payload"], message
    async with ws_session(app, {"Authorization": f"Bearer {rival_risk.token}"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        query = SUBSCRIBE_POSITIONS.replace(
            "positions {", f'positions(account: "{ours.account_id}") {{', 1
        )
        await _subscribe(ws, "one", query)
        message = await ws.receive_json(timeout=5)
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"


ADJUST = """mutation($a: ID!, $n: Decimal!) { adjustIsolatedMargin(accountId: $a,
  market: "BTC-USDT-PERP", amount: $n) { position { positionMargin liquidationPrice } } }"""


async def test_isolated_margin_can_be_added_and_removed_down_to_the_initial_margin(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    kim = await _trader(app, http, demo_keys, "Kim")
    jo = await _trader(app, http, demo_keys, "Jo", usdt="1000")
    await _ok(http, INDEX, {"p": "64000"}, demo_keys["operator"])  # whatever ran before
    assert error_codes(await gql(http, ADJUST, {"a": jo.account_id, "n": "5"}, key=jo)) == [
        "VALIDATION"  # no isolated position yet
    ]
    await _ok(http, LEVERAGE, {"a": jo.account_id, "l": 20, "m": "ISOLATED"}, jo)
    await _ok(http, ORDER, {"a": kim.account_id, "s": "SELL", "q": "0.01", "p": "64000"}, kim)
    await _ok(http, ORDER, {"a": jo.account_id, "s": "BUY", "q": "0.01", "p": "64000"}, jo)
    opened = await _position(http, jo)
    assert opened is not None
    assert (opened["positionMargin"], opened["leverage"]) == ("32", 20)  # 640 / 20

    added = await _ok(http, ADJUST, {"a": jo.account_id, "n": "8"}, jo)
    # margin 40: LP = (40 - 640) / (0.01 x 0.004 - 0.01) = 60,240.96 -> up to the tick
    assert added["adjustIsolatedMargin"]["position"] == {
        "positionMargin": "40", "liquidationPrice": "60241",
    }  # fmt: skip
    before = await _usdt(http, jo)
    below_initial = await gql(http, ADJUST, {"a": jo.account_id, "n": "-20"}, key=jo)
    assert error_codes(below_initial) == ["INSUFFICIENT_MARGIN"]  # 20 < initial 32
    assert error_codes(await gql(http, ADJUST, {"a": jo.account_id, "n": "0"}, key=jo)) == [
        "VALIDATION"
    ]
    finer = await gql(http, ADJUST, {"a": jo.account_id, "n": "0.000000001"}, key=jo)
    assert error_codes(finer) == ["VALIDATION"]
    switch = await gql(http, LEVERAGE, {"a": jo.account_id, "l": 20, "m": "CROSS"}, key=jo)
    assert error_codes(switch) == ["POSITION_OPEN"]
    assert await _usdt(http, jo) == before  # refusals change nothing
    removed = await _ok(http, ADJUST, {"a": jo.account_id, "n": "-8"}, jo)
    assert removed["adjustIsolatedMargin"]["position"]["positionMargin"] == "32"
    assert await _usdt(http, jo) == (before[0] + 8, before[1] - 8)
    others = await gql(http, ADJUST, {"a": kim.account_id, "n": "1"}, key=jo)
    assert error_codes(others) == ["NOT_FOUND"]  # another customer's account
    # both close (reduce-only), so the tenant's risk views are as other tests expect them
    await _ok(http, ORDER, {"a": kim.account_id, "s": "BUY", "q": "0.01", "p": "64000",
                            "r": True}, kim)  # fmt: skip
    await _ok(http, ORDER, {"a": jo.account_id, "s": "SELL", "q": "0.01", "p": "64000",
                            "r": True}, jo)  # fmt: skip
    assert await _position(http, jo) is None and await _position(http, kim) is None
