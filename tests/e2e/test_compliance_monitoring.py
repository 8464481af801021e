"""AML monitoring and trade surveillance on the live event stream: movements journaled the
way custody will journal them, and trades placed through the graph."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import numpy as np
import pytest
from starlette.applications import Starlette

from domains.compliance.alert_service import AlertService
from domains.compliance.errors import WithdrawalLimitExceededError
from domains.compliance.gates import KycGate
from domains.compliance.monitor import ComplianceMonitor, MonitoringSettings
from domains.compliance.monitoring_repository import MongoMonitoringRepository
from domains.compliance.screening import SanctionsScreening
from domains.orders.trading import TradingService
from domains.shared.context import TenantScope
from engine import codes
from engine import commands as cmd
from engine.layout import COMMAND_DTYPE, EVENT_DTYPE
from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from tests.e2e.test_compliance_kyc import PLACE, new_customer, ok, order, verify

pytestmark = [pytest.mark.e2e, pytest.mark.store]

SANCTIONED = "0x1111111111111111111111111111111111111111"


async def alerts_of(platform: Platform, tenant: str, customer: str) -> list[Any]:
    await platform.writer.projections.drain()  # the monitor runs behind the journal
    found = await platform.get(AlertService).alerts(TenantScope(tenant), None, 200, None)
    return [a for a in found if a.customer_id == customer]


async def move(platform: Platform, build: Any, tenant: str, customer: str, account: str,
               amount: str, note: dict[str, str]) -> int:  # fmt: skip
    index = await platform.directory.account_index(account, tenant, customer)
    asset = platform.directory.asset("USDT")
    assert asset is not None
    minor = int(Decimal(amount).scaleb(asset.decimals))
    submitted = await platform.engines.bus.submit(
        build(0, 0, account=index, asset=asset.index, amount_minor=minor), note
    )
    await platform.writer.projections.reached(submitted.seq)  # the monitor runs behind it
    return submitted.seq


async def test_a_large_deposit_withdrawn_at_once_to_a_listed_address_raises_alerts(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    platform: Platform = app.state.platform
    tenant = demo_keys["tenant_admin"].tenant_id or ""
    customer, account = await new_customer(http, demo_keys, "Erin Mover")
    await verify(http, demo_keys, customer)
    source = "0x" + "feed" * 10
    note = {"deposit_id": "dep-erin-1", "source": source}
    await move(platform, cmd.deposit_credit, tenant, customer, account, "15000", note)
    rules = {a.rule.value for a in await alerts_of(platform, tenant, customer)}
    assert rules == {"AML_LARGE_TRANSACTION"}

    await move(platform, cmd.withdrawal_hold, tenant, customer, account, "14000",
               {"withdrawal_id": "wd-erin-1", "destination": SANCTIONED})  # fmt: skip
    found = await alerts_of(platform, tenant, customer)
    assert {a.rule.value for a in found} == {
        "AML_LARGE_TRANSACTION", "AML_RAPID_IN_OUT", "SANCTIONS_ADDRESS"
    }  # fmt: skip
    rapid = next(a for a in found if a.rule.value == "AML_RAPID_IN_OUT")
    assert [e.ref for e in rapid.evidence] == ["dep-erin-1", "wd-erin-1"]
    gate = platform.get(KycGate)  # the hold counts towards today's level-1 limit (20,000)
    await gate.check_withdrawal(tenant, customer, "USDT", Decimal("6000"))
    with pytest.raises(WithdrawalLimitExceededError):
        await gate.check_withdrawal(tenant, customer, "USDT", Decimal("6000.01"))


async def test_operator_adjustments_and_small_movements_raise_nothing(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    platform: Platform = app.state.platform
    tenant = demo_keys["tenant_admin"].tenant_id or ""
    customer, account = await new_customer(http, demo_keys, "Frank Quiet")  # 10,000 adjusted in
    await move(platform, cmd.deposit_credit, tenant, customer, account, "120", {"deposit_id": "d"})
    note = {"withdrawal_id": "w", "destination": "0x" + "abc" * 13 + "a"}
    await move(platform, cmd.withdrawal_hold, tenant, customer, account, "20", note)
    assert await alerts_of(platform, tenant, customer) == []


async def test_a_replayed_batch_raises_no_second_alert(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    platform: Platform = app.state.platform
    tenant = demo_keys["tenant_admin"].tenant_id or ""
    customer, account = await new_customer(http, demo_keys, "Gina Replay")
    index = await platform.directory.account_index(account, tenant, customer)
    usdt = platform.directory.asset("USDT")
    assert usdt is not None
    batch = np.zeros(1, dtype=COMMAND_DTYPE)
    batch[0]["seq"], batch[0]["ts_ns"], batch[0]["kind"] = (
        10**12,
        1_790_000_000_000_000_000,
        codes.DEPOSIT_CREDIT,
    )
    batch[0]["account"], batch[0]["asset"] = index, usdt.index
    batch[0]["amount"] = 50_000 * 10**usdt.decimals
    events = np.zeros(1, dtype=EVENT_DTYPE)
    events[0]["seq"], events[0]["kind"], events[0]["account"] = 10**12, codes.EV_ACCEPTED, index
    monitor = ComplianceMonitor(
        MongoMonitoringRepository(platform.db), platform.get(MonitoringSettings),
        platform.get(AlertService), platform.get(SanctionsScreening), platform.directory,
        platform.get(TradingService).spec,
    )  # fmt: skip
    for _ in range(2):
        await monitor(batch, events, {10**12: {"deposit_id": "dep-replayed"}})
    assert [a.rule.value for a in await alerts_of(platform, tenant, customer)] == [
        "AML_LARGE_TRANSACTION"
    ]


async def test_a_trade_between_two_accounts_of_one_customer_is_flagged_as_a_wash_trade(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    platform: Platform = app.state.platform
    tenant, admin = demo_keys["tenant_admin"].tenant_id or "", demo_keys["tenant_admin"]
    customer, main = await new_customer(http, demo_keys, "Hank Washer")
    await verify(http, demo_keys, customer)
    opened = await ok(http, 'mutation($c: ID!) { openSubAccount(customerId: $c, label: "w") '
                      "{ id } }", {"c": customer}, admin)  # fmt: skip
    sub = opened["openSubAccount"]["id"]
    fund = (
        'mutation($a: ID!) { adjustBalance(input: {accountId: $a, asset: "BTC", '
        'amount: "1", reason: "test"}) { sequence } }'
    )
    await ok(http, fund, {"a": sub}, demo_keys["operator"])
    await ok(http, PLACE, order(sub, "SELL", "64100"), admin)
    await ok(http, PLACE, order(main, "BUY", "64100"), admin)
    found = await alerts_of(platform, tenant, customer)
    assert [a.rule.value for a in found] == ["SURVEILLANCE_WASH_TRADE"]
    assert found[0].market_id == "BTC-USDT"
    assert {e.kind for e in found[0].evidence} == {"TRADE", "ACCOUNT"}


async def test_layered_bids_cancelled_around_a_sale_are_flagged_as_spoofing(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    platform: Platform = app.state.platform
    tenant, admin, officer = (demo_keys["tenant_admin"].tenant_id or "",
                              demo_keys["tenant_admin"], demo_keys["compliance"])  # fmt: skip
    params = {"market": "BTC-USDT", "washTrading": True, "circularWindowSeconds": 600,
              "circularQuantityTolerancePercent": 5, "spoofMinNotional": "100",
              "spoofNearTouchBps": 50, "spoofMaxLifetimeSeconds": 30, "spoofMinCancels": 3,
              "spoofWindowSeconds": 300, "spoofRequireOppositeFill": True}  # fmt: skip
    await ok(http, "mutation($p: SurveillanceParametersInput!) { setSurveillanceParameters("
             "input: $p) { spoofMinNotional } }", {"p": params}, officer)  # fmt: skip
    names = ("Lena Spoofer", "Mo Counterparty", "Ned Counterparty")
    (spoofer, spoofer_acc), (other, other_acc), (third, third_acc) = [
        await new_customer(http, demo_keys, name) for name in names
    ]
    for customer in (spoofer, other, third):
        await verify(http, demo_keys, customer)
    await ok(http, PLACE, order(other_acc, "SELL", "64100"), admin)  # a trade sets the touch
    await ok(http, PLACE, order(third_acc, "BUY", "64100"), admin)
    cancel = "mutation($id: ID!) { cancelOrder(id: $id) { order { status } } }"
    for _ in range(3):
        layered = await ok(http, PLACE, {"input": {**order(spoofer_acc, "BUY", "64080")["input"],
                                                   "quantity": "0.002"}}, admin)  # fmt: skip
        await ok(http, cancel, {"id": layered["placeOrder"]["order"]["id"]}, admin)
    assert await alerts_of(platform, tenant, spoofer) == []  # no execution on the other side
    await ok(http, PLACE, order(other_acc, "BUY", "64090"), admin)
    await ok(http, PLACE, order(spoofer_acc, "SELL", "64090"), admin)
    found = await alerts_of(platform, tenant, spoofer)
    assert [a.rule.value for a in found] == ["SURVEILLANCE_SPOOFING"]
    assert sum(e.kind == "ORDER" for e in found[0].evidence) == 3
