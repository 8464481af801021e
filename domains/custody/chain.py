"""The chain adapter interface and the transactions it carries.

A real node or a provider implements ChainAdapter; the default is the simulator in
``chain_sim.py``. Unsigned transactions have one canonical byte form that hot wallets,
``caas cold-sign`` and the chain all sign and verify.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Protocol


class ChainRejectedError(Exception):
    """The chain refused a transaction (bad signature, insufficient funds, unknown asset)."""


@dataclass(frozen=True)
class UnsignedTx:
    """What a wallet signs: the spend, bound to the withdrawal it serves."""

    chain: str
    asset: str
    from_address: str
    to_address: str
    amount_minor: int
    reference: str  # the withdrawal id: one spend per withdrawal

    def canonical(self) -> bytes:
        """Sorted-key compact JSON: the bytes every signer and verifier hashes."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @property
    def tx_id(self) -> str:
        """The transaction id: SHA-256 of the canonical form (rebroadcasts are idempotent)."""
        return hashlib.sha256(self.canonical()).hexdigest()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UnsignedTx:
        return cls(
            chain=str(data["chain"]),
            asset=str(data["asset"]),
            from_address=str(data["from_address"]),
            to_address=str(data["to_address"]),
            amount_minor=int(data["amount_minor"]),
            reference=str(data["reference"]),
        )


@dataclass(frozen=True)
class SignedTx:
    """An unsigned transaction with the ECDSA signature and public key of its sender."""

    tx: UnsignedTx
    signature: str  # hex DER
    public_key: str  # hex compressed secp256k1

    def as_json(self) -> dict[str, Any]:
        return {"tx": asdict(self.tx), "signature": self.signature, "public_key": self.public_key}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignedTx:
        return cls(
            UnsignedTx.from_json(data["tx"]), str(data["signature"]), str(data["public_key"])
        )


@dataclass(frozen=True)
class ChainTransfer:
    """A transfer the chain carries, with how deep it is buried."""

    tx_id: str
    asset: str
    from_address: str | None  # None: from outside the platform's view
    to_address: str
    amount_minor: int
    confirmations: int  # 0 while in the mempool


class ChainAdapter(Protocol):
    """What custody needs from a chain: watch addresses, broadcast, read confirmations."""

    name: str

    def watch(self, addresses: Iterable[str]) -> None:
        """Report transfers to these addresses from now on."""
        ...

    async def transfers_since(self, height: int) -> tuple[int, list[ChainTransfer]]:
        """The tip height, and the transfers paying a watched address mined in blocks above
        ``height`` or waiting in the mempool (read together, so none falls in between)."""
        ...

    async def broadcast(self, signed: SignedTx) -> str:
        """Submit a signed transaction; its id. ChainRejectedError if the chain refuses it."""
        ...

    async def confirmations(self, tx_id: str) -> int:
        """Blocks on top of (and including) the one holding ``tx_id``; 0 if unconfirmed."""
        ...

    async def carries(self, tx_id: str) -> bool:
        """Whether the chain has ``tx_id``, mined or in the mempool (a broadcast a crash
        interrupted before custody recorded it)."""
        ...

    async def balance(self, asset: str, address: str) -> int:
        """Confirmed balance of an address, in minor units."""
        ...

    async def spendable(self, asset: str, address: str) -> int:
        """Confirmed balance less this platform's spends still waiting to be mined."""
        ...
