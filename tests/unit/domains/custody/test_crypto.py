"""Keys, approval signatures, the simulated chain's checks and the Merkle sum tree."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from domains.custody import approvals, cold, keys, reserves
from domains.custody.chain import ChainRejectedError, SignedTx, UnsignedTx
from domains.custody.chain_sim import SimulatedChain
from domains.custody.model import Withdrawal, WithdrawalKind, WithdrawalStatus

NOW = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
BASE = Withdrawal(
    "wdr_1", "ten_1", WithdrawalKind.CUSTOMER, "BTC", 5_000, "bcrt1qx",
    WithdrawalStatus.PENDING_APPROVAL, "key_a", "TRADER", "n1", NOW, NOW, account_id="acc_1",
)  # fmt: skip


def test_deposit_addresses_derive_from_the_xpub_alone_and_match_the_private_side() -> None:
    node = keys.new_account_node("BTC")
    assert node.xprv is not None
    for index in (0, 1, 7):
        from_xpub = keys.derive_address("BTC", node.xpub, keys.EXTERNAL_CHAIN, index)
        private = keys.child_private_key(node.xprv, keys.EXTERNAL_CHAIN, index)
        _, public = keys.sign_digest_source(private, b"x")
        assert keys.encode_address("BTC", bytes.fromhex(public)) == from_xpub
        assert keys.valid_address("BTC", from_xpub)
    with pytest.raises(keys.InvalidKeyError):
        keys.check_xpub(node.xprv)  # a private key is refused where an xpub is expected


def test_an_approval_verifies_only_for_its_own_payload() -> None:
    key = Ed25519PrivateKey.generate()
    public = approvals.public_key_text(key)
    signature = approvals.sign(key, approvals.withdrawal_payload(BASE))
    assert approvals.verifies(public, signature, approvals.withdrawal_payload(BASE))
    others = (
        dataclasses.replace(BASE, amount_minor=5_001),
        dataclasses.replace(BASE, destination="bcrt1qy"),
        dataclasses.replace(BASE, id="wdr_2"),
        dataclasses.replace(BASE, nonce="n2"),
    )
    for other in others:
        assert not approvals.verifies(public, signature, approvals.withdrawal_payload(other))
    stranger = approvals.public_key_text(Ed25519PrivateKey.generate())
    assert not approvals.verifies(stranger, signature, approvals.withdrawal_payload(BASE))
    assert not approvals.verifies(public, "not-base64!", b"")


async def test_the_chain_refuses_forged_and_overdrawn_spends_and_counts_confirmations() -> None:
    chain = SimulatedChain(["BTC"])
    node = keys.new_account_node("BTC")
    assert node.xprv is not None
    sender = keys.derive_address("BTC", node.xpub, keys.INTERNAL_CHAIN, 0)
    await chain.send_from_outside("BTC", sender, 1_000)
    await chain.mine()
    tx = UnsignedTx("simulated", "BTC", sender, "bcrt1qdest", 600, "wdr_1")
    private = keys.child_private_key(node.xprv, keys.INTERNAL_CHAIN, 0)
    signature, public = keys.sign_digest_source(private, tx.canonical())
    forged = dataclasses.replace(tx, amount_minor=900)
    with pytest.raises(ChainRejectedError):
        await chain.broadcast(SignedTx(forged, signature, public))
    tx_id = await chain.broadcast(SignedTx(tx, signature, public))
    assert await chain.broadcast(SignedTx(tx, signature, public)) == tx_id  # idempotent
    second = dataclasses.replace(tx, reference="wdr_2")
    sig2, _ = keys.sign_digest_source(private, second.canonical())
    with pytest.raises(ChainRejectedError):  # 600 pending + 600 > 1000: no double spend
        await chain.broadcast(SignedTx(second, sig2, public))
    assert await chain.confirmations(tx_id) == 0
    await chain.mine(3)
    assert await chain.confirmations(tx_id) == 3
    assert await chain.balance("BTC", sender) == 400


def test_cold_signing_round_trip_and_a_wrong_key_is_refused() -> None:
    key_file = cold.new_key_file("ETH")
    tx = UnsignedTx("simulated", "ETH", key_file["address"], key_file["address"], 10, "wdr_9")
    signed = SignedTx.from_json(json.loads(cold.sign(key_file, tx.canonical().decode())))
    assert signed.tx == tx
    assert keys.verify_signature(signed.public_key, signed.signature, tx.canonical())
    with pytest.raises(cold.ColdSigningError):
        cold.sign(cold.new_key_file("ETH"), tx.canonical().decode())


balances = st.lists(st.integers(min_value=0, max_value=10**20), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(values=balances, data=st.data())
def test_every_leaf_verifies_and_any_tampering_fails(
    values: list[int], data: st.DataObject
) -> None:
    ids = [f"acc_{i}" for i in range(len(values))]
    salts = [reserves.leaf_salt(b"secret", "por_1", a) for a in ids]
    leaves = [
        (reserves.leaf_hash(reserves.account_hash(a, s), v), v)
        for a, s, v in zip(ids, salts, values, strict=True)
    ]
    root, total = reserves.root(leaves)
    assert total == sum(values)
    i = data.draw(st.integers(min_value=0, max_value=len(values) - 1))
    path = reserves.inclusion_path(leaves, i)
    assert reserves.verify_inclusion(ids[i], salts[i], values[i], path, root, total)
    assert not reserves.verify_inclusion(ids[i], salts[i], values[i] + 1, path, root, total)
    assert not reserves.verify_inclusion(ids[i], salts[i], values[i], path, root, total + 1)
    assert not reserves.verify_inclusion(ids[i] + "x", salts[i], values[i], path, root, total)
    if path:
        bent = [dataclasses.replace(path[0], sum=path[0].sum + 1), *path[1:]]
        assert not reserves.verify_inclusion(ids[i], salts[i], values[i], bent, root, total)
