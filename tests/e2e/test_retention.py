"""Retention through the graph: a tenant's policy per kind of record, refused below the
regulatory floors, and the writer's purge deleting only finished, expired records (never an
open order, never the journal or the ledger)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domains.compliance.retention import RecordKind
from domains.shared.engine_port import ReadModels
from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from graph.writer.journal import JOURNAL
from tests.e2e.test_compliance_kyc import PLACE, new_customer, ok, order, verify
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

POLICY = """query($t: ID) { retentionPolicy(tenant: $t) { tenant neverPurged
  periods { kind days minimumDays defaultDays legalBasis deletes } } }"""
SET = """mutation($t: ID, $p: [RetentionPeriodInput!]!) { setRetentionPolicy(input:
  {tenant: $t, periods: $p}) { tenant periods { kind days } } }"""
PURGE = "mutation($t: ID) { purgeExpiredRecords(tenant: $t) { kind deleted } }"
ORDERS = """query($a: ID!) { orders(accountId: $a, first: 50) { nodes { id status } } }"""


def _days(policy: dict[str, Any]) -> dict[str, int]:
    return {p["kind"]: p["days"] for p in policy["periods"]}


async def test_the_policy_is_refused_below_the_floor_and_only_for_ones_own_tenant(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    officer, operator = demo_keys["compliance"], demo_keys["operator"]
    policy = (await ok(http, POLICY, {"t": None}, officer))["retentionPolicy"]
    assert policy["tenant"] == officer.tenant_id and policy["neverPurged"] == ["journal", "ledger"]
    floors = {p["kind"]: p["minimumDays"] for p in policy["periods"]}
    assert floors["TRADES"] == floors["ORDERS"] == floors["AUDIT"] == 1827
    assert all(p["legalBasis"] and p["deletes"] for p in policy["periods"])
    short = await gql(http, SET, {"t": None, "p": [{"kind": "ORDERS", "days": 3000},
                                                    {"kind": "TRADES", "days": 1000}]},
                      key=officer)  # fmt: skip
    assert error_codes(short) == ["RETENTION_BELOW_MINIMUM"]
    assert short["errors"][0]["extensions"]["minimumDays"] == 1827
    twice = await gql(http, SET, {"t": None, "p": [{"kind": "ORDERS", "days": 3000}] * 2},
                      key=officer)  # fmt: skip
    assert error_codes(twice) == ["VALIDATION"]
    too_long = await gql(http, SET, {"t": None, "p": [{"kind": "ORDERS", "days": 40000}]},
                         key=officer)  # fmt: skip
    assert error_codes(too_long) == ["VALIDATION"]
    again = (await ok(http, POLICY, {"t": None}, officer))["retentionPolicy"]
    assert _days(again) == _days(policy)  # none of the refusals changed anything
    set_ = await ok(http, SET, {"t": None, "p": [{"kind": "AUTH_FAILURES", "days": 120}]}, officer)
    assert _days(set_["setRetentionPolicy"])["AUTH_FAILURES"] == 120
    seen = await ok(http, POLICY, {"t": officer.tenant_id}, operator)
    assert _days(seen["retentionPolicy"])["AUTH_FAILURES"] == 120
    for key, variables in ((officer, {"t": "ten_other"}), (demo_keys["alice"], {"t": None}),
                           (demo_keys["tenant_admin"], {"t": None})):  # fmt: skip
        assert error_codes(await gql(http, POLICY, variables, key=key)) == ["FORBIDDEN"]
    refused = await gql(http, SET, {"t": "ten_other", "p": [{"kind": "AUDIT", "days": 2000}]},
                        key=officer)  # fmt: skip
    assert error_codes(refused) == ["FORBIDDEN"]
    missing = await gql(http, PURGE, {"t": "ten_missing"}, key=operator)
    assert error_codes(missing) == ["NOT_FOUND"]


async def test_the_purge_deletes_finished_expired_records_and_never_the_books(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    platform: Platform = app.state.platform
    admin, officer = demo_keys["tenant_admin"], demo_keys["compliance"]
    seller, seller_account = await new_customer(http, demo_keys, "Old Seller")
    buyer, buyer_account = await new_customer(http, demo_keys, "Old Buyer")
    for customer in (seller, buyer):
        await verify(http, demo_keys, customer)
    sold = (await ok(http, PLACE, order(seller_account, "SELL", "64100"), admin))["placeOrder"]
    await ok(http, PLACE, order(buyer_account, "BUY", "64100"), admin)
    resting = (await ok(http, PLACE, order(buyer_account, "BUY", "62000"), admin))["placeOrder"]
    now_purge = await ok(http, PURGE, {"t": None}, officer)  # nothing is old enough today
    assert all(p["deleted"] == 0 for p in now_purge["purgeExpiredRecords"])
    await platform.get(ReadModels).settled()
    db = platform.db
    books = (await db[JOURNAL].count_documents({}), await db.ledger_entries.count_documents({}))
    trades = await db.trades.count_documents({"tenant_ids": officer.tenant_id})
    assert trades >= 1

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=7 * 365 + 10)  # past every default
    purged = await platform.purger.purge_all(later)
    mine = purged[officer.tenant_id or ""]
    assert mine[RecordKind.TRADES] >= 1 and mine[RecordKind.ORDERS] >= 2
    assert mine[RecordKind.AUDIT] >= 1
    assert await db.trades.count_documents({"tenant_ids": officer.tenant_id}) == 0
    left = {
        n["id"]: n["status"]
        for n in (await ok(http, ORDERS, {"a": buyer_account}, admin))["orders"]["nodes"]
    }
    assert left == {resting["order"]["id"]: "NEW"}  # the open order stays, however old
    seller_orders = (await ok(http, ORDERS, {"a": seller_account}, admin))["orders"]["nodes"]
    assert sold["order"]["id"] not in {n["id"] for n in seller_orders}
    after = (await db[JOURNAL].count_documents({}), await db.ledger_entries.count_documents({}))
    assert after == books  # the journal and the ledger are the books: never purged
    assert platform.purger.figures()["caas_retention_runs"] >= 1
