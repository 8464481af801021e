"""GraphQL surface of the positions domain: Position and Account.positions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.dataloader import DataLoader

from domains.positions.model import Position as PositionModel
from domains.positions.service import PositionsService
from domains.shared.context import RequestContext, SharedDataLoader

if TYPE_CHECKING:
    from domains.orders.types import Market

Info = strawberry.Info[RequestContext, None]


def positions_loader(ctx: RequestContext) -> DataLoader[str, list[PositionModel]]:
    """Open positions by account id, one query per batch."""
    service, scope = ctx.get(PositionsService), ctx.scope()

    async def load(keys: list[str]) -> list[list[PositionModel]]:
        grouped = await service.positions_by_account(scope, keys)
        return [grouped[key] for key in keys]

    return ctx.loader("positions.by_account", lambda: SharedDataLoader(load_fn=load))


@strawberry.type(description="An open position of one account on one market.")
class Position:
    market_id: strawberry.Private[str]
    quantity: Decimal = strawberry.field(
        description="Signed size in the base asset: positive long, negative short, e.g. `-0.5`."
    )
    entry_price: Decimal = strawberry.field(description="Average entry price in the quote asset.")
    realized_pnl: Decimal = strawberry.field(description="Realised profit and loss so far.")
    updated_at: dt.datetime | None = strawberry.field(description="Last change.")

    @classmethod
    def from_model(cls, position: PositionModel) -> Position:
        return cls(
            market_id=position.market_id,
            quantity=position.quantity,
            entry_price=position.entry_price,
            realized_pnl=position.realized_pnl,
            updated_at=position.updated_at,
        )

    @strawberry.field(description="The market of the position.")
    async def market(
        self, info: Info
    ) -> Annotated[Market, strawberry.lazy("domains.orders.types")] | None:
        from domains.orders.types import Market

        return await Market.resolve_reference(info, strawberry.ID(self.market_id))


@strawberry.type(description="Fields the positions subgraph contributes to Account.")
class AccountPositions:
    id: strawberry.ID = strawberry.field(description="Account id.")

    @strawberry.field(description="Open positions of this account, by market symbol.")
    async def positions(self, info: Info) -> list[Position]:
        rows = await positions_loader(info.context).load(str(self.id))
        return [Position.from_model(p) for p in rows]
