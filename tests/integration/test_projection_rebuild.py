"""The read models are a function of the journal: rebuilt from it into a second database,
every document equals the live one (the projections run behind the journal, in bulk), and
`caas settlement rebuild` says so, or names the documents that differ."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from graph.ops.settlement import PROJECTED, rebuild
from graph.settings import Settings
from tests.graphql_client import gql

pytestmark = [pytest.mark.store, pytest.mark.e2e]

PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id status } } }"""


def _order(key: DemoKey, side: str, price: str, n: str) -> dict[str, Any]:
    return {
        "accountId": key.account_id, "market": "BTC-USDT", "side": side, "type": "LIMIT",
        "price": price, "quantity": "0.001", "clientOrderId": f"rebuild-{side}-{n}",
    }  # fmt: skip


async def _trade(http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], tag: str) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    for n in range(12):  # crossing pairs (trades, fees, ledger) and resting orders
        price = "64250" if n % 3 else "64000"
        for key, side in ((alice, "BUY"), (bob, "SELL")):
            body = await gql(http, PLACE, {"i": _order(key, side, price, f"{tag}{n}")}, key=key)
            assert "errors" not in body, body


async def test_read_models_rebuilt_from_the_journal_equal_the_live_ones(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey],
    settings: Settings, mongodb_uri: str,
) -> None:  # fmt: skip
    await _trade(http, demo_keys, "a")
    live: Platform = app.state.platform
    await live.writer.projections.drain()
    report = await rebuild(settings, mongodb_uri, f"rebuild_{uuid.uuid4().hex[:12]}")
    assert report.clean, report.examples
    assert not report.moved
    assert report.compared["trades"] >= 8 and report.compared["ledger_entries"] >= 8
    assert set(report.compared) == set(PROJECTED)


async def test_a_read_model_that_drifted_from_the_journal_is_named(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey],
    settings: Settings, mongodb_uri: str,
) -> None:  # fmt: skip
    await _trade(http, demo_keys, "b")
    live: Platform = app.state.platform
    await live.writer.projections.drain()
    balance = await live.db.balances.find_one({"account_id": demo_keys["alice"].account_id})
    assert balance is not None
    await live.db.balances.update_one({"_id": balance["_id"]}, {"$set": {"available": "0.5"}})
    trade = await live.db.trades.find_one({})
    assert trade is not None
    await live.db.trades.delete_one({"_id": trade["_id"]})
    try:
        report = await rebuild(settings, mongodb_uri, f"rebuild_{uuid.uuid4().hex[:12]}")
        assert report.differences["balances"] == 1 and report.differences["trades"] == 1
        assert any("available" in line for line in report.examples), report.examples
        assert any("rebuilt only" in line for line in report.examples), report.examples
        env = {**os.environ, "MONGODB_URI": mongodb_uri, "MONGODB_DB": settings.mongodb_db}
        cli = [sys.executable, "-m", "graph.ops.cli", "settlement", "rebuild",
               "--quiet-seconds", "0"]  # fmt: skip
        result = await asyncio.to_thread(subprocess.run, cli, env=env, capture_output=True,
                                         timeout=300)  # fmt: skip
        assert result.returncode == 1, result.stdout.decode()[-2000:] + result.stderr.decode()
        assert b"settlement: DIFFERENT" in result.stdout
    finally:
        await live.db.balances.replace_one({"_id": balance["_id"]}, balance)
        await live.db.trades.insert_one(trade)
    result = await asyncio.to_thread(subprocess.run, cli, env=env, capture_output=True,
                                     timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout.decode()[-2000:]
    assert b"settlement: rebuilt read models equal the live ones" in result.stdout
