"""The writer reconciles continuously: the engine's balances at one sequence against the
balance read model at exactly that sequence, every CAAS_RECONCILE_SECONDS, on /metrics."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from graph.settings import Settings
from tests.graphql_client import gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id status } } }"""


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(mongodb_db=f"test_{uuid.uuid4().hex[:12]}", data_dir=Path("unused"),
                    reconcile_seconds=0.1)  # fmt: skip


def _order(key: DemoKey, side: str, tag: str) -> dict[str, Any]:
    return {"accountId": key.account_id, "market": "BTC-USDT", "side": side, "type": "LIMIT",
            "price": "64250", "quantity": "0.001", "clientOrderId": f"rc-{tag}"}  # fmt: skip


async def _metrics(http: httpx.AsyncClient) -> dict[str, float]:
    text = (await http.get("/metrics")).text
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("caas_reconcile_")
    }


async def _runs_after(
    http: httpx.AsyncClient, runs: float, timeout_s: float = 10
) -> dict[str, float]:
    deadline = time.monotonic() + timeout_s
    while True:
        figures = await _metrics(http)
        if figures["caas_reconcile_runs"] > runs or time.monotonic() > deadline:
            return figures
        await asyncio.sleep(0.05)


async def test_reconciliation_runs_while_orders_flow_and_finds_no_drift(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice, bob = demo_keys["alice"], demo_keys["bob"]
    before = await _metrics(http)
    for n in range(30):  # crossing pairs: balances move in every batch
        for key, side in ((alice, "BUY"), (bob, "SELL")):
            body = await gql(http, PLACE, {"i": _order(key, side, f"{side}{n}")}, key=key)
            assert "errors" not in body, body
    figures = await _runs_after(http, before["caas_reconcile_runs"] + 2)
    assert figures["caas_reconcile_runs"] >= before["caas_reconcile_runs"] + 3
    assert figures["caas_reconcile_drift_total"] == 0
    assert figures["caas_reconcile_last_seq"] > before["caas_reconcile_last_seq"]


async def test_a_balance_read_model_that_drifted_is_counted_and_logged(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    platform: Platform = app.state.platform
    await platform.writer.projections.drain()
    balance = await platform.db.balances.find_one({"account_id": demo_keys["bob"].account_id})
    assert balance is not None
    caplog.set_level(logging.ERROR, logger="caas.reconcile")
    await platform.db.balances.update_one({"_id": balance["_id"]}, {"$set": {"locked": "7"}})
    try:  # two more runs: one may have read the store before the change
        figures = await _runs_after(http, (await _metrics(http))["caas_reconcile_runs"] + 1)
        assert figures["caas_reconcile_drift"] == 1
        assert any(r.message == "reconcile drift" for r in caplog.records)
        differences = await platform.reconciler.run_once()
        assert len(differences) == 1 and "read model" in differences[0]
    finally:
        await platform.db.balances.replace_one({"_id": balance["_id"]}, balance)
    figures = await _runs_after(http, (await _metrics(http))["caas_reconcile_runs"] + 1)
    assert figures["caas_reconcile_drift"] == 0
