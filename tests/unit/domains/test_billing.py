"""Billing arithmetic, by hand: tiers at their boundaries, half-up rounding per line, the
plan in effect at month close, and the plan's validation (domains/accounts/billing/model.py)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domains.accounts.billing.export import encode
from domains.accounts.billing.model import (
    ApiCallTier,
    BillingPlan,
    Invoice,
    InvoiceLineKind,
    InvoiceStatus,
    Month,
    Rates,
    Usage,
    api_tier_calls,
    invoice_lines,
    round_half_up,
    totals,
    validate_plan_terms,
)
from domains.accounts.billing.service import plan_for
from domains.shared.errors import ValidationError

AT = dt.datetime(2026, 11, 3, tzinfo=dt.UTC)
RATES = Rates({"USDT": 6, "BTC": 8})
# first 10,000 calls free, then 0.50 USDT per 1,000 up to 100,000, then 0.20 per 1,000
TIERS = (ApiCallTier(10_000, 0), ApiCallTier(100_000, 500_000), ApiCallTier(None, 200_000))


def plan(version: int = 1, month: str = "2026-10", **terms: object) -> BillingPlan:
    fields: dict[str, object] = {
        "settlement_asset": "USDT", "subscription_minor": 1_500_000_000,  # 1,500 USDT
        "api_tiers": TIERS, "revenue_share_bps": 2_000, "custody_bps_per_year": 50,
    }  # fmt: skip
    fields.update(terms)
    return BillingPlan(tenant_id="ten_a", version=version, effective_from=Month.parse(month),
                       created_by="key_op", created_at=AT, **fields)  # type: ignore[arg-type]  # fmt: skip


def test_a_hand_computed_invoice() -> None:
    usage = Usage(
        api_calls=123_457,
        fee_income_minor={"USDT": 12_345_678},  # 12.345678 USDT of platform fees
        custody_day_minor={"BTC": 30 * 100_000_000},  # 1 BTC held at each of 30 day ends
        custody_days=30,
    )
    lines = invoice_lines(plan(), usage, RATES)
    by_kind = [(line.kind, line.asset, line.quantity, line.amount_minor) for line in lines]
    assert by_kind == [
        (InvoiceLineKind.SUBSCRIPTION, "USDT", "1", 1_500_000_000),  # 1,500 USDT
        # tier 1: calls 1..10,000 at 0 (shown: what the free tier covered)
        (InvoiceLineKind.API_CALLS, "USDT", "10000", 0),
        # tier 2: 90,000 x 0.50 / 1,000 = 45 USDT
        (InvoiceLineKind.API_CALLS, "USDT", "90000", 45_000_000),
        # tier 3: 23,457 x 0.20 / 1,000 = 4.6914 USDT exactly
        (InvoiceLineKind.API_CALLS, "USDT", "23457", 4_691_400),
        # 12,345,678 x 2,000 / 10,000 = 2,469,135.6 minor -> half-up 2,469,136 (2.469136 USDT)
        (InvoiceLineKind.REVENUE_SHARE, "USDT", "12.345678", 2_469_136),
        # 3,000,000,000 sat-days x 50 / (10,000 x 365) = 41,095.89... -> 41,096 sat
        (InvoiceLineKind.CUSTODY, "BTC", "1", 41_096),
    ]
    # totals are the sums of the rounded lines: 1,500 + 45 + 4.6914 + 2.469136 USDT
    assert totals(lines) == {"BTC": 41_096, "USDT": 1_552_160_536}


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        (0, [0, 0, 0]),
        (9_999, [9_999, 0, 0]),
        (10_000, [10_000, 0, 0]),  # the free tier's last call
        (10_001, [10_000, 1, 0]),  # the first paid call
        (100_000, [10_000, 90_000, 0]),
        (100_001, [10_000, 90_000, 1]),  # the first call of the cheapest tier
    ],
)
def test_calls_fall_in_their_tier_at_the_boundaries(calls: int, expected: list[int]) -> None:
    assert api_tier_calls(calls, TIERS) == expected


def test_a_call_past_the_free_tier_is_charged_and_rounded_half_up() -> None:
    # 1 call at 0.50 per 1,000 = 0.0005 USDT = 500 minor exactly
    lines = invoice_lines(plan(), Usage(10_001, {}, {}, 0), RATES)
    assert [line.amount_minor for line in lines] == [1_500_000_000, 0, 500]
    # 1 minor per 1,000 calls: 1,500 calls = 1.5 minor -> 2; 1,499 calls = 1.499 -> 1
    cheap = plan(api_tiers=(ApiCallTier(None, 1),), subscription_minor=0)
    assert invoice_lines(cheap, Usage(1_500, {}, {}, 0), RATES)[1].amount_minor == 2
    assert invoice_lines(cheap, Usage(1_499, {}, {}, 0), RATES)[1].amount_minor == 1


def test_the_plan_in_effect_at_month_close_bills_the_whole_month() -> None:
    october, november, december = (Month.parse(m) for m in ("2026-10", "2026-11", "2026-12"))
    v1 = plan(1, "2026-10")
    v2 = plan(2, "2026-12")  # set early for December
    v3 = plan(3, "2026-11", subscription_minor=2_000_000_000)  # changed mid-November
    versions = [v1, v2, v3]
    assert plan_for(versions, october) is v1
    assert plan_for(versions, november) is v3  # the change bills all of November
    assert plan_for(versions, december) is v2  # the later month wins over the later version
    assert plan_for(versions, Month.parse("2026-09")) is None


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ({"subscription_minor": -1}, "monthlySubscription"),
        ({"revenue_share_bps": 10_001}, "revenueShareBps"),
        ({"custody_bps_per_year": -1}, "custodyBpsPerYear"),
        ({"tiers": ()}, "apiTiers"),
        ({"tiers": (ApiCallTier(10, 0), ApiCallTier(10, 0), ApiCallTier(None, 1))}, "apiTiers"),
        ({"tiers": (ApiCallTier(10, 0),)}, "apiTiers"),  # the last tier must be unbounded
        ({"tiers": (ApiCallTier(None, 0), ApiCallTier(None, 0))}, "apiTiers"),
        ({"tiers": (ApiCallTier(None, -5),)}, "apiTiers"),
        ({"tiers": (ApiCallTier(0, 0), ApiCallTier(None, 1))}, "apiTiers"),
    ],
)
def test_bad_plan_terms_are_validation_errors(terms: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"subscription_minor": 0, "tiers": TIERS, "revenue_share_bps": 0,
                               "custody_bps_per_year": 0}  # fmt: skip
    args.update(terms)
    with pytest.raises(ValidationError) as refused:
        validate_plan_terms(**args)  # type: ignore[arg-type]
    assert refused.value.extensions["code"] == "VALIDATION"
    assert refused.value.extensions["field"] == field


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "", "x"])
def test_a_bad_month_is_a_validation_error(text: str) -> None:
    with pytest.raises(ValidationError):
        Month.parse(text)


def test_months_know_their_days_and_neighbours() -> None:
    assert len(Month.parse("2028-02").days()) == 29
    assert Month.parse("2026-12").next() == Month.parse("2027-01")
    assert Month.parse("2027-01").previous() == Month.parse("2026-12")
    assert Month.parse("2026-11").end == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def test_the_export_has_one_row_per_line_and_no_formula_cells() -> None:
    lines = invoice_lines(plan(), Usage(10_001, {}, {}, 0), RATES)
    invoice = Invoice("inv_ten_a_202610", "ten_a", Month.parse("2026-10"), 1,
                      InvoiceStatus.POSTED, tuple(lines), totals(lines), Usage(10_001, {}, {}, 0),
                      AT, "key_op", {"USDT": 6})  # fmt: skip
    text = encode([invoice], "csv").decode()
    rows = text.strip().split("\r\n")
    assert rows[0].startswith("invoice_id,tenant_id,month")
    assert len(rows) == 4 and rows[3].endswith(",0.0005")  # header, subscription, 2 tiers
    assert b'"amount":"1500"' in encode([invoice], "json")
    with pytest.raises(ValidationError):
        encode([invoice], "xml")


@given(
    calls=st.integers(0, 10**9),
    bounds=st.lists(st.integers(1, 10**8), max_size=8, unique=True).map(sorted),
)
def test_every_call_falls_in_exactly_one_tier(calls: int, bounds: list[int]) -> None:
    tiers = (*(ApiCallTier(b, 1) for b in bounds), ApiCallTier(None, 1))
    counts = api_tier_calls(calls, tiers)
    assert sum(counts) == calls and min(counts) >= 0


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_round_half_up_agrees_with_decimal(numerator: int, denominator: int) -> None:
    exact = Decimal(numerator) / Decimal(denominator)
    expected = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert round_half_up(Fraction(numerator, denominator)) == expected
