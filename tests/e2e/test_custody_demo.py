"""The demo is funded through the simulated chain: its customers' balances are credited
deposits, so the demo bank's proofs of reserves show reserves covering liabilities, and
seeding again funds nothing twice."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from starlette.applications import Starlette

from graph.ops.seed import DEMO_FUNDED_ACCOUNTS, DEMO_FUNDING, DemoKey, seed_demo
from tests.graphql_client import gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

PUBLISH = """mutation($s: String!) { publishProofOfReserves(asset: $s) { totalLiabilities
  hotWalletTotal coldWalletTotal walletTotal custodyMode } }"""
DEPOSITS = "query { deposits(first: 50) { nodes { id status } } }"


async def _reserves(http: httpx.AsyncClient, admin: DemoKey) -> dict[str, tuple[Decimal, Decimal]]:
    found = {}
    for asset, _ in DEMO_FUNDING:
        body = await gql(http, PUBLISH, {"s": asset}, key=admin)
        assert not body.get("errors"), body
        snap = body["data"]["publishProofOfReserves"]
        assert snap["custodyMode"] == "SEGREGATED"
        found[asset] = (Decimal(snap["totalLiabilities"]), Decimal(snap["walletTotal"]))
    return found


async def test_the_demo_bank_reserves_cover_its_liabilities(
    http: httpx.AsyncClient, app: Starlette, demo_keys: dict[str, DemoKey]
) -> None:
    admin = demo_keys["tenant_admin"]
    reserves = await _reserves(http, admin)
    for asset, amount in DEMO_FUNDING:
        liabilities, wallets = reserves[asset]
        assert liabilities == amount * DEMO_FUNDED_ACCOUNTS, asset
        assert wallets >= liabilities, f"{asset}: reserves {wallets} < liabilities {liabilities}"
    deposits = (await gql(http, DEPOSITS, key=admin))["data"]["deposits"]["nodes"]
    assert len(deposits) == len(DEMO_FUNDING) * DEMO_FUNDED_ACCOUNTS
    assert {d["status"] for d in deposits} == {"CREDITED"}

    await seed_demo(app.state.platform)  # idempotent: nothing funded twice
    assert await _reserves(http, admin) == reserves
    again = (await gql(http, DEPOSITS, key=admin))["data"]["deposits"]["nodes"]
    assert len(again) == len(deposits)
