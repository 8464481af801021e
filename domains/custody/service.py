"""Custody use cases; knows nothing of GraphQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domains.custody.model import Wallet, WalletTemperature
from domains.shared.context import TenantScope
from domains.shared.errors import ConflictError, ValidationError
from domains.shared.ids import new_id
from domains.shared.scalars import utcnow


class CustodyRepository(Protocol):
    """What the service needs from storage."""

    async def insert_wallet(self, wallet: Wallet) -> None: ...
    async def wallets_of(self, scope: TenantScope, tenant_ids: Sequence[str]) -> list[Wallet]: ...


class CustodyService:
    """Wallets per tenant and asset."""

    def __init__(self, repository: CustodyRepository) -> None:
        self._repo = repository

    async def open_wallet(
        self, scope: TenantScope, asset: str, temperature: WalletTemperature, label: str
    ) -> Wallet:
        """Open the tenant's HOT or COLD wallet for an asset (one of each per asset)."""
        if scope.tenant_id is None:
            raise ValidationError("wallets belong to a tenant")
        asset = asset.strip().upper()
        if not asset.isalnum() or not 2 <= len(asset) <= 10:
            raise ValidationError("asset must be 2-10 letters or digits", field="asset")
        existing = await self._repo.wallets_of(scope, [scope.tenant_id])
        if any(w.asset == asset and w.temperature is temperature for w in existing):
            raise ConflictError(f"the tenant has a {temperature.value} {asset} wallet already")
        wallet = Wallet(
            id=new_id("wal"),
            tenant_id=scope.tenant_id,
            asset=asset,
            temperature=temperature,
            label=label.strip() or f"{asset} {temperature.value.lower()}",
            created_at=utcnow(),
        )
        await self._repo.insert_wallet(wallet)
        return wallet

    async def wallets_by_tenant(
        self, scope: TenantScope, tenant_ids: Sequence[str]
    ) -> dict[str, list[Wallet]]:
        grouped: dict[str, list[Wallet]] = {key: [] for key in tenant_ids}
        for wallet in await self._repo.wallets_of(scope, tenant_ids):
            grouped[wallet.tenant_id].append(wallet)
        return grouped
