"""Routing an order's remainder to an external venue, settled through the engine sequence.

When the internal book leaves part of a market or IOC order unfilled and the tenant's
routing policy allows it, the remainder goes to the venue as an immediate-or-cancel order
within the tenant's maximum slippage from the venue's best price. Money never moves
outside the sequence:

1. **hold** (one journaled group): the customer's worst case (buy: quote at the limit plus
   the all-in fee; sell: the base) and the venue clearing account's side of the trade are
   held, so neither can be spent elsewhere while the venue executes;
2. the venue executes (idempotent per client order id: a retry never executes twice);
3. **settle** (one journaled group, nothing sequenced in between): both holds are released
   and the fills are transferred: customer <-> venue clearing account at the venue price,
   and the customer's fee (platform fee + institution markup) to the fee account.

The journaled notes of both groups carry the route, so the order read model and the
ledger are rebuilt from the journal like everything else. A route left PENDING by a crash
(hold journaled, settle not) is driven to its end by ``resume`` when the writer starts.
"""

from __future__ import annotations

import enum
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from domains.orders.model import Side, order_key
from domains.orders.outcomes import outcome
from domains.orders.spec import MarketSpec
from domains.orders.venue import (
    BPS_PER_UNIT,
    Venue,
    VenueOrderResult,
    VenueOrderStatus,
    VenueSymbolNotFoundError,
    VenueUnavailableError,
    fee_minor,
)
from domains.shared.engine_port import CommandBus, EngineDirectory, Submitted
from engine import commands as cmd
from engine.layout import Records

log = logging.getLogger("caas.routing")

CLEARING_ACCOUNT_ID = "platform:venue-clearing"
PLATFORM_OWNER = "platform"
FEE_ACCOUNT = 0
NOTE_ROUTE = "route"  # note key: "hold" or "settle"
NOTE_LEG = "route_leg"  # note key on settlement transfers: EXTERNAL_TRADE or FEE
NOTE_MARKUP_BPS = "markup_bps"  # the institution's part of an all-in fee rate (for the ledger)


class RouteStatus(enum.Enum):
    """Where a routed remainder stands."""

    PENDING = "PENDING"
    FILLED = "FILLED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True)
class NewOrder:
    """An order that goes to the venue only (EXTERNAL_ONLY routing): the journaled hold
    note carries it, and the order read model is created from that note."""

    order_type: str  # OrderType name: MARKET or LIMIT
    price_ticks: int  # 0 for a market order
    qty_lots: int
    client_order_id: str | None

    def note(self) -> dict[str, str]:
        fields = {"new_order": self.order_type, "order_price_ticks": str(self.price_ticks),
                  "order_qty_lots": str(self.qty_lots)}  # fmt: skip
        if self.client_order_id:
            fields["client_order_id"] = self.client_order_id
        return fields


class NotRoutedError(Exception):
    """Nothing was routed; ``reason`` says why (a RouteRefusal name)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class RouteRequest:
    """A remainder (or, with ``new_order``, a whole order) to route, in engine units."""

    order_key: str | None  # None: a new order, keyed by the hold's sequence number
    account: int
    spec: MarketSpec
    market: int
    side: Side
    qty_lots: int
    limit_ticks: int | None  # the customer's own limit (IOC); None for a market order
    max_slippage_bps: int
    fee_bps: int  # the customer's all-in taker rate
    new_order: NewOrder | None = None
    markup_bps: int = 0  # the institution's part of fee_bps


@dataclass(frozen=True)
class Hold:
    """What a route holds, so settlement (or a resume after a crash) can release it."""

    order_key: str
    account: int
    market: int
    side: Side
    qty_lots: int
    limit_ticks: int
    fee_bps: int
    customer_asset: int
    customer_minor: int
    clearing: int
    clearing_asset: int
    clearing_minor: int
    venue: str
    markup_bps: int = 0

    def note(self) -> dict[str, str]:
        """The journaled note of the hold group (everything resume needs)."""
        fields = {k: str(v.value if isinstance(v, Side) else v) for k, v in vars(self).items()}
        return {NOTE_ROUTE: "hold", **fields}

    @classmethod
    def from_note(cls, note: dict[str, str]) -> Hold:
        ints = {k: int(note[k]) for k in _HOLD_INTS if k != "markup_bps"}
        ints["markup_bps"] = int(note.get("markup_bps", "0"))
        return cls(order_key=note["order_key"], side=Side(note["side"]), venue=note["venue"],
                   **ints)  # fmt: skip


_HOLD_INTS = (
    "account", "market", "qty_lots", "limit_ticks", "fee_bps", "customer_asset",
    "customer_minor", "clearing", "clearing_asset", "clearing_minor", "markup_bps",
)  # fmt: skip


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def slippage_limit(best_ticks: int, side: Side, slippage_bps: int) -> int:
    """The worst price the tenant accepts: best ask + slippage (buy), best bid - it (sell)."""
    if side is Side.BUY:
        return _ceil_div(best_ticks * (BPS_PER_UNIT + slippage_bps), BPS_PER_UNIT)
    return max(1, _ceil_div(best_ticks * (BPS_PER_UNIT - slippage_bps), BPS_PER_UNIT))


def buy_cost_minor(qty_lots: int, price_ticks: int, quote_per_tick_lot: int, fee_bps: int) -> int:
    """Quote a buyer must hold for qty at price, with the all-in fee, rounded up."""
    notional = qty_lots * price_ticks * quote_per_tick_lot
    return notional + _ceil_div(notional * fee_bps, BPS_PER_UNIT)


class ExternalRouter:
    """Routes remainders to one venue and settles them against the venue clearing account."""

    def __init__(
        self, venue: Venue, bus: CommandBus, directory: EngineDirectory, name: str = "SIMULATED"
    ) -> None:
        self.venue = venue
        self.name = name
        self._bus = bus
        self._directory = directory

    async def clearing_account(self) -> int:
        """The engine index of the platform's venue clearing account (created on first use)."""
        return await self._directory.account_index(
            CLEARING_ACCOUNT_ID, PLATFORM_OWNER, PLATFORM_OWNER
        )

    async def route(self, request: RouteRequest) -> tuple[str, RouteStatus]:
        """Hold, execute at the venue, settle; returns the order key and how it ended.

        Raises NotRoutedError when nothing was held (no venue price, nothing affordable, a
        limit the venue cannot reach); a remainder then stays as the internal book left it.
        """
        hold = await self._plan(request)
        note = hold.note() | (request.new_order.note() if request.new_order else {})
        placed = await self._bus.submit_many(
            np.concatenate([self._hold_command(hold, True), self._hold_command(hold, False)]),
            [note, None],
        )
        if request.order_key is None:
            hold = replace(hold, order_key=order_key(placed[0].seq))
        if not all(outcome(s.events).accepted for s in placed if s.events is not None):
            # funds moved between planning and holding: undo what was held, route nothing
            await self._release_only(hold, placed)
            return hold.order_key, RouteStatus.UNAVAILABLE
        return hold.order_key, await self._execute_and_settle(hold, request.spec)

    async def resume(self, hold: Hold, spec: MarketSpec) -> RouteStatus:
        """Finish a route whose hold was journaled but whose settlement was not."""
        return await self._execute_and_settle(hold, spec)

    async def _plan(self, request: RouteRequest) -> Hold:
        spec, side = request.spec, request.side
        try:
            top = await self.venue.book_top(spec.market.id)
        except (VenueUnavailableError, VenueSymbolNotFoundError) as exc:
            log.warning("not routed: %s", exc, extra={"order": request.order_key})
            raise NotRoutedError("VENUE_UNAVAILABLE") from exc
        best = top.ask_price_ticks if side is Side.BUY else top.bid_price_ticks
        if best is None:
            raise NotRoutedError("NO_VENUE_PRICE")
        limit = slippage_limit(best, side, request.max_slippage_bps)
        if request.limit_ticks is not None:
            tighter = min if side is Side.BUY else max
            limit = tighter(limit, request.limit_ticks)
        beyond = (side is Side.BUY and limit < best) or (side is Side.SELL and limit > best)
        if beyond and request.new_order is None:
            raise NotRoutedError("LIMIT_NOT_MARKETABLE")  # a new order expires at the venue
        clearing = await self.clearing_account()
        engine = self._bus.engine
        base, quote = spec.base.index, spec.quote.index
        if side is Side.BUY:
            available = engine.balance(request.account, quote)[0]
            per_lot = buy_cost_minor(1, limit, spec.quote_per_tick_lot, request.fee_bps)
            affordable = available // per_lot if per_lot else 0
            inventory = engine.balance(clearing, base)[0] // spec.base_per_lot
            qty = self._quantity(request, affordable, inventory)
            customer_asset, clearing_asset = quote, base
            customer_minor = buy_cost_minor(qty, limit, spec.quote_per_tick_lot, request.fee_bps)
            clearing_minor = qty * spec.base_per_lot
        else:
            affordable = engine.balance(request.account, base)[0] // spec.base_per_lot
            # the clearing account pays at most the touch plus slippage (the venue may move)
            ceiling = slippage_limit(best, Side.BUY, request.max_slippage_bps)
            per_lot = ceiling * spec.quote_per_tick_lot
            inventory = engine.balance(clearing, quote)[0] // per_lot if per_lot else 0
            qty = self._quantity(request, affordable, inventory)
            customer_asset, clearing_asset = base, quote
            customer_minor = qty * spec.base_per_lot
            clearing_minor = qty * per_lot
        return Hold(
            order_key=request.order_key or "", account=request.account, market=request.market,
            side=side, qty_lots=qty, limit_ticks=limit, fee_bps=request.fee_bps,
            customer_asset=customer_asset, customer_minor=customer_minor, clearing=clearing,
            clearing_asset=clearing_asset, clearing_minor=clearing_minor, venue=self.name,
            markup_bps=request.markup_bps,
        )  # fmt: skip

    @staticmethod
    def _quantity(request: RouteRequest, affordable: int, inventory: int) -> int:
        """A remainder is capped by what the customer and the clearing inventory cover; a new
        order is all or nothing (refused like the internal engine would refuse it)."""
        if request.new_order is not None:
            if affordable < request.qty_lots:
                raise NotRoutedError("INSUFFICIENT_FUNDS")
            if inventory < request.qty_lots:
                raise NotRoutedError("VENUE_INVENTORY")
            return request.qty_lots
        qty = min(request.qty_lots, affordable, inventory)
        if qty <= 0:
            raise NotRoutedError("INSUFFICIENT_FUNDS" if affordable <= 0 else "VENUE_INVENTORY")
        return qty

    @staticmethod
    def _hold_command(hold: Hold, customer: bool, release: bool = False) -> Records:
        build = cmd.withdrawal_release if release else cmd.withdrawal_hold
        if customer:
            return build(0, 0, account=hold.account, asset=hold.customer_asset,
                         amount_minor=hold.customer_minor)  # fmt: skip
        return build(0, 0, account=hold.clearing, asset=hold.clearing_asset,
                     amount_minor=hold.clearing_minor)  # fmt: skip

    async def _release_only(self, hold: Hold, placed: Sequence[Submitted]) -> None:
        held = [s.events is None or outcome(s.events).accepted for s in placed]
        commands = [self._hold_command(hold, customer, release=True)
                    for customer, ok in zip((True, False), held, strict=True) if ok]  # fmt: skip
        if commands:
            note = {NOTE_ROUTE: "settle", "order_key": hold.order_key,
                    "status": RouteStatus.UNAVAILABLE.value, "reason": "HOLD_REFUSED"}  # fmt: skip
            await self._bus.submit_many(
                np.concatenate(commands), [note, *([None] * (len(commands) - 1))]
            )

    async def _execute_and_settle(self, hold: Hold, spec: MarketSpec) -> RouteStatus:
        try:
            result: VenueOrderResult | None = await self.venue.place_ioc(
                spec.market.id, hold.side, hold.qty_lots, hold.limit_ticks, hold.order_key
            )
        except (VenueUnavailableError, VenueSymbolNotFoundError) as exc:
            log.warning("venue refused a routed order: %s", exc, extra={"order": hold.order_key})
            result = None
        status, reason = _status(result)
        commands = [self._hold_command(hold, True, release=True),
                    self._hold_command(hold, False, release=True)]  # fmt: skip
        market_seq = self._bus.engine.market_seq(hold.market)
        notes: list[dict[str, str] | None] = [
            _settle_note(hold, spec, result, status, reason, market_seq),
            None,
        ]
        if result is not None and result.filled_qty_lots > 0:
            legs = self._settlement_legs(hold, spec, result)
            commands.extend(command for command, _ in legs)
            notes.extend({NOTE_LEG: leg, "order_key": hold.order_key,
                          NOTE_MARKUP_BPS: str(hold.markup_bps), "fee_bps": str(hold.fee_bps)}
                         for _, leg in legs)  # fmt: skip
        settled = await self._bus.submit_many(np.concatenate(commands), notes)
        refused = [
            s.seq for s in settled if s.events is not None and not outcome(s.events).accepted
        ]
        if refused:  # cannot happen while the holds cover the legs; loud if it ever does
            log.error("route settlement refused at %s", refused, extra={"order": hold.order_key})
        return status

    @staticmethod
    def _settlement_legs(
        hold: Hold, spec: MarketSpec, result: VenueOrderResult
    ) -> list[tuple[Records, str]]:
        notional = result.notional_ticks_lots * spec.quote_per_tick_lot
        base_minor = result.filled_qty_lots * spec.base_per_lot
        fee = fee_minor(notional, hold.fee_bps)
        base, quote = spec.base.index, spec.quote.index
        pair = (hold.account, hold.clearing)
        buyer, seller = pair if hold.side is Side.BUY else pair[::-1]
        legs = [
            (cmd.transfer(0, 0, from_account=buyer, to_account=seller, asset=quote,
                          amount_minor=notional), "EXTERNAL_TRADE"),
            (cmd.transfer(0, 0, from_account=seller, to_account=buyer, asset=base,
                          amount_minor=base_minor), "EXTERNAL_TRADE"),
        ]  # fmt: skip
        if fee > 0:
            legs.append((cmd.transfer(0, 0, from_account=hold.account, to_account=FEE_ACCOUNT,
                                      asset=quote, amount_minor=fee), "FEE"))  # fmt: skip
        return legs


def _status(result: VenueOrderResult | None) -> tuple[RouteStatus, str | None]:
    if result is None:
        return RouteStatus.UNAVAILABLE, "VENUE_UNAVAILABLE"
    if result.status is VenueOrderStatus.REJECTED:
        return RouteStatus.REJECTED, result.reject_reason
    if result.status is VenueOrderStatus.FILLED:
        return RouteStatus.FILLED, None
    if result.filled_qty_lots > 0:
        return RouteStatus.PARTIALLY_FILLED, "VENUE_IOC_REMAINDER"
    return RouteStatus.EXPIRED, "VENUE_NO_LIQUIDITY_WITHIN_LIMIT"


def _settle_note(
    hold: Hold,
    spec: MarketSpec,
    result: VenueOrderResult | None,
    status: RouteStatus,
    reason: str | None,
    market_seq: int,
) -> dict[str, str]:
    filled = result.filled_qty_lots if result is not None else 0
    notional = result.notional_ticks_lots if result is not None else 0
    fills = [[f.venue_fill_id, f.price_ticks, f.qty_lots] for f in result.fills] if result else []
    note = {
        NOTE_ROUTE: "settle",
        "order_key": hold.order_key,
        "venue": hold.venue,
        "status": status.value,
        "requested_lots": str(hold.qty_lots),
        "limit_ticks": str(hold.limit_ticks),
        "filled_lots": str(filled),
        "notional_tl": str(notional),
        "fee_minor": str(fee_minor(notional * spec.quote_per_tick_lot, hold.fee_bps)),
        "market_seq": str(market_seq),
        "fills": json.dumps(fills),
    }
    if reason:
        note["reason"] = reason
    return note
