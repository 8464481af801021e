"""Custody over HTTP: deposits credited once after confirmations, withdrawals under the
policy with Ed25519 approvals, hot/cold signing with a cold-signing round trip, sweeps,
freezes and proofs of reserves a customer verifies."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest
import pytest_asyncio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from starlette.applications import Starlette

from domains.accounts.keys import ApiKeyService, KeySpec
from domains.custody import approvals, cold, reserves
from domains.shared.context import Role, Scope
from graph.ops.seed import DEMO_TENANT, DemoKey, demo_approver_key
from tests.e2e.test_trading import balances
from tests.graphql_client import error_codes, gql

pytestmark = [pytest.mark.e2e, pytest.mark.store]

ADDRESS = """mutation($a: ID!, $s: String!) { requestDepositAddress(accountId: $a, asset: $s)
  { address asset derivationPath } }"""
SEND = """mutation($s: String!, $to: String!, $n: Decimal!) {
  simulateChainTransfer(asset: $s, address: $to, amount: $n) }"""
MINE = "mutation($n: Int!) { mineBlocks(count: $n) }"
DEPOSITS = """query { deposits(first: 50) { nodes { id txId amount status confirmations
  requiredConfirmations } } }"""
W_FIELDS = """withdrawal { id status reason ruleName amount approvalPayload unsignedTransaction
  txId approvals { approverId } requirement { join quorums { group required } } }"""
REQUEST = f"""mutation($a: ID!, $s: String!, $n: Decimal!, $d: String!, $k: String) {{
  requestWithdrawal(input: {{accountId: $a, asset: $s, amount: $n, destination: $d,
  idempotencyKey: $k}}) {{ {W_FIELDS} }} }}"""
APPROVE = f"""mutation($id: ID!, $sig: String!) {{ approveWithdrawal(id: $id, signature: $sig)
  {{ {W_FIELDS} }} }}"""
REJECT = f"""mutation($id: ID!) {{ rejectWithdrawal(id: $id, reason: "not today")
  {{ {W_FIELDS} }} }}"""
COLD = f"""mutation($id: ID!, $t: String!) {{ submitColdSignature(id: $id, signedTransaction: $t)
  {{ {W_FIELDS} }} }}"""
TREASURY = """mutation($s: String!, $tx: Decimal!, $th: Decimal!, $tg: Decimal!) {
  setTreasurySettings(input: {asset: $s, hotTxLimit: $tx, hotDailyLimit: "100",
  sweepThreshold: $th, hotTarget: $tg}) }"""
SWEEP = f"""mutation($s: String!) {{ sweepHotWallet(asset: $s) {{ {W_FIELDS} }} }}"""
WALLETS = "query { wallets { id asset temperature address xpub frozen } }"
OUTSIDE = "bcrt1q4pvv7fky4mvmnsd89faf5hex4gzfl6h44xzl84"  # a well-formed regtest address


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def keys(app: Starlette, demo_keys: dict[str, DemoKey]) -> dict[str, DemoKey]:
    """The demo keys, with Alice's replaced by a key that also holds WITHDRAW."""
    alice = demo_keys["alice"]
    spec = KeySpec(
        Role.TRADER,
        alice.tenant_id,
        alice.customer_id,
        label="withdrawals",
        require_signature=False,
        scopes=frozenset({Scope.READ, Scope.TRADE, Scope.WITHDRAW}),
    )
    await app.state.platform.get(ApiKeyService).register("key_alice_w", "s" * 43, "sig_w", spec)
    token = "key_alice_w." + "s" * 43
    return {
        **demo_keys,
        "alice": DemoKey(
            "alice", "TRADER", token, alice.tenant_id, alice.customer_id, alice.account_id
        ),
    }


async def ok(http: httpx.AsyncClient, q: str, v: dict[str, Any], key: DemoKey) -> Any:
    body = await gql(http, q, v, key=key)
    assert not body.get("errors"), body
    return body["data"]


def sign(payload_b64: str, name: str) -> str:
    return approvals.sign(demo_approver_key(name), approvals.unb64(payload_b64, "payload"))


async def deposit(http: httpx.AsyncClient, keys: dict[str, DemoKey], who: str, amount: str) -> str:
    user = keys[who]
    address = await ok(http, ADDRESS, {"a": user.account_id, "s": "BTC"}, user)
    to = address["requestDepositAddress"]["address"]
    return str(
        (await ok(http, SEND, {"s": "BTC", "to": to, "n": amount}, keys["tenant_admin"]))[
            "simulateChainTransfer"
        ]
    )


async def test_a_deposit_is_pending_until_confirmed_then_credited_once(
    http: httpx.AsyncClient, keys: dict[str, DemoKey]
) -> None:
    alice, operator = keys["alice"], keys["operator"]
    before = (await balances(http, alice))["BTC"][0]
    first = await ok(http, ADDRESS, {"a": alice.account_id, "s": "BTC"}, alice)
    again = await ok(http, ADDRESS, {"a": alice.account_id, "s": "BTC"}, alice)
    assert first == again and first["requestDepositAddress"]["derivationPath"].startswith("0/")
    tx = await deposit(http, keys, "alice", "1.5")
    await ok(http, MINE, {"n": 1}, operator)
    rows = (await ok(http, DEPOSITS, {}, alice))["deposits"]["nodes"]
    mine = [r for r in rows if r["txId"] == tx]
    assert mine and mine[0]["status"] == "PENDING" and mine[0]["confirmations"] == 1
    await ok(http, MINE, {"n": 5}, operator)
    await ok(http, MINE, {"n": 3}, operator)  # more blocks: never credited twice
    rows = (await ok(http, DEPOSITS, {}, alice))["deposits"]["nodes"]
    assert [r["status"] for r in rows if r["txId"] == tx] == ["CREDITED"]
    assert (await balances(http, alice))["BTC"][0] == before + Decimal("1.5")


async def test_small_withdrawal_is_signed_hot_and_debited(
    http: httpx.AsyncClient, keys: dict[str, DemoKey]
) -> None:
    alice = keys["alice"]
    before = (await balances(http, alice))["BTC"][0]
    data = await ok(
        http,
        REQUEST,
        {"a": alice.account_id, "s": "BTC", "n": "0.05", "d": OUTSIDE, "k": "hot-1"},
        alice,
    )
    w = data["requestWithdrawal"]["withdrawal"]
    assert w["status"] == "BROADCAST" and w["ruleName"] == "small BTC" and w["txId"]
    assert (await balances(http, alice))["BTC"][0] == before - Decimal("0.05")
    retry = await ok(
        http,
        REQUEST,
        {"a": alice.account_id, "s": "BTC", "n": "0.05", "d": OUTSIDE, "k": "hot-1"},
        alice,
    )
    assert retry["requestWithdrawal"]["withdrawal"]["id"] == w["id"]
    assert (await balances(http, alice))["BTC"][0] == before - Decimal("0.05")


async def test_large_withdrawal_needs_two_distinct_valid_signatures(
    http: httpx.AsyncClient, keys: dict[str, DemoKey]
) -> None:
    alice, admin = keys["alice"], keys["tenant_admin"]
    before = await balances(http, alice)
    data = await ok(
        http, REQUEST, {"a": alice.account_id, "s": "BTC", "n": "0.3", "d": OUTSIDE}, alice
    )
    w = data["requestWithdrawal"]["withdrawal"]
    assert w["status"] == "PENDING_APPROVAL" and w["requirement"]["quorums"][0]["required"] == 2
    assert (await balances(http, alice))["BTC"][1] == before["BTC"][1] + Decimal("0.3")
    forged = approvals.sign(
        Ed25519PrivateKey.generate(), approvals.unb64(w["approvalPayload"], "p")
    )
    body = await gql(http, APPROVE, {"id": w["id"], "sig": forged}, key=admin)
    assert error_codes(body) == ["APPROVAL_INVALID"]
    ada = sign(w["approvalPayload"], "Ada Approver")
    once = await ok(http, APPROVE, {"id": w["id"], "sig": ada}, admin)
    assert once["approveWithdrawal"]["withdrawal"]["status"] == "PENDING_APPROVAL"
    body = await gql(http, APPROVE, {"id": w["id"], "sig": ada}, key=admin)
    assert error_codes(body) == ["APPROVAL_DUPLICATE"]
    other = await ok(
        http, REQUEST, {"a": alice.account_id, "s": "BTC", "n": "0.2", "d": OUTSIDE}, alice
    )
    other_id = other["requestWithdrawal"]["withdrawal"]["id"]
    body = await gql(http, APPROVE, {"id": other_id, "sig": ada}, key=admin)
    assert error_codes(body) == ["APPROVAL_REPLAYED"]
    done = await ok(
        http, APPROVE, {"id": w["id"], "sig": sign(w["approvalPayload"], "Ben Approver")}, admin
    )
    assert done["approveWithdrawal"]["withdrawal"]["status"] == "BROADCAST"
    rejected = await ok(http, REJECT, {"id": other_id}, admin)
    assert rejected["rejectWithdrawal"]["withdrawal"]["status"] == "REJECTED"
    after = await balances(http, alice)
    assert after["BTC"] == (before["BTC"][0] - Decimal("0.3"), before["BTC"][1])


async def test_the_initiator_cannot_approve_its_own_withdrawal(
    http: httpx.AsyncClient, keys: dict[str, DemoKey]
) -> None:
    alice, admin = keys["alice"], keys["tenant_admin"]
    own = Ed25519PrivateKey.generate()
    register = """mutation($p: String!) { registerApprover(name: "Alice herself", publicKey: $p,
      groups: ["treasury"], keyId: "key_alice_w") { id } }"""
    await ok(http, register, {"p": approvals.public_key_text(own)}, admin)
    data = await ok(
        http, REQUEST, {"a": alice.account_id, "s": "BTC", "n": "0.25", "d": OUTSIDE}, alice
    )
    w = data["requestWithdrawal"]["withdrawal"]
    signature = approvals.sign(own, approvals.unb64(w["approvalPayload"], "p"))
    body = await gql(http, APPROVE, {"id": w["id"], "sig": signature}, key=admin)
    assert error_codes(body) == ["SELF_APPROVAL"]
    await ok(http, REJECT, {"id": w["id"]}, admin)


async def test_above_the_hot_limit_the_cold_key_signs_offline(
    http: httpx.AsyncClient, keys: dict[str, DemoKey], app: Starlette
) -> None:
    alice, admin, operator = keys["alice"], keys["tenant_admin"], keys["operator"]
    await ok(http, TREASURY, {"s": "BTC", "tx": "0.01", "th": "0.5", "tg": "0.2"}, admin)
    swept = (await ok(http, SWEEP, {"s": "BTC"}, admin))["sweepHotWallet"]
    assert swept is not None and swept["withdrawal"]["status"] == "BROADCAST"
    await ok(http, MINE, {"n": 1}, operator)
    data = await ok(
        http, REQUEST, {"a": alice.account_id, "s": "BTC", "n": "0.05", "d": OUTSIDE}, alice
    )
    w = data["requestWithdrawal"]["withdrawal"]
    assert w["status"] == "AWAITING_COLD_SIGNATURE" and w["unsignedTransaction"]
    key_file = cold.new_key_file("BTC", cold.demo_seed("caas-demo", DEMO_TENANT, "BTC"))
    wrong_key = cold.new_key_file("BTC")
    tampered = json.loads(cold.sign(key_file, w["unsignedTransaction"]))
    tampered["tx"]["to_address"] = "bcrt1qdsx3dk4esmu9exarjtp6csv456quqhadwsnrk7"
    for bad in (json.dumps(tampered), "not json"):
        body = await gql(http, COLD, {"id": w["id"], "t": bad}, key=admin)
        assert error_codes(body) in (["SIGNATURE_INVALID"], ["VALIDATION"])
    with pytest.raises(cold.ColdSigningError):
        cold.sign(wrong_key, w["unsignedTransaction"])
    signed = cold.sign(key_file, w["unsignedTransaction"])
    done = await ok(http, COLD, {"id": w["id"], "t": signed}, admin)
    assert done["submitColdSignature"]["withdrawal"]["status"] == "BROADCAST"
    await ok(http, TREASURY, {"s": "BTC", "tx": "10", "th": "50", "tg": "20"}, admin)


async def test_a_customer_verifies_its_leaf_and_a_tampered_proof_fails(
    http: httpx.AsyncClient, keys: dict[str, DemoKey]
) -> None:
    alice, admin = keys["alice"], keys["tenant_admin"]
    publish = """mutation { publishProofOfReserves(asset: "BTC") { snapshotId rootHash
      totalLiabilities walletTotal leafCount } }"""
    snap = (await ok(http, publish, {}, admin))["publishProofOfReserves"]
    proof_q = """query { myInclusionProof(asset: "BTC") { snapshotId accountId salt balanceMinor
      rootHash totalLiabilitiesMinor path { hash sumMinor left } } }"""
    proofs = (await ok(http, proof_q, {}, alice))["myInclusionProof"]
    assert proofs and all(p["snapshotId"] == snap["snapshotId"] for p in proofs)
    for p in proofs:
        path = [reserves.ProofStep(s["hash"], int(s["sumMinor"]), s["left"]) for s in p["path"]]
        args = (
            p["accountId"],
            p["salt"],
            int(p["balanceMinor"]),
            path,
            p["rootHash"],
            int(p["totalLiabilitiesMinor"]),
        )
        assert p["rootHash"] == snap["rootHash"] and reserves.verify_inclusion(*args)
        assert not reserves.verify_inclusion(args[0], args[1], args[2] + 1, *args[3:])
    await ok(http, publish, {}, admin)  # a newer root; the old one stays verifiable
    old = """query($id: ID!) { proofOfReserves(asset: "BTC", snapshotId: $id) { rootHash } }"""
    again = await ok(http, old, {"id": snap["snapshotId"]}, alice)
    assert again["proofOfReserves"]["rootHash"] == snap["rootHash"]


async def test_compliance_freezes_stop_withdrawals(
    http: httpx.AsyncClient, keys: dict[str, DemoKey]
) -> None:
    alice, compliance = keys["alice"], keys["compliance"]
    freeze = """mutation($a: ID!, $f: Boolean!) { setAccountFrozen(accountId: $a, frozen: $f,
      reason: "investigation") }"""
    await ok(http, freeze, {"a": alice.account_id, "f": True}, compliance)
    body = await gql(
        http, REQUEST, {"a": alice.account_id, "s": "BTC", "n": "0.01", "d": OUTSIDE}, key=alice
    )
    assert error_codes(body) == ["FROZEN"]
    await ok(http, freeze, {"a": alice.account_id, "f": False}, compliance)
    block = """mutation { setAddressBlocked(address: "%s", blocked: true, reason: "sanctioned") }"""
    await ok(http, block % OUTSIDE, {}, compliance)
    data = await ok(
        http, REQUEST, {"a": alice.account_id, "s": "BTC", "n": "0.01", "d": OUTSIDE}, alice
    )
    w = data["requestWithdrawal"]["withdrawal"]
    assert w["status"] == "REJECTED" and w["reason"].startswith("SCREENING")
    await ok(http, block.replace("true", "false") % OUTSIDE, {}, compliance)


SANCTIONED_ETH = "0x1111111111111111111111111111111111111111"  # on the shipped sample SDN list


async def test_a_withdrawal_to_a_sanctioned_address_is_refused_and_alerted(
    http: httpx.AsyncClient, keys: dict[str, DemoKey]
) -> None:
    """Custody asks compliance before holding anything: SANCTIONS_HIT, an alert for the
    compliance officers, and the customer's balance untouched."""
    alice = keys["alice"]
    before = await balances(http, alice)
    refused = await gql(http, REQUEST, {"a": alice.account_id, "s": "ETH", "n": "0.5",
                                        "d": SANCTIONED_ETH}, key=alice)  # fmt: skip
    assert error_codes(refused) == ["SANCTIONS_HIT"]
    assert await balances(http, alice) == before
    alerts = await ok(http, "{ complianceAlerts(first: 20) { nodes { rule customerId } } }", {},
                      keys["compliance"])  # fmt: skip
    rules = [a["rule"] for a in alerts["complianceAlerts"]["nodes"]
             if a["customerId"] == alice.customer_id]  # fmt: skip
    assert "SANCTIONS_ADDRESS" in rules
