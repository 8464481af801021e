"""Positions use cases; knows nothing of GraphQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from domains.positions.model import Position
from domains.shared.context import TenantScope


class PositionsRepository(Protocol):
    """What the service needs from storage."""

    async def upsert(self, position: Position) -> None: ...
    async def for_accounts(
        self, scope: TenantScope, account_ids: Sequence[str]
    ) -> list[Position]: ...


class PositionsService:
    """Position read models per account."""

    def __init__(self, repository: PositionsRepository) -> None:
        self._repo = repository

    async def positions_by_account(
        self, scope: TenantScope, account_ids: Sequence[str]
    ) -> dict[str, list[Position]]:
        """Open positions (non-zero quantity) grouped by account id."""
        grouped: dict[str, list[Position]] = {key: [] for key in account_ids}
        for position in await self._repo.for_accounts(scope, account_ids):
            if position.quantity != 0:
                grouped[position.account_id].append(position)
        return grouped

    async def record(self, position: Position) -> None:
        """Store a position read model (the positions projector calls this)."""
        await self._repo.upsert(position)
