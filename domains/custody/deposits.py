"""Deposits: seen on the chain adapter, PENDING until N confirmations, then credited once.

Idempotent per chain transaction: the deposit id is ``<chain>:<txid>``, the stored status
guards the credit, and the step log (``steps.py``, projected from the journal) makes a
retry after a crash between credit and mark a no-op. A credited deposit is then
consolidated from its deposit address into the hot wallet's own address.
"""

from __future__ import annotations

import logging

from domains.custody import keys
from domains.custody.chain import ChainAdapter, ChainRejectedError, SignedTx, UnsignedTx
from domains.custody.model import Deposit, DepositAddress, DepositStatus
from domains.custody.money import CustodyMoney
from domains.custody.omnibus import SubLedger
from domains.custody.repository import MongoCustodyRepository
from domains.custody.service import CustodyService
from domains.shared.scalars import utcnow

log = logging.getLogger("caas.custody.deposits")
DEFAULT_CONFIRMATIONS = {"BTC": 3, "ETH": 12, "USDT": 12}


class DepositWatcher:
    """Turns chain transfers to deposit addresses into credited deposits.

    Incremental: the height scanned so far is kept per chain (``custody_chain_cursor``), and
    each pass reads only the blocks a deposit could still be waiting in (the deepest
    confirmation requirement below it) plus the new ones and the mempool. The cursor moves
    after the pass, so a crash re-reads that window; each transaction is credited once.
    """

    def __init__(
        self,
        repository: MongoCustodyRepository,
        custody: CustodyService,
        chain: ChainAdapter,
        money: CustodyMoney,
        confirmations: dict[str, int] | None = None,
        ledger: SubLedger | None = None,
    ) -> None:
        self._repo = repository
        self._custody = custody
        self._chain = chain
        self._money = money
        self._ledger = ledger
        self.confirmations = {**DEFAULT_CONFIRMATIONS, **(confirmations or {})}
        self.window = max(self.confirmations.values())  # blocks a deposit may still wait in

    async def scan(self, _height: int = 0) -> int:
        """Record new deposits, refresh confirmations, credit the buried ones; credits made."""
        scanned = await self._repo.scanned_height(self._chain.name)
        tip, transfers = await self._chain.transfers_since(max(scanned - self.window, 0))
        owners = {
            a.address: a
            for a in await self._repo.addresses_by_ids(sorted({t.to_address for t in transfers}))
        }
        ids = [f"{self._chain.name}:{t.tx_id}" for t in transfers if t.to_address in owners]
        credited_before = await self._repo.credited_deposit_ids(ids)
        credited = 0
        for t in transfers:
            owner = owners.get(t.to_address)
            if owner is None or owner.asset != t.asset:
                continue  # a wallet's own address, or a foreign asset: not a customer deposit
            deposit_id = f"{self._chain.name}:{t.tx_id}"
            if deposit_id in credited_before:
                continue  # still in the window, long credited
            deposit = await self._repo.upsert_pending_deposit(
                Deposit(
                    id=deposit_id,
                    tx_id=t.tx_id,
                    tenant_id=owner.tenant_id,
                    account_id=owner.account_id,
                    customer_id=owner.customer_id,
                    asset=t.asset,
                    address=t.to_address,
                    amount_minor=t.amount_minor,
                    confirmations=t.confirmations,
                    required_confirmations=self.confirmations.get(t.asset, 6),
                    status=DepositStatus.PENDING,
                    seen_at=utcnow(),
                )
            )
            if deposit.status is DepositStatus.PENDING and (
                deposit.confirmations >= deposit.required_confirmations
            ):
                await self._credit(deposit, owner)
                credited += 1
        if tip > scanned:
            await self._repo.save_scanned_height(self._chain.name, tip)
        return credited

    async def _credit(self, deposit: Deposit, owner: DepositAddress) -> None:
        """Engine credit, sub-ledger (omnibus), then the mark: each step once, in that order,
        so a crash in between is finished by the next pass."""
        index = await self._money.index(deposit.account_id, deposit.tenant_id, deposit.customer_id)
        seq = await self._money.credit_deposit(
            index, deposit.asset, deposit.amount_minor, deposit.id
        )
        if owner.omnibus:
            if self._ledger is None:
                raise RuntimeError("an omnibus deposit needs the sub-ledger")
            await self._ledger.credit(deposit)
        await self._repo.mark_credited(deposit.id, seq, utcnow())
        await self._consolidate(deposit, owner)

    async def _consolidate(self, deposit: Deposit, owner: DepositAddress) -> None:
        """Move the deposit into its wallet's own address (signed by that hot key)."""
        wallet = await self._custody.wallet_by_id(owner.wallet_id)
        tx = UnsignedTx(
            self._chain.name,
            deposit.asset,
            deposit.address,
            wallet.address,
            deposit.amount_minor,
            f"consolidate:{deposit.id}",
        )
        private = self._custody.hot_path_key(wallet, owner.path)
        signature, public = keys.sign_digest_source(private, tx.canonical())
        try:
            await self._chain.broadcast(SignedTx(tx, signature, public))
        except ChainRejectedError:
            log.exception(
                "consolidation of %s refused; funds stay at the deposit address", deposit.id
            )
