"""Tenant trading modes (wind-down): who may set which mode, what each mode allows, and the
use case that stores a change, has the engine enforce it and publishes it on ``tenantStatus``.

Knows nothing of GraphQL. The engine side is the TradingModeEnforcer port (the orders domain
adapts it: per-account engine modes, cancels and closes at the mark, all journaled).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from typing import Protocol

import orjson

from domains.accounts.errors import TenantNotFoundError
from domains.accounts.model import Tenant, TradingMode, TradingModeState
from domains.shared.context import Principal, Role, TenantScope
from domains.shared.errors import ForbiddenError, ValidationError
from domains.shared.events import EventBus, tenant_topic
from domains.shared.scalars import utcnow

TENANT_STATUS_STREAM = "tenant-status"
MAX_CONVERGE = 3  # re-reads of the stored mode after enforcing (concurrent changes)
log = logging.getLogger("caas.trading_mode")
MAX_REASON_CHARS = 500
ORDERS_ALLOWED = frozenset({TradingMode.NORMAL, TradingMode.REDUCE_ONLY})
CANCELS_OPEN_ORDERS = frozenset({TradingMode.WITHDRAW_ONLY, TradingMode.WOUND_DOWN})


def allows_new_orders(mode: TradingMode) -> bool:
    """New orders and amends: NORMAL, and REDUCE_ONLY within its rule (the engine checks)."""
    return mode in ORDERS_ALLOWED


def allows_customer_cancels(mode: TradingMode) -> bool:
    """A HALTED tenant's book is frozen for its customers; every other mode lets them cancel."""
    return mode is not TradingMode.HALTED


def allows_withdrawals(mode: TradingMode) -> bool:
    """Withdrawals run under the custody policy in every mode but HALTED."""
    return mode is not TradingMode.HALTED


def cancels_open_orders(mode: TradingMode) -> bool:
    """WITHDRAW_ONLY and WOUND_DOWN cancel every open order of the tenant."""
    return mode in CANCELS_OPEN_ORDERS


def closes_positions(mode: TradingMode) -> bool:
    """WOUND_DOWN closes every perpetual position at the mark."""
    return mode is TradingMode.WOUND_DOWN


def target_tenant(actor: Principal, tenant_id: str | None, mode: TradingMode) -> str:
    """The tenant ``actor`` may move to ``mode``: RISK its own to any mode but NORMAL,
    TENANT_ADMIN its own to any mode, OPERATOR any tenant it names; FORBIDDEN otherwise."""
    if actor.role is Role.OPERATOR:
        if tenant_id is None:
            raise ValidationError("operators name the tenant", field="tenant")
        return tenant_id
    if actor.role not in (Role.RISK, Role.TENANT_ADMIN) or actor.tenant_id is None:
        raise ForbiddenError("a tenant's trading mode is set by RISK, TENANT_ADMIN or OPERATOR")
    if tenant_id not in (None, actor.tenant_id):
        raise ForbiddenError("staff set the trading mode of their own tenant only")
    if actor.role is Role.RISK and mode is TradingMode.NORMAL:
        raise ForbiddenError("only TENANT_ADMIN or OPERATOR restores NORMAL trading")
    return actor.tenant_id


def check_reason(reason: str) -> str:
    """A trimmed reason of 1 to MAX_REASON_CHARS printable characters (VALIDATION if not)."""
    text = reason.strip()
    if not text or len(text) > MAX_REASON_CHARS or not text.isprintable():
        raise ValidationError(
            f"reason must be 1 to {MAX_REASON_CHARS} printable characters", field="reason"
        )
    return text


@dataclass(frozen=True)
class WindDownReport:
    """What the engine did for a mode change: accounts set, orders cancelled, positions
    closed at the mark (and those it refused to close), the journal sequences of it all."""

    accounts: int = 0
    canceled_orders: int = 0
    closed_positions: int = 0
    positions_not_closed: int = 0
    first_sequence: int | None = None
    last_sequence: int | None = None


class TradingModeEnforcer(Protocol):
    """Applies a tenant's mode in the engine (journaled); the orders domain adapts it."""

    async def enforce(
        self, tenant_id: str, mode: TradingMode, note: Mapping[str, str]
    ) -> WindDownReport: ...


class TradingModeStore(Protocol):
    """Reads tenants and stores their mode (MongoAccountsRepository satisfies it)."""

    async def tenants_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Tenant]: ...
    async def set_trading_mode(self, tenant_id: str, state: TradingModeState) -> None: ...


@dataclass(frozen=True)
class TradingModeChange:
    """A stored mode change: the tenant after it, the mode before, what the engine did."""

    tenant: Tenant
    previous: TradingModeState
    report: WindDownReport


def status_payload(tenant: Tenant, report: WindDownReport | None = None) -> bytes:
    """A ``tenant-status.<tenant>`` message (decoded by ``decode_status``)."""
    state = tenant.trading
    return orjson.dumps({
        "tenant_id": tenant.id, "mode": state.mode.value, "reason": state.reason,
        "since": state.since.isoformat() if state.since else None,
        "changed_by": state.changed_by, "report": vars(report) if report else None,
    })  # fmt: skip


@dataclass(frozen=True)
class TenantStatusEvent:
    """A tenant's trading mode as pushed on ``tenantStatus``."""

    tenant_id: str
    state: TradingModeState
    report: WindDownReport | None


def decode_status(payload: bytes) -> TenantStatusEvent:
    doc = orjson.loads(payload)
    since = dt.datetime.fromisoformat(doc["since"]) if doc.get("since") else None
    state = TradingModeState(TradingMode(doc["mode"]), doc.get("reason"), since,
                             doc.get("changed_by"))  # fmt: skip
    report = WindDownReport(**doc["report"]) if doc.get("report") else None
    return TenantStatusEvent(doc["tenant_id"], state, report)


class TradingModeService:
    """Sets, stores, enforces and publishes tenants' trading modes."""

    def __init__(
        self,
        store: TradingModeStore,
        events: EventBus | None = None,
        enforcer: TradingModeEnforcer | None = None,
    ) -> None:
        self._store = store
        self._events = events
        self.enforcer = enforcer  # wired by the composition root (the orders domain)

    async def tenant(self, tenant_id: str) -> Tenant:
        found = await self._store.tenants_by_ids(TenantScope(None), [tenant_id])
        if not found:
            raise TenantNotFoundError("no such tenant", id=tenant_id)
        return found[0]

    async def current_mode(self, tenant_id: str) -> TradingMode | None:
        """The tenant's mode as stored (None for an unknown tenant, e.g. platform accounts)."""
        found = await self._store.tenants_by_ids(TenantScope(None), [tenant_id])
        return found[0].trading.mode if found else None

    async def withdrawals_allowed(self, tenant_id: str) -> bool:
        """Custody's check: every mode but HALTED lets withdrawals run under policy."""
        mode = await self.current_mode(tenant_id)
        return mode is None or allows_withdrawals(mode)

    async def set_mode(
        self, actor: Principal, tenant_id: str | None, mode: TradingMode, reason: str
    ) -> TradingModeChange:
        """Store the mode first (so an account opened meanwhile gets it), then have the
        engine enforce it on every account of the tenant, then publish it. Setting the mode
        a tenant has already enforces it again (a retry after UNAVAILABLE is safe)."""
        target = target_tenant(actor, tenant_id, mode)
        text = check_reason(reason)
        tenant = await self.tenant(target)
        previous = tenant.trading
        since = previous.since if previous.mode is mode and previous.since else utcnow()
        state = TradingModeState(mode, text, since, actor.key_id)
        await self._store.set_trading_mode(tenant.id, state)
        changed = replace(tenant, trading=state)
        report = WindDownReport()
        if self.enforcer is not None:
            note = {"by": actor.key_id, "trading_mode": mode.value, "tenant": tenant.id}
            report = await self.enforcer.enforce(tenant.id, mode, note)
            await self._converge(tenant.id, mode, note)
        if self._events is not None:
            topic = tenant_topic(TENANT_STATUS_STREAM, tenant.id)
            await self._events.publish(topic, status_payload(changed, report))
        return TradingModeChange(changed, previous, report)

    async def _converge(self, tenant_id: str, enforced: TradingMode, note: dict[str, str]) -> None:
        """Two changes at once (RISK halting while an admin restores NORMAL) may store in one
        order and reach the engine in the other: after enforcing, the stored mode is read
        again and, while it differs, enforced, so the engine ends in the stored mode."""
        assert self.enforcer is not None
        for _ in range(MAX_CONVERGE):
            stored = await self.current_mode(tenant_id)
            if stored is None or stored is enforced:
                return
            log.warning("a concurrent trading mode change: enforcing the stored one",
                        extra={"tenant": tenant_id, "mode": stored.value})  # fmt: skip
            await self.enforcer.enforce(tenant_id, stored, {**note, "trading_mode": stored.value})
            enforced = stored

    def subscribe(self, tenant_id: str) -> AbstractAsyncContextManager[AsyncIterable[bytes]]:
        """A tenant's mode changes (payloads decode with ``decode_status``)."""
        if self._events is None:
            raise RuntimeError("tenant status streams need an event bus")
        return self._events.subscribe(tenant_topic(TENANT_STATUS_STREAM, tenant_id))
