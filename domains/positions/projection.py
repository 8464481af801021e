"""Projects perpetual-futures engine events into the positions domain's read models and
streams: POSITION_CHANGED -> positions, MARK_PRICE -> mark_prices, LIQUIDATION ->
liquidations, the insurance accounts' BALANCE_CHANGED -> insurance_funds, and a funding
round (APPLY_FUNDING: its FUNDING events and the positions it settled) -> a few
``funding_rounds`` documents per market (domains/positions/funding_rounds.py) instead of
a write per position, built from the event columns in bulk (round_events.py) and
published as one summary per tenant. Runs behind the writer like the other projectors;
idempotent (replayed batches rewrite the same documents) and independent of how batches
were merged (a round's documents depend on its own command's events only)."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

import numpy as np
import orjson

from domains.orders.model import order_key
from domains.orders.spec import MarketSpec
from domains.positions.model import (
    InsuranceFund,
    LiquidationEvent,
    LiquidationStep,
    MarginMode,
    MarkPrice,
    Position,
)
from domains.positions.repository import (
    MongoPositionsRepository,
    liquidation_document,
    position_document,
)
from domains.positions.round_events import RoundBuilder, settled_mask, steps
from domains.shared.engine_port import AccountRef, AssetInfo, yielding
from domains.shared.errors import NotFoundError
from domains.shared.events import EventBus, tenant_topic
from engine import codes
from engine.events import rows
from engine.layout import Records

SpecLookup = Callable[[str], Awaitable[MarketSpec]]
log = logging.getLogger("caas.positions")
INSURANCE_PREFIX = "platform:insurance:"
POSITION_STREAM = "positions"
LIQUIDATION_STREAM = "liquidations"
MARK_TOPIC = "marks"  # public: mark prices of every perpetual
PPM = Decimal(1_000_000)
STEPS = {
    codes.LIQ_STARTED: LiquidationStep.STARTED,
    codes.LIQ_ORDERS_CANCELED: LiquidationStep.ORDERS_CANCELED,
    codes.LIQ_ORDER_FILLED: LiquidationStep.ORDER_FILLED,
    codes.LIQ_INSURANCE_PAID: LiquidationStep.INSURANCE_PAID,
    codes.LIQ_INSURANCE_CREDITED: LiquidationStep.INSURANCE_CREDITED,
    codes.LIQ_AUTO_DELEVERAGED: LiquidationStep.AUTO_DELEVERAGED,
    codes.LIQ_DONE: LiquidationStep.DONE,
    codes.LIQ_WOUND_DOWN: LiquidationStep.WOUND_DOWN,
    codes.LIQ_SOCIALIZED: LiquidationStep.SOCIALIZED_LOSS,
}
COUNTED_STEPS = frozenset({LiquidationStep.STARTED, LiquidationStep.ORDERS_CANCELED})
PERP_EVENTS = (codes.EV_POSITION_CHANGED, codes.EV_MARK_PRICE, codes.EV_FUNDING,
               codes.EV_LIQUIDATION, codes.EV_BALANCE_CHANGED)  # fmt: skip


def ns_datetime(ts_ns: int) -> dt.datetime:
    """Engine time (ns) as an aware UTC datetime, truncated to milliseconds like Mongo."""
    return dt.datetime.fromtimestamp(ts_ns // 1_000_000 / 1000, dt.UTC)


def entry_price(cost: Decimal, quantity: Decimal, spec: MarketSpec) -> Decimal:
    """cost / quantity, to the quote asset's minor unit (0 for a flat position)."""
    if quantity == 0:
        return Decimal(0)
    unit = Decimal(1).scaleb(-spec.quote.decimals)
    return (cost / quantity).quantize(unit).normalize() + 0


@dataclass
class _Batch:
    positions: dict[str, Position] = field(default_factory=dict)
    marks: dict[str, MarkPrice] = field(default_factory=dict)
    liquidations: list[LiquidationEvent] = field(default_factory=list)
    insurance: dict[str, InsuranceFund] = field(default_factory=dict)


class Directory(Protocol):
    """What the projector reads of the engine directory (indices -> ids)."""

    def account(self, index: int) -> AccountRef | None: ...
    def asset_by_index(self, index: int) -> AssetInfo | None: ...
    def market_id(self, index: int) -> str | None: ...


class PositionsProjector:
    """The writer listener for the positions domain."""

    def __init__(
        self,
        repository: MongoPositionsRepository,
        directory: Directory,
        spec_for: SpecLookup,
        events: EventBus | None = None,
    ) -> None:
        self._repo = repository
        self._directory = directory
        self._spec_for = spec_for
        self._events = events
        self._insurance_accounts: dict[int, bool] = {}  # engine account: an insurance fund?

    async def __call__(
        self, batch: Records, events: Records, notes: dict[int, dict[str, str]]
    ) -> None:
        mask = (events["kind"] >= codes.EV_POSITION_CHANGED) | (
            events["kind"] == codes.EV_BALANCE_CHANGED
        )
        perp = events[mask]
        if len(perp) == 0:
            return
        times = dict(zip(batch["seq"].tolist(), batch["ts_ns"].tolist(), strict=True))
        kinds = perp["kind"]
        funding, settled = kinds == codes.EV_FUNDING, settled_mask(perp)
        balances = kinds == codes.EV_BALANCE_CHANGED
        out = _Batch()
        rounds = await self._rounds(perp[funding], perp[settled], times)
        await self._insurance(out, perp[balances], times)
        rest = np.flatnonzero(~(funding | settled | balances))  # one by one, as they come
        async for ordinal in yielding(rest.tolist()):
            event = perp[ordinal]
            at = ns_datetime(times.get(int(event["seq"]), 0))
            await self._collect(out, ordinal, event, at)
        await self._repo.save_positions(list(out.positions.values()))
        await self._repo.save_marks(list(out.marks.values()))
        await self._repo.insert_rounds(rounds.documents())
        await self._repo.insert_liquidations(out.liquidations)
        await self._repo.save_insurance(list(out.insurance.values()))
        await self._publish(out, rounds.summaries())

    async def _rounds(
        self, funding: Records, settled: Records, times: dict[int, int]
    ) -> RoundBuilder:
        """The batch's funding rounds, from the event columns in slices (the event loop
        handed back between them): a round's entries, no object per position."""
        markets = set(funding["market"].tolist()) | set(settled["market"].tolist())
        specs = {market: await self._spec(market) for market in sorted(markets)}
        rounds = RoundBuilder(self._directory, specs, lambda s: ns_datetime(times.get(s, 0)))
        for part in steps(funding):
            rounds.pay(part)
            await asyncio.sleep(0)
        for part in steps(settled):
            rounds.settle(part)
            await asyncio.sleep(0)
        return rounds

    async def _insurance(self, out: _Batch, changed: Records, times: dict[int, int]) -> None:
        """The insurance funds' balances after the batch: of the BALANCE_CHANGED events
        (a round has one per account paid), only the insurance accounts' are looked at."""
        if not len(changed):
            return
        accounts = changed["account"]
        wanted = [a for a in np.unique(accounts).tolist() if self._is_insurance(a)]
        if not wanted:
            return
        for event in rows(changed[np.isin(accounts, wanted)]):
            asset = self._directory.asset_by_index(event["asset"])
            if asset is not None:
                balance = Decimal(event["value_a"] + event["value_b"]).scaleb(-asset.decimals)
                at = ns_datetime(times.get(event["seq"], 0))
                out.insurance[asset.code] = InsuranceFund(asset.code, balance, event["seq"], at)

    def _is_insurance(self, index: int) -> bool:
        """Whether engine account ``index`` is an insurance fund (remembered once known)."""
        known = self._insurance_accounts.get(index)
        if known is None:
            ref = self._directory.account(index)
            if ref is None:
                return False  # not known yet: asked again next time
            known = self._insurance_accounts[index] = ref.account_id.startswith(INSURANCE_PREFIX)
        return known

    async def _spec(self, market: int) -> MarketSpec | None:
        market_id = self._directory.market_id(market)
        if market_id is None:
            return None
        try:
            return await self._spec_for(market_id)
        except NotFoundError:  # listed by another process a moment ago: not readable yet
            log.warning("events of an unknown market skipped", extra={"market": market_id})
            return None

    async def _collect(self, out: _Batch, ordinal: int, event: Any, at: dt.datetime) -> None:
        """A mark price, a position change no round carries, or a liquidation step."""
        kind, seq = int(event["kind"]), int(event["seq"])
        spec = await self._spec(int(event["market"]))
        if spec is None:
            return
        if kind == codes.EV_MARK_PRICE:
            out.marks[spec.market.id] = self._mark(spec, event, seq, at)
            return
        ref = self._directory.account(int(event["account"]))
        if ref is None:
            return
        quote = spec.quote_amount
        if kind == codes.EV_POSITION_CHANGED:
            qty = spec.quantity(abs(int(event["qty"]))) * (-1 if event["qty"] < 0 else 1)
            cost = quote(int(event["value_a"]))
            out.positions[f"{ref.account_id}:{spec.market.id}"] = Position(
                id=f"{ref.account_id}:{spec.market.id}", tenant_id=ref.tenant_id,
                customer_id=ref.customer_id, account_id=ref.account_id,
                market_id=spec.market.id, quantity=qty, entry_price=entry_price(cost, qty, spec),
                realized_pnl=quote(int(event["order_id"])), updated_at=at, cost=cost,
                margin=quote(int(event["value_b"])), leverage=int(event["maker_order_id"]),
                margin_mode=MarginMode.ISOLATED
                if int(event["status"]) == codes.MARGIN_ISOLATED else MarginMode.CROSS,
                quote_asset=spec.quote.code, seq=seq,
            )  # fmt: skip
        elif kind == codes.EV_LIQUIDATION:
            out.liquidations.append(self._liquidation(spec, event, ordinal, at))

    @staticmethod
    def _mark(spec: MarketSpec, event: Any, seq: int, at: dt.datetime) -> MarkPrice:
        next_ns = int(event["value_b"])
        return MarkPrice(
            market_id=spec.market.id, mark=spec.price(int(event["price"])),
            index=spec.price(int(event["qty"])),
            funding_rate=Decimal(int(event["value_a"])) / PPM,
            next_funding_at=ns_datetime(next_ns) if next_ns > 0 else None, seq=seq,
            updated_at=at,
        )  # fmt: skip

    def _liquidation(
        self, spec: MarketSpec, event: Any, ordinal: int, at: dt.datetime
    ) -> LiquidationEvent:
        ref = self._directory.account(int(event["account"]))
        assert ref is not None
        counterparty = self._directory.account(int(event["maker_account"]))
        step = STEPS.get(int(event["code"]), LiquidationStep.STARTED)
        order_id = int(event["order_id"])
        qty, price = int(event["qty"]), int(event["price"])
        count = None
        if step in COUNTED_STEPS:  # the engine's qty counts positions or orders, not lots
            count, qty = qty, 0
        return LiquidationEvent(
            id=f"{int(event['seq']):016d}:{ordinal:05d}", tenant_id=ref.tenant_id,
            customer_id=ref.customer_id, account_id=ref.account_id, market_id=spec.market.id,
            step=step, order_id=order_key(order_id) if order_id > 0 else None,
            quantity=spec.quantity(abs(qty)) if qty else None,
            price=spec.price(price) if price > 0 else None,
            amount=spec.quote_amount(int(event["value_a"])),
            insurance_fund_after=spec.quote_amount(int(event["value_b"])),
            counterparty_account_id=(  # never another tenant's account id
                counterparty.account_id
                if step is LiquidationStep.AUTO_DELEVERAGED and counterparty is not None
                and counterparty.tenant_id == ref.tenant_id
                else None
            ),
            seq=int(event["seq"]), at=at, count=count,
        )  # fmt: skip

    async def _publish(self, out: _Batch, rounds: dict[str, list[dict[str, Any]]]) -> None:
        """One message per tenant: its changed positions and liquidation steps, and the
        funding rounds that paid its accounts as a summary (market, sequence, payments):
        subscribers re-read a round's market, so 10,000 positions are not sent."""
        if self._events is None:
            return
        by_tenant: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for position in out.positions.values():
            by_tenant.setdefault(position.tenant_id, {}).setdefault("positions", []).append(
                position_document(position)
            )
        for step in out.liquidations:
            by_tenant.setdefault(step.tenant_id, {}).setdefault("liquidations", []).append(
                liquidation_document(step)
            )
        for tenant_id, summary in rounds.items():
            by_tenant.setdefault(tenant_id, {})["rounds"] = summary
        for tenant_id, content in by_tenant.items():
            payload = orjson.dumps(content, default=str)
            await self._events.publish(tenant_topic(POSITION_STREAM, tenant_id), payload)
        if out.marks:
            await self._events.publish(MARK_TOPIC, orjson.dumps({"markets": sorted(out.marks)}))
