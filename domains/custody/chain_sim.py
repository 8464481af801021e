"""A simulated chain (the default ChainAdapter): blocks on a timer, confirmations, a faucet.

Account-model ledger per asset, zero fees. Spends are verified like a real chain would:
the public key must hash to the sending address and the ECDSA signature must verify.
Funds "from outside" (a faucet, another exchange) appear through ``send_from_outside``.
State is kept through an optional store so a restart continues the same chain.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from domains.custody.chain import ChainRejectedError, ChainTransfer, SignedTx
from domains.custody.keys import encode_address, verify_signature
from domains.shared.periodic import Periodic

log = logging.getLogger("caas.chain")
NAME = "simulated"


@dataclass(frozen=True)
class SimTx:
    """A transaction of the simulated chain."""

    tx_id: str
    asset: str
    from_address: str | None
    to_address: str
    amount_minor: int
    height: int | None = None  # None while in the mempool

    def as_doc(self) -> dict[str, Any]:
        return {
            "_id": self.tx_id,
            "asset": self.asset,
            "from": self.from_address,
            "to": self.to_address,
            "amount": str(self.amount_minor),
            "height": self.height,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> SimTx:
        return cls(
            doc["_id"], doc["asset"], doc["from"], doc["to"], int(doc["amount"]), doc.get("height")
        )


Persist = Callable[[list[SimTx], int], Awaitable[None]]


class SimulatedChain:
    """An in-process chain: ``mine()`` makes a block; ``run()`` mines on a timer."""

    name = NAME

    def __init__(self, assets: Iterable[str], persist: Persist | None = None) -> None:
        self._assets = frozenset(assets)
        self._txs: dict[str, SimTx] = {}
        self._blocks: dict[int, list[str]] = {}  # height -> ids of the transactions it holds
        self._mempool: list[str] = []
        self._balances: dict[tuple[str, str], int] = {}
        self._outgoing: dict[tuple[str, str], int] = {}  # pending spends per address
        self._watched: set[str] = set()
        self._persist = persist
        self._lock = asyncio.Lock()
        self._miner: Periodic | None = None
        self.height = 0
        self.blocks_scanned = 0  # blocks read by transfers_since (what a provider would bill)
        self.on_block: list[Callable[[int], Awaitable[None]]] = []

    def restore(self, txs: Iterable[SimTx], height: int) -> None:
        """Load a persisted chain (mined transactions and the mempool)."""
        self.height = height
        for tx in txs:
            self._txs[tx.tx_id] = tx
            if tx.height is None:
                self._mempool.append(tx.tx_id)
                if tx.from_address is not None:
                    key = (tx.asset, tx.from_address)
                    self._outgoing[key] = self._outgoing.get(key, 0) + tx.amount_minor
            else:
                self._apply(tx)

    def _apply(self, tx: SimTx) -> None:
        if tx.height is not None:
            self._blocks.setdefault(tx.height, []).append(tx.tx_id)
        if tx.from_address is not None:
            key = (tx.asset, tx.from_address)
            self._balances[key] = self._balances.get(key, 0) - tx.amount_minor
        to = (tx.asset, tx.to_address)
        self._balances[to] = self._balances.get(to, 0) + tx.amount_minor

    def watch(self, addresses: Iterable[str]) -> None:
        self._watched.update(addresses)

    async def transfers_since(self, height: int) -> tuple[int, list[ChainTransfer]]:
        """Reads only the blocks above ``height`` and the mempool (never the whole chain)."""
        heights = range(max(height, 0) + 1, self.height + 1)
        self.blocks_scanned += len(heights)
        ids = [t for h in heights for t in self._blocks.get(h, ())]
        found = []
        for tx_id in (*ids, *self._mempool):
            tx = self._txs[tx_id]
            if tx.to_address in self._watched:
                found.append(
                    ChainTransfer(
                        tx.tx_id,
                        tx.asset,
                        tx.from_address,
                        tx.to_address,
                        tx.amount_minor,
                        self._confirmations(tx),
                    )
                )
        return self.height, found

    def _confirmations(self, tx: SimTx) -> int:
        return 0 if tx.height is None else self.height - tx.height + 1

    def transaction(self, tx_id: str) -> SimTx | None:
        """A transaction the chain carries (mined or in the mempool), by id."""
        return self._txs.get(tx_id)

    async def carries(self, tx_id: str) -> bool:
        return tx_id in self._txs

    async def confirmations(self, tx_id: str) -> int:
        tx = self._txs.get(tx_id)
        return 0 if tx is None else self._confirmations(tx)

    async def balance(self, asset: str, address: str) -> int:
        return self._balances.get((asset, address), 0)

    def pending_count(self) -> int:
        """Transactions waiting in the mempool."""
        return len(self._mempool)

    async def spendable(self, asset: str, address: str) -> int:
        return self._spendable(asset, address)

    def _spendable(self, asset: str, address: str) -> int:
        """Confirmed balance less spends waiting in the mempool."""
        key = (asset, address)
        return self._balances.get(key, 0) - self._outgoing.get(key, 0)

    async def broadcast(self, signed: SignedTx) -> str:
        tx = signed.tx
        async with self._lock:
            if tx.tx_id in self._txs:
                return tx.tx_id  # the same spend again: idempotent
            if tx.chain != NAME or tx.asset not in self._assets or tx.amount_minor <= 0:
                raise ChainRejectedError("unknown chain or asset, or a non-positive amount")
            try:
                sender = encode_address(tx.asset, bytes.fromhex(signed.public_key))
            except ValueError as exc:
                raise ChainRejectedError("malformed public key") from exc
            if sender != tx.from_address:
                raise ChainRejectedError("the public key does not own the sending address")
            if not verify_signature(signed.public_key, signed.signature, tx.canonical()):
                raise ChainRejectedError("the signature does not verify")
            if self._spendable(tx.asset, tx.from_address) < tx.amount_minor:
                raise ChainRejectedError("insufficient funds at the sending address")
            sim = SimTx(tx.tx_id, tx.asset, tx.from_address, tx.to_address, tx.amount_minor)
            await self._add(sim)
            key = (tx.asset, tx.from_address)
            self._outgoing[key] = self._outgoing.get(key, 0) + tx.amount_minor
            return tx.tx_id

    async def send_from_outside(self, asset: str, address: str, amount_minor: int) -> str:
        """A transfer from outside the platform (the faucet, a customer's other wallet)."""
        if asset not in self._assets or amount_minor <= 0:
            raise ChainRejectedError("unknown asset or a non-positive amount")
        tx_id = hashlib.sha256(os.urandom(32)).hexdigest()
        async with self._lock:
            await self._add(SimTx(tx_id, asset, None, address, amount_minor))
        return tx_id

    async def _add(self, tx: SimTx) -> None:
        if self._persist is not None:
            await self._persist([tx], self.height)
        self._txs[tx.tx_id] = tx
        self._mempool.append(tx.tx_id)

    async def mine(self, blocks: int = 1, *, notify_each: bool = True) -> int:
        """Mine ``blocks`` blocks (the first takes the whole mempool); the new height.

        Listeners hear of each block, or (``notify_each=False``) once, of the last one.
        """
        for n in range(blocks):
            async with self._lock:
                height = self.height + 1
                mined = [replace(self._txs[t], height=height) for t in self._mempool]
                if self._persist is not None:
                    await self._persist(mined, height)
                for tx in mined:
                    self._txs[tx.tx_id] = tx
                    if tx.from_address is not None:
                        key = (tx.asset, tx.from_address)
                        self._outgoing[key] -= tx.amount_minor
                    self._apply(tx)
                self._mempool.clear()
                self.height = height
            if not notify_each and n < blocks - 1:
                continue
            for callback in list(self.on_block):
                try:
                    await callback(height)
                except Exception:  # a listener's failure must not stop the chain
                    log.exception("block listener failed at height %d", height)
        return self.height

    def start(self, block_seconds: float) -> None:
        """Mine a block every ``block_seconds`` until ``stop()`` (a failed block, e.g. the
        store away, is logged and the next one tries again)."""
        if self._miner is None:
            self._miner = Periodic("simulated-chain", block_seconds, self.mine, log)
            self._miner.start()

    async def stop(self) -> None:
        if self._miner is not None:
            await self._miner.stop()
            self._miner = None
