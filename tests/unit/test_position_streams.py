"""The risk streams' change feed: a subscriber that wakes up late gets one conflated change
(every market and position since), and an overflow means "everything changed"."""

from __future__ import annotations

import asyncio

import orjson

from domains.positions.projection import MARK_TOPIC
from domains.positions.streams import PositionStreams
from subscriptions.broker import OVERFLOW
from subscriptions.hub import StreamHub
from subscriptions.memory import MemoryBroker


async def _settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_changes_pending_at_wake_up_arrive_as_one() -> None:
    hub = StreamHub(MemoryBroker())
    async with PositionStreams(hub).changes("ten_a") as feed:
        for market in ("A-PERP", "B-PERP", "A-PERP"):
            await hub.publish(MARK_TOPIC, orjson.dumps({"markets": [market]}))
        position = {"_id": "acc:A-PERP", "market_id": "A-PERP", "quantity": "1"}
        await hub.publish("positions.ten_a", orjson.dumps({"positions": [position]}))
        await hub.publish("positions.ten_b", orjson.dumps({"positions": [{"_id": "other"}]}))
        await _settle()
        changes = await asyncio.wait_for(feed.next(), timeout=1)
        assert changes.markets == {"A-PERP", "B-PERP"} and not changes.everything
        assert [p["_id"] for p in changes.positions] == ["acc:A-PERP"]  # never tenant B's
        await hub.publish(MARK_TOPIC, OVERFLOW)  # a lost payload: the view is re-read whole
        await _settle()
        assert (await asyncio.wait_for(feed.next(), timeout=1)).everything


async def test_liquidation_streams_need_no_mark_prices() -> None:
    hub = StreamHub(MemoryBroker())
    async with PositionStreams(hub).changes("ten_a", marks=False) as feed:
        await hub.publish(MARK_TOPIC, orjson.dumps({"markets": ["A-PERP"]}))
        step = {"_id": "1:0", "step": "STARTED"}
        await hub.publish("positions.ten_a", orjson.dumps({"liquidations": [step]}))
        await _settle()
        changes = await asyncio.wait_for(feed.next(), timeout=1)
        assert changes.markets == set() and changes.liquidations == [step]
    assert hub.subscribers(MARK_TOPIC) == 0 and hub.subscribers("positions.ten_a") == 0


async def test_dashboards_woken_together_share_one_risk_summary_computation() -> None:
    from decimal import Decimal

    from domains.positions.service import PositionsService, RiskSummary
    from domains.shared.context import TenantScope

    class Service(PositionsService):
        computed = 0

        async def risk_summary(self, scope: TenantScope) -> RiskSummary:
            Service.computed += 1
            await asyncio.sleep(0.01)
            return RiskSummary([], {"USDT": Decimal(Service.computed)}, [], [], [], 0)

    service = Service(None)  # type: ignore[arg-type]
    scope = TenantScope("ten_a")
    first = await asyncio.gather(*(service.shared_risk_summary(scope) for _ in range(5)))
    assert Service.computed == 1 and all(s is first[0] for s in first)
    again = await service.shared_risk_summary(scope)  # a later change computes afresh
    assert Service.computed == 2 and again.margin_in_use == {"USDT": Decimal(2)}
