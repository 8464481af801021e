"""Omnibus custody: each tenant's sub-ledger of the platform's shared wallets, mode switches.

A tenant in OMNIBUS mode keeps its customers' coins in the platform's shared wallets. Its
sub-ledger says how much of each shared wallet is its own: plus each credited deposit to
one of its omnibus addresses, minus each omnibus withdrawal broadcast. Sweeps and refills
move coins between the platform's own wallets and change no share, so once the chain has
settled the shared wallets hold exactly the sum of the sub-ledgers. Entries are posted once
per reference (``deposit:<id>``, ``withdrawal:<id>``): retries and resumes never post twice.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from domains.custody.errors import CustodyBalanceHeldError
from domains.custody.model import CustodyMode, CustodySetup, Deposit, Withdrawal
from domains.custody.repository import MongoCustodyRepository
from domains.shared.context import Principal, Role
from domains.shared.errors import ForbiddenError


class SubLedger:
    """Posts and reads the omnibus tenants' shares of the platform's wallets."""

    def __init__(self, repository: MongoCustodyRepository) -> None:
        self._repo = repository
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def lock(self, tenant_id: str, asset: str) -> asyncio.Lock:
        """Held from the share check to the debit: two withdrawals never spend one share."""
        return self._locks.setdefault((tenant_id, asset), asyncio.Lock())

    async def share(self, tenant_id: str, asset: str) -> int:
        """The tenant's part of the platform's shared ``asset`` wallets, minor units."""
        return (await self._repo.subledger_balances(asset, tenant_id)).get(tenant_id, 0)

    async def shares(self, asset: str) -> dict[str, int]:
        """Every omnibus tenant's share of the shared ``asset`` wallets."""
        return await self._repo.subledger_balances(asset)

    async def credit(self, deposit: Deposit) -> bool:
        """A credited deposit to an omnibus address adds to its tenant's share (once)."""
        return await self._repo.post_subledger(
            f"deposit:{deposit.id}", deposit.tenant_id, deposit.asset, deposit.amount_minor
        )

    async def debit(self, w: Withdrawal) -> bool:
        """A broadcast omnibus withdrawal takes from its tenant's share (once)."""
        return await self._repo.post_subledger(
            f"withdrawal:{w.id}", w.tenant_id, w.asset, -w.amount_minor
        )


class LiabilitiesReader(Protocol):
    """What the engine owes a tenant's customers of an asset (``ReservesService``)."""

    def liabilities(self, tenant_id: str, asset: str) -> list[tuple[str, int]]: ...


class CustodyModes:
    """Switches a tenant between SEGREGATED and OMNIBUS while it holds no custody funds."""

    def __init__(
        self,
        repository: MongoCustodyRepository,
        ledger: SubLedger,
        reserves: LiabilitiesReader,
        assets: frozenset[str],
    ) -> None:
        self._repo = repository
        self._ledger = ledger
        self._reserves = reserves
        self._assets = assets

    async def set_mode(self, principal: Principal, mode: CustodyMode) -> CustodySetup:
        """Change the mode; CUSTODY_BALANCE_HELD while any custody funds are the tenant's."""
        if principal.role is not Role.TENANT_ADMIN or principal.tenant_id is None:
            raise ForbiddenError("the custody mode is set by the tenant's admins")
        tenant_id = principal.tenant_id
        current = await self._repo.setup(tenant_id)
        if current.mode is mode:
            return current
        for asset in sorted(self._assets):
            if self._reserves.liabilities(tenant_id, asset):
                raise CustodyBalanceHeldError(
                    f"the tenant's accounts hold {asset}; empty them before switching",
                    reason="BALANCES", asset=asset,
                )  # fmt: skip
            if await self._ledger.share(tenant_id, asset):
                raise CustodyBalanceHeldError(
                    f"the tenant has a share of the platform's {asset} wallets",
                    reason="OMNIBUS_SHARE", asset=asset,
                )  # fmt: skip
        if await self._repo.pending_deposit_count(tenant_id):
            raise CustodyBalanceHeldError(
                "deposits to the tenant's addresses are waiting for confirmations",
                reason="PENDING_DEPOSITS",
            )
        await self._repo.set_mode(tenant_id, mode)
        return await self._repo.setup(tenant_id)
