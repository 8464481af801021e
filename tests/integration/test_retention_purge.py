"""Retention deletes on the store: trades go only when expired for every tenant party to
them (hypothesis over random tenants, times and cutoffs), finished orders only, closed
alert work only, and policies refuse periods below the regulatory floor."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domains.compliance.retention import (
    FIVE_YEARS,
    RULES,
    CompliancePurge,
    RecordKind,
    RetentionBelowMinimumError,
    RetentionPolicies,
)
from domains.orders.retention import OrdersRetention
from domains.shared.mongo import Database

pytestmark = [pytest.mark.store]

T0 = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
TENANTS = ("ta", "tb", "tc")
trade = st.tuples(st.sets(st.sampled_from(TENANTS), min_size=1, max_size=2),
                  st.integers(0, 100))  # fmt: skip


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    trades=st.lists(trade, min_size=1, max_size=12),
    cutoffs=st.fixed_dictionaries({t: st.integers(0, 100) for t in TENANTS}),
    party=st.sampled_from((None, *TENANTS)),
)
async def test_a_trade_goes_only_once_expired_for_every_party(
    scratch_db: Database, trades: list[tuple[set[str], int]], cutoffs: dict[str, int],
    party: str | None,
) -> None:  # fmt: skip
    await scratch_db.trades.delete_many({})
    made = [(f"tr{i}", sorted(ts), T0 + dt.timedelta(days=d)) for i, (ts, d) in enumerate(trades)]
    await scratch_db.trades.insert_many(
        [{"_id": i, "tenant_ids": ts, "executed_at": when} for i, ts, when in made]
    )
    at = {t: T0 + dt.timedelta(days=d) for t, d in cutoffs.items()}
    await OrdersRetention(scratch_db).purge_trades(at, party=party)
    left = {d["_id"] async for d in scratch_db.trades.find({}, {"_id": 1})}
    expected = {
        i for i, ts, when in made
        if not (all(when < at[t] for t in ts) and (party is None or party in ts))
    }  # fmt: skip
    assert left == expected


async def test_only_finished_orders_and_closed_work_are_purged(scratch_db: Database) -> None:
    old, new = T0, T0 + dt.timedelta(days=400)
    cutoff = T0 + dt.timedelta(days=200)
    await scratch_db.orders.insert_many([
        {"_id": "o1", "tenant_id": "ta", "status": "FILLED", "updated_at": old},
        {"_id": "o2", "tenant_id": "ta", "status": "NEW", "updated_at": old},
        {"_id": "o3", "tenant_id": "ta", "status": "PENDING_TRIGGER", "updated_at": old},
        {"_id": "o4", "tenant_id": "ta", "status": "CANCELED", "updated_at": new},
        {"_id": "o5", "tenant_id": "tb", "status": "REJECTED", "updated_at": old},
    ])  # fmt: skip
    assert await OrdersRetention(scratch_db).purge_orders("ta", cutoff) == 1
    left = sorted([d["_id"] async for d in scratch_db.orders.find({})])
    assert left == ["o2", "o3", "o4", "o5"]
    await scratch_db.compliance_cases.insert_many([
        {"_id": "c1", "tenant_id": "ta", "status": "CLOSED", "updated_at": old},
        {"_id": "c2", "tenant_id": "ta", "status": "INVESTIGATING", "updated_at": old},
    ])  # fmt: skip
    await scratch_db.compliance_alerts.insert_many([
        {"_id": "a1", "tenant_id": "ta", "status": "CLOSED", "case_id": "c1", "detected_at": old},
        {"_id": "a2", "tenant_id": "ta", "status": "IN_CASE", "case_id": "c2", "detected_at": old},
        {"_id": "a3", "tenant_id": "ta", "status": "CLOSED", "case_id": None, "detected_at": old},
        {"_id": "a4", "tenant_id": "ta", "status": "OPEN", "case_id": None, "detected_at": old},
        {"_id": "a5", "tenant_id": "ta", "status": "CLOSED", "case_id": None, "detected_at": new},
    ])  # fmt: skip
    assert await CompliancePurge(scratch_db).alerts_and_cases("ta", cutoff) == 3  # c1 a1 a3
    assert sorted([d["_id"] async for d in scratch_db.compliance_cases.find({})]) == ["c2"]
    alerts = sorted([d["_id"] async for d in scratch_db.compliance_alerts.find({})])
    assert alerts == ["a2", "a4", "a5"]


async def test_policies_refuse_periods_below_the_floor_and_change_nothing(
    scratch_db: Database,
) -> None:
    policies = RetentionPolicies(scratch_db)
    defaults = await policies.days("ta")
    assert defaults == {k: r.default_days for k, r in RULES.items()}
    with pytest.raises(RetentionBelowMinimumError) as refused:
        await policies.set("ta", {RecordKind.ORDERS: 2000, RecordKind.TRADES: 365})
    assert refused.value.extensions["code"] == "RETENTION_BELOW_MINIMUM"
    assert await policies.days("ta") == defaults  # the valid ORDERS period was not kept
    updated = await policies.set("ta", {RecordKind.TRADES: 3000, RecordKind.AUTH_FAILURES: 90})
    assert (updated[RecordKind.TRADES], updated[RecordKind.AUTH_FAILURES]) == (3000, 90)
    await scratch_db.audit_settings.insert_one({"_id": "tb", "retention_days": 365})
    assert (await policies.days("tb"))[RecordKind.AUDIT] == FIVE_YEARS  # a legacy 1 year
