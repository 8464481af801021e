"""Custody across processes on the real Redis: the chain and the deposit watcher live in the
engine writer, and custody mutations sent to an API-only process are forwarded to it
(`graph/writer/calls.py`), answered with the same objects and error codes, and readable at
once through the API process."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest

from graph.ops.servers import readyz
from tests.e2e.test_scale_out import Servers, _gql, _keys, env, servers

pytestmark = [pytest.mark.e2e, pytest.mark.store, pytest.mark.redis, pytest.mark.slow]
__all__ = ["env", "servers"]  # the fixtures, shared with the order scale-out test

ADDRESS = """mutation($a: ID!) { requestDepositAddress(accountId: $a, asset: "BTC")
  { address derivationPath } }"""
SEND = """mutation($to: String!, $n: Decimal!) {
  simulateChainTransfer(asset: "BTC", address: $to, amount: $n) }"""
MINE = "mutation($n: Int!) { mineBlocks(count: $n) }"
DEPOSITS = "query { deposits(first: 10) { nodes { txId status amount } } }"
OUTSIDE = "bcrt1q4pvv7fky4mvmnsd89faf5hex4gzfl6h44xzl84"
REQUEST = """mutation($a: ID!, $n: Decimal!, $k: String, $d: String! = "%s") {
  requestWithdrawal(input: {accountId: $a, asset: "BTC", amount: $n, destination: $d,
  idempotencyKey: $k}) { withdrawal { id status txId amount } } }""".replace("%s", OUTSIDE)
WITHDRAWAL = "query($id: ID!) { withdrawal(id: $id) { id status txId } }"
BALANCES = "query($id: ID!) { account(id: $id) { balances { asset available locked } } }"


def data(body: dict[str, Any]) -> Any:
    assert not body.get("errors"), body
    return body["data"]


async def btc(client: httpx.AsyncClient, url: str, key: dict[str, Any]) -> Decimal:
    rows = data(await _gql(client, url, key, BALANCES, {"id": key["account_id"]}))
    found = [r for r in rows["account"]["balances"] if r["asset"] == "BTC"]
    return Decimal(found[0]["available"]) if found else Decimal(0)


async def test_custody_mutations_through_an_api_process_run_in_the_writer(
    env: dict[str, str], servers: Servers
) -> None:
    env["CAAS_CHAIN_BLOCK_SECONDS"] = "0"  # blocks only when mined: the test decides
    keys = await asyncio.to_thread(_keys, env)
    alice, admin, operator = keys["alice"], keys["tenant_admin"], keys["operator"]
    writer = await asyncio.to_thread(servers.start, "writer", expect="writer")
    api = await asyncio.to_thread(servers.start, "api", "--role", "api", expect="api")

    async with httpx.AsyncClient(timeout=30) as client:
        address = data(await _gql(client, api, alice, ADDRESS, {"a": alice["account_id"]}))
        again = data(await _gql(client, writer, alice, ADDRESS, {"a": alice["account_id"]}))
        assert address == again, "one address, whichever process is asked"
        to = address["requestDepositAddress"]["address"]
        before = await btc(client, api, alice)
        sent = data(await _gql(client, api, admin, SEND, {"to": to, "n": "0.4"}))
        tx = sent["simulateChainTransfer"]
        assert data(await _gql(client, api, operator, MINE, {"n": 3}))["mineBlocks"] >= 3
        rows = data(await _gql(client, api, alice, DEPOSITS))["deposits"]["nodes"]
        assert {"txId": tx, "status": "CREDITED", "amount": "0.4"} in rows, rows
        assert await btc(client, api, alice) == before + Decimal("0.4"), "read your writes"

        data(await _gql(client, api, operator, MINE, {"n": 1}))  # the consolidation mined
        once = {"a": alice["account_id"], "n": "0.05", "k": "scale-1"}
        w = data(await _gql(client, api, admin, REQUEST, once))["requestWithdrawal"]["withdrawal"]
        assert w["status"] == "BROADCAST" and w["txId"], w
        retry = data(await _gql(client, api, admin, REQUEST, once))
        assert retry["requestWithdrawal"]["withdrawal"]["id"] == w["id"]
        seen = data(await _gql(client, writer, admin, WITHDRAWAL, {"id": w["id"]}))
        assert seen["withdrawal"] == {"id": w["id"], "status": "BROADCAST", "txId": w["txId"]}
        assert await btc(client, api, alice) == before + Decimal("0.35")

        refused = await _gql(client, api, admin, REQUEST, {"a": alice["account_id"], "n": "999"})
        assert refused["errors"][0]["extensions"]["code"] == "INSUFFICIENT_FUNDS", refused
        forbidden = await _gql(client, api, alice, MINE, {"n": 1})
        assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert readyz(api)["engineSeq"] == readyz(writer)["engineSeq"]
