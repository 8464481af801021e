"""What custody does on every block: deposits, confirmations, expiries and sweeps."""

from __future__ import annotations

import asyncio
import logging

from domains.custody.deposits import DepositWatcher
from domains.custody.treasury import TreasuryService
from domains.custody.withdrawals import WithdrawalService

log = logging.getLogger("caas.custody")


class CustodyRuntime:
    """Runs the custody background steps once per block, one pass at a time."""

    def __init__(
        self, deposits: DepositWatcher, withdrawals: WithdrawalService, treasury: TreasuryService
    ) -> None:
        self._deposits = deposits
        self._withdrawals = withdrawals
        self._treasury = treasury
        self._lock = asyncio.Lock()

    async def on_block(self, height: int = 0) -> None:
        async with self._lock:
            for name, step in (
                ("resume", self._withdrawals.resume),
                ("deposits", self._deposits.scan),
                ("confirmations", self._withdrawals.confirm_broadcasts),
                ("expiry", self._withdrawals.expire_due),
                ("sweeps", self._treasury.sweep_all),
            ):
                try:
                    await step()
                except Exception:  # one failing step must not stop the others or the chain
                    log.exception("custody %s step failed at height %d", name, height)
