"""Clearing rollback on a perpetual market over HTTP: bustTrades moves both parties'
positions back (BUST_POSITION legs) and their money (fees, realised PnL) by transfers;
the trades show BUSTED, the ledger's bust legs balance, reconcile is clean; a bust of a
trade a later fill closed against reports the legs that reopen the later position.
"""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette

from domains.shared.errors import UnavailableError
from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from graph.settings import Settings
from tests.e2e.test_perpetuals import ORDER, _trader
from tests.e2e.test_trade_busts import ok, replay_and_rebuild_equal_live, totals
from tests.factories import reconcile_platform
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

PERP = "BTC-USDT-PERP"
NEWEST = """query($m: ID!) { trades(market: $m, first: 1) { nodes { sequence } } }"""
BUST = """mutation($m: ID!, $f: Int!, $t: Int!) { bustTrades(market: $m, fromSequence: $f,
  toSequence: $t, reason: "bad print") { id status bustedTrades bustSequence
  shortfalls { accountId amount } unpaidClaims { accountId amount }
  positionLegs { accountId quantity cost realizedPnl margin }
  inexactPositions { accountId fields } uncovered { accountId amount } } }"""
TRADES = """query($m: ID!) { trades(market: $m, first: 5) { nodes { sequence status
  bustSequence } } }"""


async def newest(app: Starlette, http: httpx.AsyncClient, key: DemoKey) -> int:
    await app.state.platform.writer.projections.drain()
    nodes = (await ok(http, NEWEST, {"m": PERP}, key))["trades"]["nodes"]
    return int(nodes[0]["sequence"]) if nodes else 0


async def fill(http: httpx.AsyncClient, maker: DemoKey, taker: DemoKey, side: str, qty: str,
               price: str) -> None:  # fmt: skip
    """The maker rests the other side at ``price``, the taker takes all of it (IOC)."""
    other = "SELL" if side == "BUY" else "BUY"
    await ok(http, ORDER, {"a": maker.account_id, "s": other, "q": qty, "p": price}, maker)
    await ok(http, ORDER, {"a": taker.account_id, "s": side, "q": qty, "p": price,
                           "tif": "IOC"}, taker)  # fmt: skip


async def position(app: Starlette, key: DemoKey, market: int) -> tuple[int, int, int, int]:
    platform = app.state.platform
    assert key.account_id and key.tenant_id and key.customer_id
    index = await platform.directory.account_index(key.account_id, key.tenant_id,
                                                   key.customer_id)  # fmt: skip
    p = platform.writer.engine.position(index, market)
    return (p.qty, p.cost, p.margin, p.realized)


async def bust(app: Starlette, http: httpx.AsyncClient, operator: DemoKey, first: int,
               last: int) -> dict[str, Any]:  # fmt: skip
    body = await ok(http, BUST, {"m": PERP, "f": first, "t": last}, operator)
    report: dict[str, Any] = body["bustTrades"]
    assert report["status"] == "COMPLETED", report
    await app.state.platform.writer.projections.drain()
    assert (await reconcile_platform(app.state.platform)).clean
    ledger = app.state.platform.db.ledger_entries
    reference = f"bust:{report['id']}"
    legs = [p async for doc in ledger.find({"postings.reference": reference})
            for p in doc["postings"] if p["reference"] == reference]  # fmt: skip
    assert sum(e["amount_minor"] for e in legs) == 0
    return report


async def test_a_perpetual_bust_flattens_both_parties_and_gives_their_money_back(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator = demo_keys["operator"]
    alice = await _trader(app, http, demo_keys, "pbust-a")
    bob = await _trader(app, http, demo_keys, "pbust-b")
    market = await app.state.platform.directory.market_index(PERP)
    before = totals(app)
    first = await newest(app, http, operator) + 1
    await fill(http, bob, alice, "BUY", "0.01", "60000")
    last = await newest(app, http, operator)
    assert (await position(app, alice, market))[0] > 0 and not np.array_equal(totals(app), before)

    report = await bust(app, http, operator, first, last)

    assert report["bustedTrades"] == list(range(first, last + 1))
    assert report["shortfalls"] == report["unpaidClaims"] == report["uncovered"] == []
    assert report["inexactPositions"] == []
    assert {g["accountId"] for g in report["positionLegs"]} == {alice.account_id, bob.account_id}
    assert await position(app, alice, market) == (0, 0, 0, 0)
    assert await position(app, bob, market) == (0, 0, 0, 0)
    assert np.array_equal(totals(app), before)  # fees back, margins released
    trades = (await ok(http, TRADES, {"m": PERP}, operator))["trades"]["nodes"]
    shown = {n["sequence"]: n for n in trades}
    assert shown[last]["status"] == "BUSTED"
    assert shown[last]["bustSequence"] == report["bustSequence"]


async def test_a_bust_under_a_later_fill_reopens_the_position_that_fill_closed(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator = demo_keys["operator"]
    alice = await _trader(app, http, demo_keys, "pbust-c")
    bob = await _trader(app, http, demo_keys, "pbust-d")
    carol = await _trader(app, http, demo_keys, "pbust-e")
    market = await app.state.platform.directory.market_index(PERP)
    first = await newest(app, http, operator) + 1
    await fill(http, bob, alice, "BUY", "0.01", "60000")  # busted
    await fill(http, carol, alice, "SELL", "0.01", "60100")  # stands: alice took +1 profit
    assert (await position(app, alice, market))[0] == 0

    report = await bust(app, http, operator, first, first)

    # without the first trade alice sold 0.01 at 60100: short, nothing realised
    qty, cost, _, _ = await position(app, alice, market)
    assert qty < 0 and cost < 0
    assert await position(app, bob, market) == (0, 0, 0, 0)
    assert (await position(app, carol, market))[0] == -qty
    legs = {g["accountId"]: g for g in report["positionLegs"]}
    assert set(legs) == {alice.account_id, bob.account_id}
    assert report["shortfalls"] == [] and report["uncovered"] == []


async def test_a_perpetual_bust_interrupted_after_its_legs_is_resumed_without_moving_twice(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The process dies after the BUST_POSITION group is journaled but before the bust
    records it: the resumed bust finds the group applied (the clearing account is
    CANCEL_ONLY) and goes on to the money; positions move once, balances come back once."""
    operator, platform = demo_keys["operator"], app.state.platform
    alice = await _trader(app, http, demo_keys, "pbust-f")
    bob = await _trader(app, http, demo_keys, "pbust-g")
    market = await platform.directory.market_index(PERP)
    before = totals(app)
    first = await newest(app, http, operator) + 1
    await fill(http, bob, alice, "SELL", "0.02", "60000")
    last = await newest(app, http, operator)
    service = platform.busts
    real_save = service._save

    async def crash_after_the_legs(doc: Any, **fields: Any) -> Any:
        if fields.get("legs_seq") is not None and fields.get("status") == "COLLECTING":
            raise UnavailableError("the process died here")
        return await real_save(doc, **fields)

    monkeypatch.setattr(service, "_save", crash_after_the_legs)
    body = await gql(http, BUST, {"m": PERP, "f": first, "t": last}, key=operator)
    assert error_codes(body) == ["UNAVAILABLE"]
    assert await position(app, alice, market) == (0, 0, 0, 0)  # the legs ran
    monkeypatch.setattr(service, "_save", real_save)
    assert await service.resume() == 1
    assert await position(app, alice, market) == (0, 0, 0, 0)  # not reversed twice
    assert await position(app, bob, market) == (0, 0, 0, 0)
    assert np.array_equal(totals(app), before)
    [stored] = [b async for b in platform.db.trade_busts.find({"from": first, "market_id": PERP})]
    assert stored["status"] == "COMPLETED"
    assert (await reconcile_platform(platform)).clean


async def test_perpetual_busts_replay_to_the_same_state_and_rebuild_equal_to_live(
    app: Starlette, settings: Settings, mongodb_uri: str
) -> None:
    """The tests above busted perpetual trades: a replay of the journal reaches the live
    engine's state hash (positions included), and the read models and ledger rebuilt from
    it into a second database equal the live ones."""
    live: Platform = app.state.platform
    busted = await live.db.trades.count_documents({"status": "BUSTED", "market_id": PERP})
    assert busted >= 2, busted
    await replay_and_rebuild_equal_live(live, settings, mongodb_uri)
