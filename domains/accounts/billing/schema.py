"""Billing root fields (mixed into AccountsQuery/AccountsMutation): parse -> service -> map."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domains.accounts.billing.model import Month
from domains.accounts.billing.service import BillingService, PlanTerms
from domains.accounts.billing.types import BillingPlan, BillingPlanInput, Invoice
from domains.accounts.types import Info
from domains.shared.context import Role
from domains.shared.relay import Connection, build_connection, page_request

TENANT = (
    "The tenant: OPERATOR keys name it (omitted: every tenant where a list allows it); a "
    "TENANT_ADMIN may omit it (its own) and gets FORBIDDEN for any other."
)
PAGE_FIRST = "Page size, 0 to 200 (default 50)."
PAGE_AFTER = "Cursor to continue after (`pageInfo.endCursor`)."
MONTH = "A month, YYYY-MM (UTC), e.g. `2026-11`."


def _tenant(value: strawberry.ID | None) -> str | None:
    return str(value) if value is not None else None


@strawberry.type(description="Billing queries.")
class BillingQuery:
    @strawberry.field(description="Every version of a tenant's billing plan, oldest first.")
    async def billing_plans(
        self, info: Info,
        tenant: Annotated[strawberry.ID | None, strawberry.argument(description=TENANT)] = None,
    ) -> list[BillingPlan]:  # fmt: skip
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        service = info.context.get(BillingService)
        plans = await service.plans(actor, _tenant(tenant))
        return [BillingPlan.from_model(p, service.decimals(p.settlement_asset)) for p in plans]

    @strawberry.field(description="Issued invoices, newest month first within a tenant.")
    async def invoices(
        self, info: Info,
        tenant: Annotated[strawberry.ID | None, strawberry.argument(description=TENANT)] = None,
        month: Annotated[str | None, strawberry.argument(description="Only this " + MONTH)] = None,
        first: Annotated[int | None, strawberry.argument(description=PAGE_FIRST)] = None,
        after: Annotated[str | None, strawberry.argument(description=PAGE_AFTER)] = None,
    ) -> Connection[Invoice]:  # fmt: skip
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        request = page_request(first, after)
        only = Month.parse(month) if month is not None else None
        rows = await info.context.get(BillingService).invoices(
            actor, _tenant(tenant), request.first, request.after_key, only
        )
        return build_connection(rows, request, key=lambda i: i.id, node=Invoice.from_model)

    @strawberry.field(description="One invoice; null if it is not visible to the caller.")
    async def invoice(
        self, info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="Invoice id.")],
    ) -> Invoice | None:  # fmt: skip
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        found = await info.context.get(BillingService).invoice(actor, str(id))
        return Invoice.from_model(found) if found is not None else None

    @strawberry.field(
        description="The month's invoice as it stands now (usage so far), nothing stored: "
        "status DRAFT. NOT_FOUND when no plan is in effect for the month."
    )
    async def invoice_preview(
        self, info: Info,
        month: Annotated[str, strawberry.argument(description=MONTH)],
        tenant: Annotated[strawberry.ID | None, strawberry.argument(description=TENANT)] = None,
    ) -> Invoice:  # fmt: skip
        actor = info.context.require(Role.TENANT_ADMIN, Role.OPERATOR)
        service = info.context.get(BillingService)
        return Invoice.from_model(await service.preview(actor, _tenant(tenant), Month.parse(month)))


@strawberry.type(description="Billing mutations (platform operators).")
class BillingMutation:
    @strawberry.mutation(
        description="Set a new version of a tenant's billing plan (OPERATOR). Bad amounts or "
        "bps are VALIDATION, an unknown tenant NOT_FOUND, a closed month MONTH_CLOSED."
    )
    async def set_billing_plan(
        self, info: Info,
        tenant: Annotated[strawberry.ID, strawberry.argument(description="The tenant to bill.")],
        plan: Annotated[BillingPlanInput, strawberry.argument(description="The plan's terms.")],
    ) -> BillingPlan:  # fmt: skip
        actor = info.context.require(Role.OPERATOR)
        terms = PlanTerms(
            Month.parse(plan.effective_from, field="effectiveFrom"), plan.settlement_asset,
            plan.monthly_subscription,
            tuple((t.up_to_calls, t.price_per_1000_calls) for t in plan.api_tiers),
            plan.revenue_share_bps, plan.custody_bps_per_year,
        )  # fmt: skip
        service = info.context.get(BillingService)
        saved = await service.set_plan(actor, str(tenant), terms)
        return BillingPlan.from_model(saved, service.decimals(saved.settlement_asset))

    @strawberry.mutation(
        description="Close a month (OPERATOR): one invoice per tenant with a plan, posted to "
        "the ledger as platform revenue. Closing again returns the same invoices. MONTH_NOT_OVER "
        "before the month has ended (plus a minute for the meters)."
    )
    async def close_billing_month(
        self, info: Info,
        month: Annotated[str, strawberry.argument(description=MONTH)],
        tenant: Annotated[strawberry.ID | None, strawberry.argument(
            description="Only this tenant (default: every tenant).")] = None,
    ) -> list[Invoice]:  # fmt: skip
        actor = info.context.require(Role.OPERATOR)
        only = [str(tenant)] if tenant is not None else None
        results = await info.context.get(BillingService).close_month(
            Month.parse(month), actor.key_id, only
        )
        return [Invoice.from_model(r.invoice) for r in results if r.invoice is not None]
