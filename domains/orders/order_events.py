"""Orders built from the engine's command and events alone: the one place that turns a
PLACE_ORDER into an Order, used by the read-model projection and by order entry to answer
`placeOrder` from its own events (the read model is written behind the journal, and an API
process has no projection of its own). No store, no GraphQL.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from domains.orders.model import Order, OrderStatus, OrderType, Side, TimeInForce, order_key
from domains.orders.spec import MarketSpec
from engine import codes
from engine.events import Row, rows
from engine.layout import Records

STATUS = {
    codes.NEW: OrderStatus.NEW,
    codes.PARTIALLY_FILLED: OrderStatus.PARTIALLY_FILLED,
    codes.FILLED: OrderStatus.FILLED,
    codes.CANCELED: OrderStatus.CANCELED,
    codes.EXPIRED: OrderStatus.EXPIRED,
    codes.EXPIRED_IN_MATCH: OrderStatus.EXPIRED_IN_MATCH,
    codes.REJECTED: OrderStatus.REJECTED,
    codes.PENDING_TRIGGER: OrderStatus.PENDING_TRIGGER,
}
TYPES = {
    codes.LIMIT: OrderType.LIMIT,
    codes.MARKET: OrderType.MARKET,
    codes.STOP_MARKET: OrderType.STOP_MARKET,
    codes.STOP_LIMIT: OrderType.STOP_LIMIT,
}
TIFS = {codes.GTC: TimeInForce.GTC, codes.IOC: TimeInForce.IOC, codes.FOK: TimeInForce.FOK}


def to_datetime(ts_ns: int) -> dt.datetime:
    """Engine time (ns) as an aware UTC datetime, truncated to milliseconds like Mongo."""
    return dt.datetime.fromtimestamp(ts_ns // 1_000_000 / 1000, dt.UTC)


def reason_of(code: int) -> str | None:
    return None if code == codes.OK else codes.REASON_NAMES.get(code, str(code))


def new_order(
    command: Row, owner: tuple[str, str, str], market_id: str, spec: MarketSpec,
    client_order_id: str | None, status: int, code: int,
) -> Order:  # fmt: skip
    """The order a PLACE_ORDER command opened, unfilled; ``owner`` is (tenant, customer,
    account) ids."""
    order_type = TYPES[command["order_type"]]
    has_price = order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    ts = to_datetime(command["ts_ns"])
    tenant_id, customer_id, account_id = owner
    return Order(
        id=order_key(command["order_id"]), tenant_id=tenant_id, customer_id=customer_id,
        account_id=account_id, market_id=market_id,
        side=Side.BUY if command["side"] == codes.BUY else Side.SELL, type=order_type,
        price=spec.price(command["price"]) if has_price else None,
        quantity=spec.quantity(command["qty"]), filled_quantity=spec.quantity(0),
        status=STATUS.get(status, OrderStatus.NEW), client_order_id=client_order_id,
        created_at=ts, updated_at=ts, time_in_force=TIFS.get(command["tif"], TimeInForce.GTC),
        stop_price=spec.price(command["stop_price"]) if command["stop_price"] else None,
        reason=reason_of(code), post_only=bool(command["flags"] & codes.FLAG_POST_ONLY),
        reduce_only=bool(command["flags"] & codes.FLAG_REDUCE_ONLY),
    )  # fmt: skip


def placed_order(
    command: Records, events: Records, owner: tuple[str, str, str], market_id: str,
    spec: MarketSpec, client_order_id: str | None,
) -> Order:  # fmt: skip
    """The order as its own PLACE_ORDER's events left it: accepted or rejected, what it
    filled as taker, and how it ended when it did (a resting order's later fills are not in
    these events: the read model has them)."""
    row = rows(command)[0]
    order_id = row["order_id"]
    mine = events[events["order_id"] == order_id]
    status, code, filled = codes.NEW, codes.OK, 0
    for kind, event_status, event_code, qty in zip(
        mine["kind"].tolist(), mine["status"].tolist(), mine["code"].tolist(),
        mine["qty"].tolist(), strict=True,
    ):  # fmt: skip
        if kind == codes.EV_ACCEPTED:
            status = event_status
        elif kind == codes.EV_REJECTED:
            status, code = codes.REJECTED, event_code
        elif kind == codes.EV_TRADE:
            filled += qty
        elif kind == codes.EV_ORDER_DONE:
            status, code, filled = event_status, event_code, qty
    if status == codes.NEW and filled:
        status = codes.PARTIALLY_FILLED
    order = new_order(row, owner, market_id, spec, client_order_id, status, code)
    if not filled:
        return order
    return dataclasses.replace(order, filled_quantity=spec.quantity(filled))
