"""Custody governance over HTTP: policy drafts and publishing, address-book quorum and
cooling-off, velocity, AND groups, expiry, freezes and a refill through the cold key."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette

from domains.custody import approvals, cold
from domains.custody.withdrawals import WithdrawalService
from graph.ops.seed import DEMO_TENANT, DemoKey
from tests.e2e.test_custody import (
    APPROVE,
    COLD,
    MINE,
    OUTSIDE,
    REQUEST,
    SEND,
    W_FIELDS,
    deposit,
    keys,
    ok,
)
from tests.e2e.test_trading import balances
from tests.factories import reconcile_platform
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]
__all__ = ["keys"]  # the fixture, shared with test_custody

APPROVERS = {name: Ed25519PrivateKey.generate() for name in ("ops1", "ops2", "risk1")}
GROUPS = {"ops1": ["ops"], "ops2": ["ops"], "risk1": ["risk"]}
REGISTER = """mutation($n: String!, $p: String!, $g: [String!]!) {
  registerApprover(name: $n, publicKey: $p, groups: $g) { id } }"""
DRAFT = """mutation($rules: [PolicyRuleInput!]!) { saveCustodyPolicyDraft(rules: $rules)
  { version status } }"""
PUBLISH = "mutation($v: Int!) { publishCustodyPolicy(version: $v) { version status } }"
RULES = [
    {"name": "whitelisted", "action": "ALLOW", "destination": "ADDRESS_BOOK"},
    {
        "name": "velocity",
        "action": "BLOCK",
        "assets": ["BTC"],
        "velocityWindowSeconds": 3600,
        "velocityMaxAmount": "0.5",
    },
    {
        "name": "one-time",
        "action": "REQUIRE_APPROVALS",
        "destination": "ONE_TIME",
        "approvals": {
            "join": "ALL",
            "quorums": [{"group": "ops", "required": 2}, {"group": "risk", "required": 1}],
        },
    },
]
PROPOSE = """mutation($a: String!) { proposeAddressBookEntry(asset: "BTC", address: $a,
  label: "exchange") { id status approvalPayload } }"""
APPROVE_ENTRY = """mutation($id: ID!, $sig: String!) { approveAddressBookEntry(id: $id,
  signature: $sig) { id status } }"""
SETTINGS = """mutation($c: Int!) { setTreasurySettings(input: {asset: "BTC", hotTxLimit: "10",
  hotDailyLimit: "100", sweepThreshold: "50", hotTarget: "20", coolingOffSeconds: $c}) }"""
FREEZE = f"""mutation($id: ID!, $f: Boolean!) {{ setWithdrawalFrozen(id: $id, frozen: $f)
  {{ {W_FIELDS} }} }}"""
REFILL = f"""mutation {{ requestRefill(asset: "BTC", amount: "0.2") {{ {W_FIELDS} }} }}"""
BOOKED = [
    "bcrt1qdsx3dk4esmu9exarjtp6csv456quqhadwsnrk7",
    cold.new_key_file("BTC")["address"],
]


def sign(name: str, payload: str) -> str:
    return approvals.sign(APPROVERS[name], approvals.unb64(payload, "payload"))


async def withdraw(http: httpx.AsyncClient, alice: DemoKey, amount: str, to: str) -> Any:
    variables = {"a": alice.account_id, "s": "BTC", "n": amount, "d": to}
    return (await ok(http, REQUEST, variables, alice))["requestWithdrawal"]["withdrawal"]


async def test_policy_publishing_needs_enough_approvers_in_each_group(
    http: httpx.AsyncClient, keys: dict[str, DemoKey]
) -> None:
    admin = keys["tenant_admin"]
    draft = (await ok(http, DRAFT, {"rules": RULES}, admin))["saveCustodyPolicyDraft"]
    assert draft["status"] == "DRAFT"
    body = await gql(http, PUBLISH, {"v": draft["version"]}, key=admin)
    assert error_codes(body) == ["VALIDATION"]  # no ops / risk approvers yet
    for name, key in APPROVERS.items():
        public = approvals.public_key_text(key)
        await ok(http, REGISTER, {"n": name, "p": public, "g": GROUPS[name]}, admin)
    published = (await ok(http, PUBLISH, {"v": draft["version"]}, admin))["publishCustodyPolicy"]
    assert published == {"version": draft["version"], "status": "PUBLISHED"}
    await deposit(http, keys, "alice", "3")
    await ok(http, MINE, {"n": 4}, keys["operator"])


async def test_address_book_entries_need_a_quorum_then_a_cooling_off(
    http: httpx.AsyncClient, keys: dict[str, DemoKey]
) -> None:
    admin, alice = keys["tenant_admin"], keys["alice"]
    cooling = (await ok(http, PROPOSE, {"a": BOOKED[0]}, admin))["proposeAddressBookEntry"]
    await ok(
        http,
        APPROVE_ENTRY,
        {"id": cooling["id"], "sig": sign("ops1", cooling["approvalPayload"])},
        admin,
    )
    second = await ok(
        http,
        APPROVE_ENTRY,
        {"id": cooling["id"], "sig": sign("risk1", cooling["approvalPayload"])},
        admin,
    )
    assert second["approveAddressBookEntry"]["status"] == "COOLING_OFF"
    w = await withdraw(http, alice, "0.1", BOOKED[0])
    assert w["status"] == "PENDING_APPROVAL" and w["ruleName"] == "one-time"
    await ok(http, SETTINGS, {"c": 0}, admin)
    active = (await ok(http, PROPOSE, {"a": BOOKED[1]}, admin))["proposeAddressBookEntry"]
    for name in ("ops1", "ops2"):
        done = await ok(
            http,
            APPROVE_ENTRY,
            {"id": active["id"], "sig": sign(name, active["approvalPayload"])},
            admin,
        )
    assert done["approveAddressBookEntry"]["status"] == "ACTIVE"
    w = await withdraw(http, alice, "0.05", BOOKED[1])
    assert w["status"] == "BROADCAST" and w["ruleName"] == "whitelisted"


async def test_and_groups_need_every_quorum_and_velocity_blocks_at_the_limit(
    http: httpx.AsyncClient, keys: dict[str, DemoKey], app: Starlette
) -> None:
    admin, alice = keys["tenant_admin"], keys["alice"]
    # the window holds 0.1 (pending, one-time) and 0.05 (whitelisted): 0.15 of 0.5
    w = await withdraw(http, alice, "0.3", OUTSIDE)
    assert w["status"] == "PENDING_APPROVAL"
    blocked = await withdraw(http, alice, "0.06", OUTSIDE)  # 0.51 > 0.5
    assert blocked["status"] == "REJECTED" and blocked["reason"] == "POLICY: rule velocity"
    for name in ("ops1", "ops2"):
        step = await ok(
            http, APPROVE, {"id": w["id"], "sig": sign(name, w["approvalPayload"])}, admin
        )
        assert step["approveWithdrawal"]["withdrawal"]["status"] == "PENDING_APPROVAL"
    done = await ok(
        http, APPROVE, {"id": w["id"], "sig": sign("risk1", w["approvalPayload"])}, admin
    )
    assert done["approveWithdrawal"]["withdrawal"]["status"] == "BROADCAST"


async def test_expiry_and_freezes_keep_every_hold_accounted_for(
    http: httpx.AsyncClient, keys: dict[str, DemoKey], app: Starlette
) -> None:
    admin, alice, compliance = keys["tenant_admin"], keys["alice"], keys["compliance"]
    await app.state.platform.db.custody_withdrawals.update_many(
        {}, {"$set": {"created_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}}
    )  # empty the velocity window
    before = (await balances(http, alice))["BTC"]
    w = await withdraw(http, alice, "0.2", OUTSIDE)
    frozen = await ok(http, FREEZE, {"id": w["id"], "f": True}, compliance)
    assert frozen["setWithdrawalFrozen"]["withdrawal"]["status"] == "FROZEN"
    body = await gql(
        http, APPROVE, {"id": w["id"], "sig": sign("ops1", w["approvalPayload"])}, key=admin
    )
    assert error_codes(body) == ["CONFLICT"]
    back = await ok(http, FREEZE, {"id": w["id"], "f": False}, compliance)
    assert back["setWithdrawalFrozen"]["withdrawal"]["status"] == "PENDING_APPROVAL"
    await app.state.platform.db.custody_withdrawals.update_one(
        {"_id": w["id"]}, {"$set": {"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}}
    )
    assert await app.state.platform.get(WithdrawalService).expire_due() >= 1
    await app.state.platform.writer.projections.drain()  # the expiry job's writes
    expired = await ok(
        http, "query($id: ID!) { withdrawal(id: $id) { status } }", {"id": w["id"]}, alice
    )
    assert expired["withdrawal"]["status"] == "EXPIRED"
    assert (await balances(http, alice))["BTC"] == before


async def test_a_refill_needs_the_treasury_quorum_then_the_cold_signature(
    http: httpx.AsyncClient, keys: dict[str, DemoKey]
) -> None:
    admin, operator = keys["tenant_admin"], keys["operator"]
    wallets = await ok(http, "query { wallets { asset temperature address } }", {}, admin)
    cold_address = next(
        w["address"]
        for w in wallets["wallets"]
        if w["asset"] == "BTC" and w["temperature"] == "COLD"
    )
    await ok(http, SEND, {"s": "BTC", "to": cold_address, "n": "1"}, admin)
    await ok(http, MINE, {"n": 1}, operator)
    w = (await ok(http, REFILL, {}, admin))["requestRefill"]["withdrawal"]
    assert w["status"] == "PENDING_APPROVAL" and w["requirement"]["quorums"][0]["group"] == "*"
    for name in ("ops1", "risk1"):
        step = await ok(
            http, APPROVE, {"id": w["id"], "sig": sign(name, w["approvalPayload"])}, admin
        )
    waiting = step["approveWithdrawal"]["withdrawal"]
    assert waiting["status"] == "AWAITING_COLD_SIGNATURE"
    key_file = cold.new_key_file("BTC", cold.demo_seed("caas-demo", DEMO_TENANT, "BTC"))
    signed = cold.sign(key_file, waiting["unsignedTransaction"])
    assert json.loads(signed)["tx"]["amount_minor"] == int(Decimal("0.2") * 10**8)
    done = await ok(http, COLD, {"id": w["id"], "t": signed}, admin)
    assert done["submitColdSignature"]["withdrawal"]["status"] == "BROADCAST"


async def test_resuming_after_a_crash_never_holds_or_debits_twice(
    http: httpx.AsyncClient, keys: dict[str, DemoKey], app: Starlette
) -> None:
    alice, platform = keys["alice"], app.state.platform
    pending = await withdraw(http, alice, "0.01", OUTSIDE)
    sent = await withdraw(http, alice, "0.02", BOOKED[1])
    assert (pending["status"], sent["status"]) == ("PENDING_APPROVAL", "BROADCAST")
    before = (await balances(http, alice))["BTC"]
    table = platform.db.custody_withdrawals
    await table.update_one({"_id": pending["id"]}, {"$set": {"hold_seq": None}})
    await table.update_one({"_id": sent["id"]}, {"$set": {"debit_seq": None}})
    assert await platform.get(WithdrawalService).resume() == 2
    assert (await balances(http, alice))["BTC"] == before
    assert await platform.get(WithdrawalService).resume() == 0


async def _cut_off(
    http: httpx.AsyncClient, alice: DemoKey, app: Starlette, monkeypatch: pytest.MonkeyPatch,
    step: str, amount: str,
) -> dict[str, Any]:  # fmt: skip
    """Request a withdrawal the policy allows while WithdrawalService's ``step`` crashes (the
    process dying there); the withdrawal as the crash left it."""

    async def crash(*_: object) -> None:
        raise RuntimeError(f"crash in {step}")

    with monkeypatch.context() as patch:
        patch.setattr(app.state.platform.get(WithdrawalService), step, crash)
        variables = {"a": alice.account_id, "s": "BTC", "n": amount, "d": BOOKED[1]}
        assert error_codes(await gql(http, REQUEST, variables, key=alice)) == ["INTERNAL"]
    minor = str(int(Decimal(amount) * 10**8))
    cut = await app.state.platform.db.custody_withdrawals.find_one(
        {"account_id": alice.account_id, "amount_minor": minor, "status": "PENDING_APPROVAL"}
    )
    assert cut is not None and cut["tx_id"] is None and cut["hold_seq"] is not None
    found: dict[str, Any] = cut
    return found


async def _withdrawal(http: httpx.AsyncClient, alice: DemoKey, withdrawal_id: str) -> Any:
    query = "query($id: ID!) { withdrawal(id: $id) { status txId } }"
    return (await ok(http, query, {"id": withdrawal_id}, alice))["withdrawal"]


async def test_a_broadcast_a_crash_cut_off_is_recorded_and_debited_never_signed_again(
    http: httpx.AsyncClient, keys: dict[str, DemoKey], app: Starlette,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    alice, platform = keys["alice"], app.state.platform
    service, chain = platform.get(WithdrawalService), platform.chain
    before = (await balances(http, alice))["BTC"]
    cut = await _cut_off(http, alice, app, monkeypatch, "_sent", "0.03")  # after the broadcast
    await platform.writer.projections.drain()
    held = (await balances(http, alice))["BTC"]
    assert held == (before[0] - Decimal("0.03"), before[1] + Decimal("0.03"))
    pending = chain.pending_count()
    assert await service.redrive() == 1
    w = await _withdrawal(http, alice, cut["_id"])
    assert w["status"] == "BROADCAST" and chain.transaction(w["txId"]) is not None
    assert chain.pending_count() == pending  # the same spend, not a second one
    await platform.writer.projections.drain()
    assert (await balances(http, alice))["BTC"] == (before[0] - Decimal("0.03"), before[1])
    assert await service.redrive() == 0


async def test_a_ready_withdrawal_a_crash_left_unsigned_is_signed_once_it_is_stale(
    http: httpx.AsyncClient, keys: dict[str, DemoKey], app: Starlette,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    alice, service = keys["alice"], app.state.platform.get(WithdrawalService)
    cut = await _cut_off(http, alice, app, monkeypatch, "_sign", "0.04")  # before signing
    assert await service.redrive() == 0  # young: a live request may still be signing it
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=61)
    assert await service.redrive(later) == 1
    assert (await _withdrawal(http, alice, cut["_id"]))["status"] == "BROADCAST"
    assert await service.redrive(later) == 0


async def test_the_books_reconcile_after_every_custody_flow(app: Starlette) -> None:
    report = await reconcile_platform(app.state.platform)
    assert report.clean, (report.differences, report.conservation)
