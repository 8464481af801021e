"""Positions subgraph root fields."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domains.positions.types import Info, Position, positions_loader


@strawberry.type(description="Positions queries.")
class PositionsQuery:
    @strawberry.field(description="Open positions of one account visible to the caller.")
    async def positions(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID, strawberry.argument(description="Account id.")],
    ) -> list[Position]:
        rows = await positions_loader(info.context).load(str(account_id))
        return [Position.from_model(p) for p in rows]
