"""The regulatory bundle: its files hold what the graph shows, its manifest is signed with the
platform's report key and verifies, tampering with a file or the manifest fails verification,
and a tenant exports only itself."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from typer.testing import CliRunner

from domains.accounts.model import Brand
from domains.accounts.service import AccountsService
from domains.shared.context import Role
from graph.bootstrap import Platform
from graph.ops.cli import app as cli
from graph.ops.seed import DemoKey
from graph.reports.regulatory import MANIFEST, ReportSigning, verify_bundle
from tests.e2e.test_compliance_kyc import PLACE, new_customer, ok, order, verify
from tests.factories import demo_style_key

pytestmark = [pytest.mark.e2e, pytest.mark.store]

FILES = ["customers.csv", "kyc_decisions.csv", "trades.csv", "alerts.csv", "cases.csv",
         "audit_verification.json"]  # fmt: skip
CUSTOMERS = """{ customers(first: 200) { nodes { id email kyc { status level } } } }"""
TRADES = """{ trades(market: "BTC-USDT", first: 200) { nodes { id } } }"""
ALERTS = "{ complianceAlerts(first: 200) { nodes { id rule } } }"
VERIFY = "{ verifyAuditTrail { intact } }"


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def bundle(http: httpx.AsyncClient, key: DemoKey, **params: str) -> httpx.Response:
    return await http.get("/reports/regulatory", params=params,
                          headers={"authorization": f"Bearer {key.token}"})  # fmt: skip


def rows(archive: zipfile.ZipFile, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(archive.read(name).decode())))


def rezip(data: bytes, name: str, replace: bytes) -> bytes:
    """The same bundle with one member's content replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item.filename, replace if item.filename == name else src.read(item))
    return out.getvalue()


async def test_the_bundle_holds_what_the_graph_shows_and_verifies(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], tmp_path: Path
) -> None:
    officer, admin = demo_keys["compliance"], demo_keys["tenant_admin"]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)
    seller, seller_account = await new_customer(http, demo_keys, "Reg Seller")
    buyer, buyer_account = await new_customer(http, demo_keys, "Reg Buyer")
    for customer in (seller, buyer):
        await verify(http, demo_keys, customer)
    await ok(http, PLACE, order(seller_account, "SELL", "64300"), admin)
    await ok(http, PLACE, order(buyer_account, "BUY", "64300"), admin)
    listed_name, _ = await new_customer(http, demo_keys, "Dmitri Kovalenko")
    await ok(http, "mutation($c: ID!) { submitKyc(input: {customerId: $c, legalName: "
             '"Dmitri Kovalenko", dateOfBirth: "1971-03-14"}) { status } }',
             {"c": listed_name}, admin)  # fmt: skip
    period = {"from": iso(start), "to": iso(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))}
    response = await bundle(http, officer, **period)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["x-caas-data-region"] == "EU"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == sorted([*FILES, MANIFEST, MANIFEST + ".sig"])

    customers = {c["id"]: c for c in (await ok(http, CUSTOMERS, {}, officer))["customers"]["nodes"]}
    exported = rows(archive, "customers.csv")
    assert {r["customer_id"] for r in exported} == set(customers)
    assert all(customers[r["customer_id"]]["email"] == r["email"] for r in exported)
    for r in rows(archive, "kyc_decisions.csv"):
        graph = customers[r["customer_id"]]["kyc"]
        assert (r["status"], int(r["level"])) == (graph["status"], graph["level"])
    trades = {r["trade_id"] for r in rows(archive, "trades.csv")}
    assert trades and trades <= {
        t["id"] for t in (await ok(http, TRADES, {}, officer))["trades"]["nodes"]
    }
    alerts = {r["alert_id"] for r in rows(archive, "alerts.csv")}
    raised = (await ok(http, ALERTS, {}, officer))["complianceAlerts"]["nodes"]
    assert alerts and alerts <= {a["id"] for a in raised}
    audit = json.loads(archive.read("audit_verification.json"))
    assert audit["intact"] is (await ok(http, VERIFY, {}, officer))["verifyAuditTrail"]["intact"]

    platform: Platform = app.state.platform
    keys = platform.get(ReportSigning).public_keys
    check = verify_bundle(response.content, keys)
    assert check.valid, check.problems
    manifest = check.manifest
    assert (manifest["tenant"], manifest["data_region"]) == (officer.tenant_id, "EU")
    assert manifest["period"]["from"] == period["from"].split(".")[0].rstrip("Z") + "Z"
    listed = {f["name"]: f for f in manifest["files"]}
    assert sorted(listed) == sorted(FILES)
    assert listed["customers.csv"]["rows"] == len(exported)

    tampered = rezip(response.content, "trades.csv", archive.read("trades.csv") + b"x,y\r\n")
    assert verify_bundle(tampered, keys).problems == ["trades.csv: its SHA-256 differs from the "
                                                      "manifest's"]  # fmt: skip
    forged = archive.read(MANIFEST).replace(b'"data_region": "EU"', b'"data_region": "US"')
    assert not verify_bundle(rezip(response.content, MANIFEST, forged), keys).valid
    assert not verify_bundle(response.content, ["A" * 43]).valid  # an untrusted key

    target, bad = tmp_path / "bundle.zip", tmp_path / "tampered.zip"
    target.write_bytes(response.content)
    bad.write_bytes(tampered)
    runner = CliRunner()
    good = runner.invoke(cli, ["reports", "verify", str(target), "--public-key", keys[0]])
    assert good.exit_code == 0 and "valid" in good.output, good.output
    assert (
        runner.invoke(cli, ["reports", "verify", str(bad), "--public-key", keys[0]]).exit_code == 1
    )


async def test_a_tenant_exports_only_itself(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    platform: Platform = app.state.platform
    name = f"Rival Bank {uuid.uuid4().hex[:6]}"
    rival = await platform.get(AccountsService).create_tenant(name, "CH", Brand(name))
    rival_officer = await demo_style_key(platform, Role.COMPLIANCE, rival.id)
    officer, operator = demo_keys["compliance"], demo_keys["operator"]
    refused = await bundle(http, rival_officer, tenant=officer.tenant_id or "")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    own = await bundle(http, rival_officer)
    archive = zipfile.ZipFile(io.BytesIO(own.content))
    assert rows(archive, "customers.csv") == [] and rows(archive, "trades.csv") == []
    named = await bundle(http, operator, tenant=rival.id)
    assert named.status_code == 200
    manifest: dict[str, Any] = json.loads(zipfile.ZipFile(io.BytesIO(named.content)).read(MANIFEST))
    assert manifest["tenant"] == rival.id
    cases = [(operator, {}, 400, "VALIDATION"),
             (operator, {"tenant": "ten_nope"}, 404, "NOT_FOUND"),
             (demo_keys["alice"], {}, 403, "FORBIDDEN"),
             (demo_keys["tenant_admin"], {}, 403, "FORBIDDEN"),
             (officer, {"format": "xml"}, 400, "VALIDATION"),
             (officer, {"from": "yesterday"}, 400, "VALIDATION")]  # fmt: skip
    for key, params, status, code in cases:
        response = await bundle(http, key, **params)
        assert response.status_code == status, (key.name, params, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == code
