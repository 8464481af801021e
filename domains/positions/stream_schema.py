"""Risk subscriptions: positions, liquidations and riskSummary, pushed on every position
change and every mark price change, conflated for slow consumers, tenant-isolated."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Annotated, Any

import strawberry

from domains.positions.model import LiquidationEvent
from domains.positions.model import Position as PositionModel
from domains.positions.repository import liquidation_from_document, position_from_document
from domains.positions.schema import RISK_VIEWERS, visible_account
from domains.positions.service import PositionsService
from domains.positions.streams import Changes, PositionStreams
from domains.positions.types import Info, Liquidation, Position, RiskSummary
from domains.shared.context import Role, TenantScope
from domains.shared.errors import ValidationError

MAX_PUSH = 1000  # positions pushed per wake-up at most (a dashboard re-reads beyond that)


@strawberry.type(description="A position after a change or a mark price move.")
class PositionUpdate:
    position: Position = strawberry.field(description="The position now (FLAT once closed).")


def _tenant(info: Info) -> str:
    principal = info.context.require()
    if principal.tenant_id is None:
        raise ValidationError("risk streams are per tenant; use a tenant's key")
    return principal.tenant_id


async def _views(
    service: PositionsService, scope: TenantScope, account: str | None, changes: Changes | None
) -> list[Position]:
    """The positions to push: the initial state, or what the changes concern."""
    if changes is None or changes.everything:
        markets = None
    else:
        changed = {d["market_id"] for d in changes.positions}
        markets = sorted(changes.markets | changes.funded | changed)
    views = []
    if markets is None or markets:
        for view in await service.open_positions(scope, markets):
            if account is None or view.position.account_id == account:
                views.append(view)
    if changes is not None:  # positions closed in this change are pushed FLAT once
        open_ids = {v.position.id for v in views}
        closed = [_position(d) for d in changes.positions
                  if Decimal(d["quantity"]) == 0 and d["_id"] not in open_ids]  # fmt: skip
        closed = [p for p in closed if (account is None or p.account_id == account) and
                  scope.customer_id in (None, p.customer_id)]  # fmt: skip
        views.extend((await service.valued(scope, closed))[0] if closed else [])
    return [Position.from_view(v) for v in views[:MAX_PUSH]]


@strawberry.type(description="Positions subscriptions (risk streams).")
class PositionsSubscription:
    @strawberry.subscription(
        description=(
            "Positions at the mark: first every open position, then each position again on "
            "every change of it and every mark price change of its market (conflated: a slow "
            "consumer gets the latest state, not a backlog). `account: null` streams every "
            "account of the caller's tenant and needs the RISK role."
        )
    )
    async def positions(
        self,
        info: Info,
        account: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="One account; null = the whole tenant (RISK)."),
        ] = None,
    ) -> AsyncGenerator[PositionUpdate, None]:
        tenant = _tenant(info)
        if account is None:
            info.context.require(Role.RISK)
        else:
            await visible_account(info, str(account))
        scope, service = info.context.scope(), info.context.get(PositionsService)
        wanted = str(account) if account is not None else None
        async with info.context.get(PositionStreams).changes(tenant) as feed:
            for position in await _views(service, scope, wanted, None):
                yield PositionUpdate(position=position)
            while True:
                changes = await feed.next()
                for position in await _views(service, scope, wanted, changes):
                    yield PositionUpdate(position=position)

    @strawberry.subscription(
        description=(
            "Liquidation steps as they happen: a trader's own accounts, or every account of "
            "the tenant for staff; optionally of one perpetual."
        )
    )
    async def liquidations(
        self,
        info: Info,
        market: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this perpetual.")
        ] = None,
    ) -> AsyncGenerator[Liquidation, None]:
        tenant = _tenant(info)
        scope = info.context.scope()
        async with info.context.get(PositionStreams).changes(tenant, marks=False) as feed:
            while True:
                changes = await feed.next()
                for doc in changes.liquidations:
                    event = _liquidation(doc)
                    if market is not None and event.market_id != str(market):
                        continue
                    if scope.customer_id not in (None, event.customer_id):
                        continue
                    yield Liquidation.from_model(event)

    @strawberry.subscription(
        description=(
            "The tenant's riskSummary (RISK and TENANT_ADMIN): first the current one, then a "
            "fresh one after every position change and mark price change (conflated)."
        )
    )
    async def risk_summary(self, info: Info) -> AsyncGenerator[RiskSummary, None]:
        tenant = _tenant(info)
        info.context.require(*RISK_VIEWERS)
        scope, service = info.context.scope(), info.context.get(PositionsService)
        async with info.context.get(PositionStreams).changes(tenant) as feed:
            yield RiskSummary.from_model(await service.shared_risk_summary(scope))
            while True:
                await feed.next()
                yield RiskSummary.from_model(await service.shared_risk_summary(scope))


def _position(doc: dict[str, Any]) -> PositionModel:
    at = doc.get("updated_at")
    return position_from_document(
        {**doc, "updated_at": dt.datetime.fromisoformat(at) if isinstance(at, str) else at}
    )


def _liquidation(doc: dict[str, Any]) -> LiquidationEvent:
    at = doc["at"]
    fixed = {**doc, "at": dt.datetime.fromisoformat(at) if isinstance(at, str) else at}
    return liquidation_from_document(fixed)
