"""Trade surveillance over trades and order life cycles: wash trades, circular trades and
spoofing/layering; pure and in memory (windows of minutes), no I/O.

The monitor (monitor.py) turns engine events into the facts below, with owners and decimal
values already resolved, and raises an alert per hit. Keys are derived from the trades and
orders involved, so a replayed batch finds the same hits and raises nothing new. Windows
live in memory: after a restart, patterns that began before it are not joined up with
what follows (documented in the README).
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

from domains.compliance.alert_model import AlertRule, Evidence, Severity
from domains.compliance.aml import Hit

MAX_PENDING_ORDERS = 100_000
T = TypeVar("T")


@dataclass(frozen=True)
class SurveillanceParams:
    """A tenant's surveillance parameters for one market (defaults until it sets them)."""

    tenant_id: str
    market_id: str
    wash_trading: bool = True
    circular_window: dt.timedelta = dt.timedelta(minutes=10)
    circular_qty_tolerance_pct: int = 5
    spoof_min_notional: Decimal = Decimal("10000")  # in the market's quote asset
    spoof_near_touch_bps: int = 50
    spoof_max_lifetime: dt.timedelta = dt.timedelta(seconds=30)
    spoof_min_cancels: int = 3
    spoof_window: dt.timedelta = dt.timedelta(minutes=5)
    spoof_require_opposite_fill: bool = True
    updated_by: str | None = None
    updated_at: dt.datetime | None = None


@dataclass(frozen=True)
class Owner:
    """Who is behind an account: the beneficial owner is the customer."""

    tenant_id: str
    customer_id: str
    account_id: str


@dataclass(frozen=True)
class TradeFact:
    seq: int
    trade_id: str
    market_id: str
    price: Decimal
    qty: Decimal
    buyer: Owner
    seller: Owner
    at: dt.datetime


@dataclass(frozen=True)
class OrderFact:
    order_id: str
    owner: Owner
    market_id: str
    side: str  # BUY / SELL
    price: Decimal
    qty: Decimal
    at: dt.datetime


def _trade_evidence(*trades: TradeFact) -> tuple[Evidence, ...]:
    return tuple(Evidence("TRADE", t.trade_id, f"{t.qty} @ {t.price}") for t in trades)


class TradeSurveillance:
    """The in-memory state of every pattern, per tenant and market."""

    def __init__(self) -> None:
        self._trades: dict[tuple[str, str], deque[TradeFact]] = {}
        self._last_price: dict[str, Decimal] = {}
        self._pending: dict[str, tuple[OrderFact, bool]] = {}  # order id -> (order, near touch)
        self._cancels: dict[tuple[str, str, str], deque[OrderFact]] = {}
        self._fills: dict[tuple[str, str, str], deque[tuple[dt.datetime, str, str]]] = {}

    def last_price(self, market_id: str) -> Decimal | None:
        return self._last_price.get(market_id)

    def on_trade(self, trade: TradeFact, params: SurveillanceParams) -> list[Hit]:
        """Wash and circular trades, and fills that complete a spoofing pattern."""
        self._last_price[trade.market_id] = trade.price
        hits: list[Hit] = []
        same_tenant = trade.buyer.tenant_id == trade.seller.tenant_id
        if (
            params.wash_trading
            and same_tenant
            and (trade.buyer.customer_id == trade.seller.customer_id)
        ):
            hits.append(Hit(
                AlertRule.SURVEILLANCE_WASH_TRADE, Severity.HIGH,
                f"{trade.qty} {trade.market_id} @ {trade.price}: buyer and seller are the same "
                f"owner ({trade.buyer.account_id} / {trade.seller.account_id})",
                trade.trade_id,
                (*_trade_evidence(trade), Evidence("ACCOUNT", trade.buyer.account_id),
                 Evidence("ACCOUNT", trade.seller.account_id)), trade.buyer.customer_id,
            ))  # fmt: skip
        elif same_tenant:
            hits.extend(self._circular(trade, params))
        for owner, side in ((trade.buyer, "BUY"), (trade.seller, "SELL")):
            key = (owner.tenant_id, owner.customer_id, trade.market_id)
            fills = self._fills.setdefault(key, deque())
            fills.append((trade.at, side, trade.trade_id))
            _prune(fills, trade.at - params.spoof_window, lambda f: f[0])
            hits.extend(self._spoofing(key, trade.at, params))
        return hits

    def _circular(self, trade: TradeFact, params: SurveillanceParams) -> list[Hit]:
        recent = self._trades.setdefault((trade.buyer.tenant_id, trade.market_id), deque())
        _prune(recent, trade.at - params.circular_window, lambda t: t.at)
        tolerance = trade.qty * params.circular_qty_tolerance_pct / 100
        hits = []
        for earlier in recent:
            if (earlier.seller.customer_id == trade.buyer.customer_id
                    and earlier.buyer.customer_id == trade.seller.customer_id
                    and abs(earlier.qty - trade.qty) <= tolerance):  # fmt: skip
                hits.append(Hit(
                    AlertRule.SURVEILLANCE_CIRCULAR_TRADE, Severity.HIGH,
                    f"{trade.qty} {trade.market_id} went from {earlier.seller.customer_id} to "
                    f"{earlier.buyer.customer_id} and back within {params.circular_window}",
                    f"{earlier.trade_id}|{trade.trade_id}",
                    (*_trade_evidence(earlier, trade),
                     Evidence("CUSTOMER", trade.buyer.customer_id),
                     Evidence("CUSTOMER", trade.seller.customer_id)),
                ))  # fmt: skip
                break
        recent.append(trade)
        return hits

    def on_order_accepted(self, order: OrderFact, params: SurveillanceParams) -> None:
        """Remember large orders resting near the touch (the spoofing candidates)."""
        if order.price * order.qty < params.spoof_min_notional:
            return
        reference = self._last_price.get(order.market_id)
        near = (
            reference is not None
            and reference > 0
            and (abs(order.price - reference) * 10_000 <= reference * params.spoof_near_touch_bps)
        )
        if near:
            if len(self._pending) >= MAX_PENDING_ORDERS:
                self._pending.pop(next(iter(self._pending)))
            self._pending[order.order_id] = (order, near)

    def on_order_done(
        self, order_id: str, canceled: bool, filled: Decimal, at: dt.datetime,
        params: SurveillanceParams,
    ) -> list[Hit]:  # fmt: skip
        """A large near-touch order cancelled unfilled soon after entry counts towards spoofing."""
        pending = self._pending.pop(order_id, None)
        if pending is None or not canceled or filled > 0:
            return []
        order = pending[0]
        if at - order.at > params.spoof_max_lifetime:
            return []
        key = (order.owner.tenant_id, order.owner.customer_id, order.market_id)
        cancels = self._cancels.setdefault(key, deque())
        cancels.append(order)
        _prune(cancels, at - params.spoof_window, lambda o: o.at)
        return self._spoofing(key, at, params)

    def _spoofing(
        self, key: tuple[str, str, str], now: dt.datetime, params: SurveillanceParams
    ) -> list[Hit]:
        cancels = self._cancels.get(key)
        if not cancels:
            return []
        _prune(cancels, now - params.spoof_window, lambda o: o.at)
        for side in ("BUY", "SELL"):
            layered = [o for o in cancels if o.side == side]
            if len(layered) < params.spoof_min_cancels:
                continue
            opposite = "SELL" if side == "BUY" else "BUY"
            fills = [f for f in self._fills.get(key, ()) if f[1] == opposite
                     and f[0] >= now - params.spoof_window]  # fmt: skip
            if params.spoof_require_opposite_fill and not fills:
                continue
            evidence = tuple(Evidence("ORDER", o.order_id, f"{o.side} {o.qty} @ {o.price}")
                             for o in layered)  # fmt: skip
            evidence += tuple(Evidence("TRADE", f[2], opposite) for f in fills[-3:])
            return [Hit(
                AlertRule.SURVEILLANCE_SPOOFING, Severity.HIGH,
                f"{len(layered)} large {side} orders near the touch of {key[2]} cancelled "
                f"unfilled within {params.spoof_max_lifetime}"
                + (f", with {opposite} executions alongside" if fills else ""),
                f"{key[1]}|{key[2]}|{layered[0].order_id}", evidence, key[1],
            )]  # fmt: skip
        return []


def _prune(items: deque[T], since: dt.datetime, at: Callable[[T], dt.datetime]) -> None:
    """Drop items older than ``since`` from the left of a time-ordered deque."""
    while items and at(items[0]) < since:
        items.popleft()
