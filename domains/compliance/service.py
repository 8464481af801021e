"""KYC use cases: the workflow, providers, levels, suitability; knows nothing of GraphQL.

The gates other domains call (order entry, custody withdrawals, positions) live in gates.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from domains.compliance.model import (
    ALLOWED_TRANSITIONS,
    MAX_KYC_LEVEL,
    KycDocument,
    KycLevel,
    KycProfile,
    KycStatus,
    Suitability,
    default_level,
)
from domains.shared.cache import SharedTtlCache
from domains.shared.context import TenantScope
from domains.shared.errors import ConflictError, ValidationError
from domains.shared.scalars import utcnow


class ComplianceRepository(Protocol):
    """What the KYC service needs from storage."""

    async def save_profile(self, profile: KycProfile) -> None: ...
    async def profiles(
        self, scope: TenantScope, customer_ids: Sequence[str]
    ) -> list[KycProfile]: ...
    async def profiles_by_status(
        self, scope: TenantScope, status: KycStatus, first: int, after: str | None
    ) -> list[KycProfile]: ...
    async def save_level(self, level: KycLevel) -> None: ...
    async def levels(self, tenant_id: str) -> list[KycLevel]: ...
    async def save_suitability(self, record: Suitability) -> None: ...
    async def suitability(self, scope: TenantScope, customer_id: str) -> Suitability | None: ...


@dataclass(frozen=True)
class ProviderDecision:
    """What an automated KYC provider decided (None from ``submit`` means: review by a human)."""

    status: KycStatus
    level: int
    note: str | None = None


class KycProvider(Protocol):
    """A KYC check: a vendor adapter, or the manual review queue (the default)."""

    name: str

    async def submit(self, application: KycProfile) -> ProviderDecision | None:
        """Start a check of a PENDING application; a decision now, or None to wait."""
        ...


class ManualReviewQueue:
    """The default provider: applications wait in PENDING for a COMPLIANCE officer
    (``kycReviewQueue`` lists them, ``setKycStatus`` decides)."""

    name = "manual"

    async def submit(self, application: KycProfile) -> ProviderDecision | None:
        return None


@dataclass(frozen=True)
class KycApplication:
    """What a customer (or its institution) submits for review."""

    legal_name: str
    date_of_birth: dt.date | None
    nationality: str | None
    documents: tuple[KycDocument, ...]


OnboardingScreen = Callable[[KycProfile, str], Awaitable[None]]  # (profile, actor) -> screens
VerificationBlockers = Callable[[str, str], Awaitable[list[str]]]  # (tenant, customer) -> ids
ProfileListener = Callable[[KycProfile], None]
LEVELS_TTL_S = 2.0  # how long another process's level change may take to apply here


class ComplianceService:
    """KYC workflow per customer, the tenant's levels, and derivatives suitability."""

    def __init__(
        self, repository: ComplianceRepository, provider: KycProvider | None = None
    ) -> None:
        self._repo = repository
        self._provider: KycProvider = provider or ManualReviewQueue()
        self._screen: OnboardingScreen | None = None
        self._blockers: VerificationBlockers | None = None
        self._listeners: list[ProfileListener] = []
        self._levels: SharedTtlCache[str, list[KycLevel]] = SharedTtlCache(LEVELS_TTL_S)

    def on_profile_change(self, listener: ProfileListener) -> None:
        """Be told of every saved profile (the gates drop their cached copy)."""
        self._listeners.append(listener)

    def screen_onboarding_with(self, screen: OnboardingScreen) -> None:
        """Screen every submitted application (sanctions; wired by the composition root)."""
        self._screen = screen

    def block_verification_with(self, blockers: VerificationBlockers) -> None:
        """Refuse VERIFIED while ``blockers`` names undecided alerts (sanctions hits)."""
        self._blockers = blockers

    async def _save(self, profile: KycProfile) -> None:
        await self._repo.save_profile(profile)
        for listener in self._listeners:
            listener(profile)

    async def kyc_of(self, scope: TenantScope, customer_ids: Sequence[str]) -> list[KycProfile]:
        """KYC profiles for customers; customers with no record are NOT_STARTED.

        Callers must pass customer ids already known to be visible in ``scope``.
        """
        found = {p.customer_id: p for p in await self._repo.profiles(scope, customer_ids)}
        tenant = scope.tenant_id or ""
        return [found.get(c) or KycProfile(customer_id=c, tenant_id=tenant) for c in customer_ids]

    async def set_kyc_status(
        self,
        scope: TenantScope,
        customer_id: str,
        tenant_id: str,
        status: KycStatus,
        level: int,
        reviewer: str,
        note: str | None = None,
    ) -> KycProfile:
        """Move a customer's KYC along its workflow; an illegal transition is a CONFLICT."""
        if not 0 <= level <= MAX_KYC_LEVEL:
            raise ValidationError(f"level must be 0 to {MAX_KYC_LEVEL}", field="level")
        current = (await self.kyc_of(scope, [customer_id]))[0]
        if status not in ALLOWED_TRANSITIONS[current.status]:
            raise ConflictError(
                f"KYC cannot go from {current.status.value} to {status.value}",
                current=current.status.value,
            )
        verified = status is KycStatus.VERIFIED
        if verified and self._blockers is not None:
            blocking = await self._blockers(tenant_id, customer_id)
            if blocking:
                raise ConflictError(
                    "the customer has undecided sanctions alerts: decide their case first",
                    reason="OPEN_SANCTIONS_ALERT",
                    alerts=blocking,
                )
        profile = dataclasses.replace(
            current,
            tenant_id=tenant_id,
            status=status,
            level=level if verified else current.level,
            reviewed_by=reviewer,
            updated_at=utcnow(),
            ever_verified=current.ever_verified or verified,
            note=note if note is not None else current.note,
        )
        await self._save(profile)
        return profile

    async def submit_kyc(
        self, scope: TenantScope, customer_id: str, tenant_id: str, application: KycApplication,
        actor: str,
    ) -> KycProfile:  # fmt: skip
        """Submit (or resubmit) an application: PENDING, screened, then the provider decides
        now or leaves it in the manual review queue."""
        if not application.legal_name.strip():
            raise ValidationError("a legal name is required", field="legalName")
        current = (await self.kyc_of(scope, [customer_id]))[0]
        if KycStatus.PENDING not in ALLOWED_TRANSITIONS[current.status]:
            raise ConflictError(
                f"KYC cannot be submitted while {current.status.value}",
                current=current.status.value,
            )
        profile = dataclasses.replace(
            current,
            tenant_id=tenant_id,
            status=KycStatus.PENDING,
            legal_name=application.legal_name.strip()[:200],
            date_of_birth=application.date_of_birth,
            nationality=application.nationality,
            documents=application.documents[:20],
            provider=self._provider.name,
            submitted_at=utcnow(),
            updated_at=utcnow(),
        )
        await self._save(profile)
        if self._screen is not None:
            await self._screen(profile, actor)
        decision = await self._provider.submit(profile)
        if decision is None:
            return profile
        return await self.set_kyc_status(
            scope, customer_id, tenant_id, decision.status, decision.level,
            f"provider:{self._provider.name}", decision.note,
        )  # fmt: skip

    async def review_queue(
        self, scope: TenantScope, first: int, after: str | None
    ) -> list[KycProfile]:
        """PENDING applications of the caller's tenant, oldest customer id first."""
        return await self._repo.profiles_by_status(scope, KycStatus.PENDING, first, after)

    async def levels(self, tenant_id: str) -> list[KycLevel]:
        """Every level 0..3 of a tenant: what it configured, platform defaults elsewhere.

        Cached LEVELS_TTL_S per tenant (every order's KYC gate asks): a change made in this
        process applies at once, one made in another process within that time."""

        async def load() -> list[KycLevel]:
            configured = {lv.level: lv for lv in await self._repo.levels(tenant_id)}
            return [
                configured.get(n) or default_level(tenant_id, n) for n in range(MAX_KYC_LEVEL + 1)
            ]

        return await self._levels.get(tenant_id, load)

    async def level(self, tenant_id: str, level: int) -> KycLevel:
        return (await self.levels(tenant_id))[max(0, min(level, MAX_KYC_LEVEL))]

    async def set_level(self, level: KycLevel) -> KycLevel:
        """Configure one level of a tenant (products must be SPOT/PERPETUAL; limits >= 0)."""
        if not 1 <= level.level <= MAX_KYC_LEVEL:
            raise ValidationError(f"configurable levels are 1 to {MAX_KYC_LEVEL}", field="level")
        unknown = level.products - {"SPOT", "PERPETUAL"}
        if unknown:
            raise ValidationError(f"unknown products {sorted(unknown)}", field="products")
        if any(v < 0 for v in level.daily_withdrawal.values()):
            raise ValidationError("limits cannot be negative", field="dailyWithdrawal")
        saved = dataclasses.replace(level, updated_at=utcnow())
        await self._repo.save_level(saved)
        self._levels.forget(level.tenant_id)
        return saved

    async def record_suitability(self, record: Suitability) -> Suitability:
        """Record a questionnaire outcome and the acknowledged risk disclosure."""
        if not record.questionnaire_version.strip() or not record.disclosure_version.strip():
            raise ValidationError("questionnaire and disclosure versions are required")
        if record.acknowledged_at > utcnow() + dt.timedelta(minutes=5):
            raise ValidationError("the acknowledgement lies in the future", field="acknowledgedAt")
        await self._repo.save_suitability(record)
        return record

    async def suitability_of(self, scope: TenantScope, customer_id: str) -> Suitability | None:
        return await self._repo.suitability(scope, customer_id)
