"""Treasury moves between a tenant's own wallets: sweeps (hot -> cold) and refills.

A sweep moves the hot balance above the sweep threshold down to the hot target and is
signed by the hot key at once; a refill (cold -> hot) needs the treasury quorum of
approver signatures and then the cold key. Neither moves customer balances.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import replace
from decimal import Decimal

from domains.custody.chain import ChainAdapter
from domains.custody.governance import Governance
from domains.custody.model import WalletTemperature, Withdrawal, WithdrawalKind, WithdrawalStatus
from domains.custody.repository import MongoCustodyRepository
from domains.custody.service import CustodyService, to_minor
from domains.custody.withdrawals import WithdrawalService
from domains.shared.context import Principal, Role
from domains.shared.errors import ConflictError, ForbiddenError, NotFoundError
from domains.shared.ids import new_id
from domains.shared.scalars import utcnow


class TreasuryService:
    """Sweeps and refills through the withdrawal state machine."""

    def __init__(self, repository: MongoCustodyRepository, custody: CustodyService,
                 governance: Governance, withdrawals: WithdrawalService,
                 chain: ChainAdapter) -> None:  # fmt: skip
        self._repo = repository
        self._custody = custody
        self._gov = governance
        self._withdrawals = withdrawals
        self._chain = chain

    def _treasury(
        self,
        tenant_id: str,
        kind: WithdrawalKind,
        asset: str,
        amount: int,
        destination: str,
        initiator: str,
        ttl_s: int,
    ) -> Withdrawal:
        now = utcnow()
        return Withdrawal(
            id=new_id("wdr"),
            tenant_id=tenant_id,
            kind=kind,
            asset=asset,
            amount_minor=amount,
            destination=destination,
            status=WithdrawalStatus.PENDING_APPROVAL,
            initiator_key_id=initiator,
            initiator_role=Role.TENANT_ADMIN.value,
            nonce=secrets.token_hex(16),
            created_at=now,
            expires_at=now + dt.timedelta(seconds=ttl_s),
        )

    async def sweep(self, tenant_id: str, asset: str, initiator: str) -> Withdrawal | None:
        """Move the hot balance above the sweep threshold down to the hot target, into cold."""
        setup = await self._custody.setup(tenant_id)
        limits = setup.limits.get(asset)
        if limits is None:
            return None
        hot = await self._custody.wallet(tenant_id, asset, WalletTemperature.HOT)
        cold = await self._custody.wallet(tenant_id, asset, WalletTemperature.COLD)
        balance = await self._chain.spendable(asset, hot.address)
        if (
            hot.frozen
            or balance <= limits.sweep_threshold_minor
            or await self._withdrawals.pending_sweep(tenant_id, asset)
        ):
            return None
        amount = balance - limits.hot_target_minor
        w = self._treasury(
            tenant_id,
            WithdrawalKind.SWEEP,
            asset,
            amount,
            cold.address,
            initiator,
            setup.withdrawal_ttl_seconds,
        )
        return await self._withdrawals.start(w, sign=True)

    async def sweep_all(self) -> int:
        """Every tenant's sweeps (called on each block)."""
        done = 0
        for wallet in await self._repo.all_wallets():
            if wallet.temperature is WalletTemperature.HOT:
                try:
                    done += (await self.sweep(wallet.tenant_id, wallet.asset, "system")) is not None
                except (NotFoundError, ConflictError):
                    continue  # no cold wallet yet, or raced: the next block tries again
        return done

    async def request_refill(self, principal: Principal, asset: str, amount: Decimal) -> Withdrawal:
        """Cold -> hot: needs the treasury quorum of approvers, then the cold signature."""
        if principal.role is not Role.TENANT_ADMIN or principal.tenant_id is None:
            raise ForbiddenError("refills are requested by tenant admins")
        asset = asset.strip().upper()
        minor = to_minor(amount, self._custody.decimals(asset), "amount")
        hot = await self._custody.wallet(principal.tenant_id, asset, WalletTemperature.HOT)
        await self._custody.wallet(principal.tenant_id, asset, WalletTemperature.COLD)
        setup = await self._custody.setup(principal.tenant_id)
        w = self._treasury(
            principal.tenant_id,
            WithdrawalKind.REFILL,
            asset,
            minor,
            hot.address,
            principal.key_id,
            setup.withdrawal_ttl_seconds,
        )
        quorum = self._gov.treasury_requirement(setup.treasury_quorum)
        w = replace(w, requirement=quorum.as_doc())
        return await self._withdrawals.start(w, sign=False)
