"""Projects engine events into the order and trade read models and the order stream.

Two stages. ``track`` runs in the writer's batch loop before callers are answered: it works
out every order the batch touched as it now stands (live orders take their fill from the
engine) and keeps them in memory (RecentOrders), so a caller reads its own order back
without a store read. ``persist`` runs behind the journal (graph/writer/projections.py),
often for several batches at once: one bulk write per collection, then the order stream.
Calling the projector runs both (replays, a standby taking over).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

import numpy as np

from domains.orders.bust_plan import NOTE_BUST_FROM, NOTE_BUST_MARKET, NOTE_BUST_TO
from domains.orders.model import (
    Order,
    OrderRouting,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    Trade,
    TradeSide,
    Venue,
    order_key,
)
from domains.orders.order_events import STATUS, new_order, to_datetime
from domains.orders.outcomes import is_order_outcome
from domains.orders.routing import NOTE_ROUTE, RouteStatus
from domains.orders.service import ORDER_STREAM, order_event
from domains.orders.spec import MarketSpec
from domains.orders.trading import RecentOrders, engine_order_id
from domains.shared.engine_port import CommandBus, EngineDirectory, yielding
from domains.shared.events import EventBus, tenant_topic
from engine import codes
from engine.events import Row, rows
from engine.layout import Records

ORDER_EVENTS = np.array([codes.EV_ACCEPTED, codes.EV_REJECTED, codes.EV_TRADE, codes.EV_ORDER_DONE,
                         codes.EV_ORDER_AMENDED, codes.EV_STOP_TRIGGERED])  # fmt: skip
SpecLookup = Callable[[str], Awaitable[MarketSpec]]


class OrdersReadModel(Protocol):
    """The writes the projection makes (MongoTradingRepository)."""

    async def orders_by_raw_ids(self, ids: Sequence[str]) -> list[Order]: ...
    async def save_orders(self, new: Sequence[Order], changed: Sequence[Order]) -> None: ...
    async def insert_trades(self, trades: Sequence[Trade]) -> None: ...
    async def mark_busted(self, market_id: str, first: int, last: int, bust_seq: int) -> int: ...


@dataclass
class _Unsaved:
    """An order's latest state not yet written, and whether the store has never seen it."""

    order: Order
    seq: int
    created: bool


@dataclass
class _Changes:
    new: dict[int, Order] = field(default_factory=dict)
    touched: set[int] = field(default_factory=set)
    done: dict[int, tuple[int, int, int]] = field(default_factory=dict)
    amended: dict[int, tuple[int, int]] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    routes: dict[int, list[tuple[int, dict[str, str], int]]] = field(default_factory=dict)


class OrdersProjector:
    """The writer listener that keeps orders and trades current."""

    def __init__(
        self,
        repository: OrdersReadModel,
        bus: CommandBus,
        directory: EngineDirectory,
        spec_for: SpecLookup,
        events: EventBus,
        recent: RecentOrders | None = None,
    ) -> None:
        self._recent = recent
        self._repo = repository
        self._bus = bus
        self._directory = directory
        self._spec_for = spec_for
        self._events = events
        self._unsaved: dict[str, _Unsaved] = {}
        self._unsaved_trades: list[Trade] = []
        self._unsaved_busts: list[tuple[int, str, int, int]] = []  # seq, market, first, last

    async def __call__(
        self, batch: Records, events: Records, notes: dict[int, dict[str, str]]
    ) -> None:
        await self.track(batch, events, notes)
        await self.persist(batch, events, notes)

    async def persist(
        self, batch: Records, events: Records, notes: dict[int, dict[str, str]]
    ) -> None:
        """Write what ``track`` saw up to this batch's end: orders, trades, the stream."""
        upto = int(batch["seq"][-1]) if len(batch) else 0
        done = [u for u in self._unsaved.values() if u.seq <= upto]
        trades = [t for t in self._unsaved_trades if t.seq <= upto]
        busts = [b for b in self._unsaved_busts if b[0] <= upto]
        if not (done or trades or busts):
            return
        await self._repo.save_orders(
            [u.order for u in done if u.created], [u.order for u in done if not u.created]
        )
        await self._repo.insert_trades(trades)
        for seq, market_id, first, last in busts:  # after the trades: a range never precedes them
            await self._repo.mark_busted(market_id, first, last, seq)
        self._unsaved_busts = [b for b in self._unsaved_busts if b[0] > upto]
        for u in done:
            if self._unsaved.get(u.order.id) is u:
                del self._unsaved[u.order.id]
        self._unsaved_trades = [t for t in self._unsaved_trades if t.seq > upto]
        await asyncio.gather(*(  # concurrent: one pipelined round trip with Redis
            self._events.publish(tenant_topic(ORDER_STREAM, o.tenant_id), order_event(o))
            for o in (u.order for u in done)
        ))  # fmt: skip

    async def track(
        self, batch: Records, events: Records, notes: dict[int, dict[str, str]]
    ) -> None:
        """The batch's orders as they now stand, into memory; ``persist`` writes them."""
        commands = {row["seq"]: row for row in rows(batch)}
        changes = _Changes()
        # only order events (a funding round's 10,000 position events are not looked at)
        async for event in yielding(rows(events[np.isin(events["kind"], ORDER_EVENTS)])):
            await self._collect(changes, event, commands, notes)
        for seq, note in notes.items():
            if NOTE_BUST_MARKET in note:  # a bust's marker: its trade range is BUSTED
                first, last = int(note[NOTE_BUST_FROM]), int(note[NOTE_BUST_TO])
                self._unsaved_busts.append((seq, note[NOTE_BUST_MARKET], first, last))
            if note.get(NOTE_ROUTE) not in ("hold", "settle"):
                continue
            if "new_order" in note:  # an EXTERNAL_ONLY order: its id is the hold's sequence
                note = {**note, "order_key": order_key(seq)}
                order = await self._external_order(commands[seq], note)
                if order is not None:
                    changes.new[seq] = order
            order_id = engine_order_id(note["order_key"])
            changes.touched.add(order_id)
            ts_ns = int(commands[seq]["ts_ns"])
            changes.routes.setdefault(order_id, []).append((seq, note, ts_ns))
        if not (changes.new or changes.touched):
            return
        orders = await self._finish(changes)
        new = {order_key(i) for i in changes.new}
        seq = int(batch["seq"][-1])
        for order in orders:
            earlier = self._unsaved.get(order.id)
            # never written yet (new now, or new in a batch not yet persisted): an insert
            created = earlier.created if earlier is not None else order.id in new
            self._unsaved[order.id] = _Unsaved(order, seq, created)
        if self._recent is not None:
            self._recent.remember(orders)
        self._unsaved_trades.extend(changes.trades)

    async def _collect(
        self, changes: _Changes, e: Row, commands: dict[int, Row], notes: dict[int, dict[str, str]]
    ) -> None:
        kind, order_id = e["kind"], e["order_id"]
        if kind in (codes.EV_ACCEPTED, codes.EV_REJECTED) and e["value_b"] == codes.PLACE_ORDER:
            if kind == codes.EV_REJECTED and not is_order_outcome(e["code"]):
                return  # a pre-trade refusal: the caller got an error, nothing to show
            status = e["status"] if kind == codes.EV_ACCEPTED else codes.REJECTED
            command = commands[e["seq"]]
            order = await self._new_order(command, notes.get(e["seq"], {}), status, e["code"])
            if order is not None:
                changes.new[order_id] = order
        elif kind == codes.EV_TRADE:
            changes.touched.update((order_id, e["maker_order_id"]))
            trade = await self._trade(e, commands[e["seq"]]["ts_ns"])
            if trade is not None:
                changes.trades.append(trade)
        elif kind == codes.EV_ORDER_DONE:
            changes.touched.add(order_id)
            changes.done[order_id] = (e["status"], e["code"], e["qty"])
            if order_id >= codes.LIQ_ORDER_ID_BASE and order_id not in changes.new:
                order = await self._liquidation_order(e, commands[e["seq"]]["ts_ns"])
                if order is not None:  # complete as built: no later update applies
                    changes.new[order_id] = order
                    del changes.done[order_id]
        elif kind == codes.EV_ORDER_AMENDED:
            changes.touched.add(order_id)
            changes.amended[order_id] = (e["price"], e["qty"])
        elif kind == codes.EV_STOP_TRIGGERED:
            changes.touched.add(order_id)

    async def _new_order(
        self, command: Row, note: dict[str, str], status: int, code: int
    ) -> Order | None:
        account = self._directory.account(command["account"])
        market_id = self._directory.market_id(command["market"])
        if account is None or market_id is None:
            return None
        spec = await self._spec_for(market_id)
        owner = (account.tenant_id, account.customer_id, account.account_id)
        return new_order(command, owner, market_id, spec, note.get("client_order_id"), status, code)

    async def _liquidation_order(self, done: Row, ts_ns: int) -> Order | None:
        """The engine's reduce-only IOC order closing a liquidated position (it has no
        PLACE command): shown among the account's orders with the reason LIQUIDATION."""
        account = self._directory.account(done["account"])
        market_id = self._directory.market_id(done["market"])
        if account is None or market_id is None:
            return None
        spec = await self._spec_for(market_id)
        ts = to_datetime(ts_ns)
        return Order(
            id=order_key(done["order_id"]), tenant_id=account.tenant_id,
            customer_id=account.customer_id, account_id=account.account_id,
            market_id=market_id, side=Side.BUY if done["side"] == codes.BUY else Side.SELL,
            type=OrderType.LIMIT, price=spec.price(done["price"]) if done["price"] > 0 else None,
            quantity=spec.quantity(done["qty"] + done["value_a"]),
            filled_quantity=spec.quantity(done["qty"]),
            status=STATUS.get(done["status"], OrderStatus.EXPIRED), created_at=ts,
            updated_at=ts, time_in_force=TimeInForce.IOC, reason="LIQUIDATION",
            reduce_only=True,
        )  # fmt: skip

    async def _external_order(self, hold: Row, note: dict[str, str]) -> Order | None:
        """The order an EXTERNAL_ONLY placement journaled in its hold note."""
        account = self._directory.account(int(note["account"]))
        market_id = self._directory.market_id(int(note["market"]))
        if account is None or market_id is None:
            return None
        spec = await self._spec_for(market_id)
        ts = to_datetime(hold["ts_ns"])
        is_limit = note["new_order"] == OrderType.LIMIT.value
        return Order(
            id=note["order_key"], tenant_id=account.tenant_id, customer_id=account.customer_id,
            account_id=account.account_id, market_id=market_id, side=Side(note["side"]),
            type=OrderType(note["new_order"]),
            price=spec.price(int(note["order_price_ticks"])) if is_limit else None,
            quantity=spec.quantity(int(note["order_qty_lots"])), filled_quantity=spec.quantity(0),
            status=OrderStatus.NEW, client_order_id=note.get("client_order_id"), created_at=ts,
            updated_at=ts, time_in_force=TimeInForce.IOC,
        )  # fmt: skip

    async def _trade(self, e: Row, ts_ns: int) -> Trade | None:
        market_id = self._directory.market_id(e["market"])
        taker = self._directory.account(e["account"])
        maker = self._directory.account(e["maker_account"])
        if market_id is None or taker is None or maker is None:
            return None
        spec = await self._spec_for(market_id)
        return Trade(
            id=f"{market_id}:{e['market_seq']:012d}",
            market_id=market_id,
            price=spec.price(e["price"]),
            quantity=spec.quantity(e["qty"]),
            taker_side=Side.BUY if e["side"] == codes.BUY else Side.SELL,
            taker=TradeSide(order_key(e["order_id"]), taker.account_id, taker.tenant_id,
                            taker.customer_id, spec.quote_amount(e["value_b"])),
            maker=TradeSide(order_key(e["maker_order_id"]), maker.account_id, maker.tenant_id,
                            maker.customer_id, spec.quote_amount(e["value_a"])),
            venue=Venue.INTERNAL,
            executed_at=to_datetime(ts_ns),
            seq=e["seq"],
        )  # fmt: skip

    async def _finish(self, changes: _Changes) -> list[Order]:
        wanted = [order_key(i) for i in changes.touched if i not in changes.new]
        # the projection is the only writer of engine orders: what it saw last is current
        stored = {key: o for key in wanted if (o := self._latest(key)) is not None}
        missing = [key for key in wanted if key not in stored]
        if missing:
            stored.update({o.id: o for o in await self._repo.orders_by_raw_ids(missing)})
        result: list[Order] = []
        for order_id in changes.new.keys() | changes.touched:
            order = changes.new.get(order_id) or stored.get(order_key(order_id))
            if order is None:
                continue
            result.append(await self._current(order, order_id, changes))
        return result

    def _latest(self, key: str) -> Order | None:
        unsaved = self._unsaved.get(key)
        if unsaved is not None:
            return unsaved.order
        return self._recent.get(key) if self._recent is not None else None

    async def _current(self, order: Order, order_id: int, changes: _Changes) -> Order:
        spec = await self._spec_for(order.market_id)
        updates: dict[str, Any] = {}
        if order_id in changes.amended:
            price, remaining = changes.amended[order_id]
            updates["price"] = spec.price(price) if order.price is not None else None
            filled = spec.qty_lots(order.filled_quantity) if order.filled_quantity else 0
            updates["quantity"] = spec.quantity(filled + remaining)
        if order_id in changes.done:
            status, code, filled = changes.done[order_id]
            updates["status"] = STATUS.get(status, order.status)
            updates["filled_quantity"] = spec.quantity(filled)
            updates["reason"] = None if code == codes.OK else codes.REASON_NAMES.get(code)
        else:
            live = self._bus.engine.order_state(order_id)
            if live is not None:
                updates["filled_quantity"] = spec.quantity(live.filled_lots)
                updates["status"] = STATUS.get(live.status, order.status)
        current = replace(order, **updates, updated_at=order.updated_at)
        for seq, note, ts_ns in sorted(changes.routes.get(order_id, ()), key=lambda r: r[0]):
            current = self._route(current, spec, seq, note, ts_ns, changes.trades)
        return current

    @staticmethod
    def _route(
        order: Order, spec: MarketSpec, seq: int, note: dict[str, str], ts_ns: int,
        trades: list[Trade],
    ) -> Order:  # fmt: skip
        """Apply a journaled route step: PENDING on hold; fills, fee and trades on settle."""
        if note[NOTE_ROUTE] == "hold":
            routing = OrderRouting(
                venue=note["venue"], status=RouteStatus.PENDING.value,
                internal_quantity=order.filled_quantity,
                requested_quantity=spec.quantity(int(note["qty_lots"])),
                external_quantity=spec.quantity(0),
                limit_price=spec.price(int(note["limit_ticks"])),
                external_average_price=None, external_fee=spec.quote_amount(0),
                hold_note=dict(note),
            )  # fmt: skip
            return replace(order, routing=routing)
        held = order.routing
        if held is None:
            return order
        filled = int(note.get("filled_lots", "0"))
        notional = int(note.get("notional_tl", "0"))
        fee = int(note.get("fee_minor", "0"))
        average = spec.market.tick_size * Decimal(notional) / Decimal(filled) if filled else None
        routing = replace(
            held, status=note["status"], external_quantity=spec.quantity(filled),
            external_average_price=average, external_fee=spec.quote_amount(fee),
            reason=note.get("reason"), hold_note=None,
        )  # fmt: skip
        total = (spec.qty_lots(order.filled_quantity) if order.filled_quantity else 0) + filled
        done = total == spec.qty_lots(order.quantity)
        trades.extend(_external_trades(order, spec, seq, note, ts_ns, notional, fee))
        status, reason = order.status, order.reason
        if done:
            status, reason = OrderStatus.FILLED, None
        elif order.status is OrderStatus.NEW:  # an external-only order ends with its route
            refused = note["status"] in (RouteStatus.REJECTED.value, RouteStatus.UNAVAILABLE.value)
            status = OrderStatus.REJECTED if refused and not total else OrderStatus.EXPIRED
            reason = note.get("reason")
        elif order.status is OrderStatus.REJECTED and total:  # NO_LIQUIDITY inside, venue fill
            status = OrderStatus.EXPIRED
        return replace(order, routing=routing, filled_quantity=spec.quantity(total),
                       status=status, reason=reason)  # fmt: skip


def _external_trades(
    order: Order, spec: MarketSpec, seq: int, note: dict[str, str], ts_ns: int,
    notional: int, fee: int,
) -> list[Trade]:  # fmt: skip
    """The venue's fills as EXTERNAL trades; the fee is split pro rata, remainder last."""
    fills = json.loads(note.get("fills", "[]"))
    result: list[Trade] = []
    charged = 0
    for i, (_, price, qty) in enumerate(fills):
        share = fee - charged if i == len(fills) - 1 else fee * price * qty // max(notional, 1)
        charged += share
        result.append(Trade(
            id=f"{order.market_id}:{int(note['market_seq']):012d}:x{seq:012d}{i:03d}",
            market_id=order.market_id, price=spec.price(price), quantity=spec.quantity(qty),
            taker_side=order.side,
            taker=TradeSide(order.id, order.account_id, order.tenant_id, order.customer_id,
                            spec.quote_amount(share)),
            maker=None, venue=Venue.EXTERNAL, executed_at=to_datetime(ts_ns), seq=seq,
        ))  # fmt: skip
    return result
