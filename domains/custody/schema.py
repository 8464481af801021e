"""Custody subgraph root fields."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domains.custody.model import WalletTemperature
from domains.custody.service import CustodyService
from domains.custody.types import Info, Wallet, wallets_loader
from domains.shared.context import Role


@strawberry.type(description="Custody queries.")
class CustodyQuery:
    @strawberry.field(description="Wallets of the caller's tenant.")
    async def wallets(self, info: Info) -> list[Wallet]:
        principal = info.context.require(Role.TENANT_ADMIN, Role.RISK, Role.COMPLIANCE)
        rows = await wallets_loader(info.context).load(str(principal.tenant_id))
        return [Wallet.from_model(w) for w in rows]


@strawberry.type(description="Custody mutations.")
class CustodyMutation:
    @strawberry.mutation(description="Open the tenant's HOT or COLD wallet for an asset.")
    async def open_wallet(
        self,
        info: Info,
        asset: Annotated[str, strawberry.argument(description="Asset code, e.g. `BTC`.")],
        temperature: Annotated[WalletTemperature, strawberry.argument(description="Hot or cold.")],
        label: Annotated[str, strawberry.argument(description="Name; a default is made.")] = "",
    ) -> Wallet:
        info.context.require(Role.TENANT_ADMIN)
        wallet = await info.context.get(CustodyService).open_wallet(
            info.context.scope(), asset, temperature, label
        )
        return Wallet.from_model(wallet)
