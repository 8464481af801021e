"""The money path over HTTP: place, match, settle, cancel, retry, refuse."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domains.accounts.service import AccountsService
from domains.shared.context import Role
from graph.ops.seed import DemoKey
from tests.factories import demo_style_key, reconcile_platform
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

PLACE = """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) {
  replayed order { id status side type price quantity filledQuantity clientOrderId reason } } }"""
BALANCES = """query($id: ID!) { account(id: $id) { balances { asset available locked } } }"""
BOOK = """query($m: ID!) { orderBook(market: $m, depth: 5) { sequence
  bids { price quantity } asks { price quantity } } }"""


def order_input(key: DemoKey, **fields: Any) -> dict[str, Any]:
    base = {"accountId": key.account_id, "market": "BTC-USDT", "side": "BUY", "type": "LIMIT",
            "quantity": "0.01", "price": "64000"}  # fmt: skip
    return {**base, **fields}


async def place(http: httpx.AsyncClient, key: DemoKey, **fields: Any) -> dict[str, Any]:
    return await gql(http, PLACE, {"input": order_input(key, **fields)}, key=key)


async def balances(http: httpx.AsyncClient, key: DemoKey) -> dict[str, tuple[Decimal, Decimal]]:
    body = await gql(http, BALANCES, {"id": key.account_id}, key=key)
    rows = body["data"]["account"]["balances"]
    return {r["asset"]: (Decimal(r["available"]), Decimal(r["locked"])) for r in rows}


async def book(http: httpx.AsyncClient, key: DemoKey) -> dict[str, Any]:
    snapshot: dict[str, Any] = (await gql(http, BOOK, {"m": "BTC-USDT"}, key=key))["data"][
        "orderBook"
    ]
    return snapshot


async def test_demo_traders_are_funded(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    held = await balances(http, demo_keys["alice"])
    assert held["USDT"] == (Decimal("100000"), Decimal("0"))
    assert held["BTC"] == (Decimal("2"), Decimal("0"))


async def test_two_customers_trade_and_settle_with_fees_and_markup(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    alice_before, bob_before = await balances(http, alice), await balances(http, bob)
    resting = await place(http, bob, side="SELL", price="64250", quantity="0.01")
    assert resting["data"]["placeOrder"]["order"]["status"] == "NEW"
    assert (await book(http, alice))["asks"][0] == {"price": "64250", "quantity": "0.01"}

    taken = await place(http, alice, side="BUY", price="64300", quantity="0.01")
    order = taken["data"]["placeOrder"]["order"]
    assert order["status"] == "FILLED" and order["filledQuantity"] == "0.01"

    notional = Decimal("642.50")
    taker_fee = notional * Decimal("0.0025")  # 20 bps platform + 5 bps markup
    maker_fee = notional * Decimal("0.0015")  # 10 bps platform + 5 bps markup
    alice_after, bob_after = await balances(http, alice), await balances(http, bob)
    assert alice_after["BTC"][0] == alice_before["BTC"][0] + Decimal("0.01")
    assert alice_after["USDT"] == (alice_before["USDT"][0] - notional - taker_fee, Decimal(0))
    assert bob_after["BTC"][0] == bob_before["BTC"][0] - Decimal("0.01")
    assert bob_after["USDT"][0] == bob_before["USDT"][0] + notional - maker_fee
    assert (await book(http, alice))["asks"] == []

    tape = await gql(http, "{ trades(market: \"BTC-USDT\", first: 1) { nodes { price quantity "
                     "takerSide venue } } }", key=alice)  # fmt: skip
    assert tape["data"]["trades"]["nodes"] == [
        {"price": "64250", "quantity": "0.01", "takerSide": "BUY", "venue": "INTERNAL"}
    ]
    bobs = await gql(http, "query($id: ID!) { order(id: $id) { status filledQuantity } }",
                     {"id": resting["data"]["placeOrder"]["order"]["id"]}, key=bob)  # fmt: skip
    assert bobs["data"]["order"] == {"status": "FILLED", "filledQuantity": "0.01"}


async def test_a_retry_with_the_same_client_order_id_never_executes_twice(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    first = await place(http, alice, price="60000", clientOrderId="retry-1")
    locked_once = (await balances(http, alice))["USDT"][1]
    again = await place(http, alice, price="60000", clientOrderId="retry-1")
    assert again["data"]["placeOrder"]["replayed"] is True
    assert again["data"]["placeOrder"]["order"]["id"] == first["data"]["placeOrder"]["order"]["id"]
    assert (await balances(http, alice))["USDT"][1] == locked_once
    different = await place(http, alice, price="60001", clientOrderId="retry-1")
    assert error_codes(different) == ["DUPLICATE_CLIENT_ORDER_ID"]
    found = await gql(
        http,
        "query($a: ID!, $c: String!) { orderByClientOrderId(accountId: $a, clientOrderId: $c) "
        "{ id } }",
        {"a": alice.account_id, "c": "retry-1"},
        key=alice,
    )
    assert found["data"]["orderByClientOrderId"]["id"] == first["data"]["placeOrder"]["order"]["id"]


async def test_cancel_releases_the_locked_funds(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    before = await balances(http, alice)
    placed = await place(http, alice, price="59000", clientOrderId="to-cancel")
    assert (await balances(http, alice))["USDT"][1] > before["USDT"][1]
    canceled = await gql(
        http,
        'mutation($a: ID!) { cancelOrder(accountId: $a, clientOrderId: "to-cancel") '
        "{ order { id status } } }",
        {"a": alice.account_id},
        key=alice,
    )
    assert canceled["data"]["cancelOrder"]["order"] == {
        "id": placed["data"]["placeOrder"]["order"]["id"],
        "status": "CANCELED",
    }
    assert (await balances(http, alice))["USDT"] == before["USDT"]


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"quantity": "1000"}, "INSUFFICIENT_FUNDS"),
        ({"price": "64000.001"}, "INVALID_TICK"),
        ({"quantity": "0.000001"}, "INVALID_LOT"),
        ({"quantity": "-1"}, "VALIDATION"),
        ({"price": "10"}, "PRICE_OUT_OF_BAND"),
        ({"market": "NOPE-USDT"}, "MARKET_NOT_LISTED"),
        ({"type": "MARKET"}, "VALIDATION"),
        ({"clientOrderId": "x" * 65}, "VALIDATION"),
    ],
)
async def test_bad_orders_are_refused_with_a_code_and_change_nothing(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], fields: dict[str, str], code: str
) -> None:
    alice = demo_keys["alice"]
    before_balances, before_book = await balances(http, alice), await book(http, alice)
    body = await place(http, alice, **fields)
    assert error_codes(body) == [code], body
    assert await balances(http, alice) == before_balances
    assert await book(http, alice) == before_book


async def test_a_market_the_institution_does_not_list_is_refused(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    created = await gql(
        http,
        """mutation { createMarket(input: {baseAsset: "ETH", quoteAsset: "BTC", tickSize: "0.00001",
             lotSize: "0.001", minNotional: "0.0001", referencePrice: "0.05"}) { id } }""",
        key=demo_keys["operator"],
    )
    assert created["data"]["createMarket"]["id"] == "ETH-BTC"
    body = await place(http, demo_keys["alice"], market="ETH-BTC", price="0.05",
                       quantity="0.001")  # fmt: skip
    assert error_codes(body) == ["MARKET_NOT_LISTED"]
    markets = await gql(http, "{ markets { id } }", key=demo_keys["alice"])
    assert "ETH-BTC" not in [m["id"] for m in markets["data"]["markets"]]


async def test_another_tenant_cannot_see_or_cancel_the_orders(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    placed = await place(http, alice, price="58000", clientOrderId="private")
    order_id = placed["data"]["placeOrder"]["order"]["id"]
    accounts = app.state.platform.get(AccountsService)
    from domains.accounts.model import Brand

    other = await accounts.create_tenant("Rival Bank", "DE", Brand(display_name="Rival"))
    rival = await demo_style_key(app.state.platform, Role.TENANT_ADMIN, other.id)
    seen = await gql(http, "query($id: ID!) { order(id: $id) { id } }", {"id": order_id}, key=rival)
    assert seen["data"]["order"] is None
    cancel = await gql(http, "mutation($id: ID!) { cancelOrder(id: $id) { order { id } } }",
                       {"id": order_id}, key=rival)  # fmt: skip
    assert error_codes(cancel) == ["ORDER_NOT_FOUND"]
    mine = await gql(http, "query($id: ID!) { order(id: $id) { status } }", {"id": order_id},
                     key=alice)  # fmt: skip
    assert mine["data"]["order"]["status"] == "NEW"


QUOTE = """query($input: PlaceOrderInput!) { quoteOrder(input: $input) {
  takerQuantity makerQuantity notional totalFee total feeAsset riskWarning
  platformFee { bps amount } institutionMarkup { bps amount } } }"""


async def test_quote_discloses_platform_fee_and_markup_and_changes_nothing(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    await place(http, bob, side="SELL", price="64260", quantity="0.004", clientOrderId="q-ask")
    before = (await balances(http, alice), await book(http, alice))
    body = await gql(
        http, QUOTE, {"input": order_input(alice, price="64260", quantity="0.004")}, key=alice
    )
    quoted = body["data"]["quoteOrder"]
    assert quoted["takerQuantity"] == "0.004" and quoted["makerQuantity"] == "0"
    assert Decimal(quoted["notional"]) == Decimal("257.04")
    assert quoted["platformFee"]["bps"] == 20 and quoted["institutionMarkup"]["bps"] == 5
    fee = Decimal(quoted["platformFee"]["amount"]) + Decimal(quoted["institutionMarkup"]["amount"])
    assert fee == Decimal(quoted["totalFee"]) == Decimal("257.04") * Decimal("0.0025")
    assert quoted["feeAsset"] == "USDT" and quoted["riskWarning"]
    assert (await balances(http, alice), await book(http, alice)) == before


TRANSFER = """mutation($i: TransferFundsInput!) { transferFunds(input: $i) { sequence } }"""


async def transfer(
    http: httpx.AsyncClient, key: DemoKey, source: str | None, target: str, amount: str
) -> dict[str, Any]:
    move = {"fromAccountId": source, "toAccountId": target, "asset": "USDT", "amount": amount}
    return await gql(http, TRANSFER, {"i": move}, key=key)


async def test_a_customer_moves_funds_to_its_sub_account_and_nowhere_else(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    opened = await gql(
        http,
        'mutation($c: ID!) { openSubAccount(customerId: $c, label: "Grid bot") { id } }',
        {"c": alice.customer_id},
        key=alice,
    )
    sub = opened["data"]["openSubAccount"]["id"]
    before = await balances(http, alice)
    moved = await transfer(http, alice, alice.account_id, sub, "250.5")
    assert moved["data"]["transferFunds"]["sequence"] > 0
    assert (await balances(http, alice))["USDT"][0] == before["USDT"][0] - Decimal("250.5")
    sub_balances = await gql(http, BALANCES, {"id": sub}, key=alice)
    assert sub_balances["data"]["account"]["balances"] == [
        {"asset": "USDT", "available": "250.5", "locked": "0"}
    ]
    to_bob = await transfer(http, alice, str(alice.account_id), str(bob.account_id), "1")
    assert error_codes(to_bob) == ["NOT_FOUND"]
    too_much = await transfer(http, alice, sub, str(alice.account_id), "1000")
    assert error_codes(too_much) == ["INSUFFICIENT_FUNDS"]
    assert (await balances(http, alice))["USDT"][0] == before["USDT"][0] - Decimal("250.5")


async def test_orders_filter_by_market_status_client_id_and_time(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    placed = await place(http, alice, price="60500", clientOrderId="filter-me")
    assert "errors" not in placed, placed
    query = """query($f: OrderFilter) { orders(filter: $f, first: 50) { nodes { clientOrderId
               status market { id } } } }"""
    by_id = await gql(http, query, {"f": {"clientOrderId": "filter-me"}}, key=alice)
    assert by_id["data"]["orders"]["nodes"] == [
        {"clientOrderId": "filter-me", "status": "NEW", "market": {"id": "BTC-USDT"}}
    ]
    elsewhere = await gql(http, query, {"f": {"market": "ETH-USDT"}}, key=alice)
    assert elsewhere["data"]["orders"]["nodes"] == []
    future = await gql(http, query, {"f": {"createdAfter": "2999-01-01T00:00:00Z"}}, key=alice)
    assert future["data"]["orders"]["nodes"] == []
    filled = await gql(http, query, {"f": {"status": ["FILLED"]}}, key=alice)
    assert all(n["status"] == "FILLED" for n in filled["data"]["orders"]["nodes"])


async def test_the_books_reconcile_after_all_of_it(app: Starlette) -> None:
    """Engine, balance read model and double-entry ledger agree; every asset conserves."""
    report = await reconcile_platform(app.state.platform)
    assert report.accounts_checked >= 3
    assert report.differences == [] and report.conservation == []


async def test_a_halted_market_refuses_orders_until_resumed(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator, alice = demo_keys["operator"], demo_keys["alice"]
    halt = (
        'mutation($s: MarketStatus!) { setMarketStatus(market: "ETH-USDT", status: $s) { status } }'
    )
    assert (await gql(http, halt, {"s": "HALTED"}, key=operator))["data"]["setMarketStatus"] == {
        "status": "HALTED"
    }
    eth = {"market": "ETH-USDT", "price": "3100", "quantity": "0.01"}
    refused = await place(http, alice, **eth)
    assert error_codes(refused) == ["MARKET_HALTED"]
    assert error_codes(await gql(http, halt, {"s": "HALTED"}, key=alice)) == ["FORBIDDEN"]
    await gql(http, halt, {"s": "TRADING"}, key=operator)
    accepted = await place(http, alice, **eth)
    assert accepted["data"]["placeOrder"]["order"]["status"] == "NEW"


async def test_fees_split_into_the_platform_fee_and_the_institution_markup(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    """The all-in fee lands in account 0; the ledger tells the platform's part from the
    tenant's markup (20+10 bps platform, 5+5 bps markup on this trade)."""
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    await place(http, bob, side="SELL", price="64250", quantity="0.01")
    await place(http, alice, side="BUY", price="64250", quantity="0.01")
    db = app.state.platform.db
    entry = await db.ledger_entries.find_one({"postings.kind": "MARKUP"}, sort=[("seq", -1)])
    reference = next(p["reference"] for p in entry["postings"] if p["kind"] == "MARKUP")
    legs = [p for p in entry["postings"] if p["reference"] == reference]
    by_account: dict[str, int] = {}
    for leg in legs:
        if leg["kind"] in ("FEE", "MARKUP"):
            by_account[leg["account_id"]] = (
                by_account.get(leg["account_id"], 0) + leg["amount_minor"]
            )
    usdt_minor = 10**8
    assert by_account == {
        "platform:fees": int(Decimal("642.50") * Decimal("0.0030") * usdt_minor),
        f"platform:fees:markup:{alice.tenant_id}": int(
            Decimal("642.50") * Decimal("0.0010") * usdt_minor
        ),
    }
    assert sum(leg["amount_minor"] for leg in legs if leg["asset"] == "USDT") == 0
