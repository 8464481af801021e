"""The hash-chained audit trail through the graph: every mutation is recorded, tampering in
the store is found, retention keeps the remaining chain verifiable."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domains.accounts.model import Brand
from domains.accounts.service import AccountsService
from domains.compliance.audit_trail import AuditTrail
from domains.shared.context import Role
from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from tests.e2e.test_compliance_kyc import SET, new_customer, ok
from tests.factories import demo_style_key
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

TRAIL = """query($op: String) { auditTrail(operation: $op, first: 50) { nodes { position actor
  role sourceIp operation outcome arguments before after prevHash hash } } }"""
VERIFY = "{ verifyAuditTrail { intact checked lastPosition findings { problem position } } }"


async def fresh_tenant(app: Starlette, http: httpx.AsyncClient) -> tuple[str, DemoKey]:
    """A tenant of its own with a compliance key and a few audited mutations."""
    platform: Platform = app.state.platform
    name = f"Audit Bank {uuid.uuid4().hex[:6]}"
    tenant = await platform.get(AccountsService).create_tenant(name, "CH", Brand(name))
    officer = await demo_style_key(platform, Role.COMPLIANCE, tenant.id)
    for days in (1827, 2000, 2200, 2555):
        await ok(http, "mutation($d: Int!) { setAuditRetention(days: $d) }", {"d": days}, officer)
    return tenant.id, officer


async def verification(http: httpx.AsyncClient, officer: DemoKey) -> dict[str, Any]:
    body: dict[str, Any] = (await ok(http, VERIFY, {}, officer))["verifyAuditTrail"]
    return body


async def test_a_kyc_decision_is_recorded_with_actor_address_and_before_after(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    officer = demo_keys["compliance"]
    customer, _ = await new_customer(http, demo_keys, "Kim Audited")
    await ok(http, SET, {"c": customer, "s": "PENDING", "l": 0}, officer)
    nodes = (await ok(http, TRAIL, {"op": "mutation setKycStatus"}, officer))["auditTrail"]["nodes"]
    record = nodes[0]
    assert record["actor"] == officer.token.split(".")[0]
    assert (record["role"], record["outcome"]) == ("COMPLIANCE", "OK")
    assert record["sourceIp"]
    assert json.loads(record["arguments"])["customerId"] == customer
    assert json.loads(record["before"]) == {"customerId": customer, "status": "NOT_STARTED",
                                            "level": 0}  # fmt: skip
    assert json.loads(record["after"])["status"] == "PENDING"


async def test_a_refused_mutation_is_recorded_with_its_code_and_only_a_digest(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    officer = demo_keys["compliance"]
    refused = await gql(http, SET, {"c": "cus_nobody", "s": "VERIFIED", "l": 1}, key=officer)
    assert error_codes(refused) == ["NOT_FOUND"]
    record = (await ok(http, TRAIL, {"op": "mutation setKycStatus"}, officer))["auditTrail"][
        "nodes"
    ][0]
    assert record["outcome"] == "NOT_FOUND"
    assert list(json.loads(record["arguments"])) == ["sha256"]
    assert record["after"] is None


async def test_every_mutation_including_trading_lands_in_its_tenant_chain(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    alice = demo_keys["alice"]
    body = await gql(
        http,
        "mutation($a: ID!) { cancelAllOrders(accountId: $a, "
        'market: "BTC-USDT") { canceledCount } }',
        {"a": alice.account_id},
        key=alice,
    )
    assert not body.get("errors"), body
    nodes = (await ok(http, TRAIL, {"op": "mutation cancelAllOrders"}, demo_keys["compliance"]))[
        "auditTrail"
    ]["nodes"]
    assert nodes and nodes[0]["role"] == "TRADER"
    assert (await verification(http, demo_keys["compliance"]))["intact"] is True


async def test_a_report_export_is_recorded(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    officer = demo_keys["compliance"]
    response = await http.get(
        "/reports/alerts", headers={"authorization": f"Bearer {officer.token}"}
    )
    assert response.status_code == 200
    nodes = (await ok(http, TRAIL, {"op": "report.export"}, officer))["auditTrail"]["nodes"]
    assert json.loads(nodes[0]["arguments"])["kind"] == "ALERTS"


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        ("alter", "ALTERED"),
        ("remove", "MISSING"),
        ("reorder", "BROKEN_LINK"),
        ("truncate", "TRUNCATED"),
    ],
)
async def test_tampering_with_the_store_is_detected(
    app: Starlette, http: httpx.AsyncClient, tamper: str, problem: str
) -> None:
    tenant, officer = await fresh_tenant(app, http)
    assert (await verification(http, officer))["intact"] is True
    blocks = app.state.platform.db.audit_trail  # records are stored in blocks, in n order
    chain = [r async for b in blocks.find({"tenant_id": tenant}).sort("n", 1) for r in b["entries"]]
    assert [r["n"] for r in chain] == list(range(1, len(chain) + 1)) and len(chain) >= 3
    if tamper == "alter":
        chain[1] = {**chain[1], "outcome": "OK", "actor": "key_evil"}
    elif tamper == "remove":
        del chain[1]
    elif tamper == "reorder":  # swap the contents of positions 2 and 3, keeping their numbers
        chain[1], chain[2] = {**chain[2], "n": 2}, {**chain[1], "n": 3}
    else:
        chain.pop()
    await blocks.delete_many({"tenant_id": tenant})  # the chain rewritten as one block
    await blocks.insert_one({"_id": f"{tenant}:{1:012d}", "tenant_id": tenant, "n": 1,
                             "last": chain[-1]["n"], "hash": chain[-1]["hash"],
                             "at_time": chain[-1]["at_time"], "entries": chain})  # fmt: skip
    result = await verification(http, officer)
    assert result["intact"] is False
    assert problem in {f["problem"] for f in result["findings"]}


async def test_retention_purges_old_records_and_the_rest_still_verifies(
    app: Starlette, http: httpx.AsyncClient
) -> None:
    tenant, officer = await fresh_tenant(app, http)
    trail = app.state.platform.get(AuditTrail)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2556)
    assert await trail.purge_expired(tenant, later) >= 4
    await ok(http, "mutation { setAuditRetention(days: 1827) }", {}, officer)
    result = await verification(http, officer)
    assert result["intact"] is True and result["checked"] >= 1
    too_short = await gql(http, "mutation { setAuditRetention(days: 1826) }", key=officer)
    assert error_codes(too_short) == ["RETENTION_BELOW_MINIMUM"]  # 5 years (MiCA art. 68(9))
