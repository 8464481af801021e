"""Offline cold signing: key files and signing an exported transaction (`caas cold-sign`).

Runs on an air-gapped machine: reads a key file with the cold wallet's account xprv and
the unsigned transaction the server exported, checks the sending address is the key's
own (``xprv/1/0``), and prints the signed transaction to import. No network, no store.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from domains.custody import keys
from domains.custody.chain import SignedTx, UnsignedTx

KEY_FILE_VERSION = "caas-cold-key-v1"


class ColdSigningError(Exception):
    """The key file or the payload cannot be used (wrong wallet, malformed)."""


def new_key_file(asset: str, seed: bytes | None = None) -> dict[str, str]:
    """A cold key file's content: asset, xprv (keep offline) and xpub (give the server)."""
    asset = asset.strip().upper()
    if asset not in keys.COIN_TYPES:
        raise ColdSigningError(f"unknown asset {asset}")
    node = keys.new_account_node(asset, seed)
    assert node.xprv is not None
    address = keys.derive_address(asset, node.xpub, keys.INTERNAL_CHAIN, 0)
    return {"version": KEY_FILE_VERSION, "asset": asset, "xprv": node.xprv, "xpub": node.xpub,
            "address": address}  # fmt: skip


def demo_seed(demo_seed_text: str, tenant_name: str, asset: str) -> bytes:
    """The demo tenant's cold seed, derived from CAAS_DEMO_SEED (demo only, never production)."""
    return hashlib.sha256(f"cold|{demo_seed_text}|{tenant_name}|{asset}".encode()).digest()


def sign(key_file: dict[str, Any], unsigned_json: str) -> str:
    """The signed transaction (JSON) for an exported unsigned one."""
    try:
        tx = UnsignedTx.from_json(json.loads(unsigned_json))
        xprv, asset = str(key_file["xprv"]), str(key_file["asset"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ColdSigningError("not an unsigned transaction exported by the server") from exc
    if tx.asset != asset:
        raise ColdSigningError(f"the key file is for {asset}, the transaction for {tx.asset}")
    private = keys.child_private_key(xprv, keys.INTERNAL_CHAIN, 0)
    signature, public = keys.sign_digest_source(private, tx.canonical())
    if keys.encode_address(asset, bytes.fromhex(public)) != tx.from_address:
        raise ColdSigningError("this key does not own the sending address")
    return json.dumps(SignedTx(tx, signature, public).as_json(), sort_keys=True)
