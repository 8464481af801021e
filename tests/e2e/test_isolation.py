"""Tenant isolation, driven by introspection: every query, mutation and subscription of the
public schema is called by every role of tenant A with arguments that point at tenant B's
objects. Nothing of B may come back, and nothing of B may change.

Operations are found by introspecting the served schema, so an operation added later is
covered without touching this file; arguments are built from their types (IDs and
id-like strings point at B, optional tenant/account/customer arguments too).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import pytest
import pytest_asyncio
from graphql import (
    GraphQLEnumType,
    GraphQLField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    build_client_schema,
    get_introspection_query,
)
from starlette.applications import Starlette

from domains.accounts.billing.metering import UsageMeter
from domains.accounts.service import AccountsService
from domains.shared.context import Role
from graph.ops.seed import DemoKey
from tests.e2e.test_subscriptions import ws_session
from tests.factories import demo_style_key
from tests.graphql_client import gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

TENANT_ROLES = ("tenant_admin", "compliance", "risk", "alice")
MAX_DEPTH = 3
FUND = """mutation($a: ID!, $s: String!, $n: Decimal!) { adjustBalance(input: {accountId: $a,
  asset: $s, amount: $n, reason: "rival funding"}) { sequence } }"""
BUY = """mutation($a: ID!, $p: Decimal!, $c: String) { placeOrder(input: {accountId: $a,
  market: "BTC-USDT", side: BUY, type: LIMIT, quantity: "0.01", price: $p, clientOrderId: $c})
  { order { id } } }"""


@dataclass
class Rival:
    """Tenant B: its keys and every identifier of its objects (none may leak to A)."""

    tenant_id: str
    keys: dict[str, DemoKey]
    ids: dict[str, str] = field(default_factory=dict)  # kind -> id (customer, account, ...)
    secrets: set[str] = field(default_factory=set)  # every string that must not leak

    def remember(self, kind: str, value: str) -> str:
        self.ids[kind] = value
        self.secrets.add(value)
        return value


async def _ok(http: httpx.AsyncClient, query: str, variables: dict[str, Any], key: DemoKey) -> Any:
    body = await gql(http, query, variables, key=key)
    assert not body.get("errors"), body
    return body["data"]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def rival(app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]) -> Rival:
    """Tenant B with a customer, a sub-account, funds, a resting order, a wallet and KYC."""
    from domains.accounts.model import Brand

    accounts = app.state.platform.get(AccountsService)
    tenant = await accounts.create_tenant("Rival Bank", "DE", Brand(display_name="Rival Crypto"))
    keys: dict[str, DemoKey] = {}
    for role in (Role.TENANT_ADMIN, Role.COMPLIANCE, Role.RISK):
        keys[role.value.lower()] = await demo_style_key(app.state.platform, role, tenant.id)
    rival = Rival(tenant.id, keys)
    rival.remember("tenant", tenant.id)
    rival.secrets.update({"Rival Bank", "Rival Crypto"})
    admin, operator = keys["tenant_admin"], demo_keys["operator"]
    await _ok(http, 'mutation { setListedMarkets(marketIds: ["BTC-USDT"]) { id } }', {}, admin)
    created = await _ok(
        http,
        'mutation { createCustomer(input: {displayName: "Zed Rival", '
        'email: "zed@rival.example", externalRef: "crm-rival-1"}) { id } }',
        {},
        admin,
    )
    customer = rival.remember("customer", created["createCustomer"]["id"])
    rival.secrets.update({"Zed Rival", "zed@rival.example", "crm-rival-1"})
    listed = await _ok(http, "query($c: ID!) { accounts(customerId: $c) { nodes { id } } }",
                       {"c": customer}, admin)  # fmt: skip
    account = rival.remember("account", listed["accounts"]["nodes"][0]["id"])
    sub = await _ok(http, "mutation($c: ID!) { openSubAccount(customerId: $c, label: \"zed-sub\") "
                    "{ id } }", {"c": customer}, admin)  # fmt: skip
    rival.remember("sub_account", sub["openSubAccount"]["id"])
    trader = await demo_style_key(app.state.platform, Role.TRADER, tenant.id, customer)
    keys["trader"] = replace(trader, account_id=account)
    rival.remember("trader_key", trader.name)
    for asset, amount in (("USDT", "50000"), ("BTC", "1")):
        await _ok(http, FUND, {"a": account, "s": asset, "n": amount}, operator)
    for status in ("PENDING", "VERIFIED"):  # KYC gate: only verified customers trade
        await _ok(http, "mutation($c: ID!, $s: KycStatus!) { setKycStatus(customerId: $c, "
                  "status: $s, level: 1) { status } }", {"c": customer, "s": status},
                  keys["compliance"])  # fmt: skip
    placed = await _ok(http, BUY, {"a": account, "p": "60000", "c": "rival-order-1"},
                       keys["trader"])  # fmt: skip
    rival.remember("order", placed["placeOrder"]["order"]["id"])
    rival.remember("client_order_id", "rival-order-1")
    wallet = await _ok(http, "mutation { openWallet(asset: \"BTC\", temperature: HOT, "
                       "label: \"rival-hot\") { id } }", {}, admin)  # fmt: skip
    rival.remember("wallet", wallet["openWallet"]["id"])
    return rival


# --- building operations from the introspected schema ---------------------------------


def _named(t: GraphQLOutputType | GraphQLInputType) -> GraphQLNamedType:
    while isinstance(t, GraphQLNonNull | GraphQLList):
        t = t.of_type
    assert isinstance(t, GraphQLNamedType)
    return t


def _id_for(name: str, parent: str, rival: Rival) -> str:
    """The rival object an ID argument most plausibly names (by argument, then field)."""
    for hint in (name.lower(), parent.lower()):
        for kind, key in (("tenant", "tenant"), ("customer", "customer"),
                          ("subaccount", "sub_account"), ("account", "account"),
                          ("order", "order"), ("wallet", "wallet")):  # fmt: skip
            if kind in hint and key in rival.ids:
                return rival.ids[key]
    return "BTC-USDT" if "market" in name.lower() else rival.ids["account"]


def _value(t: GraphQLInputType, name: str, parent: str, rival: Rival, depth: int = 0) -> Any:
    if isinstance(t, GraphQLNonNull):
        return _value(t.of_type, name, parent, rival, depth)
    if isinstance(t, GraphQLList):
        return [_value(t.of_type, name, parent, rival, depth)]
    if isinstance(t, GraphQLEnumType):
        return next(iter(t.values))
    if isinstance(t, GraphQLInputObjectType):
        return {
            fname: _value(f.type, fname, parent, rival, depth + 1)
            for fname, f in t.fields.items()
            if isinstance(f.type, GraphQLNonNull) or _points_at_rival(fname)
        }
    assert isinstance(t, GraphQLScalarType)
    lowered = name.lower()
    if t.name == "ID" or lowered.endswith("id"):
        if "clientorder" in lowered:
            return rival.ids["client_order_id"]
        return _id_for(name, parent, rival)
    if t.name == "Int":
        return 1
    if t.name == "Boolean":
        return False
    if t.name == "Decimal":
        return "1"
    if t.name == "DateTime":
        return "2026-01-01T00:00:00Z"
    if "email" in lowered:
        return "probe@tenant-a.example"
    if "asset" in lowered:
        return "USDT"
    return "probe"


def _points_at_rival(name: str) -> bool:
    lowered = name.lower()
    return lowered.endswith("id") or lowered in {"account", "customer", "tenant", "market"}


def _selection(t: GraphQLOutputType, depth: int) -> str:
    named = _named(t)
    if not isinstance(named, GraphQLObjectType):
        return ""
    parts = ["__typename"]
    for fname, f in named.fields.items():
        if any(isinstance(a.type, GraphQLNonNull) for a in f.args.values()):
            continue
        inner = _named(f.type)
        if isinstance(inner, GraphQLObjectType):
            if depth < MAX_DEPTH:
                parts.append(f"{fname} {_selection(f.type, depth + 1)}")
        else:
            parts.append(fname)
    return "{ " + " ".join(parts) + " }"


def _operation(kind: str, name: str, f: GraphQLField, rival: Rival) -> tuple[str, dict[str, Any]]:
    variables: dict[str, Any] = {}
    declared, passed = [], []
    for arg_name, arg in f.args.items():
        if not isinstance(arg.type, GraphQLNonNull) and not _points_at_rival(arg_name):
            continue
        variables[arg_name] = _value(arg.type, arg_name, name, rival)
        declared.append(f"${arg_name}: {arg.type}")
        passed.append(f"{arg_name}: ${arg_name}")
    head = f"({', '.join(declared)})" if declared else ""
    args = f"({', '.join(passed)})" if passed else ""
    return f"{kind} probe{head} {{ {name}{args} {_selection(f.type, 1)} }}", variables


def operations(
    schema: GraphQLSchema, rival: Rival
) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for kind, root in (("query", schema.query_type), ("mutation", schema.mutation_type),
                       ("subscription", schema.subscription_type)):  # fmt: skip
        if root is None:
            continue
        for name, f in root.fields.items():
            query, variables = _operation(kind, name, f, rival)
            yield kind, name, query, variables


# --- B's state, for "nothing changed" --------------------------------------------------


async def rival_state(app: Starlette, rival: Rival) -> str:
    """Every stored document that mentions one of B's ids, and B's engine balances."""
    platform = app.state.platform
    await platform.get(UsageMeter).flush()  # B's own calls so far are counted before and after
    db = platform.db
    watched = ("tenant", "customer", "account", "sub_account", "order", "wallet")
    ids = {rival.ids[k] for k in watched if k in rival.ids}
    found: list[str] = []
    for name in sorted(await db.list_collection_names()):
        if name.startswith(("journal", "engine_", "fs.", "ledger", "auth_audit")):
            continue  # append-only logs: checked through the engine state below
        async for doc in db[name].find({}):
            text = json.dumps(doc, default=str, sort_keys=True)
            if any(i in text for i in ids):
                found.append(f"{name}:{text}")
    engine = platform.writer.engine
    for key in ("account", "sub_account"):
        index = await platform.directory.account_index(rival.ids[key], rival.tenant_id,
                                                       rival.ids["customer"])  # fmt: skip
        found.append(f"engine:{key}:{sorted(engine.balances_of(index).items())}")
    return "\n".join(sorted(found))


def _leaks(body: dict[str, Any], rival: Rival) -> list[str]:
    text = json.dumps(body.get("data"), default=str)
    return sorted(s for s in rival.secrets if s in text)


async def _probe_everything(
    app: Starlette, http: httpx.AsyncClient, callers: dict[str, str | None], rival: Rival
) -> int:
    """Every query and mutation as every caller (name -> token, None = anonymous): no
    response carries the rival's objects and the rival's stored state does not change."""
    introspected = await gql(http, get_introspection_query())
    schema = build_client_schema(introspected["data"])
    before = await rival_state(app, rival)
    tried, leaks = 0, []
    for kind, name, query, variables in operations(schema, rival):
        if kind == "subscription":
            continue  # over the WebSocket, below
        for caller, token in callers.items():
            headers = {"authorization": f"Bearer {token}"} if token else {}
            response = await http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            assert response.status_code < 500, (name, caller, response.text)
            body = response.json()
            tried += 1
            if found := _leaks(body, rival):
                leaks.append(f"{caller} {kind} {name}: {found}")
            if token is None and kind == "mutation":  # nothing changes without credentials
                codes = {e.get("extensions", {}).get("code") for e in body.get("errors") or []}
                assert codes == {"UNAUTHENTICATED"}, (name, body)
    assert leaks == []
    assert await rival_state(app, rival) == before
    return tried


async def test_every_operation_as_every_role_of_a_against_b(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], rival: Rival
) -> None:
    callers: dict[str, str | None] = {role: demo_keys[role].token for role in TENANT_ROLES}
    callers["anonymous"] = None
    tried = await _probe_everything(app, http, callers, rival)
    assert tried >= len(callers) * 30  # the whole surface, not a handful


async def test_a_customer_never_reaches_another_customer_of_its_own_tenant(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    """The same matrix one level down: Alice (TRADER) against Bob, both of the demo bank."""
    alice, bob, admin = demo_keys["alice"], demo_keys["bob"], demo_keys["tenant_admin"]
    assert bob.customer_id and bob.account_id
    neighbour = Rival(bob.tenant_id or "", {"trader": bob})
    neighbour.remember("customer", bob.customer_id)
    neighbour.remember("account", bob.account_id)
    neighbour.secrets.update({"Bob Demo", "bob@demo.example"})
    sub = await _ok(http, "mutation($c: ID!) { openSubAccount(customerId: $c, label: \"bob-sub\") "
                    "{ id } }", {"c": bob.customer_id}, admin)  # fmt: skip
    neighbour.remember("sub_account", sub["openSubAccount"]["id"])
    placed = await _ok(http, BUY, {"a": bob.account_id, "p": "60000", "c": "bob-private-1"}, bob)
    neighbour.remember("order", placed["placeOrder"]["order"]["id"])
    neighbour.remember("client_order_id", "bob-private-1")
    tried = await _probe_everything(app, http, {"alice": alice.token}, neighbour)
    assert tried >= 30


async def test_every_subscription_as_every_role_of_a_sees_nothing_of_b(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], rival: Rival
) -> None:
    introspected = await gql(http, get_introspection_query(), key=demo_keys["tenant_admin"])
    schema = build_client_schema(introspected["data"])
    subscriptions = [op for op in operations(schema, rival) if op[0] == "subscription"]
    assert subscriptions
    for _, name, query, variables in subscriptions:
        for role in TENANT_ROLES:
            async with ws_session(app, {"Authorization": f"Bearer {demo_keys[role].token}"}) as ws:
                assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
                for sub_id, sub_vars in (("b", variables), ("own", {})):
                    payload = {"query": query, "variables": sub_vars}
                    await ws.send_json({"id": sub_id, "type": "subscribe", "payload": payload})
                await asyncio.sleep(0.05)
                await _ok(http, BUY, {"a": rival.ids["account"], "p": "59000", "c": None},
                          rival.keys["trader"])  # fmt: skip
                received = []
                while True:
                    try:
                        received.append(await ws.receive_json(timeout=0.5))
                    except TimeoutError:
                        break
                # errors may echo the id the caller sent; data must never carry B's objects
                data = [m["payload"] for m in received if m["type"] == "next"]
                assert not any(_leaks(p, rival) for p in data), (name, role, received)
                # a subscription without arguments naming B (riskSummary) is the caller's own
                # twice: only its data must be free of B's objects (checked above)
                own = {"own"} if variables else {"own", "b"}
                assert {m["id"] for m in received if m["type"] == "next" and
                        m["payload"].get("data")} <= own, (name, role, received)  # fmt: skip
