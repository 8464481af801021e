"""Billing over HTTP: a plan set by an operator, usage metered from real requests and real
fills, a month closed into one hand-computed invoice posted to a balanced ledger, closed
again without a second one, read by its tenant only, exported, and bad inputs refused."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from domains.accounts.billing.model import Month, round_half_up
from domains.accounts.billing.service import CLOSE_GRACE, BillingService
from domains.accounts.model import Brand
from domains.accounts.service import AccountsService
from domains.shared.context import Role
from domains.shared.scalars import utcnow
from graph.ops.seed import DemoKey
from graph.writer.billing_ledger import RECEIVABLE_PREFIX, REVENUE_ACCOUNT
from tests.factories import demo_style_key, reconcile_platform
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

SET_PLAN = """mutation($t: ID!, $p: BillingPlanInput!) { setBillingPlan(tenant: $t, plan: $p) {
  version effectiveFrom monthlySubscription apiTiers { upToCalls pricePer1000Calls } } }"""
INVOICE_FIELDS = """id tenantId month planVersion status issuedAt
  lines { kind description asset quantity rate amount } totals { asset amount }
  usage { apiCalls custodyDays feeIncome { asset amount } }"""
CLOSE = f"mutation($m: String!) {{ closeBillingMonth(month: $m) {{ {INVOICE_FIELDS} }} }}"
INVOICES = f"""query($t: ID) {{ invoices(tenant: $t) {{ nodes {{ {INVOICE_FIELDS} }} }} }}"""
INVOICE = f"query($id: ID!) {{ invoice(id: $id) {{ {INVOICE_FIELDS} }} }}"
PLACE = """mutation($i: PlaceOrderInput!) { placeOrder(input: $i) { order { id status } } }"""
NOW = dt.datetime.now(dt.UTC)
MONTH = Month.of(NOW)


def plan_input(**fields: Any) -> dict[str, Any]:
    # 99.99 USDT a month; calls 1-5 free, 6-10 at 1 USDT per 1,000, beyond at 0.5 per 1,000
    base = {"effectiveFrom": str(MONTH), "settlementAsset": "USDT", "monthlySubscription": "50",
            "apiTiers": [{"upToCalls": 5, "pricePer1000Calls": "0"},
                         {"upToCalls": 10, "pricePer1000Calls": "1"},
                         {"pricePer1000Calls": "0.5"}],
            "revenueShareBps": 2500, "custodyBpsPerYear": 100}  # fmt: skip
    return {**base, **fields}


@dataclass
class Billed:
    """Tenant B ("Billing Bank"): its keys and the calls its keys made (what is billed)."""

    tenant_id: str
    keys: dict[str, DemoKey]
    calls: int = 0

    async def run(self, http: httpx.AsyncClient, role: str, query: str, **variables: Any) -> Any:
        """An operation of one of B's keys that runs (a resolver's refusal included: it
        passed parsing, validation, limits and scopes): one billed call."""
        body = await gql(http, query, variables, key=self.keys[role])
        self.calls += 1
        return body

    async def call(self, http: httpx.AsyncClient, role: str, query: str, **variables: Any) -> Any:
        body = await self.run(http, role, query, **variables)
        assert not body.get("errors"), body
        return body["data"]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def billed(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> AsyncIterator[Billed]:
    """B with two verified, funded customers who traded 0.01 BTC at 64,000 once."""
    platform = app.state.platform
    tenant = await platform.get(AccountsService).create_tenant(
        "Billing Bank", "CH", Brand(display_name="Billing Crypto")
    )
    keys = {r.value.lower(): await demo_style_key(platform, r, tenant.id)
            for r in (Role.TENANT_ADMIN, Role.COMPLIANCE)}  # fmt: skip
    b = Billed(tenant.id, keys)
    operator = demo_keys["operator"]
    await b.call(http, "tenant_admin", 'mutation { setListedMarkets(marketIds: ["BTC-USDT"]) '
                 "{ id } }")  # fmt: skip
    await b.call(
        http,
        "tenant_admin",
        """mutation { setFeeSchedule(input: {tiers: [{
      minVolume30d: "0", makerBps: 10, takerBps: 20}], markupBps: 0}) { id } }""",
    )
    for name in ("maker", "taker"):
        created = await b.call(http, "tenant_admin", 'mutation($n: String!, $e: String!) { '
                               "createCustomer(input: {displayName: $n, email: $e}) { id } }",
                               n=name, e=f"{name}@billing.example")  # fmt: skip
        customer = created["createCustomer"]["id"]
        listed = await b.call(http, "tenant_admin", "query($c: ID!) { accounts(customerId: $c) "
                              "{ nodes { id } } }", c=customer)  # fmt: skip
        account = listed["accounts"]["nodes"][0]["id"]
        for asset, amount in (("USDT", "10000"), ("BTC", "1")):
            funded = await gql(
                http,
                """mutation($a: ID!, $s: String!, $n: Decimal!) {
              adjustBalance(input: {accountId: $a, asset: $s, amount: $n, reason: "billing"})
              { sequence } }""",
                {"a": account, "s": asset, "n": amount},
                key=operator,
            )
            assert not funded.get("errors"), funded
        for status in ("PENDING", "VERIFIED"):
            await b.call(http, "compliance", "mutation($c: ID!, $s: KycStatus!) { setKycStatus("
                         "customerId: $c, status: $s, level: 1) { status } }", c=customer,
                         s=status)  # fmt: skip
        trader = await demo_style_key(platform, Role.TRADER, tenant.id, customer)
        b.keys[name] = dataclasses.replace(trader, account_id=account)
    for name, side in (("maker", "SELL"), ("taker", "BUY")):
        order = {"accountId": b.keys[name].account_id, "market": "BTC-USDT", "side": side,
                 "type": "LIMIT", "quantity": "0.01", "price": "64000"}  # fmt: skip
        await b.call(http, name, PLACE, i=order)
    yield b
    platform.get(BillingService).clock = utcnow


async def test_billing_plans_are_set_by_operators_only_and_refuse_bad_terms(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], billed: Billed
) -> None:
    operator = demo_keys["operator"]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"monthlySubscription": "-1"}, "VALIDATION"),
        ({"revenueShareBps": 10_001}, "VALIDATION"),
        ({"custodyBpsPerYear": -1}, "VALIDATION"),
        ({"monthlySubscription": "0.000000001"}, "VALIDATION"),  # finer than USDT's 8 decimals
        ({"apiTiers": [{"upToCalls": 5, "pricePer1000Calls": "1"}]}, "VALIDATION"),
        ({"apiTiers": [{"pricePer1000Calls": "-0.5"}]}, "VALIDATION"),
        ({"effectiveFrom": "2026-13"}, "VALIDATION"),
        ({"settlementAsset": "NOPE"}, "VALIDATION"),
    ]
    for fields, code in bad:
        body = await gql(http, SET_PLAN, {"t": billed.tenant_id, "p": plan_input(**fields)},
                         key=operator)  # fmt: skip
        assert error_codes(body) == [code], (fields, body)
    unknown = await gql(http, SET_PLAN, {"t": "ten_nope", "p": plan_input()}, key=operator)
    assert error_codes(unknown) == ["NOT_FOUND"]
    own = await billed.run(http, "tenant_admin", SET_PLAN, t=billed.tenant_id, p=plan_input())
    assert error_codes(own) == ["FORBIDDEN"]
    plans = await billed.call(http, "tenant_admin", "query { billingPlans { version } }")
    assert plans["billingPlans"] == []  # nothing above changed anything


async def test_a_month_closes_into_one_hand_computed_invoice_posted_once(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], billed: Billed
) -> None:
    platform, operator = app.state.platform, demo_keys["operator"]
    first = await gql(http, SET_PLAN, {"t": billed.tenant_id, "p": plan_input()}, key=operator)
    assert first["data"]["setBillingPlan"]["version"] == 1, first
    # a change in the middle of the month: the version in effect at close bills all of it
    second = await gql(http, SET_PLAN, {"t": billed.tenant_id, "p": plan_input(
        monthlySubscription="99.99")}, key=operator)  # fmt: skip
    assert second["data"]["setBillingPlan"]["version"] == 2
    early = await gql(http, CLOSE, {"m": str(MONTH)}, key=operator)
    assert error_codes(early) == ["MONTH_NOT_OVER"]
    assert error_codes(await gql(http, CLOSE, {"m": "nope"}, key=operator)) == ["VALIDATION"]
    calls = billed.calls  # nothing of B's keys runs from here to the close
    closes_at = MONTH.end + CLOSE_GRACE + dt.timedelta(seconds=1)
    platform.get(BillingService).clock = lambda: closes_at
    closed = await gql(http, CLOSE, {"m": str(MONTH)}, key=operator)
    assert not closed.get("errors"), closed
    [invoice] = [
        i for i in closed["data"]["closeBillingMonth"] if i["tenantId"] == billed.tenant_id
    ]
    assert (invoice["planVersion"], invoice["status"]) == (2, "POSTED")
    # measured: B's calls, and the fill's fees: taker 640 x 20 bps = 1.28, maker 640 x 10 bps
    # = 0.64 USDT, all the platform's (no markup): 1.92 USDT of platform fee income
    assert invoice["usage"]["apiCalls"] == calls
    assert invoice["usage"]["feeIncome"] == [{"asset": "USDT", "amount": "1.92"}]
    # custody: every day end from today's to the month's holds 2 BTC and 19,998.08 USDT
    # (20,000 funded less the 1.92 of fees); the days before B existed hold nothing
    days = (MONTH.end.date() - NOW.date()).days
    assert invoice["usage"]["custodyDays"] == len(MONTH.days())
    btc = round_half_up(Fraction(2 * 10**8 * days * 100, 10_000 * 365))  # sat
    usdt_custody = round_half_up(Fraction(1_999_808 * 10**6 * days * 100, 10_000 * 365))
    # calls: 1-5 free; 6-10 at 0.001 USDT each; the rest at 0.0005 each (in USDT's minor
    # unit, 10^-8: 100,000 and 50,000)
    tier2, tier3 = min(5, max(0, calls - 5)), max(0, calls - 10)
    expected = [
        ("SUBSCRIPTION", "USDT", "99.99"),
        ("API_CALLS", "USDT", "0"),
        ("API_CALLS", "USDT", _usdt(tier2 * 100_000)),
        ("API_CALLS", "USDT", _usdt(tier3 * 50_000)),
        ("REVENUE_SHARE", "USDT", "0.48"),  # 1.92 x 2,500 bps = 0.48
        ("CUSTODY", "BTC", _amount(btc, 8)),
        ("CUSTODY", "USDT", _usdt(usdt_custody)),
    ]
    assert [(x["kind"], x["asset"], x["amount"]) for x in invoice["lines"]] == expected
    usdt_total = 9_999_000_000 + tier2 * 100_000 + tier3 * 50_000 + 48_000_000 + usdt_custody
    assert invoice["totals"] == [{"asset": "BTC", "amount": _amount(btc, 8)},
                                 {"asset": "USDT", "amount": _usdt(usdt_total)}]  # fmt: skip
    again = await gql(http, CLOSE, {"m": str(MONTH)}, key=operator)  # idempotent
    [repeat] = [i for i in again["data"]["closeBillingMonth"] if i["tenantId"] == billed.tenant_id]
    assert repeat == invoice
    entries = [d async for d in platform.db.ledger_entries.find({"source": "billing"})]
    assert [e["_id"] for e in entries] == [f"billing:{invoice['id']}"]
    postings = entries[0]["postings"]
    for asset in ("BTC", "USDT"):
        assert sum(p["amount_minor"] for p in postings if p["asset"] == asset) == 0
    revenue = {p["asset"]: p["amount_minor"] for p in postings
               if p["account_id"] == REVENUE_ACCOUNT}  # fmt: skip
    assert revenue == {"BTC": btc, "USDT": usdt_total}
    assert {p["account_id"] for p in postings} == {
        REVENUE_ACCOUNT,
        RECEIVABLE_PREFIX + billed.tenant_id,
    }
    report = await reconcile_platform(platform)
    assert report.clean, report
    too_late = await gql(http, SET_PLAN, {"t": billed.tenant_id, "p": plan_input()}, key=operator)
    assert error_codes(too_late) == ["MONTH_CLOSED"]


async def test_a_tenant_reads_and_exports_only_its_own_invoices(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], billed: Billed
) -> None:
    admin, other, operator = (
        billed.keys["tenant_admin"],
        demo_keys["tenant_admin"],
        demo_keys["operator"],
    )
    own = await gql(http, INVOICES, {}, key=admin)
    [invoice] = own["data"]["invoices"]["nodes"]
    assert invoice["tenantId"] == billed.tenant_id and invoice["month"] == str(MONTH)
    assert (await gql(http, INVOICE, {"id": invoice["id"]}, key=admin))["data"][
        "invoice"
    ] == invoice
    # the demo bank's admin (tenant A): B's invoice is absent, naming B is FORBIDDEN
    assert (await gql(http, INVOICE, {"id": invoice["id"]}, key=other))["data"]["invoice"] is None
    assert error_codes(await gql(http, INVOICES, {"t": billed.tenant_id}, key=other)) == [
        "FORBIDDEN"
    ]
    assert all(
        i["tenantId"] != billed.tenant_id
        for i in (await gql(http, INVOICES, {}, key=other))["data"]["invoices"]["nodes"]
    )
    trader = await gql(http, INVOICES, {}, key=billed.keys["taker"])
    assert error_codes(trader) == ["FORBIDDEN"]
    everyone = await gql(http, INVOICES, {"t": billed.tenant_id}, key=operator)
    assert everyone["data"]["invoices"]["nodes"] == [invoice]
    headers = {"authorization": f"Bearer {admin.token}"}
    exported = await http.get("/reports/invoices", params={"format": "csv"}, headers=headers)
    assert exported.status_code == 200, exported.text
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["amount"] for r in rows] == [line["amount"] for line in invoice["lines"]]
    assert {r["invoice_id"] for r in rows} == {invoice["id"]}
    as_json = await http.get("/reports/invoices", params={"format": "json", "month": str(MONTH)},
                             headers=headers)  # fmt: skip
    assert [r["kind"] for r in as_json.json()] == [line["kind"] for line in invoice["lines"]]
    foreign = await http.get(
        "/reports/invoices", headers={"authorization": f"Bearer {other.token}"}
    )
    assert billed.tenant_id not in foreign.text
    refused = await http.get("/reports/invoices", params={"tenant": billed.tenant_id},
                             headers={"authorization": f"Bearer {other.token}"})  # fmt: skip
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    bad = await http.get("/reports/invoices", params={"month": "2026-13"}, headers=headers)
    assert bad.status_code == 400 and bad.json()["errors"][0]["extensions"]["code"] == "VALIDATION"


def _amount(minor: int, decimals: int) -> str:
    value = Decimal(minor).scaleb(-decimals)
    return format(value.normalize(), "f") if value else "0"


def _usdt(minor: int) -> str:
    return _amount(minor, 8)  # the engine's USDT has 8 decimals
