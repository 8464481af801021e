"""Tenant trading modes with fake storage: who may set which mode, reasons, what is stored,
enforced and published (domains/accounts/trading_mode.py)."""

from __future__ import annotations

from collections.abc import AsyncIterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from typing import Any

import pytest

from domains.accounts.model import Brand, Tenant, TradingMode, TradingModeState
from domains.accounts.trading_mode import (
    TradingModeService,
    WindDownReport,
    decode_status,
)
from domains.shared.context import Principal, Role, TenantScope
from domains.shared.errors import ForbiddenError, NotFoundError, ValidationError


class FakeStore:
    def __init__(self) -> None:
        self.tenants = {"ten_a": Tenant("ten_a", "A", "CH", Brand("A")),
                        "ten_b": Tenant("ten_b", "B", "CH", Brand("B"))}  # fmt: skip

    async def tenants_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Tenant]:
        return [self.tenants[i] for i in ids if i in self.tenants]

    async def set_trading_mode(self, tenant_id: str, state: TradingModeState) -> None:
        self.tenants[tenant_id] = replace(self.tenants[tenant_id], trading=state)


class FakeEnforcer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, TradingMode, dict[str, str]]] = []

    async def enforce(
        self, tenant_id: str, mode: TradingMode, note: Mapping[str, str]
    ) -> WindDownReport:
        self.calls.append((tenant_id, mode, dict(note)))
        return WindDownReport(accounts=3, canceled_orders=2, first_sequence=7, last_sequence=9)


class FakeBus:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes) -> None:
        self.published.append((topic, payload))

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[AsyncIterable[bytes]]:
        raise NotImplementedError


def principal(role: Role, tenant: str | None = "ten_a") -> Principal:
    return Principal(f"key_{role.value.lower()}", role, tenant)


@pytest.fixture
def world() -> tuple[TradingModeService, FakeStore, FakeEnforcer, FakeBus]:
    store, enforcer, bus = FakeStore(), FakeEnforcer(), FakeBus()
    return TradingModeService(store, bus, enforcer), store, enforcer, bus


async def test_risk_restricts_its_own_tenant_and_the_change_is_enforced_and_published(
    world: tuple[TradingModeService, FakeStore, FakeEnforcer, FakeBus],
) -> None:
    service, store, enforcer, bus = world
    change = await service.set_mode(principal(Role.RISK), None, TradingMode.HALTED, " breach ")
    assert change.previous.mode is TradingMode.NORMAL
    assert change.tenant.trading.mode is TradingMode.HALTED
    assert store.tenants["ten_a"].trading.reason == "breach"
    assert store.tenants["ten_a"].trading.changed_by == "key_risk"
    note = {"by": "key_risk", "trading_mode": "HALTED", "tenant": "ten_a"}
    assert enforcer.calls == [("ten_a", TradingMode.HALTED, note)]
    topic, payload = bus.published[0]
    event = decode_status(payload)
    assert topic == "tenant-status.ten_a"
    report = WindDownReport(accounts=3, canceled_orders=2, first_sequence=7, last_sequence=9)
    assert (event.tenant_id, event.state.mode) == ("ten_a", TradingMode.HALTED)
    assert event.report == report


@pytest.mark.parametrize(
    ("role", "tenant", "mode", "allowed"),
    [
        (Role.RISK, None, TradingMode.WOUND_DOWN, True),
        (Role.RISK, None, TradingMode.NORMAL, False),
        (Role.RISK, "ten_b", TradingMode.HALTED, False),
        (Role.TENANT_ADMIN, None, TradingMode.NORMAL, True),
        (Role.TENANT_ADMIN, "ten_b", TradingMode.NORMAL, False),
        (Role.COMPLIANCE, None, TradingMode.HALTED, False),
        (Role.TRADER, None, TradingMode.HALTED, False),
    ],
)
async def test_who_may_set_which_mode(
    world: tuple[TradingModeService, FakeStore, FakeEnforcer, FakeBus],
    role: Role, tenant: str | None, mode: TradingMode, allowed: bool,
) -> None:  # fmt: skip
    service, store, enforcer, _ = world
    if allowed:
        await service.set_mode(principal(role), tenant, mode, "why")
        assert store.tenants["ten_a"].trading.mode is mode
    else:
        with pytest.raises(ForbiddenError):
            await service.set_mode(principal(role), tenant, mode, "why")
        assert enforcer.calls == []


async def test_operators_name_an_existing_tenant_and_reasons_are_checked(
    world: tuple[TradingModeService, FakeStore, FakeEnforcer, FakeBus],
) -> None:
    service, store, enforcer, _ = world
    operator = principal(Role.OPERATOR, None)
    with pytest.raises(ValidationError):
        await service.set_mode(operator, None, TradingMode.HALTED, "why")
    with pytest.raises(NotFoundError):
        await service.set_mode(operator, "ten_zz", TradingMode.HALTED, "why")
    for reason in ("", "  ", "x" * 501, "tab\tin"):
        with pytest.raises(ValidationError):
            await service.set_mode(operator, "ten_b", TradingMode.HALTED, reason)
    assert enforcer.calls == [] and store.tenants["ten_b"].trading == TradingModeState()
    await service.set_mode(operator, "ten_b", TradingMode.NORMAL, "restore")
    assert store.tenants["ten_b"].trading.mode is TradingMode.NORMAL


async def test_setting_the_same_mode_again_keeps_since_and_enforces_again(
    world: tuple[TradingModeService, FakeStore, FakeEnforcer, FakeBus],
) -> None:
    service, _, enforcer, _ = world
    first = await service.set_mode(principal(Role.RISK), None, TradingMode.CANCEL_ONLY, "one")
    again = await service.set_mode(principal(Role.RISK), None, TradingMode.CANCEL_ONLY, "two")
    assert again.tenant.trading.since == first.tenant.trading.since
    assert again.tenant.trading.reason == "two" and len(enforcer.calls) == 2
    assert await service.withdrawals_allowed("ten_a")
    await service.set_mode(principal(Role.RISK), None, TradingMode.HALTED, "three")
    assert not await service.withdrawals_allowed("ten_a")
    assert await service.withdrawals_allowed("ten_unknown")


async def test_a_change_that_raced_another_ends_with_the_engine_in_the_stored_mode(
    world: tuple[TradingModeService, FakeStore, FakeEnforcer, FakeBus],
) -> None:
    service, store, enforcer, _ = world
    real = enforcer.enforce

    async def slow_enforce(tenant_id: str, mode: TradingMode, note: Mapping[str, str]) -> Any:
        if not enforcer.calls:  # meanwhile an admin stored (and enforced) NORMAL
            await store.set_trading_mode(tenant_id, TradingModeState(TradingMode.NORMAL))
        return await real(tenant_id, mode, note)

    enforcer.enforce = slow_enforce  # type: ignore[method-assign]
    await service.set_mode(principal(Role.RISK), None, TradingMode.HALTED, "halt")
    assert [mode for _, mode, _ in enforcer.calls] == [TradingMode.HALTED, TradingMode.NORMAL]
    assert store.tenants["ten_a"].trading.mode is TradingMode.NORMAL
