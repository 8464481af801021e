"""A Hive gateway in front of the five subgraph processes answers like our composed graph.

Same store, same queries: the gateway's JSON response body must equal, byte for byte, the one
`caas serve` returns at /graphql — queries that cross subgraphs in both directions, and the
orderUpdates subscription (gateway -> orders subgraph over graphql-transport-ws).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from tests.interop.conftest import INTEROP_DIR, REPORT, Servers, record_order

pytestmark = [
    pytest.mark.interop,
    pytest.mark.e2e,
    pytest.mark.store,
    pytest.mark.redis,
    pytest.mark.slow,
]

ACCOUNT_WITH_EVERYTHING = """
query Account($id: ID!) {
  account(id: $id) {
    id kind
    orders { nodes { id side type price quantity status market { id tickSize lotSize } } }
    positions { quantity }
    customer {
      displayName
      kyc { status level }
      tenant { name brand { displayName } wallets { asset temperature } }
    }
  }
}"""

ORDER_UP_TO_ITS_CUSTOMER = """
query Order($id: ID!) {
  order(id: $id) {
    id status price filledQuantity
    market { id }
    account {
      id kind
      customer { id displayName kyc { status level } tenant { name } }
      positions { quantity }
    }
  }
}"""

TENANT_ORDERS_WITH_CUSTOMERS = """
{
  orders(first: 10) {
    nodes { id status account { id customer { displayName kyc { status } } } }
    pageInfo { hasNextPage }
  }
  customers { nodes { displayName kyc { status level } } }
  wallets { asset temperature }
  viewer { role }
}"""

FRAGMENTS_AND_ALIASES = """
query($id: ID!) {
  mine: account(id: $id) { ...A }
  markets { id tickSize }
}
fragment A on Account { id orders(first: 1) { nodes { id account { customer { displayName } } } } }
"""

SUBSCRIPTION = """subscription($account: ID) {
  orderUpdates(account: $account) { order { id status account { id } } }
}"""


@dataclass(frozen=True)
class Orders:
    alice: str
    bob: str


@pytest.fixture(scope="module")
async def orders(platform: Platform, interop_keys: dict[str, DemoKey]) -> Orders:
    alice = await record_order(platform, interop_keys["alice"])
    bob = await record_order(platform, interop_keys["bob"], price="64000")
    return Orders(alice, bob)


def _post(url: str, query: str, variables: dict[str, Any], key: DemoKey | None) -> httpx.Response:
    headers = {"authorization": f"Bearer {key.token}"} if key else {}
    return httpx.post(
        url, json={"query": query, "variables": variables}, headers=headers, timeout=30
    )


def _cases(keys: dict[str, DemoKey], orders: Orders) -> dict[str, tuple[str, dict[str, Any], str]]:
    alice, bob = keys["alice"], keys["bob"]
    return {
        "account -> orders, positions, customer KYC, tenant wallets": (
            ACCOUNT_WITH_EVERYTHING,
            {"id": alice.account_id},
            "alice",
        ),
        "order -> account -> customer": (ORDER_UP_TO_ITS_CUSTOMER, {"id": orders.alice}, "alice"),
        "another customer's order is not there": (
            ORDER_UP_TO_ITS_CUSTOMER,
            {"id": orders.bob},
            "alice",
        ),
        "tenant admin: orders -> accounts -> customers, wallets": (
            TENANT_ORDERS_WITH_CUSTOMERS,
            {},
            "tenant_admin",
        ),
        "fragments and aliases": (FRAGMENTS_AND_ALIASES, {"id": bob.account_id}, "bob"),
    }


CASE_NAMES = [
    "account -> orders, positions, customer KYC, tenant wallets",
    "order -> account -> customer",
    "another customer's order is not there",
    "tenant admin: orders -> accounts -> customers, wallets",
    "fragments and aliases",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_cross_subgraph_queries_through_the_gateway_equal_the_composed_graph_byte_for_byte(
    case: str,
    servers: Servers,
    gateway: str,
    interop_keys: dict[str, DemoKey],
    orders: Orders,
) -> None:
    query, variables, key_name = _cases(interop_keys, orders)[case]
    key = interop_keys[key_name]
    direct = _post(servers.composed_graphql, query, variables, key)
    through_gateway = _post(f"{gateway}/graphql", query, variables, key)
    assert direct.status_code == through_gateway.status_code == 200
    body = direct.json()
    assert "errors" not in body, body
    assert through_gateway.content == direct.content
    REPORT.setdefault("gateway_equal_bytes", []).append(case)


def test_the_cross_subgraph_answers_hold_the_expected_data(
    servers: Servers, interop_keys: dict[str, DemoKey], orders: Orders
) -> None:
    """The byte comparisons above compare something: every subgraph contributed."""
    alice = interop_keys["alice"]
    account = _post(
        servers.composed_graphql, ACCOUNT_WITH_EVERYTHING, {"id": alice.account_id}, alice
    ).json()["data"]["account"]
    assert orders.alice in [o["id"] for o in account["orders"]["nodes"]]
    assert account["customer"]["kyc"] == {"status": "VERIFIED", "level": 1}
    assert account["customer"]["tenant"]["wallets"]
    order = _post(servers.composed_graphql, ORDER_UP_TO_ITS_CUSTOMER, {"id": orders.alice}, alice)
    assert order.json()["data"]["order"]["account"]["customer"]["displayName"] == "Alice Demo"
    other = _post(servers.composed_graphql, ORDER_UP_TO_ITS_CUSTOMER, {"id": orders.bob}, alice)
    assert other.json() == {"data": {"order": None}}


def test_error_codes_pass_through_the_gateway(gateway: str) -> None:
    anonymous = _post(f"{gateway}/graphql", "{ viewer { role } }", {}, None).json()
    assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]


async def _read_events(
    stream: asyncio.StreamReader, events: list[dict[str, Any]], changed: asyncio.Event
) -> None:
    while line := await stream.readline():
        events.append(json.loads(line))
        changed.set()


async def test_order_updates_through_the_gateway_equal_the_composed_graph(
    node: str,
    servers: Servers,
    gateway: str,
    platform: Platform,
    interop_keys: dict[str, DemoKey],
) -> None:
    """graphql-ws clients on /graphql and on the gateway receive the same `next` payloads."""
    alice = interop_keys["alice"]
    config = {
        "targets": [
            {"label": "direct", "url": servers.composed_graphql.replace("http", "ws", 1)},
            {"label": "gateway", "url": f"{gateway.replace('http', 'ws', 1)}/graphql"},
        ],
        "token": alice.token,
        "query": SUBSCRIPTION,
        "variables": {"account": alice.account_id},
        "count": 1000,
        "timeoutMs": 60_000,
    }
    process = await asyncio.create_subprocess_exec(
        node,
        str(INTEROP_DIR / "subscribe.mjs"),
        json.dumps(config),
        cwd=INTEROP_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    events: list[dict[str, Any]] = []
    changed = asyncio.Event()
    reader = asyncio.create_task(_read_events(process.stdout, events, changed))
    recorded: list[str] = []
    try:
        # Neither server says when a subscription is live, so record orders until both
        # streams have delivered one of them (the first few may precede the subscriptions).
        deadline = time.monotonic() + 30
        common: str | None = None
        while common is None:
            assert time.monotonic() < deadline, f"no common event; got {events}"
            assert process.returncode is None, f"subscribe.mjs exited: {events}"
            recorded.append(await record_order(platform, interop_keys["bob"]))
            recorded.append(await record_order(platform, alice))
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=0.5)
            common = _common_order(events)
        frames = {
            e["label"]: e
            for e in events
            if e["event"] == "next"
            and e["payload"]["data"]["orderUpdates"]["order"]["id"] == common
        }
    finally:
        stderr = await _stop(process, reader)
    errors = [e for e in events if e["event"] in ("error", "timeout")]
    assert not errors, f"{errors}\n{stderr.decode()[-2000:]}"
    assert common in recorded
    received = {
        e["payload"]["data"]["orderUpdates"]["order"]["account"]["id"]
        for e in events
        if e["event"] == "next"
    }
    assert received == {alice.account_id}, "Bob's orders must not reach Alice"
    direct, through_gateway = frames["direct"], frames["gateway"]
    assert direct["payload"]["data"]["orderUpdates"]["order"] == {
        "id": common,
        "status": "NEW",
        "account": {"id": alice.account_id},
    }
    assert _payload_text(through_gateway["raw"]) == _payload_text(direct["raw"])
    REPORT["gateway_subscription_equal_bytes"] = True


async def _stop(process: asyncio.subprocess.Process, reader: asyncio.Task[None]) -> bytes:
    """Stop subscribe.mjs (SIGTERM, then SIGKILL) and drain its output; its stderr."""
    if process.returncode is None:
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=10)
    except TimeoutError:
        process.kill()
        await process.wait()
    await reader
    assert process.stderr is not None
    return await process.stderr.read()


def _common_order(events: list[dict[str, Any]]) -> str | None:
    seen: dict[str, set[str]] = {"direct": set(), "gateway": set()}
    for event in events:
        if event["event"] == "next":
            seen[event["label"]].add(event["payload"]["data"]["orderUpdates"]["order"]["id"])
    common = seen["direct"] & seen["gateway"]
    return min(common) if common else None


def _payload_text(raw: str) -> str:
    """The `payload` member of a `next` frame, as the bytes on the wire (ids differ)."""
    head, separator, payload = raw.partition('"payload":')
    assert separator and '"type":"next"' in head, raw
    return payload
