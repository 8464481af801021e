"""Report export: streamed CSV and JSON behind the API's authentication, matching the data."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from graph.ops.seed import DemoKey
from graph.reports.cli import export_report
from graph.settings import Settings
from tests.e2e.test_compliance_kyc import PLACE, new_customer, ok, order, verify

pytestmark = [pytest.mark.e2e, pytest.mark.store]


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def download(
    http: httpx.AsyncClient, key: DemoKey | None, kind: str, **params: str
) -> httpx.Response:
    headers = {"authorization": f"Bearer {key.token}"} if key else {}
    return await http.get(f"/reports/{kind}", params=params, headers=headers)


def csv_rows(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


async def test_trades_orders_and_balances_export_as_they_are_in_the_graph(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    officer, admin = demo_keys["compliance"], demo_keys["tenant_admin"]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    seller, seller_account = await new_customer(http, demo_keys, "Ivy Seller")
    buyer, buyer_account = await new_customer(http, demo_keys, "Jon Buyer")
    for customer in (seller, buyer):
        await verify(http, demo_keys, customer)
    sold = await ok(http, PLACE, order(seller_account, "SELL", "64200"), admin)
    bought = await ok(http, PLACE, order(buyer_account, "BUY", "64200"), admin)
    end = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    period = {"from": iso(start), "to": iso(end)}

    trades = [r for r in csv_rows(await download(http, officer, "trades", **period))
              if r["customer_id"] in (seller, buyer)]  # fmt: skip
    assert sorted((r["side"], r["role"], r["customer_id"]) for r in trades) == sorted(
        [("SELL", "MAKER", seller), ("BUY", "TAKER", buyer)]
    )
    assert {(r["price"], r["quantity"]) for r in trades} == {("64200", "0.001")}
    assert {r["order_id"] for r in trades} == {sold["placeOrder"]["order"]["id"],
                                               bought["placeOrder"]["order"]["id"]}  # fmt: skip

    orders = {r["order_id"]: r for r in csv_rows(await download(http, officer, "orders", **period))}
    placed = orders[sold["placeOrder"]["order"]["id"]]
    assert (placed["status"], placed["side"], placed["customer_id"]) == ("FILLED", "SELL", seller)

    balances = csv_rows(await download(http, officer, "balances", to=iso(end)))
    held = {(r["asset"], r["balance"]) for r in balances if r["account_id"] == seller_account}
    assert ("BTC", "0.999") in held  # 1 funded, 0.001 sold
    json_body = await download(http, officer, "balances", to=iso(end), format="json")
    assert json_body.headers["content-type"] == "application/json"
    assert len(json.loads(json_body.text)) == len(balances)


async def test_alerts_and_movements_export_as_json_and_csv(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    officer = demo_keys["compliance"]
    start = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    customer, _ = await new_customer(http, demo_keys, "Dmitri Kovalenko")
    await ok(http, "mutation($c: ID!) { submitKyc(input: {customerId: $c, legalName: "
             '"Dmitri Kovalenko", dateOfBirth: "1971-03-14"}) { status } }', {"c": customer},
             demo_keys["tenant_admin"])  # fmt: skip
    period = {"from": iso(start), "to": iso(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))}
    response = await download(http, officer, "alerts", format="json", **period)
    alerts: list[dict[str, Any]] = json.loads(response.text)
    mine = [a for a in alerts if a["customer_id"] == customer]
    assert [a["rule"] for a in mine] == ["SANCTIONS_NAME"]
    assert "LIST_ENTRY:OFAC-SDN:36001" in mine[0]["evidence"]
    header = (await download(http, officer, "movements", **period)).text.splitlines()[0]
    assert header == "seq,at,kind,customer_id,account_id,asset,amount,counterparty,reference"


async def test_reports_are_refused_without_the_right_credentials_or_input(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    cases = [
        (None, "trades", {}, 401, "UNAUTHENTICATED"),
        (demo_keys["alice"], "trades", {}, 403, "FORBIDDEN"),
        (demo_keys["tenant_admin"], "trades", {}, 403, "FORBIDDEN"),
        (demo_keys["compliance"], "gossip", {}, 400, "VALIDATION"),
        (demo_keys["compliance"], "trades", {"from": "yesterday"}, 400, "VALIDATION"),
        (demo_keys["compliance"], "trades", {"from": "2026-11-02T00:00:00Z",
                                             "to": "2026-11-01T00:00:00Z"}, 400, "VALIDATION"),
        (demo_keys["operator"], "trades", {}, 400, "VALIDATION"),  # operators name a tenant
    ]  # fmt: skip
    for key, kind, params, status, code in cases:
        response = await download(http, key, kind, **params)
        assert response.status_code == status, (kind, params, response.text)
        assert response.json()["errors"][0]["extensions"]["code"] == code


async def test_the_cli_writes_the_same_report_as_the_download(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], settings: Settings,
    mongodb_uri: str, tmp_path: Path,
) -> None:  # fmt: skip
    officer = demo_keys["compliance"]
    period = {"from": "2026-01-01T00:00:00Z", "to": iso(dt.datetime.now(dt.UTC))}
    downloaded = await download(http, officer, "orders", **period)
    target = tmp_path / "orders.csv"
    code = await export_report(settings, mongodb_uri, "orders", officer.tenant_id or "",
                               period["from"], period["to"], "csv", target)  # fmt: skip
    assert code == 0
    assert target.read_bytes() == downloaded.content
    assert len(csv_rows(downloaded)) >= 2
    assert await export_report(settings, mongodb_uri, "orders", "t", "soon", "later", "csv",
                               target) == 2  # fmt: skip
