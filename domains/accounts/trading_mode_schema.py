"""Wind-down root fields: the ``setTenantTradingMode`` mutation and the ``tenantStatus``
subscription (mixed into AccountsMutation / AccountsSubscription): parse -> service -> map."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncGenerator
from typing import Annotated

import strawberry

from domains.accounts import loaders
from domains.accounts.model import TradingMode
from domains.accounts.trading_mode import (
    TenantStatusEvent,
    TradingModeChange,
    TradingModeService,
    WindDownReport,
    decode_status,
)
from domains.accounts.types import Info, Tenant
from domains.compliance.audit import CLIENT_ADDRESS, AuditEntry, remember_before
from domains.compliance.audit_trail import AuditTrail
from domains.shared.context import Principal, Role
from domains.shared.errors import ForbiddenError, ValidationError
from domains.shared.scalars import utcnow
from domains.shared.streams import slow_consumer
from subscriptions.broker import OVERFLOW, RESYNC

TENANT = (
    "The tenant: required for OPERATOR keys; the tenant's own staff may omit it (any other "
    "tenant is FORBIDDEN)."
)


@strawberry.type(description="What a trading mode change did.")
class SetTenantTradingModePayload:
    tenant: Tenant = strawberry.field(description="The tenant, in its new mode.")
    previous_mode: TradingMode = strawberry.field(description="The mode before the change.")
    accounts: int = strawberry.field(description="Engine accounts of the tenant set to the mode.")
    canceled_orders: int = strawberry.field(
        description="Open orders cancelled (WITHDRAW_ONLY, WOUND_DOWN)."
    )
    closed_positions: int = strawberry.field(
        description="Perpetual positions closed at the mark against the insurance fund "
        "(WOUND_DOWN)."
    )
    positions_not_closed: int = strawberry.field(
        description="Perpetual positions the engine refused to close (no mark price yet, or "
        "the insurance fund cannot margin the part it would take over): fix that and set "
        "WOUND_DOWN again."
    )
    first_sequence: int | None = strawberry.field(
        description="Journal sequence of the first engine command of the change."
    )
    last_sequence: int | None = strawberry.field(
        description="Journal sequence of the last engine command of the change."
    )


@strawberry.type(description="A tenant's trading mode, pushed when it changes.")
class TenantStatusUpdate:
    tenant_id: strawberry.ID = strawberry.field(description="The tenant.")
    trading_mode: TradingMode = strawberry.field(description="Its trading mode now.")
    reason: str | None = strawberry.field(description="Why the mode was set.")
    since: dt.datetime | None = strawberry.field(description="Since when it is in this mode.")
    canceled_orders: int = strawberry.field(
        description="Orders the change cancelled (0 in the first message: the current state)."
    )
    closed_positions: int = strawberry.field(
        description="Positions the change closed at the mark (0 in the first message)."
    )

    @classmethod
    def from_event(cls, event: TenantStatusEvent) -> TenantStatusUpdate:
        report = event.report or WindDownReport()
        return cls(
            tenant_id=strawberry.ID(event.tenant_id), trading_mode=event.state.mode,
            reason=event.state.reason, since=event.state.since,
            canceled_orders=report.canceled_orders, closed_positions=report.closed_positions,
        )  # fmt: skip


@strawberry.type(description="Wind-down mutations.")
class TradingModeMutation:
    @strawberry.mutation(
        description=(
            "Move a tenant to a trading mode (wind-down), applied to every account of the "
            "tenant in the matching engine as journaled commands: REDUCE_ONLY, CANCEL_ONLY, "
            "HALTED, WITHDRAW_ONLY (open orders cancelled), WOUND_DOWN (open orders cancelled, "
            "perpetual positions closed at the mark) or back to NORMAL. RISK may move its own "
            "tenant to any mode but NORMAL; TENANT_ADMIN (own tenant) and OPERATOR (any) also "
            "restore NORMAL; anyone else is FORBIDDEN. Setting the current mode again enforces "
            "it again (safe to retry)."
        )
    )
    async def set_tenant_trading_mode(
        self,
        info: Info,
        mode: Annotated[TradingMode, strawberry.argument(description="The new mode.")],
        reason: Annotated[
            str,
            strawberry.argument(description="Why, 1 to 500 characters; kept with the mode."),
        ],
        tenant: Annotated[strawberry.ID | None, strawberry.argument(description=TENANT)] = None,
    ) -> SetTenantTradingModePayload:
        actor = info.context.require()
        target = str(tenant) if tenant is not None else None
        change = await info.context.get(TradingModeService).set_mode(actor, target, mode, reason)
        previous = change.previous
        remember_before(info.context.transport, str(info.path.key), {
            "tradingMode": previous.mode.value, "reason": previous.reason,
        })  # fmt: skip
        await _audit_in_tenant_chain(info, actor, change)
        loaders.tenants(info.context).prime(change.tenant.id, change.tenant, force=True)
        report = change.report
        return SetTenantTradingModePayload(
            tenant=Tenant.from_model(change.tenant), previous_mode=previous.mode,
            accounts=report.accounts, canceled_orders=report.canceled_orders,
            closed_positions=report.closed_positions,
            positions_not_closed=report.positions_not_closed,
            first_sequence=report.first_sequence,
            last_sequence=report.last_sequence,
        )  # fmt: skip


async def _audit_in_tenant_chain(info: Info, actor: Principal, change: TradingModeChange) -> None:
    """An operator's change is audited in the platform's chain like every mutation; it is
    recorded in the tenant's own chain too, so the institution's compliance sees it."""
    trail = info.context.services.get(AuditTrail)
    if actor.tenant_id == change.tenant.id or not isinstance(trail, AuditTrail):
        return
    state, previous = change.tenant.trading, change.previous
    await trail.append(AuditEntry(
        tenant_id=change.tenant.id, actor=actor.key_id, role=actor.role.value, at=utcnow(),
        source_ip=str(info.context.transport.get(CLIENT_ADDRESS, "unknown")),
        operation="tenant.tradingMode", outcome="OK", request_id=info.context.request_id,
        arguments={"mode": state.mode.value, "reason": state.reason},
        before={"tradingMode": previous.mode.value, "reason": previous.reason},
        after={"tradingMode": state.mode.value, "reason": state.reason,
               "since": state.since.isoformat() if state.since else None},
    ))  # fmt: skip


@strawberry.type(description="Wind-down subscriptions.")
class TenantStatusSubscription:
    @strawberry.subscription(
        description=(
            "A tenant's trading mode: the current one first, then every change. Any caller "
            "of the tenant; OPERATOR keys name the tenant."
        )
    )
    async def tenant_status(
        self,
        info: Info,
        tenant: Annotated[strawberry.ID | None, strawberry.argument(description=TENANT)] = None,
    ) -> AsyncGenerator[TenantStatusUpdate, None]:
        principal = info.context.require()
        wanted = str(tenant) if tenant is not None else None
        if principal.role is Role.OPERATOR:
            if wanted is None:
                raise ValidationError("operators name the tenant", field="tenant")
        elif wanted not in (None, principal.tenant_id) or principal.tenant_id is None:
            raise ForbiddenError("the status of another tenant is not visible")
        target = wanted or principal.tenant_id
        assert target is not None
        service = info.context.get(TradingModeService)
        async with service.subscribe(target) as changes:
            current = await service.tenant(target)
            yield TenantStatusUpdate.from_event(
                TenantStatusEvent(current.id, current.trading, None)
            )
            async for payload in changes:
                if payload == RESYNC:  # changes may have been lost: send the state again
                    current = await service.tenant(target)
                    event = TenantStatusEvent(current.id, current.trading, None)
                    yield TenantStatusUpdate.from_event(event)
                    continue
                if payload == OVERFLOW:
                    raise slow_consumer("tenantStatus")
                yield TenantStatusUpdate.from_event(decode_status(payload))
