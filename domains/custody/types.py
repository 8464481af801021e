"""GraphQL surface of the custody domain: Wallet and Tenant.wallets."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.dataloader import DataLoader

from domains.custody.model import Wallet as WalletModel
from domains.custody.model import WalletTemperature
from domains.custody.service import CustodyService
from domains.shared.context import RequestContext, SharedDataLoader
from domains.shared.graphql import described_enum

Info = strawberry.Info[RequestContext, None]

described_enum(
    WalletTemperature,
    "Where a wallet's keys live.",
    HOT="Keys on the platform's servers, encrypted at rest; limited balance for withdrawals.",
    COLD="Keys offline; funds move only through offline signing.",
)


def wallets_loader(ctx: RequestContext) -> DataLoader[str, list[WalletModel]]:
    """Wallets by tenant id, one query per batch."""
    service, scope = ctx.get(CustodyService), ctx.scope()

    async def load(keys: list[str]) -> list[list[WalletModel]]:
        grouped = await service.wallets_by_tenant(scope, keys)
        return [grouped[key] for key in keys]

    return ctx.loader("custody.wallets", lambda: SharedDataLoader(load_fn=load))


@strawberry.type(description="A tenant's wallet for one asset.")
class Wallet:
    id: strawberry.ID = strawberry.field(description="Wallet id, e.g. `wal_01J...`.")
    asset: str = strawberry.field(description="Asset held, e.g. `BTC`.")
    temperature: WalletTemperature = strawberry.field(description="Hot or cold.")
    label: str = strawberry.field(description="Name of the wallet.")
    created_at: dt.datetime | None = strawberry.field(description="When it was opened.")

    @classmethod
    def from_model(cls, wallet: WalletModel) -> Wallet:
        return cls(
            id=strawberry.ID(wallet.id),
            asset=wallet.asset,
            temperature=wallet.temperature,
            label=wallet.label,
            created_at=wallet.created_at,
        )


@strawberry.type(description="Fields the custody subgraph contributes to Tenant.")
class TenantWallets:
    id: strawberry.ID = strawberry.field(description="Tenant id.")

    @strawberry.field(description="The tenant's wallets, by asset then temperature.")
    async def wallets(self, info: Info) -> list[Wallet]:
        rows = await wallets_loader(info.context).load(str(self.id))
        return [Wallet.from_model(w) for w in rows]
