"""Billing use cases: set a tenant's plan, meter a month, close it into invoices posted to
the ledger, read invoices. Knows nothing of GraphQL; tested with fakes.

Rules (README "Billing"):
- a plan version takes effect from the first day of its ``effective_from`` month (UTC); the
  version in effect at month close bills the whole month (no pro rata): among the versions
  whose month is not after the billed month, the latest month wins, then the highest version;
- a month closes once it has ended plus ``CLOSE_GRACE`` (the meters' flush); closing again
  returns the invoice already issued (same id, same lines, one ledger entry);
- a plan may not take effect in a month already closed for the tenant (MONTH_CLOSED).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from domains.accounts.billing.errors import (
    MonthClosedError,
    MonthNotOverError,
    NoBillingPlanError,
)
from domains.accounts.billing.metering import UsageMeter
from domains.accounts.billing.model import (
    ApiCallTier,
    BillingPlan,
    Invoice,
    InvoiceStatus,
    Month,
    Rates,
    Usage,
    invoice_id,
    invoice_lines,
    totals,
    validate_plan_terms,
)
from domains.accounts.billing.ports import AssetDecimals, BillingLedger
from domains.accounts.billing.repository import MongoBillingRepository
from domains.accounts.errors import TenantNotFoundError
from domains.accounts.model import Tenant
from domains.shared.context import Principal, Role, TenantScope
from domains.shared.errors import ConflictError, ForbiddenError, ValidationError
from domains.shared.money import to_units
from domains.shared.scalars import utcnow

CLOSE_GRACE = dt.timedelta(minutes=1)
MAX_MINOR = 2**62  # amounts are int64 in the store
TENANT_PAGE = 200


@dataclass(frozen=True)
class PlanTerms:
    """A plan as asked for: decimal amounts in the settlement asset, not yet in minor units."""

    effective_from: Month
    settlement_asset: str
    monthly_subscription: Decimal
    api_tiers: tuple[tuple[int | None, Decimal], ...]  # (upToCalls, price per 1,000 calls)
    revenue_share_bps: int
    custody_bps_per_year: int


@dataclass(frozen=True)
class CloseResult:
    """What closing one tenant's month did."""

    tenant_id: str
    invoice: Invoice | None  # None: no plan in effect for the month
    created: bool  # False: the invoice existed already (an idempotent repeat)


class TenantDirectory(Protocol):
    """How billing finds tenants (the accounts repository satisfies it)."""

    async def tenants_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Tenant]: ...
    async def list_tenants(
        self, scope: TenantScope, first: int, after: str | None
    ) -> list[Tenant]: ...


def reader_tenant(actor: Principal, tenant_id: str | None) -> str | None:
    """Whose billing ``actor`` may read: an OPERATOR any (None: all), a TENANT_ADMIN its own."""
    if actor.role is Role.OPERATOR:
        return tenant_id
    if actor.role is Role.TENANT_ADMIN and actor.tenant_id is not None:
        if tenant_id not in (None, actor.tenant_id):
            raise ForbiddenError("tenant admins see only their own tenant's billing")
        return actor.tenant_id
    raise ForbiddenError("billing needs the role TENANT_ADMIN or OPERATOR")


def plan_for(plans: Sequence[BillingPlan], month: Month) -> BillingPlan | None:
    """The version that bills ``month`` (module docstring)."""
    candidates = [p for p in plans if p.effective_from <= month]
    return max(candidates, key=lambda p: (p.effective_from, p.version), default=None)


class BillingService:
    """Plans, metering and invoices of every tenant."""

    def __init__(
        self, repo: MongoBillingRepository, tenants: TenantDirectory, ledger: BillingLedger,
        assets: AssetDecimals, meter: UsageMeter | None = None,
        settled: Callable[[], Awaitable[None]] | None = None,
    ) -> None:  # fmt: skip
        self._repo, self._tenants, self._ledger = repo, tenants, ledger
        self._assets, self._meter, self._settled = assets, meter, settled
        self.clock: Callable[[], dt.datetime] = utcnow  # tests move it past a month's end

    async def _tenant(self, tenant_id: str) -> Tenant:
        found = await self._tenants.tenants_by_ids(TenantScope(None), [tenant_id])
        if not found:
            raise TenantNotFoundError("no such tenant", id=tenant_id)
        return found[0]

    def decimals(self, asset: str) -> int:
        """The asset's minor unit (how a plan's amounts print)."""
        return self._assets.decimals(asset) or 0

    def _decimals(self, asset: str, field: str = "settlementAsset") -> int:
        decimals = self._assets.decimals(asset)
        if decimals is None:
            raise ValidationError(f"unknown asset {asset!r}", field=field, asset=asset)
        return decimals

    def _minor(self, value: Decimal, decimals: int, field: str) -> int:
        if value < 0:
            raise ValidationError(f"{field} must not be negative", field=field)
        minor = to_units(value, Decimal(1).scaleb(-decimals), field=field)
        if minor >= MAX_MINOR:
            raise ValidationError(f"{field} is out of range", field=field)
        return minor

    async def set_plan(self, actor: Principal, tenant_id: str, terms: PlanTerms) -> BillingPlan:
        """A new version of the tenant's plan (operators only), validated, never changing
        an issued invoice."""
        if actor.role is not Role.OPERATOR:
            raise ForbiddenError("billing plans are set by platform operators")
        asset = terms.settlement_asset.strip().upper()
        decimals = self._decimals(asset)
        tiers = tuple(
            ApiCallTier(up_to, self._minor(price, decimals, "apiTiers.pricePer1000Calls"))
            for up_to, price in terms.api_tiers
        )
        subscription = self._minor(terms.monthly_subscription, decimals, "monthlySubscription")
        validate_plan_terms(subscription, tiers, terms.revenue_share_bps,
                            terms.custody_bps_per_year)  # fmt: skip
        tenant = await self._tenant(tenant_id)
        closed = await self._repo.closed_months(tenant.id)
        if closed and terms.effective_from <= closed[-1]:
            raise MonthClosedError(f"{closed[-1]} is closed for this tenant: a new plan takes "
                                   f"effect from {closed[-1].next()} at the earliest",
                                   field="effectiveFrom")  # fmt: skip
        for _ in range(5):  # another operator's version may take the number first
            versions = await self._repo.plans(tenant.id)
            plan = BillingPlan(
                tenant.id, len(versions) + 1, terms.effective_from, asset, subscription, tiers,
                terms.revenue_share_bps, terms.custody_bps_per_year, actor.key_id, self.clock(),
            )  # fmt: skip
            if await self._repo.insert_plan(plan):
                return plan
        raise ConflictError("the plan changed concurrently; retry")

    async def plans(self, actor: Principal, tenant_id: str | None) -> list[BillingPlan]:
        """Every version of one tenant's plan, oldest first."""
        tenant = reader_tenant(actor, tenant_id)
        if tenant is None:
            raise ValidationError("operators name the tenant", field="tenant")
        await self._tenant(tenant)
        return await self._repo.plans(tenant)

    async def invoice(self, actor: Principal, invoice_id: str) -> Invoice | None:
        """One invoice, if ``actor`` may see it (another tenant's: None, as if absent)."""
        reader_tenant(actor, None)
        return await self._repo.invoice(TenantScope(actor.tenant_id), invoice_id)

    async def invoices(
        self, actor: Principal, tenant_id: str | None, first: int, after_key: str | None,
        month: Month | None = None,
    ) -> list[Invoice]:  # fmt: skip
        scope = TenantScope(reader_tenant(actor, tenant_id))
        return await self._repo.invoices(scope, first, after_key, month)

    async def all_invoices(
        self, actor: Principal, tenant_id: str | None, month: Month | None
    ) -> list[Invoice]:
        """Every invoice ``actor`` may see (of one tenant or, for operators, all), for export."""
        scope = TenantScope(reader_tenant(actor, tenant_id))
        found: list[Invoice] = []
        after: str | None = None
        while page := await self._repo.invoices(scope, TENANT_PAGE, after, month):
            found += page[:TENANT_PAGE]
            if len(page) <= TENANT_PAGE:
                break
            after = page[TENANT_PAGE - 1].id
        return found

    async def measure(self, tenant_id: str, month: Month, until: dt.datetime) -> Usage:
        """The tenant's metered usage in ``month`` up to ``until`` (at most its end): API calls
        counted per day, fee income from the ledger's fee legs, holdings at each ended day's end."""
        until = min(until, month.end)
        after_seq = await self._ledger.last_seq_before(month.start)
        through_seq = await self._ledger.last_seq_before(until)
        fees = await self._ledger.fee_income(tenant_id, after_seq, through_seq)
        day_ends = [end for day in month.days()
                    if (end := dt.datetime.combine(day, dt.time(), dt.UTC)
                        + dt.timedelta(days=1)) <= until]  # fmt: skip
        seqs = [await self._ledger.last_seq_before(end) for end in day_ends]
        custody: dict[str, int] = {}
        for holdings in await self._ledger.holdings_at(tenant_id, seqs) if seqs else []:
            for asset, minor in holdings.items():
                custody[asset] = custody.get(asset, 0) + max(0, minor)
        calls = await self._repo.api_calls(tenant_id, month)
        return Usage(calls, fees, custody, len(day_ends))

    def _rates(self, plan: BillingPlan, usage: Usage) -> Rates:
        assets = {plan.settlement_asset, *usage.fee_income_minor, *usage.custody_day_minor}
        return Rates({a: self._assets.decimals(a) or 0 for a in assets})

    def _draft(
        self, plan: BillingPlan, usage: Usage, month: Month, closed_by: str,
        status: InvoiceStatus = InvoiceStatus.ISSUED,
    ) -> Invoice:  # fmt: skip
        rates = self._rates(plan, usage)
        lines = invoice_lines(plan, usage, rates)
        return Invoice(invoice_id(plan.tenant_id, month), plan.tenant_id, month, plan.version,
                       status, tuple(lines), totals(lines), usage, self.clock(), closed_by,
                       dict(sorted(rates.decimals.items())))  # fmt: skip

    async def preview(self, actor: Principal, tenant_id: str | None, month: Month) -> Invoice:
        """The month's invoice as it stands now (usage so far; nothing stored or posted)."""
        tenant = reader_tenant(actor, tenant_id)
        if tenant is None:
            raise ValidationError("operators name the tenant", field="tenant")
        await self._tenant(tenant)
        plan = plan_for(await self._repo.plans(tenant), month)
        if plan is None:
            raise NoBillingPlanError("no billing plan in effect for the month", month=str(month))
        await self._flush()
        usage = await self.measure(tenant, month, self.clock())
        return self._draft(plan, usage, month, actor.key_id, InvoiceStatus.DRAFT)

    async def _flush(self) -> None:
        if self._meter is not None:
            await self._meter.flush()
        if self._settled is not None:
            await self._settled()  # the ledger projection reaches every acknowledged command

    async def close_month(
        self, month: Month, closed_by: str, tenant_ids: Sequence[str] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> list[CloseResult]:  # fmt: skip
        """One invoice per tenant with a plan (``tenant_ids`` None: every tenant)."""
        if self.clock() < month.end + CLOSE_GRACE:
            opens = month.end + CLOSE_GRACE
            raise MonthNotOverError(f"{month} can be closed from {opens:%Y-%m-%d %H:%M} UTC",
                                    month=str(month))  # fmt: skip
        await self._flush()
        ids = list(tenant_ids) if tenant_ids is not None else await self._all_tenant_ids()
        results = []
        for tenant_id in ids:
            results.append(await self.close_tenant_month(tenant_id, month, closed_by))
            if progress is not None:
                progress(len(results))
        return results

    async def _all_tenant_ids(self) -> list[str]:
        ids: list[str] = []
        after: str | None = None
        while page := await self._tenants.list_tenants(TenantScope(None), TENANT_PAGE, after):
            ids += [t.id for t in page]
            after = page[-1].id
        return ids

    async def close_tenant_month(self, tenant_id: str, month: Month, closed_by: str) -> CloseResult:
        """Issue and post one tenant's invoice; a repeat finishes and returns the first one."""
        await self._tenant(tenant_id)
        existing = await self._repo.invoice(TenantScope(tenant_id), invoice_id(tenant_id, month))
        if existing is None:
            plan = plan_for(await self._repo.plans(tenant_id), month)
            if plan is None:
                return CloseResult(tenant_id, None, False)
            usage = await self.measure(tenant_id, month, month.end)
            draft = self._draft(plan, usage, month, closed_by)
            stored = await self._repo.insert_invoice(draft)
            created = stored is draft
        else:
            stored, created = existing, False
        if stored.status is not InvoiceStatus.POSTED:  # also a repeat after a crash here
            through_seq = await self._ledger.last_seq_before(month.end)
            await self._ledger.post_invoice(stored.id, tenant_id, through_seq, stored.totals_minor)
            await self._repo.mark_posted(stored.id)
            stored = await self._repo.invoice(TenantScope(tenant_id), stored.id) or stored
        return CloseResult(tenant_id, stored, created)
