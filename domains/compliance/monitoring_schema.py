"""Root fields and types for AML rules and surveillance parameters (per tenant)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from types import MappingProxyType
from typing import Annotated

import strawberry

from domains.compliance.aml import AmlRules as AmlRulesModel
from domains.compliance.audit import remember_before
from domains.compliance.monitor import MonitoringSettings
from domains.compliance.surveillance import SurveillanceParams
from domains.compliance.types import AssetAmount, AssetAmountInput, Info
from domains.shared.context import Role
from domains.shared.errors import ValidationError
from domains.shared.scalars import utcnow

MAX_WINDOW_S = 31 * 86_400


def _window(seconds: int, field: str) -> dt.timedelta:
    if not 1 <= seconds <= MAX_WINDOW_S:
        raise ValidationError(f"{field} must be 1 s to 31 days", field=field)
    return dt.timedelta(seconds=seconds)


def _positive(value: int, field: str, top: int = 1_000_000) -> int:
    if not 1 <= value <= top:
        raise ValidationError(f"{field} must be 1 to {top}", field=field)
    return value


@strawberry.type(description="The AML monitoring rules of your institution.")
class AmlRules:
    large_amount: list[AssetAmount] = strawberry.field(
        description="Large-transaction threshold per asset (also the structuring ceiling)."
    )
    structuring_count: int = strawberry.field(description="Movements just under it that alert.")
    structuring_window_seconds: int = strawberry.field(description="Structuring window.")
    structuring_floor_percent: int = strawberry.field(
        description="'Just under' starts at this percentage of the threshold."
    )
    rapid_window_seconds: int = strawberry.field(description="Deposit-then-withdrawal window.")
    rapid_min_percent: int = strawberry.field(
        description="A withdrawal of at least this percentage of the deposit alerts."
    )
    velocity_max_count: int = strawberry.field(description="Movements allowed in the window.")
    velocity_window_seconds: int = strawberry.field(description="Velocity window.")
    watch_addresses: list[str] = strawberry.field(description="Counterparty addresses to flag.")
    updated_at: dt.datetime | None = strawberry.field(description="Null: platform defaults.")

    @classmethod
    def from_model(cls, r: AmlRulesModel) -> AmlRules:
        limits = sorted(r.large_amount.items())
        return cls(
            large_amount=[AssetAmount(asset=a, amount=v) for a, v in limits],
            structuring_count=r.structuring_count,
            structuring_window_seconds=int(r.structuring_window.total_seconds()),
            structuring_floor_percent=r.structuring_floor_pct,
            rapid_window_seconds=int(r.rapid_window.total_seconds()),
            rapid_min_percent=r.rapid_min_pct, velocity_max_count=r.velocity_max_count,
            velocity_window_seconds=int(r.velocity_window.total_seconds()),
            watch_addresses=sorted(r.watch_addresses), updated_at=r.updated_at,
        )  # fmt: skip


@strawberry.input(description="AML monitoring rules for your institution (all fields apply).")
class AmlRulesInput:
    large_amount: list[AssetAmountInput] = strawberry.field(description="Threshold per asset.")
    structuring_count: int = strawberry.field(description="Movements just under that alert.")
    structuring_window_seconds: int = strawberry.field(description="Structuring window.")
    structuring_floor_percent: int = strawberry.field(description="1 to 99.")
    rapid_window_seconds: int = strawberry.field(description="Deposit-then-withdrawal window.")
    rapid_min_percent: int = strawberry.field(description="1 to 100.")
    velocity_max_count: int = strawberry.field(description="Movements allowed in the window.")
    velocity_window_seconds: int = strawberry.field(description="Velocity window.")
    watch_addresses: list[str] = strawberry.field(description="Counterparty addresses to flag.")

    def to_model(self, tenant_id: str, actor: str) -> AmlRulesModel:
        if any(a.amount <= 0 for a in self.large_amount):
            raise ValidationError("thresholds must be positive", field="largeAmount")
        if len(self.watch_addresses) > 10_000:
            raise ValidationError("at most 10,000 watched addresses", field="watchAddresses")
        return AmlRulesModel(
            tenant_id=tenant_id,
            large_amount=MappingProxyType({a.asset.upper(): a.amount for a in self.large_amount}),
            structuring_count=_positive(self.structuring_count, "structuringCount", 1000),
            structuring_window=_window(self.structuring_window_seconds, "structuringWindowSeconds"),
            structuring_floor_pct=_positive(
                self.structuring_floor_percent, "structuringFloorPercent", 99
            ),
            rapid_window=_window(self.rapid_window_seconds, "rapidWindowSeconds"),
            rapid_min_pct=_positive(self.rapid_min_percent, "rapidMinPercent", 100),
            velocity_max_count=_positive(self.velocity_max_count, "velocityMaxCount"),
            velocity_window=_window(self.velocity_window_seconds, "velocityWindowSeconds"),
            watch_addresses=frozenset(a.strip() for a in self.watch_addresses if a.strip()),
            updated_by=actor, updated_at=utcnow(),
        )  # fmt: skip


@strawberry.type(description="Trade surveillance parameters of one market for your institution.")
class SurveillanceParameters:
    market: str = strawberry.field(description="Market symbol.")
    wash_trading: bool = strawberry.field(description="Alert on same-owner trades.")
    circular_window_seconds: int = strawberry.field(description="Back-and-forth trade window.")
    circular_quantity_tolerance_percent: int = strawberry.field(description="Quantity tolerance.")
    spoof_min_notional: Decimal = strawberry.field(
        description="Orders at least this large (quote asset) are spoofing candidates."
    )
    spoof_near_touch_bps: int = strawberry.field(description="'Near the touch': within these bps.")
    spoof_max_lifetime_seconds: int = strawberry.field(description="Cancelled within this time.")
    spoof_min_cancels: int = strawberry.field(description="Cancels on one side that alert.")
    spoof_window_seconds: int = strawberry.field(description="Window the cancels fall in.")
    spoof_require_opposite_fill: bool = strawberry.field(
        description="Alert only with an execution on the other side in the window (layering)."
    )

    @classmethod
    def from_model(cls, p: SurveillanceParams) -> SurveillanceParameters:
        return cls(
            market=p.market_id, wash_trading=p.wash_trading,
            circular_window_seconds=int(p.circular_window.total_seconds()),
            circular_quantity_tolerance_percent=p.circular_qty_tolerance_pct,
            spoof_min_notional=p.spoof_min_notional, spoof_near_touch_bps=p.spoof_near_touch_bps,
            spoof_max_lifetime_seconds=int(p.spoof_max_lifetime.total_seconds()),
            spoof_min_cancels=p.spoof_min_cancels,
            spoof_window_seconds=int(p.spoof_window.total_seconds()),
            spoof_require_opposite_fill=p.spoof_require_opposite_fill,
        )  # fmt: skip


@strawberry.input(description="Trade surveillance parameters of one market (all fields apply).")
class SurveillanceParametersInput:
    market: str = strawberry.field(description="Market symbol, e.g. BTC-USDT.")
    wash_trading: bool = strawberry.field(description="Alert on same-owner trades.")
    circular_window_seconds: int = strawberry.field(description="Back-and-forth trade window.")
    circular_quantity_tolerance_percent: int = strawberry.field(description="0 to 100.")
    spoof_min_notional: Decimal = strawberry.field(description="Quote-asset size of candidates.")
    spoof_near_touch_bps: int = strawberry.field(description="1 to 10000.")
    spoof_max_lifetime_seconds: int = strawberry.field(description="Cancelled within this time.")
    spoof_min_cancels: int = strawberry.field(description="Cancels on one side that alert.")
    spoof_window_seconds: int = strawberry.field(description="Window the cancels fall in.")
    spoof_require_opposite_fill: bool = strawberry.field(description="Require the other side.")

    def to_model(self, tenant_id: str, actor: str) -> SurveillanceParams:
        if self.spoof_min_notional < 0 or not 0 <= self.circular_quantity_tolerance_percent <= 100:
            raise ValidationError("spoofMinNotional and the tolerance must not be negative")
        return SurveillanceParams(
            tenant_id=tenant_id, market_id=self.market.strip().upper()[:40],
            wash_trading=self.wash_trading,
            circular_window=_window(self.circular_window_seconds, "circularWindowSeconds"),
            circular_qty_tolerance_pct=self.circular_quantity_tolerance_percent,
            spoof_min_notional=self.spoof_min_notional,
            spoof_near_touch_bps=_positive(self.spoof_near_touch_bps, "spoofNearTouchBps", 10_000),
            spoof_max_lifetime=_window(self.spoof_max_lifetime_seconds, "spoofMaxLifetimeSeconds"),
            spoof_min_cancels=_positive(self.spoof_min_cancels, "spoofMinCancels", 1000),
            spoof_window=_window(self.spoof_window_seconds, "spoofWindowSeconds"),
            spoof_require_opposite_fill=self.spoof_require_opposite_fill,
            updated_by=actor, updated_at=utcnow(),
        )  # fmt: skip


@strawberry.type(description="Compliance queries: monitoring configuration.")
class MonitoringQuery:
    @strawberry.field(description="Your institution's AML monitoring rules.")
    async def aml_rules(self, info: Info) -> AmlRules | None:
        tenant = info.context.scope().tenant_id
        if tenant is None:
            return None
        return AmlRules.from_model(await info.context.get(MonitoringSettings).rules(tenant))

    @strawberry.field(description="Your institution's surveillance parameters for a market.")
    async def surveillance_parameters(
        self,
        info: Info,
        market: Annotated[str, strawberry.argument(description="Market symbol.")],
    ) -> SurveillanceParameters | None:
        tenant = info.context.scope().tenant_id
        if tenant is None:
            return None
        params = await info.context.get(MonitoringSettings).params(tenant, market.upper())
        return SurveillanceParameters.from_model(params)


@strawberry.type(description="Compliance mutations: monitoring configuration.")
class MonitoringMutation:
    @strawberry.mutation(description="Set your institution's AML monitoring rules (compliance).")
    async def set_aml_rules(
        self,
        info: Info,
        input: Annotated[AmlRulesInput, strawberry.argument(description="The rules.")],
    ) -> AmlRules:
        principal = info.context.require(Role.COMPLIANCE)
        tenant, settings = (
            info.context.scope().tenant_id or "",
            info.context.get(MonitoringSettings),
        )
        before = dataclasses.asdict(AmlRules.from_model(await settings.rules(tenant)))
        remember_before(info.context.transport, str(info.path.key), before)
        rules = input.to_model(tenant, principal.key_id)
        return AmlRules.from_model(await settings.save_rules(rules))

    @strawberry.mutation(description="Set surveillance parameters for one market (compliance).")
    async def set_surveillance_parameters(
        self,
        info: Info,
        input: Annotated[
            SurveillanceParametersInput, strawberry.argument(description="The parameters.")
        ],
    ) -> SurveillanceParameters:
        principal = info.context.require(Role.COMPLIANCE)
        params = input.to_model(info.context.scope().tenant_id or "", principal.key_id)
        saved = await info.context.get(MonitoringSettings).save_params(params)
        return SurveillanceParameters.from_model(dataclasses.replace(saved))
