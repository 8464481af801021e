"""The KYC gates other domains call: order entry, custody withdrawals, positions suitability.

Order entry asks ``check_order`` before every new order; custody asks ``check_withdrawal``
(and the sanctions screening, screening.py) for every withdrawal request; positions asks
``require_derivatives_suitability`` before opening a derivatives position. Profiles are
cached for a short time per process and dropped at once when this process changes one.

Downgraded customers (VERIFIED once, now EXPIRED or under re-review) keep what spot allows
of reduce-only and withdraw-only: they may cancel and amend down, SELL what they hold and
withdraw within their last level's limits; new BUY orders are refused with KYC_REQUIRED.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Protocol

from domains.compliance.errors import (
    KycRequiredError,
    SuitabilityRequiredError,
    WithdrawalLimitExceededError,
)
from domains.compliance.model import KycProfile, TradeGate, trade_gate
from domains.compliance.service import ComplianceService
from domains.shared.cache import SharedTtlCache
from domains.shared.context import TenantScope

PROFILE_TTL_S = 2.0


class WithdrawalUsage(Protocol):
    """How much a customer withdrew of an asset today (monitoring.py keeps it from events)."""

    async def withdrawn_today(self, tenant_id: str, customer_id: str, asset: str) -> Decimal: ...


class KycGate:
    """KYC checks with a short per-process cache of profiles."""

    def __init__(self, service: ComplianceService, usage: WithdrawalUsage | None = None) -> None:
        self._service = service
        self._usage = usage
        self._cache: SharedTtlCache[tuple[str, str], KycProfile] = SharedTtlCache(PROFILE_TTL_S)
        service.on_profile_change(self._forget)

    def _forget(self, profile: KycProfile) -> None:
        self._cache.forget((profile.tenant_id, profile.customer_id))

    async def profile(self, tenant_id: str, customer_id: str) -> KycProfile:
        async def load() -> KycProfile:
            return (await self._service.kyc_of(TenantScope(tenant_id), [customer_id]))[0]

        return await self._cache.get((tenant_id, customer_id), load)

    async def check_order(self, tenant_id: str, customer_id: str, product: str, side: str) -> None:
        """Raise KYC_REQUIRED unless the customer may place this order.

        ``extensions.reason``: NOT_VERIFIED, REDUCE_ONLY (downgraded; only SELL) or
        LEVEL_PRODUCT (the level does not include the product).
        """
        profile = await self.profile(tenant_id, customer_id)
        gate = trade_gate(profile)
        if gate is TradeGate.NONE:
            raise KycRequiredError(
                "the customer's KYC is not verified", reason="NOT_VERIFIED",
                status=profile.status.value,
            )  # fmt: skip
        if gate is TradeGate.REDUCE_ONLY and side != "SELL":
            raise KycRequiredError(
                "the customer's KYC lapsed: only orders that reduce holdings (SELL) are accepted",
                reason="REDUCE_ONLY", status=profile.status.value,
            )  # fmt: skip
        level = await self._service.level(tenant_id, profile.level)
        if product not in level.products and gate is TradeGate.FULL:
            raise KycRequiredError(
                f"KYC level {profile.level} does not include {product}",
                reason="LEVEL_PRODUCT", level=profile.level,
            )  # fmt: skip

    async def check_withdrawal(
        self, tenant_id: str, customer_id: str, asset: str, amount: Decimal
    ) -> None:
        """Raise KYC_REQUIRED for a never-verified customer, WITHDRAWAL_LIMIT_EXCEEDED when
        today's withdrawals of ``asset`` plus ``amount`` pass the level's daily limit."""
        profile = await self.profile(tenant_id, customer_id)
        if trade_gate(profile) is TradeGate.NONE:
            raise KycRequiredError(
                "the customer's KYC is not verified", reason="NOT_VERIFIED",
                status=profile.status.value,
            )  # fmt: skip
        level = await self._service.level(tenant_id, profile.level)
        limit = level.daily_withdrawal.get(asset)
        if limit is None:
            raise WithdrawalLimitExceededError(
                f"KYC level {profile.level} allows no {asset} withdrawals", asset=asset,
                limit="0", level=profile.level,
            )  # fmt: skip
        used = Decimal(0)
        if self._usage is not None:
            used = await self._usage.withdrawn_today(tenant_id, customer_id, asset)
        if used + amount > limit:
            raise WithdrawalLimitExceededError(
                f"the daily {asset} withdrawal limit of level {profile.level} is {limit}",
                asset=asset, limit=str(limit), used=str(used), level=profile.level,
            )  # fmt: skip

    async def require_derivatives_suitability(
        self, tenant_id: str, customer_id: str, disclosure_version: str | None = None
    ) -> None:
        """Raise SUITABILITY_REQUIRED unless the customer passed the questionnaire and
        acknowledged the risk disclosure (of ``disclosure_version`` when given)."""
        record = await self._service.suitability_of(TenantScope(tenant_id), customer_id)
        if record is None or not record.passed:
            raise SuitabilityRequiredError(
                "no passed derivatives suitability assessment", reason="NOT_ASSESSED"
                if record is None else "FAILED",
            )  # fmt: skip
        if disclosure_version is not None and record.disclosure_version != disclosure_version:
            raise SuitabilityRequiredError(
                f"the risk disclosure {disclosure_version} has not been acknowledged",
                reason="DISCLOSURE_OUTDATED", acknowledged=record.disclosure_version,
            )  # fmt: skip
