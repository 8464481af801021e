"""The read models are a function of the journal: rebuilt from it into a second database,
every document equals the live one (the projections run behind the journal, in bulk)."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from graph.settings import Settings
from tests.graphql_client import gql

pytestmark = [pytest.mark.store, pytest.mark.e2e]

# read models the projections write (rebuilt) and what only the wall clock decides in them
PROJECTED = ("orders", "trades", "balances", "ledger_entries", "positions", "funding_payments",
             "liquidations", "compliance_alerts", "aml_transactions")  # fmt: skip
VOLATILE = {"updated_at", "detected_at", "sort_key", "recorded_at"}
NOT_COPIED = {*PROJECTED, "engine_snapshots", "engine_snapshot_files.files",
              "engine_snapshot_files.chunks", "engine_leases"}  # fmt: skip
PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id status } } }"""


def _order(key: DemoKey, side: str, price: str, n: int) -> dict[str, Any]:
    return {
        "accountId": key.account_id, "market": "BTC-USDT", "side": side, "type": "LIMIT",
        "price": price, "quantity": "0.001", "clientOrderId": f"rebuild-{side}-{n}",
    }  # fmt: skip


def _comparable(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k not in VOLATILE}


async def test_read_models_rebuilt_from_the_journal_equal_the_live_ones(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey],
    settings: Settings, mongodb_uri: str,
) -> None:  # fmt: skip
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    for n in range(12):  # crossing pairs (trades, fees, ledger) and resting orders
        price = "64250" if n % 3 else "64000"
        for key, side in ((alice, "BUY"), (bob, "SELL")):
            body = await gql(http, PLACE, {"i": _order(key, side, price, n)}, key=key)
            assert "errors" not in body, body
    live: Platform = app.state.platform
    await live.writer.projections.drain()
    copy = dataclasses.replace(settings, mongodb_db=f"rebuild_{uuid.uuid4().hex[:12]}")
    source, target = live.client[settings.mongodb_db], live.client[copy.mongodb_db]
    for name in await source.list_collection_names():
        docs = [d async for d in source[name].find({})]
        if name not in NOT_COPIED and docs:
            await target[name].insert_many(docs)
    rebuilt = Platform(copy, mongodb_uri)
    await rebuilt.start()  # no snapshot: the whole journal replays through the projections
    try:
        await rebuilt.writer.projections.drain()
        for name in PROJECTED:
            want = [_comparable(d) async for d in source[name].find({}).sort("_id", 1)]
            got = [_comparable(d) async for d in target[name].find({}).sort("_id", 1)]
            assert len(got) == len(want), name
            for expected, actual in zip(want, got, strict=True):
                assert actual == expected, name
        assert await source.trades.count_documents({}) >= 8
    finally:
        await rebuilt.close()
        await live.client.drop_database(copy.mongodb_db)
