"""Sanctions screening through the graph: onboarding, withdrawal destinations, list reloads;
hits become alerts that officers group into cases."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domains.compliance.errors import SanctionsHitError
from domains.compliance.screening import DEFAULT_LIST_DIR, SanctionsScreening
from graph.ops.seed import DemoKey
from tests.e2e.test_compliance_kyc import SET, SUBMIT, new_customer, ok
from tests.e2e.test_subscriptions import ws_session
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

ALERTS = """{ complianceAlerts(first: 200) { nodes { id rule severity customerId status caseId
  evidence { kind ref } } } }"""


async def alerts_of(http: httpx.AsyncClient, keys: dict[str, DemoKey], customer: str) -> list[Any]:
    body = await ok(http, ALERTS, {}, keys["compliance"])
    return [a for a in body["complianceAlerts"]["nodes"] if a["customerId"] == customer]


async def apply(
    http: httpx.AsyncClient, keys: dict[str, DemoKey], name: str, dob: str | None
) -> str:
    customer, _ = await new_customer(http, keys, name)
    application = {"customerId": customer, "legalName": name, "dateOfBirth": dob}
    await ok(http, SUBMIT, {"input": application}, keys["tenant_admin"])
    return customer


async def test_onboarding_catches_a_sanctioned_name_variant(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    customer = await apply(http, demo_keys, "Dmitry Kovalenko", "1971-03-14")
    found = await alerts_of(http, demo_keys, customer)
    assert [(a["rule"], a["severity"], a["status"]) for a in found] == [
        ("SANCTIONS_NAME", "CRITICAL", "OPEN")
    ]
    assert {"kind": "LIST_ENTRY", "ref": "OFAC-SDN:36001"} in found[0]["evidence"]


async def test_onboarding_leaves_an_innocent_near_miss_alone(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    customer = await apply(http, demo_keys, "Dmitry Kovalev", "1971-03-14")
    assert await alerts_of(http, demo_keys, customer) == []


async def test_a_listed_withdrawal_destination_is_blocked_and_alerted(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    screening = app.state.platform.get(SanctionsScreening)
    alice = demo_keys["alice"]
    assert alice.tenant_id and alice.customer_id
    await screening.require_clear_address(alice.tenant_id, alice.customer_id,
                                          "0x9999999999999999999999999999999999999999")  # fmt: skip
    with pytest.raises(SanctionsHitError):
        await screening.require_clear_address(
            alice.tenant_id, alice.customer_id, "0x1111111111111111111111111111111111111111", "wd-1"
        )
    found = await alerts_of(http, demo_keys, alice.customer_id)
    hits = [a for a in found if a["rule"] == "SANCTIONS_ADDRESS"]
    assert len(hits) == 1 and hits[0]["severity"] == "CRITICAL"
    assert {"kind": "WITHDRAWAL", "ref": "wd-1"} in hits[0]["evidence"]


async def test_a_reloaded_list_rescreens_existing_customers(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], tmp_path: Path
) -> None:
    surname = "Q" + uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))
    customer = await apply(http, demo_keys, f"Carol {surname}", "1990-01-01")
    assert await alerts_of(http, demo_keys, customer) == []
    shutil.copy(DEFAULT_LIST_DIR / "alt.csv", tmp_path / "alt.csv")
    listed = (DEFAULT_LIST_DIR / "sdn.csv").read_text()
    listed += (f'36999,"{surname.upper()}, Carol","individual","SDGT",-0- ,-0- ,-0- ,-0- ,-0- ,'
               '-0- ,-0- ,"DOB 01 Jan 1990 (fictional)."\n')  # fmt: skip
    (tmp_path / "sdn.csv").write_text(listed)
    screening = app.state.platform.get(SanctionsScreening)
    try:
        report = await screening.reload(folder=tmp_path)
        assert report.entries == 6 and report.new_alerts >= 1
        found = await alerts_of(http, demo_keys, customer)
        assert [a["rule"] for a in found] == ["SANCTIONS_NAME"]
    finally:
        await screening.reload(folder=DEFAULT_LIST_DIR)


async def test_operators_reload_lists_through_the_graph_and_officers_screen_ad_hoc(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    reloaded = await ok(http, "mutation { reloadSanctionsLists { listName entries addresses } }",
                        {}, demo_keys["operator"])  # fmt: skip
    assert reloaded["reloadSanctionsLists"] == {"listName": "OFAC-SDN", "entries": 5,
                                                "addresses": 6}  # fmt: skip
    denied = await gql(http, "mutation { reloadSanctionsLists { entries } }",
                       key=demo_keys["compliance"])  # fmt: skip
    assert error_codes(denied) == ["FORBIDDEN"]
    screened = await ok(http, '{ sanctionsScreen(name: "Maria Ortega Villalobos") '
                        "{ entryId score } }", {}, demo_keys["compliance"])  # fmt: skip
    assert [m["entryId"] for m in screened["sanctionsScreen"]] == ["36002"]


async def test_alerts_group_into_a_case_that_is_worked_and_decided(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    officer = demo_keys["compliance"]
    customer = await apply(http, demo_keys, "Maria Fernanda Ortega", "1980-11-02")
    alert = (await alerts_of(http, demo_keys, customer))[0]["id"]
    blocked = await gql(http, SET, {"c": customer, "s": "VERIFIED", "l": 1}, key=officer)
    assert error_codes(blocked) == ["CONFLICT"]
    assert blocked["errors"][0]["extensions"]["reason"] == "OPEN_SANCTIONS_ALERT"
    opened = await ok(http, "mutation($a: [ID!]!) { openCase(title: \"Onboarding hit\", "
                      "alertIds: $a, assignee: \"officer-1\") { id status assignee customerId } }",
                      {"a": [alert]}, officer)  # fmt: skip
    case = opened["openCase"]
    assert case["status"] == "OPEN" and case["customerId"] == customer
    again = await gql(http, "mutation($a: [ID!]!) { openCase(title: \"x\", alertIds: $a) { id } }",
                      {"a": [alert]}, key=officer)  # fmt: skip
    assert error_codes(again) == ["CONFLICT"]
    update = """mutation($i: UpdateCaseInput!) { updateCase(input: $i) { status decision
      notes { text } } }"""
    undecided = await gql(http, update, {"i": {"caseId": case["id"], "status": "CLOSED"}},
                          key=officer)  # fmt: skip
    assert error_codes(undecided) == ["VALIDATION"]
    await ok(http, update, {"i": {"caseId": case["id"], "status": "INVESTIGATING",
                                  "note": "passport checked"}}, officer)  # fmt: skip
    closed = await ok(http, update, {"i": {"caseId": case["id"], "status": "CLOSED",
                                           "decision": "FALSE_POSITIVE"}}, officer)  # fmt: skip
    assert closed["updateCase"] == {"status": "CLOSED", "decision": "FALSE_POSITIVE",
                                    "notes": [{"text": "passport checked"}]}  # fmt: skip
    assert (await alerts_of(http, demo_keys, customer))[0]["status"] == "CLOSED"
    verified = await ok(http, SET, {"c": customer, "s": "VERIFIED", "l": 1}, officer)
    assert verified["setKycStatus"]["status"] == "VERIFIED"  # the hit was decided
    listed = await ok(http, "{ complianceCases(status: CLOSED, first: 50) { nodes { id "
                      "alertIds assignee } } }", {}, officer)  # fmt: skip
    assert {"id": case["id"], "alertIds": [alert], "assignee": "officer-1"} in listed[
        "complianceCases"
    ]["nodes"]
    reopened = await gql(http, update, {"i": {"caseId": case["id"], "note": "late"}}, key=officer)
    assert error_codes(reopened) == ["CONFLICT"]


async def test_officers_receive_new_alerts_on_the_compliance_alerts_subscription(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    query = "subscription { complianceAlerts { rule severity customerId } }"
    officer = demo_keys["compliance"]
    async with ws_session(app, {"Authorization": f"Bearer {officer.token}"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
        await asyncio.sleep(0.1)
        customer = await apply(http, demo_keys, "Dmitrii Covalenco", None)
        message = await ws.receive_json(timeout=5)
        assert message["type"] == "next"
        assert message["payload"]["data"]["complianceAlerts"] == {
            "rule": "SANCTIONS_NAME", "severity": "HIGH", "customerId": customer
        }  # fmt: skip


async def test_traders_cannot_subscribe_to_alerts(
    app: Starlette, demo_keys: dict[str, DemoKey]
) -> None:
    query = "subscription { complianceAlerts { rule } }"
    async with ws_session(app, {"Authorization": f"Bearer {demo_keys['alice'].token}"}) as ws:
        assert (await ws.receive_json(timeout=5))["type"] == "connection_ack"
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
        message = await ws.receive_json(timeout=5)
        assert message["type"] in ("error", "next")
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
