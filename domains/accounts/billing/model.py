"""Billing plans, billing months and invoice arithmetic: dataclasses and exact integer rules.

No strawberry, no pymongo. Every amount is an integer count of the asset's minor unit
(10^-decimals); a fraction of a minor unit appears only inside one line's computation and is
rounded once, half-up, at the end of that line (``round_half_up``). An invoice's total per
asset is the sum of its rounded lines.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from domains.shared.errors import ValidationError

BPS = 10_000
MAX_BPS = 10_000
CALLS_PER_PRICE = 1_000  # API call tiers are priced per 1,000 calls
DAYS_PER_YEAR = 365  # the custody fee accrues Actual/365 Fixed: bps per year / 365 per day
MAX_API_TIERS = 10
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def round_half_up(value: Fraction) -> int:
    """The nearest integer, halves away from zero (0.5 -> 1, -0.5 -> -1)."""
    whole, rest = divmod(abs(value.numerator), value.denominator)
    if 2 * rest >= value.denominator:
        whole += 1
    return whole if value >= 0 else -whole


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in UTC: ``[start, end)``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str, *, field: str = "month") -> Month:
        """``YYYY-MM``; anything else (2026-13, 2026-1, 26-01) is VALIDATION."""
        found = _MONTH.match(text.strip()) if isinstance(text, str) else None
        if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 2000:
            raise ValidationError(f"{field} is a month such as 2026-11 (YYYY-MM)", field=field)
        return cls(int(found.group(1)), int(found.group(2)))

    @classmethod
    def of(cls, when: dt.datetime) -> Month:
        when = when.astimezone(dt.UTC)
        return cls(when.year, when.month)

    @property
    def start(self) -> dt.datetime:
        return dt.datetime(self.year, self.month, 1, tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        return self.next().start

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def days(self) -> list[dt.date]:
        first = self.start.date()
        return [first + dt.timedelta(days=n) for n in range((self.end - self.start).days)]

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class ApiCallTier:
    """Calls up to ``up_to_calls`` in the month (cumulative; None: no upper bound) cost
    ``price_per_1000_minor`` per 1,000 calls. Tiers are graduated: each call is priced by
    the tier its rank in the month falls in."""

    up_to_calls: int | None
    price_per_1000_minor: int


@dataclass(frozen=True)
class BillingPlan:
    """What a tenant pays from ``effective_from`` (a month) until a later version."""

    tenant_id: str
    version: int
    effective_from: Month
    settlement_asset: str
    subscription_minor: int
    api_tiers: tuple[ApiCallTier, ...]
    revenue_share_bps: int
    custody_bps_per_year: int
    created_by: str
    created_at: dt.datetime


def validate_plan_terms(
    subscription_minor: int, tiers: tuple[ApiCallTier, ...], revenue_share_bps: int,
    custody_bps_per_year: int,
) -> None:  # fmt: skip
    """Non-negative money, bps within 0..10,000, tiers with rising bounds ending unbounded."""
    if subscription_minor < 0:
        raise ValidationError(
            "monthlySubscription must not be negative", field="monthlySubscription"
        )
    for name, bps in (("revenueShareBps", revenue_share_bps),
                      ("custodyBpsPerYear", custody_bps_per_year)):  # fmt: skip
        if not 0 <= bps <= MAX_BPS:
            raise ValidationError(f"{name} must be 0 to {MAX_BPS}", field=name, value=bps)
    if not 1 <= len(tiers) <= MAX_API_TIERS:
        raise ValidationError(f"apiTiers needs 1 to {MAX_API_TIERS} tiers", field="apiTiers")
    previous = 0
    for position, tier in enumerate(tiers):
        last = position == len(tiers) - 1
        if tier.price_per_1000_minor < 0:
            raise ValidationError("a tier's price must not be negative", field="apiTiers")
        if last != (tier.up_to_calls is None):
            raise ValidationError(
                "every tier but the last has upToCalls; the last has none (unbounded)",
                field="apiTiers",
            )
        if tier.up_to_calls is not None:
            if tier.up_to_calls <= previous:
                raise ValidationError("upToCalls must rise strictly from tier to tier, "
                                      "starting above 0", field="apiTiers")  # fmt: skip
            previous = tier.up_to_calls


class InvoiceLineKind(enum.Enum):
    """What an invoice line charges for."""

    SUBSCRIPTION = "SUBSCRIPTION"
    API_CALLS = "API_CALLS"
    REVENUE_SHARE = "REVENUE_SHARE"
    CUSTODY = "CUSTODY"


@dataclass(frozen=True)
class InvoiceLine:
    """One charge: ``amount_minor`` of ``asset``, computed from ``quantity`` at ``rate``
    (both as text: the measured base and the plan's price, for the reader)."""

    kind: InvoiceLineKind
    description: str
    asset: str
    quantity: str
    rate: str
    amount_minor: int


@dataclass(frozen=True)
class Usage:
    """What was metered for one tenant and month (all from stored data, none estimated).

    ``fee_income_minor``: the platform's fee legs the tenant's accounts paid, per asset.
    ``custody_day_minor``: per asset, the sum over the month's days of the tenant's holdings
    at each day's end (minor units x days).
    """

    api_calls: int
    fee_income_minor: dict[str, int]
    custody_day_minor: dict[str, int]
    custody_days: int


def api_tier_calls(calls: int, tiers: tuple[ApiCallTier, ...]) -> list[int]:
    """How many of ``calls`` fall in each tier (graduated)."""
    counts, floor = [], 0
    for tier in tiers:
        ceiling = calls if tier.up_to_calls is None else min(calls, tier.up_to_calls)
        counts.append(max(0, ceiling - floor))
        floor = max(floor, ceiling)
    return counts


@dataclass(frozen=True)
class Rates:
    """How to print an amount of an asset (``format(minor)`` -> decimal string)."""

    decimals: dict[str, int]

    def text(self, asset: str, minor: int | Fraction) -> str:
        scaled = Fraction(minor) / 10 ** self.decimals.get(asset, 0)
        value = Decimal(scaled.numerator) / Decimal(scaled.denominator)
        return format(value.normalize(), "f") if value else "0"


def invoice_lines(plan: BillingPlan, usage: Usage, rates: Rates) -> list[InvoiceLine]:
    """The month's lines: subscription, one per API tier used, revenue share and custody per
    asset. Each line is rounded half-up to its asset's minor unit, once."""
    asset = plan.settlement_asset
    lines = [InvoiceLine(InvoiceLineKind.SUBSCRIPTION, "Monthly subscription", asset, "1",
                         rates.text(asset, plan.subscription_minor),
                         plan.subscription_minor)]  # fmt: skip
    floor = 0
    for tier, calls in zip(plan.api_tiers, api_tier_calls(usage.api_calls, plan.api_tiers),
                           strict=True):  # fmt: skip
        upper = "and above" if tier.up_to_calls is None else f"to {tier.up_to_calls:,}"
        if calls:
            amount = round_half_up(Fraction(calls * tier.price_per_1000_minor, CALLS_PER_PRICE))
            lines.append(InvoiceLine(
                InvoiceLineKind.API_CALLS, f"API calls {floor + 1:,} {upper}", asset, str(calls),
                rates.text(asset, tier.price_per_1000_minor) + " per 1,000 calls", amount,
            ))  # fmt: skip
        floor = tier.up_to_calls or floor
    for fee_asset, base in sorted(usage.fee_income_minor.items()):
        if base > 0 and plan.revenue_share_bps:
            amount = round_half_up(Fraction(base * plan.revenue_share_bps, BPS))
            lines.append(InvoiceLine(
                InvoiceLineKind.REVENUE_SHARE,
                f"Revenue share on platform fee income in {fee_asset}", fee_asset,
                rates.text(fee_asset, base), f"{plan.revenue_share_bps} bps", amount,
            ))  # fmt: skip
    for held, day_minor in sorted(usage.custody_day_minor.items()):
        if day_minor > 0 and plan.custody_bps_per_year:
            amount = round_half_up(
                Fraction(day_minor * plan.custody_bps_per_year, BPS * DAYS_PER_YEAR)
            )
            average = Fraction(day_minor, max(1, usage.custody_days))
            lines.append(InvoiceLine(
                InvoiceLineKind.CUSTODY,
                f"Custody of {held}: average daily holding over {usage.custody_days} days",
                held, rates.text(held, round_half_up(average)),
                f"{plan.custody_bps_per_year} bps per year, Actual/365", amount,
            ))  # fmt: skip
    return lines


def totals(lines: list[InvoiceLine]) -> dict[str, int]:
    """The invoice's total per asset: the sum of its rounded lines."""
    found: dict[str, int] = {}
    for line in lines:
        found[line.asset] = found.get(line.asset, 0) + line.amount_minor
    return dict(sorted(found.items()))


class InvoiceStatus(enum.Enum):
    """Where an invoice stands."""

    DRAFT = "DRAFT"  # a preview of the month so far: not stored, not posted
    ISSUED = "ISSUED"  # stored; its ledger entry may still be on the way
    POSTED = "POSTED"  # its revenue entry is in the ledger


@dataclass(frozen=True)
class Invoice:
    """One tenant's invoice for one month (at most one per tenant and month)."""

    id: str
    tenant_id: str
    month: Month
    plan_version: int
    status: InvoiceStatus
    lines: tuple[InvoiceLine, ...]
    totals_minor: dict[str, int]
    usage: Usage
    issued_at: dt.datetime
    closed_by: str
    decimals: dict[str, int]  # each asset's minor unit when issued (how amounts print)

    def amount(self, asset: str, minor: int) -> Decimal:
        """``minor`` units of ``asset`` as a decimal amount."""
        return Decimal(minor).scaleb(-self.decimals.get(asset, 0))


def invoice_id(tenant_id: str, month: Month) -> str:
    """Deterministic: closing a month again finds the same invoice, never makes a second."""
    return f"inv_{tenant_id}_{month.year:04d}{month.month:02d}"
