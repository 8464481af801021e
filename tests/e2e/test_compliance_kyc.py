"""KYC gates through the graph: unverified customers cannot trade, downgraded customers keep
reduce-only, levels limit products and withdrawals, suitability is recorded for positions."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domains.compliance.errors import (
    KycRequiredError,
    SuitabilityRequiredError,
    WithdrawalLimitExceededError,
)
from domains.compliance.gates import KycGate
from graph.ops.seed import DemoKey
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

PLACE = (
    """mutation($input: PlaceOrderInput!) { placeOrder(input: $input) { order { id status } } }"""
)
CANCEL = """mutation($id: ID!) { cancelOrder(id: $id) { order { status } } }"""
SET = """mutation($c: ID!, $s: KycStatus!, $l: Int!) { setKycStatus(customerId: $c, status: $s,
  level: $l, note: "reviewed") { status level trading } }"""
SUBMIT = """mutation($input: SubmitKycInput!) { submitKyc(input: $input) {
  status provider legalName documents { kind reference } } }"""
FUND = """mutation($a: ID!, $s: String!, $n: Decimal!) { adjustBalance(input: {accountId: $a,
  asset: $s, amount: $n, reason: "test funding"}) { sequence } }"""


async def ok(http: httpx.AsyncClient, query: str, variables: dict[str, Any], key: DemoKey) -> Any:
    body = await gql(http, query, variables, key=key)
    assert not body.get("errors"), body
    return body["data"]


async def new_customer(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey], name: str = "Carol Test"
) -> tuple[str, str]:
    """A fresh customer of the demo bank with a funded main account: (customer, account)."""
    admin = demo_keys["tenant_admin"]
    email = f"{uuid.uuid4().hex[:8]}@kyc.example"
    create = "mutation($n: String!, $e: String!) { createCustomer(input: {displayName: $n, email: $e}) { id } }"  # noqa: E501
    created = await ok(http, create, {"n": name, "e": email}, admin)
    customer = created["createCustomer"]["id"]
    listed = await ok(http, "query($c: ID!) { accounts(customerId: $c) { nodes { id } } }",
                      {"c": customer}, admin)  # fmt: skip
    account = listed["accounts"]["nodes"][0]["id"]
    for asset, amount in (("USDT", "10000"), ("BTC", "1")):
        await ok(http, FUND, {"a": account, "s": asset, "n": amount}, demo_keys["operator"])
    return customer, account


def order(account: str, side: str = "BUY", price: str = "63000") -> dict[str, Any]:
    return {"input": {"accountId": account, "market": "BTC-USDT", "side": side, "type": "LIMIT",
                      "quantity": "0.001", "price": price}}  # fmt: skip


async def verify(
    http: httpx.AsyncClient, keys: dict[str, DemoKey], customer: str, level: int = 1
) -> None:
    submitted = await ok(http, SUBMIT, {"input": {"customerId": customer, "legalName": "Carol Test",
                         "documents": [{"kind": "passport", "reference": "doc-1"}]}},
                         keys["tenant_admin"])  # fmt: skip
    assert submitted["submitKyc"]["status"] == "PENDING"
    assert submitted["submitKyc"]["provider"] == "manual"
    await ok(http, SET, {"c": customer, "s": "VERIFIED", "l": level}, keys["compliance"])


async def test_an_unverified_customer_cannot_place_an_order(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    _, account = await new_customer(http, demo_keys)
    body = await gql(http, PLACE, order(account), key=demo_keys["tenant_admin"])
    assert error_codes(body) == ["KYC_REQUIRED"]
    assert body["errors"][0]["extensions"]["reason"] == "NOT_VERIFIED"


async def test_a_pending_application_waits_in_the_review_queue_and_verification_opens_trading(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    customer, account = await new_customer(http, demo_keys)
    await ok(http, SUBMIT, {"input": {"customerId": customer, "legalName": "Carol Test"}},
             demo_keys["tenant_admin"])  # fmt: skip
    queue = await ok(http, "{ kycReviewQueue(first: 200) { nodes { customerId status } } }", {},
                     demo_keys["compliance"])  # fmt: skip
    assert {"customerId": customer, "status": "PENDING"} in queue["kycReviewQueue"]["nodes"]
    still = await gql(http, PLACE, order(account), key=demo_keys["tenant_admin"])
    assert error_codes(still) == ["KYC_REQUIRED"]
    decided = await ok(http, SET, {"c": customer, "s": "VERIFIED", "l": 1}, demo_keys["compliance"])
    assert decided["setKycStatus"] == {"status": "VERIFIED", "level": 1, "trading": "FULL"}
    placed = await ok(http, PLACE, order(account), demo_keys["tenant_admin"])
    assert placed["placeOrder"]["order"]["status"] == "NEW"


async def test_a_downgraded_customer_may_sell_and_cancel_but_not_buy(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    customer, account = await new_customer(http, demo_keys)
    await verify(http, demo_keys, customer)
    resting = await ok(http, PLACE, order(account), demo_keys["tenant_admin"])
    expired = await ok(http, SET, {"c": customer, "s": "EXPIRED", "l": 1}, demo_keys["compliance"])
    assert expired["setKycStatus"]["trading"] == "REDUCE_ONLY"

    buy = await gql(http, PLACE, order(account), key=demo_keys["tenant_admin"])
    assert error_codes(buy) == ["KYC_REQUIRED"]
    assert buy["errors"][0]["extensions"]["reason"] == "REDUCE_ONLY"
    sell = await ok(http, PLACE, order(account, "SELL", "65500"), demo_keys["tenant_admin"])
    assert sell["placeOrder"]["order"]["status"] == "NEW"
    canceled = await ok(http, CANCEL, {"id": resting["placeOrder"]["order"]["id"]},
                        demo_keys["tenant_admin"])  # fmt: skip
    assert canceled["cancelOrder"]["order"]["status"] == "CANCELED"


async def test_a_level_without_spot_refuses_orders(
    http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    customer, account = await new_customer(http, demo_keys)
    await ok(http, "mutation { setKycLevel(input: {level: 2, name: \"Custody only\", products: [], "
             "dailyWithdrawal: [{asset: \"BTC\", amount: \"0.5\"}]}) { level products } }", {},
             demo_keys["compliance"])  # fmt: skip
    await verify(http, demo_keys, customer, level=2)
    body = await gql(http, PLACE, order(account), key=demo_keys["tenant_admin"])
    assert error_codes(body) == ["KYC_REQUIRED"]
    assert body["errors"][0]["extensions"]["reason"] == "LEVEL_PRODUCT"
    levels = await ok(http, "{ kycLevels { level products dailyWithdrawal { asset amount } } }",
                      {}, demo_keys["compliance"])  # fmt: skip
    assert levels["kycLevels"][2] == {
        "level": 2,
        "products": [],
        "dailyWithdrawal": [{"asset": "BTC", "amount": "0.5"}],
    }


async def test_withdrawals_need_kyc_and_stay_within_the_level_limit(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    gate = app.state.platform.get(KycGate)
    tenant = demo_keys["tenant_admin"].tenant_id
    customer, _ = await new_customer(http, demo_keys)
    with pytest.raises(KycRequiredError):
        await gate.check_withdrawal(tenant, customer, "BTC", Decimal("0.1"))
    await verify(http, demo_keys, customer, level=1)
    await gate.check_withdrawal(tenant, customer, "BTC", Decimal("1"))
    with pytest.raises(WithdrawalLimitExceededError):
        await gate.check_withdrawal(tenant, customer, "BTC", Decimal("1.00000001"))
    await ok(http, SET, {"c": customer, "s": "EXPIRED", "l": 1}, demo_keys["compliance"])
    await gate.check_withdrawal(tenant, customer, "BTC", Decimal("0.5"))  # withdraw-only


async def test_suitability_is_recorded_with_its_disclosure_version_for_positions(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    gate = app.state.platform.get(KycGate)
    alice = demo_keys["alice"]
    assert alice.tenant_id and alice.customer_id
    with pytest.raises(SuitabilityRequiredError):
        await gate.require_derivatives_suitability(alice.tenant_id, alice.customer_id)
    recorded = await ok(http, "mutation($c: ID!) { recordSuitability(input: {customerId: $c, "
                        "questionnaireVersion: \"q-2026\", score: 42, passed: true, "
                        "disclosureVersion: \"rd-3\", acknowledgedAt: \"2026-11-01T10:00:00Z\"}) "
                        "{ passed disclosureVersion acknowledgedAt } }",
                        {"c": alice.customer_id}, alice)  # fmt: skip
    assert recorded["recordSuitability"] == {
        "passed": True,
        "disclosureVersion": "rd-3",
        "acknowledgedAt": "2026-11-01T10:00:00.000Z",
    }
    await gate.require_derivatives_suitability(alice.tenant_id, alice.customer_id, "rd-3")
    with pytest.raises(SuitabilityRequiredError):
        await gate.require_derivatives_suitability(alice.tenant_id, alice.customer_id, "rd-4")
