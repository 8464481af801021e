"""Hierarchical keys (BIP-32 over secp256k1 through bip-utils), addresses, and signing.

A wallet is a BIP-32 account node ``m/44'/coin'/0'``: its xpub derives every deposit
address non-hardened (``xpub/0/i``), so handing out addresses never needs a private key;
the wallet's own address is ``xpub/1/0``. Transactions are signed with ECDSA over
SHA-256 (coincurve, libsecp256k1) by the key of the address they spend from.
Imports no pymongo, no strawberry.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass

import coincurve
from bip_utils import (  # type: ignore[import-untyped]
    Bip32KeyError,
    Bip32Slip10Secp256k1,
    EthAddrDecoder,
    EthAddrEncoder,
    P2WPKHAddrDecoder,
    P2WPKHAddrEncoder,
)

EXTERNAL_CHAIN = 0  # deposit addresses
INTERNAL_CHAIN = 1  # the wallet's own address
COIN_TYPES = {"BTC": 1, "ETH": 60, "USDT": 60}  # BTC: the test-network coin type (simulator)
BTC_HRP = "bcrt"  # regtest addresses: the default chain is a simulator
MAX_INDEX = 2**31 - 1


class InvalidKeyError(Exception):
    """A key or an extended key that cannot be used (malformed, wrong kind)."""


@dataclass(frozen=True)
class AccountNode:
    """A wallet's BIP-32 account node: its xpub, and its xprv when the caller holds it."""

    xpub: str
    xprv: str | None


def new_account_node(asset: str, seed: bytes | None = None) -> AccountNode:
    """A fresh account node ``m/44'/coin'/0'`` from 32 random bytes (or ``seed``)."""
    coin = COIN_TYPES.get(asset, 0)
    master = Bip32Slip10Secp256k1.FromSeed(seed if seed is not None else os.urandom(32))
    node = master.DerivePath(f"m/44'/{coin}'/0'")
    return AccountNode(xpub=node.PublicKey().ToExtended(), xprv=node.PrivateKey().ToExtended())


def _node(extended: str) -> Bip32Slip10Secp256k1:
    try:
        return Bip32Slip10Secp256k1.FromExtendedKey(extended.strip())
    except (Bip32KeyError, ValueError, TypeError) as exc:
        raise InvalidKeyError("not a valid BIP-32 extended key") from exc


def check_xpub(xpub: str) -> str:
    """``xpub`` if it is a public extended key (a private one is refused: cold stays cold)."""
    node = _node(xpub)
    if not node.IsPublicOnly():
        raise InvalidKeyError("expected an xpub; never send a private key to the server")
    return str(node.PublicKey().ToExtended())


def encode_address(asset: str, public_key_compressed: bytes) -> str:
    """The address of a compressed secp256k1 key: P2WPKH for BTC, EIP-55 for ETH and USDT."""
    if asset == "BTC":
        return str(P2WPKHAddrEncoder.EncodeKey(public_key_compressed, hrp=BTC_HRP))
    return str(EthAddrEncoder.EncodeKey(public_key_compressed))


def valid_address(asset: str, address: str) -> bool:
    """Whether ``address`` is well formed for ``asset`` (bech32 checksum, EIP-55 checksum)."""
    try:
        if asset == "BTC":
            P2WPKHAddrDecoder.DecodeAddr(address, hrp=BTC_HRP)
        else:
            EthAddrDecoder.DecodeAddr(address)
        return True
    except (ValueError, TypeError):
        return False


def child_public_key(xpub: str, chain: int, index: int) -> bytes:
    """The compressed public key at ``xpub/chain/index`` (non-hardened)."""
    if not 0 <= index <= MAX_INDEX:
        raise InvalidKeyError("derivation index out of range")
    node = _node(xpub).ChildKey(chain).ChildKey(index)
    return bytes(node.PublicKey().RawCompressed().ToBytes())


def derive_address(asset: str, xpub: str, chain: int, index: int) -> str:
    """The address at ``xpub/chain/index``."""
    return encode_address(asset, child_public_key(xpub, chain, index))


def _check_path(path: Sequence[int]) -> None:
    if not path or not all(0 <= i <= MAX_INDEX for i in path):
        raise InvalidKeyError("derivation index out of range")


def path_address(asset: str, xpub: str, path: Sequence[int]) -> str:
    """The address at ``xpub/<path>`` (every step non-hardened), e.g. ``0/<slot>/<index>``."""
    _check_path(path)
    node = _node(xpub)
    for index in path:
        node = node.ChildKey(index)
    return encode_address(asset, bytes(node.PublicKey().RawCompressed().ToBytes()))


def path_private_key(xprv: str, path: Sequence[int]) -> bytes:
    """The raw 32-byte private key at ``xprv/<path>``."""
    _check_path(path)
    node = _node(xprv)
    if node.IsPublicOnly():
        raise InvalidKeyError("a private extended key is needed to sign")
    for index in path:
        node = node.ChildKey(index)
    return bytes(node.PrivateKey().Raw().ToBytes())


def child_private_key(xprv: str, chain: int, index: int) -> bytes:
    """The raw 32-byte private key at ``xprv/chain/index``."""
    return path_private_key(xprv, (chain, index))


def sign_digest_source(private_key: bytes, message: bytes) -> tuple[str, str]:
    """ECDSA (SHA-256) signature of ``message`` and the signer's compressed public key, hex."""
    key = coincurve.PrivateKey(private_key)
    signature = key.sign(message, hasher=lambda m: hashlib.sha256(m).digest())
    return signature.hex(), key.public_key.format(compressed=True).hex()


def verify_signature(public_key_hex: str, signature_hex: str, message: bytes) -> bool:
    """True when ``signature_hex`` is the key's ECDSA signature of ``message``."""
    try:
        key = coincurve.PublicKey(bytes.fromhex(public_key_hex))
        return bool(
            key.verify(
                bytes.fromhex(signature_hex), message, hasher=lambda m: hashlib.sha256(m).digest()
            )
        )
    except (ValueError, TypeError):
        return False
