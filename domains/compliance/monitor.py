"""The compliance listener on the engine's event stream: AML monitoring of money movements and
surveillance of trades and orders; every hit is an alert.

Runs in the writer's batch loop like the other projections, and must be idempotent: a batch
may be replayed on recovery. Movements are recorded under their engine sequence (a replay
inserts nothing new) and alert ids derive from what triggered them, so a replay re-raises
nothing. Custody journals withdrawals and deposits with these note keys, which the monitor
reads: ``destination`` / ``source`` (the counterparty address) and ``withdrawal_id`` /
``deposit_id``; operator adjustments (note ``reason``) are not customer movements.

Public ids are rebuilt here in the formats the orders domain publishes (``ord_<16 digits>``,
``<market>:<12-digit trade number>``) so evidence links point at real objects.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Protocol

import numpy as np

from domains.compliance.alert_model import Alert, alert_id
from domains.compliance.alert_service import AlertService
from domains.compliance.aml import AmlRules, Hit, Movement, Transaction, evaluate
from domains.compliance.monitoring_repository import MongoMonitoringRepository
from domains.compliance.screening import SanctionsScreening
from domains.compliance.surveillance import (
    OrderFact,
    Owner,
    SurveillanceParams,
    TradeFact,
    TradeSurveillance,
)
from domains.shared.engine_port import EngineDirectory, yielding
from domains.shared.scalars import utcnow
from engine import codes
from engine.events import Row, rows
from engine.layout import Records

NOTE_DESTINATION, NOTE_SOURCE = "destination", "source"
NOTE_WITHDRAWAL_ID, NOTE_DEPOSIT_ID = "withdrawal_id", "deposit_id"
NOTE_ADJUSTMENT = "reason"  # operator adjustments (TradingService.adjust_balance)
MOVEMENTS = {
    codes.DEPOSIT_CREDIT: Movement.DEPOSIT,
    codes.WITHDRAWAL_HOLD: Movement.WITHDRAWAL,
    codes.WITHDRAWAL_RELEASE: Movement.WITHDRAWAL_RELEASED,
}
SETTINGS_TTL_S = 5.0
WATCHED_EVENTS = (codes.EV_ACCEPTED, codes.EV_TRADE, codes.EV_ORDER_DONE)  # what ``_event`` reads
TREASURY_OWNER = "treasury"
log = logging.getLogger("caas.compliance.monitor")


class Market(Protocol):
    """What the monitor needs of a market spec (domains.orders.spec.MarketSpec)."""

    def price(self, ticks: int) -> Decimal: ...
    def quantity(self, lots: int) -> Decimal: ...


SpecLookup = Callable[[str], Awaitable[Market]]


def to_datetime(ts_ns: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts_ns // 1_000_000 / 1000, dt.UTC)


class MonitoringSettings:
    """Per-tenant AML rules and per-market surveillance parameters, cached briefly."""

    def __init__(self, repository: MongoMonitoringRepository) -> None:
        self._repo = repository
        self._rules: dict[str, tuple[float, AmlRules]] = {}
        self._params: dict[str, tuple[float, dict[str, SurveillanceParams]]] = {}

    async def rules(self, tenant_id: str) -> AmlRules:
        cached = self._rules.get(tenant_id)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        rules = await self._repo.rules(tenant_id) or AmlRules(tenant_id)
        self._rules[tenant_id] = (time.monotonic() + SETTINGS_TTL_S, rules)
        return rules

    async def params(self, tenant_id: str, market_id: str) -> SurveillanceParams:
        cached = self._params.get(tenant_id)
        if cached is None or cached[0] <= time.monotonic():
            found = {p.market_id: p for p in await self._repo.params(tenant_id)}
            cached = (time.monotonic() + SETTINGS_TTL_S, found)
            self._params[tenant_id] = cached
        return cached[1].get(market_id) or SurveillanceParams(tenant_id, market_id)

    async def save_rules(self, rules: AmlRules) -> AmlRules:
        await self._repo.save_rules(rules)
        self._rules.pop(rules.tenant_id, None)
        return rules

    async def save_params(self, params: SurveillanceParams) -> SurveillanceParams:
        await self._repo.save_params(params)
        self._params.pop(params.tenant_id, None)
        return params

    async def withdrawn_today(self, tenant_id: str, customer_id: str, asset: str) -> Decimal:
        """Withdrawals requested today (UTC) less those released again (KycGate's usage)."""
        midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
        total = Decimal(0)
        for tx in await self._repo.history(tenant_id, customer_id, midnight):
            if tx.asset == asset and tx.kind is Movement.WITHDRAWAL:
                total += tx.amount
            elif tx.asset == asset and tx.kind is Movement.WITHDRAWAL_RELEASED:
                total -= tx.amount
        return max(total, Decimal(0))


class ComplianceMonitor:
    """Writer listener: movements -> AML rules; trades and orders -> surveillance."""

    def __init__(
        self, repository: MongoMonitoringRepository, settings: MonitoringSettings,
        alerts: AlertService, screening: SanctionsScreening, directory: EngineDirectory,
        spec_for: SpecLookup,
    ) -> None:  # fmt: skip
        self._repo = repository
        self._settings = settings
        self._alerts = alerts
        self._screening = screening
        self._directory = directory
        self._spec_for = spec_for
        self.surveillance = TradeSurveillance()

    async def __call__(
        self, batch: Records, events: Records, notes: dict[int, dict[str, str]]
    ) -> None:
        commands = {row["seq"]: row for row in rows(batch)}
        movements: list[Transaction] = []
        self._raised: list[Alert] = []  # written together at the end: one bulk write
        watched = events[np.isin(events["kind"], WATCHED_EVENTS)]  # not a round's 20,000 others
        async for event in yielding(rows(watched)):
            command = commands.get(event["seq"])
            if command is None:
                continue
            try:
                await self._event(event, command, notes.get(event["seq"], {}), movements)
            except Exception:  # never stall the writer over a monitoring problem
                log.exception("compliance monitoring failed", extra={"seq": event["seq"]})
        if movements:
            await self._repo.record(movements)  # raised: the writer logs it; a replay retries
            for tx in movements:
                try:
                    await self._monitor(tx)
                except Exception:  # one rule's trouble must not hide the other movements
                    log.exception("AML monitoring failed", extra={"seq": tx.seq})
        raised, self._raised = self._raised, []
        await self._alerts.raise_alerts(raised)

    async def _event(
        self, event: Row, command: Row, note: dict[str, str], movements: list[Transaction]
    ) -> None:
        kind, at = event["kind"], to_datetime(command["ts_ns"])
        if kind == codes.EV_ACCEPTED and command["kind"] in MOVEMENTS:
            tx = self._movement(event, command, note, at)
            if tx is not None:
                movements.append(tx)
        elif kind == codes.EV_ACCEPTED and command["kind"] == codes.PLACE_ORDER:
            await self._order_accepted(event, at)
        elif kind == codes.EV_TRADE:
            await self._trade(event, at)
        elif kind == codes.EV_ORDER_DONE:
            await self._order_done(event, at)

    def _owner(self, index: int) -> Owner | None:
        ref = self._directory.account(index)
        if ref is None or ref.customer_id == TREASURY_OWNER or not ref.tenant_id:
            return None
        return Owner(ref.tenant_id, ref.customer_id, ref.account_id)

    def _movement(
        self, event: Row, command: Row, note: dict[str, str], at: dt.datetime
    ) -> Transaction | None:
        owner, asset = (
            self._owner(command["account"]),
            self._directory.asset_by_index(command["asset"]),
        )
        if owner is None or asset is None or NOTE_ADJUSTMENT in note:
            return None
        return Transaction(
            seq=event["seq"], tenant_id=owner.tenant_id, customer_id=owner.customer_id,
            account_id=owner.account_id, kind=MOVEMENTS[command["kind"]], asset=asset.code,
            amount=Decimal(command["amount"]).scaleb(-asset.decimals), at=at,
            counterparty=note.get(NOTE_DESTINATION) or note.get(NOTE_SOURCE),
            reference=note.get(NOTE_WITHDRAWAL_ID) or note.get(NOTE_DEPOSIT_ID),
        )  # fmt: skip

    async def _monitor(self, tx: Transaction) -> None:
        rules = await self._settings.rules(tx.tenant_id)
        history = await self._repo.history(
            tx.tenant_id, tx.customer_id, tx.at - rules.longest_window
        )
        if all(t.seq != tx.seq for t in history):
            history.append(tx)
        for hit in evaluate(rules, tx, history):
            await self._raise(tx.tenant_id, hit.customer_id or tx.customer_id, hit, None, tx.seq)
        if tx.kind is Movement.WITHDRAWAL and tx.counterparty:
            await self._screening.screen_address(
                tx.tenant_id, tx.customer_id, tx.counterparty, "WITHDRAWAL",
                tx.reference or f"seq:{tx.seq}",
            )  # fmt: skip

    async def _raise(
        self, tenant_id: str, customer_id: str | None, hit: Hit, market: str | None, seq: int
    ) -> None:
        self._raised.append(Alert(
            id=alert_id(hit.rule, tenant_id, hit.key), tenant_id=tenant_id, rule=hit.rule,
            severity=hit.severity, summary=hit.summary, customer_id=customer_id,
            evidence=hit.evidence, detected_at=utcnow(), market_id=market, seq=seq,
        ))  # fmt: skip

    async def _order_accepted(self, event: Row, at: dt.datetime) -> None:
        owner, market_id = self._owner(event["account"]), self._directory.market_id(event["market"])
        if owner is None or market_id is None or event["price"] <= 0:
            return
        spec = await self._spec_for(market_id)
        params = await self._settings.params(owner.tenant_id, market_id)
        if self.surveillance.last_price(market_id) is None:
            return  # no trade seen yet in this process: nothing to measure the touch against
        self.surveillance.on_order_accepted(OrderFact(
            f"ord_{event['order_id']:016d}", owner, market_id,
            "BUY" if event["side"] == codes.BUY else "SELL", spec.price(event["price"]),
            spec.quantity(event["qty"]), at,
        ), params)  # fmt: skip

    async def _order_done(self, event: Row, at: dt.datetime) -> None:
        owner, market_id = self._owner(event["account"]), self._directory.market_id(event["market"])
        if owner is None or market_id is None:
            return
        spec = await self._spec_for(market_id)
        params = await self._settings.params(owner.tenant_id, market_id)
        hits = self.surveillance.on_order_done(
            f"ord_{event['order_id']:016d}", event["status"] == codes.CANCELED,
            spec.quantity(event["qty"]), at, params,
        )  # fmt: skip
        for hit in hits:
            await self._raise(owner.tenant_id, hit.customer_id, hit, market_id, event["seq"])

    async def _trade(self, event: Row, at: dt.datetime) -> None:
        market_id = self._directory.market_id(event["market"])
        taker, maker = self._owner(event["account"]), self._owner(event["maker_account"])
        if market_id is None or taker is None or maker is None:
            return
        spec = await self._spec_for(market_id)
        buyer, seller = (taker, maker) if event["side"] == codes.BUY else (maker, taker)
        trade = TradeFact(
            event["seq"], f"{market_id}:{event['market_seq']:012d}", market_id,
            spec.price(event["price"]), spec.quantity(event["qty"]), buyer, seller, at,
        )  # fmt: skip
        params = await self._settings.params(buyer.tenant_id, market_id)
        for hit in self.surveillance.on_trade(trade, params):
            await self._raise(buyer.tenant_id, hit.customer_id, hit, market_id, event["seq"])
