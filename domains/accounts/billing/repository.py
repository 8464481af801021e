"""Billing persistence: billing_plans, billing_usage and billing_invoices (owned here only).

``billing_plans``: one document per plan version (``_id`` = ``<tenant>:<version>``), never
changed once written. ``billing_usage``: one document per tenant and UTC day
(``_id`` = ``<tenant>:<YYYY-MM-DD>``) whose counters the request meter increments in bulk.
``billing_invoices``: one document per tenant and month (``_id`` = the invoice id).
Every read takes the tenant scope. Imports no other domain.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.errors import DuplicateKeyError

from domains.accounts.billing.model import (
    ApiCallTier,
    BillingPlan,
    Invoice,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    Month,
    Usage,
)
from domains.shared.context import TenantScope
from domains.shared.mongo import CollectionIndexes, Database, Document, page_filter

INDEXES = (
    CollectionIndexes("billing_plans", (IndexModel([("tenant_id", ASCENDING),
                                                    ("version", ASCENDING)], unique=True),)),
    CollectionIndexes("billing_usage", (IndexModel([("tenant_id", ASCENDING),
                                                    ("month", ASCENDING)]),)),
    CollectionIndexes("billing_invoices", (IndexModel([("tenant_id", ASCENDING),
                                                       ("month", ASCENDING)], unique=True),)),
)  # fmt: skip
UsageKey = tuple[str, dt.date]  # tenant, UTC day


def _plan_doc(plan: BillingPlan) -> Document:
    return {
        "_id": f"{plan.tenant_id}:{plan.version:06d}", "tenant_id": plan.tenant_id,
        "version": plan.version, "effective_from": str(plan.effective_from),
        "settlement_asset": plan.settlement_asset, "subscription_minor": plan.subscription_minor,
        "api_tiers": [{"up_to_calls": t.up_to_calls, "price_per_1000_minor": t.price_per_1000_minor}
                      for t in plan.api_tiers],
        "revenue_share_bps": plan.revenue_share_bps,
        "custody_bps_per_year": plan.custody_bps_per_year,
        "created_by": plan.created_by, "created_at": plan.created_at,
    }  # fmt: skip


def _plan(doc: Mapping[str, Any]) -> BillingPlan:
    return BillingPlan(
        tenant_id=doc["tenant_id"], version=int(doc["version"]),
        effective_from=Month.parse(doc["effective_from"]),
        settlement_asset=doc["settlement_asset"],
        subscription_minor=int(doc["subscription_minor"]),
        api_tiers=tuple(ApiCallTier(t["up_to_calls"], int(t["price_per_1000_minor"]))
                        for t in doc["api_tiers"]),
        revenue_share_bps=int(doc["revenue_share_bps"]),
        custody_bps_per_year=int(doc["custody_bps_per_year"]),
        created_by=doc["created_by"], created_at=doc["created_at"],
    )  # fmt: skip


def _invoice_doc(invoice: Invoice) -> Document:
    u = invoice.usage
    return {
        "_id": invoice.id, "tenant_id": invoice.tenant_id, "month": str(invoice.month),
        "plan_version": invoice.plan_version, "status": invoice.status.value,
        "lines": [{"kind": line.kind.value, "description": line.description,
                   "asset": line.asset, "quantity": line.quantity, "rate": line.rate,
                   "amount_minor": line.amount_minor} for line in invoice.lines],
        "totals": [{"asset": a, "amount_minor": m} for a, m in invoice.totals_minor.items()],
        "usage": {"api_calls": u.api_calls, "custody_days": u.custody_days,
                  "fee_income": [{"asset": a, "minor": m} for a, m in u.fee_income_minor.items()],
                  "custody_day": [{"asset": a, "minor": m}
                                  for a, m in u.custody_day_minor.items()]},
        "issued_at": invoice.issued_at, "closed_by": invoice.closed_by,
        "decimals": [{"asset": a, "decimals": d} for a, d in invoice.decimals.items()],
    }  # fmt: skip


def _invoice(doc: Mapping[str, Any]) -> Invoice:
    u = doc["usage"]
    usage = Usage(
        api_calls=int(u["api_calls"]),
        fee_income_minor={x["asset"]: int(x["minor"]) for x in u["fee_income"]},
        custody_day_minor={x["asset"]: int(x["minor"]) for x in u["custody_day"]},
        custody_days=int(u["custody_days"]),
    )
    return Invoice(
        id=doc["_id"], tenant_id=doc["tenant_id"], month=Month.parse(doc["month"]),
        plan_version=int(doc["plan_version"]), status=InvoiceStatus(doc["status"]),
        lines=tuple(InvoiceLine(InvoiceLineKind(x["kind"]), x["description"], x["asset"],
                                x["quantity"], x["rate"], int(x["amount_minor"]))
                    for x in doc["lines"]),
        totals_minor={x["asset"]: int(x["amount_minor"]) for x in doc["totals"]},
        usage=usage, issued_at=doc["issued_at"], closed_by=doc["closed_by"],
        decimals={x["asset"]: int(x["decimals"]) for x in doc["decimals"]},
    )  # fmt: skip


class MongoBillingRepository:
    """Plans, usage counters and invoices in the store."""

    def __init__(self, db: Database) -> None:
        self._plans = db.billing_plans
        self._usage = db.billing_usage
        self._invoices = db.billing_invoices

    async def plans(self, tenant_id: str) -> list[BillingPlan]:
        """Every version of the tenant's plan, oldest first."""
        cursor = self._plans.find({"tenant_id": tenant_id}).sort("version", ASCENDING)
        return [_plan(doc) async for doc in cursor]

    async def insert_plan(self, plan: BillingPlan) -> bool:
        """Store a new version; False when that version number was taken meanwhile."""
        try:
            await self._plans.insert_one(_plan_doc(plan))
        except DuplicateKeyError:
            return False
        return True

    async def add_usage(self, counts: Mapping[UsageKey, tuple[int, int]]) -> None:
        """Add (reads, mutations) to each tenant's day: one bulk request of upserts."""
        if not counts:
            return
        updates = [
            UpdateOne(
                {"_id": f"{tenant}:{day.isoformat()}"},
                {"$inc": {"reads": reads, "mutations": mutations},
                 "$setOnInsert": {"tenant_id": tenant, "day": day.isoformat(),
                                  "month": day.strftime("%Y-%m")}},
                upsert=True,
            )
            for (tenant, day), (reads, mutations) in sorted(counts.items())
        ]  # fmt: skip
        await self._usage.bulk_write(updates, ordered=False)

    async def api_calls(self, tenant_id: str, month: Month) -> int:
        """Calls counted for the tenant in the month (reads + mutations)."""
        cursor = self._usage.find({"tenant_id": tenant_id, "month": str(month)})
        return sum([int(d.get("reads", 0)) + int(d.get("mutations", 0)) async for d in cursor])

    async def insert_invoice(self, invoice: Invoice) -> Invoice:
        """Store the invoice, or return the one already stored for its tenant and month."""
        try:
            await self._invoices.insert_one(_invoice_doc(invoice))
        except DuplicateKeyError:
            found = await self._invoices.find_one({"_id": invoice.id})
            assert found is not None
            return _invoice(found)
        return invoice

    async def mark_posted(self, invoice_id: str) -> None:
        await self._invoices.update_one(
            {"_id": invoice_id}, {"$set": {"status": InvoiceStatus.POSTED.value}}
        )

    async def invoice(self, scope: TenantScope, invoice_id: str) -> Invoice | None:
        found = await self._invoices.find_one({"_id": invoice_id, **scope.filter()})
        return _invoice(found) if found is not None else None

    async def invoices(
        self, scope: TenantScope, first: int, after_key: str | None, month: Month | None = None
    ) -> list[Invoice]:
        """Newest first within a tenant (ids sort by tenant, then month), ``first + 1`` rows."""
        base: dict[str, Any] = dict(scope.filter())
        if month is not None:
            base["month"] = str(month)
        cursor = self._invoices.find(page_filter(base, after_key)).sort("_id", -1).limit(first + 1)
        return [_invoice(doc) async for doc in cursor]

    async def closed_months(self, tenant_id: str) -> list[Month]:
        cursor = self._invoices.find({"tenant_id": tenant_id}, {"month": 1})
        return sorted([Month.parse(d["month"]) async for d in cursor])
