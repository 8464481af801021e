"""Perpetual positions, marks and tenants made through the public API only (for the dashboard
tests): traders with KYC, suitability, USDT and a customer token; orders; index prices; a
second tenant with its own signed staff keys. Imports nothing from the server's packages.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

PERP = "BTC-USDT-PERP"
ORDER = """mutation($a: ID!, $s: Side!, $q: Decimal!, $p: Decimal!) { placeOrder(input: {
  accountId: $a, market: "BTC-USDT-PERP", side: $s, type: LIMIT, quantity: $q, price: $p})
  { order { id status } } }"""
CANCEL_ALL = """mutation($a: ID!) { cancelAllOrders(accountId: $a, market: "BTC-USDT-PERP")
  { canceledCount } }"""
LEVERAGE = """mutation($a: ID!, $l: Int!, $m: MarginMode!) { setLeverage(accountId: $a,
  market: "BTC-USDT-PERP", leverage: $l, marginMode: $m) { sequence } }"""
INDEX = 'mutation($p: Decimal!) { postIndexPrice(market: "BTC-USDT-PERP", price: $p) }'
RISK_SUMMARY = """{ riskSummary { markets { marketId markPrice longNotional shortNotional
  netNotional marginInUse openPositions } marginInUse { asset amount }
  marginRatioBands { name accounts } insuranceFunds { asset balance } accountsWithPositions
  largestPositions { accountId } } }"""


@dataclass(frozen=True)
class Credential:
    """A bearer token, with its signing secret when requests must be signed."""

    token: str
    key_id: str = ""
    signing_secret: str | None = None


@dataclass(frozen=True)
class Trader:
    """A customer of a tenant with one funded account and a customer token (JWT)."""

    name: str
    customer_id: str
    account_id: str
    credential: Credential


class GraphQLError(AssertionError):
    """An answer with errors where none was expected."""


class RiskDesk:
    """GraphQL over HTTP against one server, as the tenant's staff and the operator."""

    def __init__(self, url: str, keys: dict[str, dict[str, Any]]) -> None:
        self.url = url
        self.http = httpx.AsyncClient(timeout=20)
        self.operator = Credential(keys["operator"]["token"])
        self.admin = Credential(keys["tenant_admin"]["token"])
        self.compliance = Credential(keys["compliance"]["token"])
        self.risk = Credential(keys["risk"]["token"])
        self.traders: list[Trader] = []  # the demo tenant's, made here

    async def close(self) -> None:
        await self.http.aclose()

    async def call(self, credential: Credential | None, query: str,
                   variables: dict[str, Any] | None = None) -> dict[str, Any]:  # fmt: skip
        """The JSON body (data and errors) of one operation."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        headers = {"content-type": "application/json", "accept": "application/json"}
        if credential is not None and credential.signing_secret:
            headers.update(_signature(credential, body))
        elif credential is not None:
            headers["authorization"] = f"Bearer {credential.token}"
        response = await self.http.post(f"{self.url}/graphql", content=body, headers=headers)
        answer: dict[str, Any] = response.json()
        return answer

    async def ok(self, credential: Credential | None, query: str,
                 variables: dict[str, Any] | None = None) -> Any:  # fmt: skip
        """The data of an operation that must succeed."""
        answer = await self.call(credential, query, variables)
        if answer.get("errors"):
            raise GraphQLError(f"{query[:60]}...: {answer['errors']}")
        return answer["data"]

    async def risk_summary(self, credential: Credential | None = None) -> dict[str, Any]:
        summary: dict[str, Any] = (await self.ok(credential or self.risk, RISK_SUMMARY))[
            "riskSummary"
        ]
        return summary

    async def post_index(self, price: str) -> None:
        await self.ok(self.operator, INDEX, {"p": price})

    async def order(self, trader: Trader, side: str, quantity: str, price: str) -> str:
        variables = {"a": trader.account_id, "s": side, "q": quantity, "p": price}
        placed = await self.ok(trader.credential, ORDER, variables)
        status: str = placed["placeOrder"]["order"]["status"]
        return status

    async def cancel_all(self, trader: Trader) -> None:
        await self.ok(trader.credential, CANCEL_ALL, {"a": trader.account_id})

    async def leverage(self, trader: Trader, leverage: int, mode: str = "CROSS") -> None:
        await self.ok(trader.credential, LEVERAGE,
                      {"a": trader.account_id, "l": leverage, "m": mode})  # fmt: skip

    async def trader(self, name: str, usdt: str = "20000", *, admin: Credential | None = None,
                     compliance: Credential | None = None) -> Trader:  # fmt: skip
        """A professional customer (KYC level 3, suitable for derivatives) with ``usdt`` on
        its main account, of the demo tenant unless another tenant's staff keys are given."""
        admin, compliance = admin or self.admin, compliance or self.compliance
        email = f"{name.lower()}-{uuid.uuid4().hex[:6]}@desk.example"
        created = await self.ok(admin, """mutation($n: String!, $e: String!) { createCustomer(
          input: {displayName: $n, email: $e}) { id } }""", {"n": name, "e": email})  # fmt: skip
        customer = created["createCustomer"]["id"]
        listed = await self.ok(admin, "query($c: ID!) { accounts(customerId: $c) { nodes { id }"
                               " } }", {"c": customer})  # fmt: skip
        account = listed["accounts"]["nodes"][0]["id"]
        for status in ("PENDING", "VERIFIED"):
            await self.ok(compliance, """mutation($c: ID!, $s: KycStatus!) { setKycStatus(
              customerId: $c, status: $s, level: 3) { status } }""",
                          {"c": customer, "s": status})  # fmt: skip
        await self.ok(admin, """mutation($c: ID!) { recordSuitability(input: {customerId: $c,
          questionnaireVersion: "q1", score: 80, passed: true, disclosureVersion: "d1",
          acknowledgedAt: "2026-01-01T00:00:00Z"}) { passed } }""", {"c": customer})  # fmt: skip
        await self.ok(self.operator, """mutation($a: ID!, $n: Decimal!) { adjustBalance(input: {
          accountId: $a, asset: "USDT", amount: $n, reason: "dashboard test"}) { sequence } }""",
                      {"a": account, "n": usdt})  # fmt: skip
        minted = await self.ok(admin, """mutation($c: ID!) { issueCustomerToken(customerId: $c,
          ttlSeconds: 3600) { token } }""", {"c": customer})  # fmt: skip
        trader = Trader(name, customer, account, Credential(minted["issueCustomerToken"]["token"]))
        self.traders.append(trader)
        return trader

    async def quiet(self, index: str) -> None:
        """No resting orders of the traders made here (the book is the platform's, every
        tenant's orders meet in it), the index at ``index``: mark = index on an empty book."""
        for trader in self.traders:
            await self.cancel_all(trader)
        await self.post_index(index)

    async def open(self, long: Trader, short: Trader, quantity: str, price: str) -> None:
        """A trade at ``price``: ``short`` rests a sell, ``long`` takes it."""
        assert await self.order(short, "SELL", quantity, price) == "NEW"
        assert await self.order(long, "BUY", quantity, price) == "FILLED"

    async def tenant(self, name: str, primary: str) -> dict[str, Credential]:
        """A second tenant (CH, perpetual listed) and its staff keys: admin and compliance
        (signed, they hold ADMIN) and risk, issued by the operator."""
        created = await self.ok(self.operator, """mutation($n: String!, $p: String!) {
          createTenant(input: {name: $n, jurisdiction: "CH", brand: {displayName: $n,
          primaryColor: $p}}) { id } }""", {"n": name, "p": primary})  # fmt: skip
        tenant_id = created["createTenant"]["id"]
        await self.ok(self.operator, """mutation($t: ID!) { setListedMarkets(tenantId: $t,
          marketIds: ["BTC-USDT", "BTC-USDT-PERP"]) { id } }""", {"t": tenant_id})  # fmt: skip
        keys = {}
        for role in ("TENANT_ADMIN", "COMPLIANCE", "RISK"):
            issued = (await self.ok(self.operator, """mutation($r: Role!, $t: ID!) {
              issueApiKey(input: {role: $r, tenantId: $t, label: "dashboard test"}) {
              key { id } token signingSecret } }""",
                                    {"r": role, "t": tenant_id}))["issueApiKey"]  # fmt: skip
            signed = role != "RISK"
            secret = issued["signingSecret"] if signed else None
            keys[role.lower()] = Credential(issued["token"], issued["key"]["id"], secret)
        return keys


def _signature(credential: Credential, body: bytes) -> dict[str, str]:
    """X-CAAS-* headers of a signed POST /graphql (README "Authentication")."""
    timestamp = str(time.time_ns() // 1_000_000)
    canonical = f"{timestamp}\nPOST\n/graphql\n{hashlib.sha256(body).hexdigest()}"
    assert credential.signing_secret is not None
    digest = hmac.new(credential.signing_secret.encode(), canonical.encode(), hashlib.sha256)
    return {"x-caas-key": credential.key_id, "x-caas-timestamp": timestamp,
            "x-caas-signature": digest.hexdigest()}  # fmt: skip
