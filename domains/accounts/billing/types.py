"""Billing's GraphQL types and inputs: plans, invoices and their lines (a description on
everything). Amounts are Decimal strings in the asset they are charged in."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry

from domains.accounts.billing import model
from domains.shared.graphql import described_enum

described_enum(
    model.InvoiceLineKind,
    "What an invoice line charges for.",
    SUBSCRIPTION="The plan's monthly subscription.",
    API_CALLS="API calls of one tier of the plan (graduated: each call priced by its tier).",
    REVENUE_SHARE="A share, in bps, of the platform's fee income from the tenant's trading.",
    CUSTODY="Custody fee in bps per year of the assets held, measured at each day's end.",
)
described_enum(
    model.InvoiceStatus,
    "Where an invoice stands.",
    DRAFT="A preview of the month so far: not stored, not posted, may still change.",
    ISSUED="Issued; its revenue entry is being posted to the ledger.",
    POSTED="Issued and posted to the ledger as platform revenue.",
)


@strawberry.type(description="An amount of one asset.")
class BilledAmount:
    asset: str = strawberry.field(description="Asset code, e.g. `USDT`.")
    amount: Decimal = strawberry.field(description='Decimal string, e.g. "12.5".')


@strawberry.type(description="One tier of API call pricing.")
class ApiCallTier:
    up_to_calls: int | None = strawberry.field(
        description="Calls in the month up to which this tier applies (cumulative); null for "
        "the last tier (no upper bound)."
    )
    price_per_1000_calls: Decimal = strawberry.field(
        name="pricePer1000Calls",
        description="Price per 1,000 calls in this tier, in the settlement asset.",
    )


@strawberry.type(description="One version of a tenant's billing plan.")
class BillingPlan:
    tenant_id: strawberry.ID = strawberry.field(description="The billed tenant.")
    version: int = strawberry.field(description="1 for the first plan, then one more per change.")
    effective_from: str = strawberry.field(
        description="First month (YYYY-MM, UTC) this version bills; it bills each month until "
        "a version with a later month. The version in effect at month close bills the whole "
        "month (no pro rata)."
    )
    settlement_asset: str = strawberry.field(
        description="Asset the subscription and API calls are charged in, e.g. `USDT`."
    )
    monthly_subscription: Decimal = strawberry.field(description="Subscription per month.")
    api_tiers: list[ApiCallTier] = strawberry.field(description="API call tiers, lowest first.")
    revenue_share_bps: int = strawberry.field(
        description="Share of the platform's fee income from the tenant's trading, in bps, "
        "charged in the asset each fee was paid in."
    )
    custody_bps_per_year: int = strawberry.field(
        description="Custody fee in bps per year (Actual/365) of the tenant's holdings at "
        "each day's end, charged in kind (in each held asset)."
    )
    created_at: dt.datetime = strawberry.field(description="When this version was set.")

    @classmethod
    def from_model(cls, plan: model.BillingPlan, decimals: int) -> BillingPlan:
        def money(minor: int) -> Decimal:
            return Decimal(minor).scaleb(-decimals)

        return cls(
            tenant_id=strawberry.ID(plan.tenant_id), version=plan.version,
            effective_from=str(plan.effective_from), settlement_asset=plan.settlement_asset,
            monthly_subscription=money(plan.subscription_minor),
            api_tiers=[ApiCallTier(up_to_calls=t.up_to_calls,
                                   price_per_1000_calls=money(t.price_per_1000_minor))
                       for t in plan.api_tiers],
            revenue_share_bps=plan.revenue_share_bps,
            custody_bps_per_year=plan.custody_bps_per_year, created_at=plan.created_at,
        )  # fmt: skip


@strawberry.type(description="One line of an invoice.")
class InvoiceLine:
    kind: model.InvoiceLineKind = strawberry.field(description="What the line charges for.")
    description: str = strawberry.field(description="The line as printed.")
    asset: str = strawberry.field(description="Asset the line is charged in.")
    quantity: str = strawberry.field(
        description="The measured base: 1 (subscription), calls in the tier, fee income, or "
        "the average daily holding (custody)."
    )
    rate: str = strawberry.field(description="The plan's price applied to the quantity.")
    amount: Decimal = strawberry.field(
        description="The charge, rounded half-up to the asset's minor unit, once per line."
    )


@strawberry.type(description="What was metered for the month (from stored data, not estimated).")
class MeteredUsage:
    api_calls: int = strawberry.field(description="GraphQL operations of the tenant's keys.")
    fee_income: list[BilledAmount] = strawberry.field(
        description="The platform's fee income from the tenant's accounts, per asset."
    )
    custody_days: int = strawberry.field(description="Days whose end holdings were measured.")


@strawberry.type(description="A tenant's invoice for one month.")
class Invoice:
    id: strawberry.ID = strawberry.field(description="Invoice id: one per tenant and month.")
    tenant_id: strawberry.ID = strawberry.field(description="The billed tenant.")
    month: str = strawberry.field(description="The billed month, YYYY-MM (UTC).")
    plan_version: int = strawberry.field(description="The plan version that priced it.")
    status: model.InvoiceStatus = strawberry.field(description="Where the invoice stands.")
    lines: list[InvoiceLine] = strawberry.field(description="The charges, in print order.")
    totals: list[BilledAmount] = strawberry.field(
        description="Per asset, the sum of the rounded lines."
    )
    usage: MeteredUsage = strawberry.field(description="What the lines were computed from.")
    issued_at: dt.datetime = strawberry.field(description="When it was issued (or previewed).")

    @classmethod
    def from_model(cls, invoice: model.Invoice) -> Invoice:
        u = invoice.usage
        return cls(
            id=strawberry.ID(invoice.id), tenant_id=strawberry.ID(invoice.tenant_id),
            month=str(invoice.month), plan_version=invoice.plan_version, status=invoice.status,
            lines=[InvoiceLine(kind=x.kind, description=x.description, asset=x.asset,
                               quantity=x.quantity, rate=x.rate,
                               amount=invoice.amount(x.asset, x.amount_minor))
                   for x in invoice.lines],
            totals=[BilledAmount(asset=a, amount=invoice.amount(a, m))
                    for a, m in invoice.totals_minor.items()],
            usage=MeteredUsage(api_calls=u.api_calls, custody_days=u.custody_days,
                               fee_income=[BilledAmount(asset=a, amount=invoice.amount(a, m))
                                           for a, m in u.fee_income_minor.items()]),
            issued_at=invoice.issued_at,
        )  # fmt: skip


@strawberry.input(description="One tier of API call pricing.")
class ApiCallTierInput:
    up_to_calls: int | None = strawberry.field(
        default=None,
        description="Cumulative calls in the month this tier reaches, e.g. 10000; omitted "
        "(null) for the last tier only. Bounds rise strictly.",
    )
    price_per_1000_calls: Decimal = strawberry.field(
        name="pricePer1000Calls",
        description='Price per 1,000 calls, e.g. "0" (free) or "0.5", in the settlement '
        "asset's minor unit at most; not negative.",
    )


@strawberry.input(description="A new version of a tenant's billing plan.")
class BillingPlanInput:
    effective_from: str = strawberry.field(
        description="First month it bills, YYYY-MM (UTC), e.g. `2026-12`; not a month already "
        "closed for the tenant (MONTH_CLOSED)."
    )
    settlement_asset: str = strawberry.field(
        default="USDT", description="Asset of the subscription and API call prices."
    )
    monthly_subscription: Decimal = strawberry.field(
        description='Subscription per month, e.g. "1500"; not negative.'
    )
    api_tiers: list[ApiCallTierInput] = strawberry.field(
        description="1 to 10 tiers, lowest first; the last has no upToCalls."
    )
    revenue_share_bps: int = strawberry.field(
        default=0, description="Share of the platform's fee income, 0 to 10000 bps."
    )
    custody_bps_per_year: int = strawberry.field(
        default=0, description="Custody fee, 0 to 10000 bps per year of holdings."
    )
