"""Order entry: place, cancel, amend and operator adjustments through the engine writer.

Checks what only the API knows (who may act on which account, what the tenant lists and
permits, decimal -> tick/lot), then submits one engine command and reads its outcome.
The order read model is written by the projection before the writer answers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Protocol

import numpy as np

from domains.accounts.model import (
    Account,
    AccountKind,
    Product,
    RoutingMode,
    TenantConfig,
    TradingMode,
)
from domains.accounts.service import AccountsService
from domains.accounts.trading_mode import allows_customer_cancels, allows_new_orders
from domains.orders import countdown, errors
from domains.orders.commands import AdjustBalance, AmendOrder, PlaceOrder, TransferFunds
from domains.orders.model import (
    MarginBracket,
    Market,
    MarketKind,
    MarketStatus,
    Order,
    OrderType,
    PerpParams,
    Side,
    Trade,
    order_key,
    validate_brackets,
)
from domains.orders.order_events import placed_order
from domains.orders.outcomes import Outcome, outcome, raise_for
from domains.orders.quotes import Quote, quote
from domains.orders.routing import (
    CLEARING_ACCOUNT_ID,
    NOTE_MARKUP_BPS,
    ExternalRouter,
    Hold,
    NewOrder,
    NotRoutedError,
    RouteRequest,
)
from domains.orders.service import new_market
from domains.orders.spec import MarketSpec
from domains.shared.cache import SharedTtlCache
from domains.shared.context import Principal, Role, TenantScope
from domains.shared.engine_port import (
    CommandBus,
    DuplicateCommandError,
    EngineDirectory,
    Submitted,
    client_tag,
)
from domains.shared.errors import (
    ForbiddenError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from engine import codes
from engine import commands as cmd
from engine.layout import Records

ENGINE_TYPES = {
    OrderType.LIMIT: codes.LIMIT,
    OrderType.MARKET: codes.MARKET,
    OrderType.STOP_MARKET: codes.STOP_MARKET,
    OrderType.STOP_LIMIT: codes.STOP_LIMIT,
}
ENGINE_TIF = {"GTC": codes.GTC, "IOC": codes.IOC, "FOK": codes.FOK}
ENGINE_STP = {
    "MARKET_DEFAULT": codes.STP_MARKET_DEFAULT,
    "NONE": codes.STP_NONE,
    "EXPIRE_TAKER": codes.STP_EXPIRE_TAKER,
    "EXPIRE_MAKER": codes.STP_EXPIRE_MAKER,
    "EXPIRE_BOTH": codes.STP_EXPIRE_BOTH,
}
MAX_CLIENT_ORDER_ID = 64
PPM = 1_000_000
DEFAULT_FUNDING_INTERVAL_NS = 8 * 3600 * 1_000_000_000
PLATFORM = "platform"
QUOTE_DEPTH = 1000
CONFIG_TTL_S = 2.0
INSURANCE_PREFIX = "platform:insurance:"

log = logging.getLogger("caas.trading")


class RecentOrders:
    """The last orders the projection wrote, so callers are answered without a read."""

    def __init__(self, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._orders: OrderedDict[str, Order] = OrderedDict()

    def get(self, order_id: str) -> Order | None:
        return self._orders.get(order_id)

    def remember(self, orders: Sequence[Order]) -> None:
        for order in orders:
            self._orders[order.id] = order
            self._orders.move_to_end(order.id)
        while len(self._orders) > self.max_entries:
            self._orders.popitem(last=False)


def engine_order_id(key: str) -> int:
    if not key.startswith("ord_") or not key[4:].isdigit():
        raise errors.OrderNotFoundError("no such order", id=key)
    return int(key[4:])


class TradingRepository(Protocol):
    """Reads order entry needs (the projection writes)."""

    async def markets_by_ids(self, ids: Sequence[str]) -> list[Market]: ...
    async def insert_market(self, market: Market) -> None: ...
    async def markets(self, kind: MarketKind | None) -> list[Market]: ...
    async def orders_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Order]: ...
    async def order_by_client_id(
        self, scope: TenantScope, account_id: str, client_order_id: str
    ) -> Order | None: ...
    async def market_trades(self, market_id: str, first: int, after: str | None) -> list[Trade]: ...
    async def trades_between(
        self, market_id: str, after: int, before: int, limit: int
    ) -> list[Trade]: ...
    async def set_market_status(self, market_id: str, status: MarketStatus) -> None: ...
    async def pending_routes(self) -> list[Order]: ...


class OrderGate(Protocol):
    """A check before a customer's new order (the compliance domain's KYC gate)."""

    async def check_order(
        self, tenant_id: str, customer_id: str, product: str, side: str
    ) -> None: ...

    async def require_derivatives_suitability(
        self, tenant_id: str, customer_id: str, disclosure_version: str | None = None
    ) -> None: ...


@dataclass(frozen=True)
class PlacedOrder:
    """The answer to placeOrder: the order as it stands, and whether this was a retry."""

    order: Order
    replayed: bool


class BookReader(Protocol):
    """Where a process without an engine reads order books (graph/writer/book_view.py)."""

    async def book(
        self, market: int, depth: int
    ) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """(book sequence, bids, asks) as (price ticks, qty lots), best first."""
        ...


BOOK_WAIT_S = 2.0  # how long a book read waits for the sequence it needs


class TradingService:
    """Order entry for every tenant, through the one engine writer."""

    def __init__(
        self,
        repository: TradingRepository,
        accounts: AccountsService,
        bus: CommandBus,
        directory: EngineDirectory,
        router: ExternalRouter | None = None,
        gate: OrderGate | None = None,
        funding_interval_ns: int = DEFAULT_FUNDING_INTERVAL_NS,
    ) -> None:
        self._funding_interval_ns = funding_interval_ns
        self.countdowns: countdown.MongoCountdowns | None = None  # set by the composition root
        self._router = router
        self._gate = gate
        self.book_reader: BookReader | None = None  # set: books come from it, not the engine
        self._repo = repository
        self._accounts = accounts
        self._bus = bus
        self._directory = directory
        self._specs: dict[str, MarketSpec] = {}
        self._account_cache: dict[str, Account] = {}
        self._configs: SharedTtlCache[str, TenantConfig] = SharedTtlCache(CONFIG_TTL_S)
        self._markups: dict[int, int] = {}  # markup journaled with each account's fee rate
        self.recent_orders = RecentOrders()

    async def spec(self, market_id: str) -> MarketSpec:
        """The market's conversion spec (cached; markets do not change increments)."""
        known = self._specs.get(market_id)
        if known is not None:
            return known
        found = await self._repo.markets_by_ids([market_id])
        if not found:
            raise errors.MarketNotFoundError("no such market", market=market_id)
        spec = self._spec_of(found[0])
        self._specs[market_id] = spec
        return spec

    def _spec_of(self, market: Market) -> MarketSpec:
        """The market with its assets' engine units; unknown assets or increments that do not
        fit their minor units are VALIDATION errors."""
        base = self._directory.asset(market.base_asset)
        quote = self._directory.asset(market.quote_asset)
        if base is None or quote is None:
            raise errors.MarketSpecError(
                f"market {market.id} trades an unknown asset; the platform trades USDT, BTC, ETH"
            )
        return MarketSpec(market, base, quote).validate()

    async def register_market(self, market: Market) -> None:
        """Add a market to the engine (idempotent) and to the read model if new.

        A perpetual is added with its margin brackets and funding parameters as one
        contiguous command group (all or nothing), so the engine never holds a perpetual
        without its brackets.
        """
        spec = self._spec_of(market)
        index = await self._directory.market_index(market.id)
        known = self._specs.get(market.id)
        self._specs[market.id] = spec  # the projectors read the new market's events with it
        if self._bus.engine.market_state(index) is None:
            commands = await self._market_commands(spec, index)
            submitted = await self._bus.submit_many(commands)
            for result in map(_outcome, submitted):
                if not result.accepted and result.code != codes.VALIDATION_MARKET_EXISTS:
                    if known is None:
                        del self._specs[market.id]
                    raise errors.MarketSpecError(f"the engine refused the market: {result.reason}")
        if not await self._repo.markets_by_ids([market.id]):
            await self._repo.insert_market(market)

    async def _market_commands(self, spec: MarketSpec, index: int) -> Records:
        """ADD_MARKET, and for a perpetual SET_MARGIN_BRACKET per bracket + SET_PERP_PARAMS."""
        market, base, quote = spec.market, spec.base, spec.quote
        reference = spec.price_ticks(market.reference_price) if market.reference_price else 0
        perpetual = market.kind is MarketKind.PERPETUAL
        commands = [
            cmd.add_market(
                0, 0, market=index, base_asset=base.index, quote_asset=quote.index,
                base_per_lot=spec.base_per_lot, quote_per_tick_lot=spec.quote_per_tick_lot,
                fee_account=0, min_notional_minor=spec.min_notional_minor,
                band_bps=market.price_band_bps, collar_bps=market.collar_bps,
                reference_price_ticks=reference, perpetual=perpetual,
            )
        ]  # fmt: skip
        if perpetual:
            commands.extend(
                cmd.set_margin_bracket(
                    0, 0, market=index, index=i,
                    notional_floor_minor=quote_minor(b.notional_floor, quote.decimals),
                    maint_rate_ppm=int(b.maint_rate * PPM),
                    maint_amount_minor=quote_minor(b.maint_amount, quote.decimals),
                    max_leverage=b.max_leverage,
                )
                for i, b in enumerate(market.margin_brackets)
            )  # fmt: skip
            params = market.perp or PerpParams()
            insurance = await self.insurance_account(market.quote_asset)
            commands.append(cmd.set_perp_params(
                0, 0, market=index, insurance_account=insurance,
                funding_interval_ns=self._funding_interval_ns,
                funding_cap_bps=params.funding_cap_bps, basis_cap_bps=params.basis_cap_bps,
                index_price_ticks=reference,
            ))  # fmt: skip
        return np.concatenate(commands)

    async def insurance_account(self, quote_asset: str) -> int:
        """The engine index of the platform's insurance fund for a margin asset."""
        account_id = insurance_account_id(quote_asset)
        return await self._directory.account_index(account_id, PLATFORM, PLATFORM)

    async def create_market(
        self,
        base_asset: str,
        quote_asset: str,
        tick_size: Decimal,
        lot_size: Decimal,
        min_notional: Decimal,
        reference_price: Decimal | None = None,
    ) -> Market:
        """List a new spot market on the platform: engine first, then the read model."""
        market = new_market(base_asset, quote_asset, tick_size, lot_size, min_notional,
                            MarketKind.SPOT, reference_price)  # fmt: skip
        if await self._repo.markets_by_ids([market.id]):
            raise errors.DuplicateMarketError(f"market {market.id} exists already",
                                              market=market.id)  # fmt: skip
        await self.register_market(market)
        return market

    async def create_perpetual_market(
        self,
        base_asset: str,
        quote_asset: str,
        tick_size: Decimal,
        lot_size: Decimal,
        min_notional: Decimal,
        brackets: Sequence[MarginBracket],
        reference_price: Decimal | None = None,
        params: PerpParams | None = None,
    ) -> Market:
        """List a linear perpetual (``BASE-QUOTE-PERP``) with its margin brackets and
        funding parameters: engine first (one atomic command group), then the read model.

        Tenants list it where their jurisdiction permits derivatives. The insurance fund is
        the platform account ``platform:insurance:<quote>``; the funding interval is the
        deployment's (CAAS_FUNDING_INTERVAL_SECONDS).
        """
        market = replace(
            new_market(base_asset, quote_asset, tick_size, lot_size, min_notional,
                       MarketKind.PERPETUAL, reference_price),
            margin_brackets=tuple(validate_brackets(brackets)),
            perp=(params or PerpParams()).validate(),
        )  # fmt: skip
        spec = self._spec_of(market)  # the assets and increments fit the engine's units
        for bracket in market.margin_brackets:
            for value, name in ((bracket.notional_floor, "notionalFloor"),
                                (bracket.maint_amount, "maintAmount")):  # fmt: skip
                if value.scaleb(spec.quote.decimals) % 1:
                    raise ValidationError(f"{name} {value} is finer than the quote asset's unit")
            if (bracket.maint_rate * PPM) % 1:
                raise ValidationError("maintRate is at most 6 decimals (ppm)", field="maintRate")
        if await self._repo.markets_by_ids([market.id]):
            raise errors.DuplicateMarketError(f"market {market.id} exists already",
                                              market=market.id)  # fmt: skip
        await self.register_market(market)
        return market

    async def set_market_status(self, principal: Principal, market_id: str,
                                status: MarketStatus) -> Market:  # fmt: skip
        """Halt, resume or restrict a market (operators): the engine first, then the model."""
        if principal.role is not Role.OPERATOR:
            raise ForbiddenError("only operators change a market's status")
        spec = await self.spec(market_id)
        index = await self._directory.market_index(spec.market.id)
        engine_status = {MarketStatus.TRADING: codes.MARKET_TRADING,
                         MarketStatus.HALTED: codes.MARKET_HALTED,
                         MarketStatus.CANCEL_ONLY: codes.MARKET_CANCEL_ONLY,
                         MarketStatus.REDUCE_ONLY: codes.MARKET_REDUCE_ONLY}[status]  # fmt: skip
        submitted = await self._bus.submit(
            cmd.set_market_status(0, 0, market=index, status=engine_status),
            {"by": principal.key_id},
        )
        raise_for(_outcome(submitted))
        await self._repo.set_market_status(spec.market.id, status)
        market = replace(spec.market, status=status)
        self._specs[market_id] = replace(spec, market=market)
        return market

    async def sync_markets(self) -> None:
        """At start-up: every stored market (spot and perpetual) exists in the engine."""
        for market in await self._repo.markets(None):
            await self.register_market(market)

    async def _account(self, principal: Principal, account_id: str) -> Account:
        """The account if the caller may trade on it: a trader its own, staff their tenant's.

        Accounts never change owner, so they are cached; the check is per request.
        """
        if principal.role not in (Role.TRADER, Role.TENANT_ADMIN):
            raise ForbiddenError("only traders and tenant admins place orders")
        account = self._account_cache.get(account_id)
        if account is None:
            found = await self._accounts.accounts(TenantScope(None), [account_id])
            account = found[0] if found else None
            if account is not None:
                self._account_cache[account_id] = account
        scope = TenantScope.of(principal)
        if (
            account is None
            or account.tenant_id != scope.tenant_id
            or (scope.customer_id is not None and account.customer_id != scope.customer_id)
        ):
            raise NotFoundError("no such account", id=account_id)
        return account

    async def _config(self, tenant_id: str) -> TenantConfig:
        """The tenant's configuration, cached for CONFIG_TTL_S (changes apply within it)."""
        return await self._configs.get(tenant_id, lambda: self._accounts.tenant_config(tenant_id))

    async def _tradable(self, account: Account, market_id: str) -> MarketSpec:
        config = await self._config(account.tenant_id)
        if not config.lists(market_id) or config.sandbox:
            try:  # SANDBOX_BOUNDARY before MARKET_NOT_LISTED: the clearer reason
                known: MarketSpec | None = await self.spec(market_id)  # cached
            except errors.MarketNotFoundError:
                known = None
            if known is not None:
                _check_boundary(account.tenant_id, config.sandbox, known.market)
        if not config.lists(market_id):
            raise errors.MarketNotListedError("your institution does not list this market",
                                              market=market_id)  # fmt: skip
        spec = await self.spec(market_id)
        if not config.permits(spec.market.kind.value):
            raise errors.ProductNotPermittedError(
                f"{spec.market.kind.value} is not permitted in {config.jurisdiction}",
                market=market_id,
            )
        return spec

    async def _fee_rates(self, account: Account, index: int) -> None:
        config = await self._config(account.tenant_id)
        maker, taker = config.fee_schedule.all_in_rates_for(Decimal(0))
        markup = config.markup_bps
        if self._bus.engine.fee_rate(index) != (maker, taker) or self._markups.get(index) != markup:
            # the note tells the ledger which part of the all-in rate is the markup
            await self._bus.submit(cmd.set_fee_rate(0, 0, account=index, maker_bps=maker,
                                                    taker_bps=taker),
                                   {NOTE_MARKUP_BPS: str(markup)})  # fmt: skip
            self._markups[index] = markup

    def forget_tenant_config(self, tenant_id: str) -> None:
        """Drop the cached configuration of a tenant changed in this process (trading mode)."""
        self._configs.forget(tenant_id)

    async def _check_trading_mode(
        self, account: Account, spec: MarketSpec, side: Side, grows: bool = True
    ) -> TradingMode:
        """The tenant's trading mode, checked before the engine (which enforces it per
        account, exactly): no new order or amend unless NORMAL or REDUCE_ONLY, and in
        REDUCE_ONLY no spot BUY that is new or grows (perpetual orders: the engine makes
        them reduce-only). Returns the mode."""
        mode = (await self._config(account.tenant_id)).trading_mode
        spot_buy = spec.market.kind is MarketKind.SPOT and side is Side.BUY
        if not allows_new_orders(mode) or (mode is TradingMode.REDUCE_ONLY and spot_buy and grows):
            raise errors.TradingModeRestrictedError(
                f"your institution's trading mode is {mode.value}", tradingMode=mode.value
            )
        return mode

    async def _check_cancel_mode(self, principal: Principal, account: Account) -> None:
        """A HALTED tenant's customers cannot cancel (its TENANT_ADMIN still can)."""
        if principal.role is not Role.TRADER:
            return
        mode = (await self._config(account.tenant_id)).trading_mode
        if not allows_customer_cancels(mode):
            raise errors.TradingModeRestrictedError(
                f"your institution's trading mode is {mode.value}", tradingMode=mode.value
            )

    async def _check_gate(
        self, account: Account, spec: MarketSpec, side: Side, reduce_only: bool = False
    ) -> None:
        """KYC: a customer's new order (not the treasury's) passes the compliance gate; an
        order that may open or grow a futures position also needs the customer's passed
        derivatives suitability and risk disclosure acknowledgement (SUITABILITY_REQUIRED).
        A reduce-only order only closes, so it needs neither the level nor suitability."""
        if self._gate is None or account.kind is AccountKind.TREASURY:
            return
        perpetual = spec.market.kind is MarketKind.PERPETUAL
        if perpetual and reduce_only:
            return
        await self._gate.check_order(
            account.tenant_id, account.customer_id, spec.market.kind.value, side.value
        )
        if perpetual:
            await self._gate.require_derivatives_suitability(account.tenant_id,
                                                             account.customer_id)  # fmt: skip

    async def perpetual_target(
        self, principal: Principal, account_id: str, market_id: str
    ) -> tuple[MarketSpec, int, int]:
        """(spec, account index, market index) of a perpetual the caller may trade on with
        this account (its tenant lists and is permitted the market)."""
        account = await self._account(principal, account_id)
        spec = await self._tradable(account, market_id)
        if spec.market.kind is not MarketKind.PERPETUAL:
            raise ValidationError("this is not a perpetual market", field="market")
        index = await self._directory.market_index(spec.market.id)
        return spec, await self.account_index(account), index

    async def markets(self, kind: MarketKind | None = None) -> list[Market]:
        """Every platform market of a kind (all when None), from the read model."""
        return await self._repo.markets(kind)

    async def perpetual(self, market_id: str) -> tuple[MarketSpec, int]:
        """A perpetual market's spec and engine index (VALIDATION for a spot market)."""
        spec = await self.spec(market_id)
        if spec.market.kind is not MarketKind.PERPETUAL:
            raise ValidationError("this is not a perpetual market", field="market")
        return spec, await self._directory.market_index(spec.market.id)

    async def submit_checked(self, command: Records, note: dict[str, str] | None = None) -> int:
        """Sequence one command; raise the API error of a refusal; return its sequence."""
        submitted = await self._bus.submit(command, note)
        raise_for(_outcome(submitted))
        return submitted.seq

    async def account_index(self, account: Account) -> int:
        return await self._directory.account_index(account.id, account.tenant_id,
                                                   account.customer_id)  # fmt: skip

    async def place_order(self, principal: Principal, request: PlaceOrder) -> PlacedOrder:
        account = await self._account(principal, request.account_id)
        spec = await self._tradable(account, request.market_id)
        mode = await self._check_trading_mode(account, spec, request.side)
        reduce_only = request.reduce_only or mode is TradingMode.REDUCE_ONLY  # the engine's rule
        await self._check_gate(account, spec, request.side, reduce_only)
        command = self._place_command(spec, request)
        if request.client_order_id is not None:
            command["client_tag"] = _client_tag(request.client_order_id)
        index = await self.account_index(account)
        command["account"] = index
        command["market"] = await self._directory.market_index(spec.market.id)
        config = await self._config(account.tenant_id)
        routable = self._router is not None and spec.market.kind is MarketKind.SPOT
        if routable and config.routing.mode is RoutingMode.EXTERNAL_ONLY:
            return await self._place_external(principal, account, spec, command, request, config)
        await self._fee_rates(account, index)
        note = {"client_order_id": request.client_order_id} if request.client_order_id else None
        try:
            submitted = await self._bus.submit(command, note)
        except DuplicateCommandError as exc:
            raise errors.DuplicateClientOrderIdError(
                "this clientOrderId was used within 24 hours for a different order",
                clientOrderId=request.client_order_id,
                orderId=order_key(exc.original_seq),
            ) from exc
        if submitted.events is not None:
            raise_for(outcome(submitted.events))
            if routable and not submitted.replayed:  # a retry's route ran the first time
                await self._route_remainder(account, spec, command, submitted.events,
                                            submitted.seq)  # fmt: skip
        key = order_key(submitted.seq)
        recent = self._recent_order(TenantScope.of(principal), key)
        if recent is None and submitted.events is not None and not submitted.replayed:
            # not projected here yet (an API process projects nothing): from its own events
            command["seq"], command["order_id"] = submitted.seq, submitted.seq
            command["ts_ns"] = submitted.ts_ns or time.time_ns()
            owner = (account.tenant_id, account.customer_id, account.id)
            recent = placed_order(command, submitted.events, owner, spec.market.id, spec,
                                  request.client_order_id)  # fmt: skip
        order = recent or await self._order(TenantScope.of(principal), key)
        return PlacedOrder(order, submitted.replayed)

    async def _route_remainder(
        self, account: Account, spec: MarketSpec, command: Records, events: Records, seq: int
    ) -> None:
        """Send what the internal book left of a market or IOC order to the external venue,
        when the tenant's routing policy allows it."""
        if self._router is None:
            return
        if not _routable(command):
            return
        mine = events[events["order_id"] == seq]
        done = mine[mine["kind"] == codes.EV_ORDER_DONE]
        no_liquidity = (mine["kind"] == codes.EV_REJECTED) & (
            mine["code"] == codes.MATCH_NO_LIQUIDITY
        )
        if len(done) == 1 and done["status"][0] == codes.EXPIRED:
            remainder = int(command["qty"][0]) - int(done["qty"][0])
        elif no_liquidity.any():
            remainder = int(command["qty"][0])  # the internal book had nothing at all
        else:
            return  # filled, or ended for a reason routing must respect (STP, post-only...)
        config = await self._config(account.tenant_id)
        if remainder <= 0 or config.routing.mode is RoutingMode.INTERNAL_ONLY:
            return
        try:
            await self._router.route(self._route_request(order_key(seq), spec, command,
                                                         remainder, config))  # fmt: skip
        except NotRoutedError as exc:  # the order stays as the internal book left it
            log.info("remainder not routed: %s", exc.reason, extra={"order": order_key(seq)})

    @staticmethod
    def _route_request(
        key: str | None, spec: MarketSpec, command: Records, qty: int, config: TenantConfig,
        new_order: NewOrder | None = None,
    ) -> RouteRequest:  # fmt: skip
        is_limit = command["order_type"][0] == codes.LIMIT
        return RouteRequest(
            order_key=key, account=int(command["account"][0]), spec=spec,
            market=int(command["market"][0]),
            side=Side.BUY if command["side"][0] == codes.BUY else Side.SELL, qty_lots=qty,
            limit_ticks=int(command["price"][0]) if is_limit else None,
            max_slippage_bps=config.routing.max_slippage_bps,
            fee_bps=config.fee_schedule.all_in_rates_for(Decimal(0))[1], new_order=new_order,
            markup_bps=config.markup_bps,
        )  # fmt: skip

    async def _place_external(
        self, principal: Principal, account: Account, spec: MarketSpec, command: Records,
        request: PlaceOrder, config: TenantConfig,
    ) -> PlacedOrder:  # fmt: skip
        """EXTERNAL_ONLY routing: the whole order goes to the venue, never the internal book."""
        assert self._router is not None
        if not _routable(command):
            raise ValidationError(
                "your institution routes every order to the external venue: place MARKET "
                "orders or IOC LIMIT orders", field="timeInForce",
            )  # fmt: skip
        scope = TenantScope.of(principal)
        if request.client_order_id is not None:
            known = await self._repo.order_by_client_id(scope, account.id, request.client_order_id)
            if known is not None:
                return self._same_order(known, spec, command, request.client_order_id)
        new_order = NewOrder(request.type.value, int(command["price"][0]),
                             int(command["qty"][0]), request.client_order_id)  # fmt: skip
        try:
            key, _ = await self._router.route(self._route_request(
                None, spec, command, int(command["qty"][0]), config, new_order))  # fmt: skip
        except NotRoutedError as exc:
            if exc.reason == "INSUFFICIENT_FUNDS":
                raise errors.InsufficientFundsError("the account does not hold that much") from exc
            raise UnavailableError(
                f"the external venue cannot take this order now ({exc.reason}); retry later",
                reason=exc.reason,
            ) from exc
        return PlacedOrder(await self._order(scope, key), replayed=False)

    @staticmethod
    def _same_order(
        known: Order, spec: MarketSpec, command: Records, client_order_id: str
    ) -> PlacedOrder:
        """A retry of an external-only order: the original, or a duplicate-id error."""
        price = int(command["price"][0])
        same = (
            spec.qty_lots(known.quantity) == int(command["qty"][0])
            and (known.side is Side.BUY) == (command["side"][0] == codes.BUY)
            and (spec.price_ticks(known.price) if known.price is not None else 0) == price
        )
        if not same:
            raise errors.DuplicateClientOrderIdError(
                "this clientOrderId was used within 24 hours for a different order",
                clientOrderId=client_order_id, orderId=known.id,
            )  # fmt: skip
        return PlacedOrder(known, replayed=True)

    async def resume_routes(self) -> int:
        """At writer start: finish routes a crash left between hold and settlement."""
        if self._router is None:
            return 0
        pending = await self._repo.pending_routes()
        for order in pending:
            assert order.routing is not None and order.routing.hold_note is not None
            hold = Hold.from_note(order.routing.hold_note)
            await self._router.resume(hold, await self.spec(order.market_id))
        return len(pending)

    async def quote_order(self, principal: Principal, request: PlaceOrder) -> Quote:
        """Estimate an order against the current book with its fees disclosed line by line."""
        account = await self._account(principal, request.account_id)
        spec = await self._tradable(account, request.market_id)
        await self._check_gate(account, spec, request.side, request.reduce_only)
        command = self._place_command(spec, request)
        config = await self._config(account.tenant_id)
        index = await self._directory.market_index(spec.market.id)
        bids, asks = self._bus.engine.book(index, QUOTE_DEPTH)
        limit = int(command["price"][0]) if request.price is not None else None
        return quote(
            spec,
            request.side,
            int(command["qty"][0]),
            limit,
            asks if request.side is Side.BUY else bids,
            config.fee_schedule.rates_for(Decimal(0)),
            config.markup_bps,
            config.risk_warnings[Product(spec.market.kind.value)],
        )

    def _place_command(self, spec: MarketSpec, request: PlaceOrder) -> Records:
        needs_price = request.type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
        if needs_price != (request.price is not None):
            raise ValidationError("limit and stop-limit orders need a price; others must not",
                                  field="price")  # fmt: skip
        is_stop = request.type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
        if is_stop != (request.stop_price is not None):
            raise ValidationError(
                "stop orders need a stopPrice; others must not", field="stopPrice"
            )
        if spec.market.status is MarketStatus.HALTED:
            raise errors.MarketHaltedError("the market is halted", market=spec.market.id)
        if request.reduce_only and spec.market.kind is not MarketKind.PERPETUAL:
            raise ValidationError("reduceOnly is for perpetual markets", field="reduceOnly")
        tif = request.time_in_force.value if request.time_in_force else None
        return cmd.place(
            0, 0, order_id=0, account=0, market=0,
            side=codes.BUY if request.side.value == "BUY" else codes.SELL,
            qty_lots=spec.qty_lots(request.quantity),
            price_ticks=spec.price_ticks(request.price) if request.price is not None else 0,
            order_type=ENGINE_TYPES[request.type],
            tif=ENGINE_TIF[tif] if tif else None,
            stop_price_ticks=(
                spec.price_ticks(request.stop_price, "stopPrice") if request.stop_price else 0
            ),
            stp=ENGINE_STP[request.self_trade_prevention.value],
            post_only=request.post_only, reduce_only=request.reduce_only,
        )  # fmt: skip

    def _recent_order(self, scope: TenantScope, order_id: str) -> Order | None:
        """The order as the writer's projection last saw it, if the caller may see it."""
        recent = self.recent_orders.get(order_id)
        if (
            recent is not None
            and scope.tenant_id == recent.tenant_id
            and (scope.customer_id in (None, recent.customer_id))
        ):
            return recent
        return None

    async def _order(self, scope: TenantScope, order_id: str) -> Order:
        recent = self._recent_order(scope, order_id)
        if recent is not None:
            return recent  # tracked by the projection in the batch that answered us
        found = await self._repo.orders_by_ids(scope, [order_id])
        if not found:
            raise errors.OrderNotFoundError("no such order", id=order_id)
        return found[0]

    async def find_order(
        self,
        principal: Principal,
        order_id: str | None,
        account_id: str | None,
        client_order_id: str | None,
    ) -> Order:
        """By id, or by (account, clientOrderId): how a timed-out client recovers."""
        scope = TenantScope.of(principal)
        if order_id is not None:
            return await self._order(scope, order_id)
        if account_id is None or client_order_id is None:
            raise ValidationError("give an order id, or an account id and a clientOrderId")
        found = await self._repo.order_by_client_id(scope, account_id, client_order_id)
        if found is None:
            raise errors.OrderNotFoundError("no such order", clientOrderId=client_order_id)
        return found

    async def cancel_order(self, principal: Principal, order: Order) -> Order:
        account = await self._account(principal, order.account_id)
        await self._check_cancel_mode(principal, account)
        index = await self.account_index(account)
        submitted = await self._bus.submit(
            cmd.cancel(0, 0, order_id=engine_order_id(order.id), account=index)
        )
        raise_for(_outcome(submitted))
        return await self._order(TenantScope.of(principal), order.id)

    async def cancel_all(self, principal: Principal, account_id: str, market_id: str) -> int:
        """Cancel every live order of an account on a market; returns how many."""
        account = await self._account(principal, account_id)
        await self._check_cancel_mode(principal, account)
        spec = await self.spec(market_id)
        index = await self.account_index(account)
        market = await self._directory.market_index(spec.market.id)
        live = len(self._bus.engine.open_orders(index, market))
        submitted = await self._bus.submit(cmd.cancel_all(0, 0, account=index, market=market))
        raise_for(_outcome(submitted))
        return live

    async def arm_countdown(
        self, principal: Principal, account_id: str, timeout_ms: int
    ) -> countdown.Countdown:
        """Arm, renew (or with 0 disarm) the account's dead-man's switch."""
        account = await self._account(principal, account_id)
        if timeout_ms:  # arming is a customer cancel to come; disarming always works
            await self._check_cancel_mode(principal, account)
        if self.countdowns is None:
            raise UnavailableError("countdowns are not enabled in this process")
        timeout_ms = countdown.check_timeout(timeout_ms)
        return await self.countdowns.arm(account.id, account.tenant_id, timeout_ms, time.time_ns())

    async def cancel_everywhere(self, account_id: str, note: dict[str, str]) -> int:
        """Cancel every live order of an account on every market, as one journaled group
        (the countdown's cancels); how many orders were live."""
        found = await self._accounts.accounts(TenantScope(None), [account_id])
        if not found:
            return 0
        index = await self.account_index(found[0])
        live = self._bus.engine.open_orders(index)
        markets = sorted({o.market for o in live})
        if markets:
            commands = np.concatenate(
                [cmd.cancel_all(0, 0, account=index, market=m) for m in markets]
            )
            await self._bus.submit_many(commands, [note] * len(markets))
        return len(live)

    async def amend_order(self, principal: Principal, order: Order, change: AmendOrder) -> Order:
        account = await self._account(principal, order.account_id)
        spec = await self.spec(order.market_id)
        live = self._bus.engine.order_state(engine_order_id(order.id))
        if live is None:
            raise errors.OrderNotFoundError("the order is no longer live", id=order.id)
        price = spec.price_ticks(change.price) if change.price is not None else live.price_ticks
        qty = spec.qty_lots(change.quantity) if change.quantity is not None else live.remaining_lots
        await self._check_trading_mode(account, spec, order.side, qty > live.remaining_lots)
        if qty > live.remaining_lots:  # growing an order is a new commitment; shrinking is not
            await self._check_gate(account, spec, order.side)
        submitted = await self._bus.submit(
            cmd.amend(0, 0, order_id=live.order_id, account=await self.account_index(account),
                      price_ticks=price, qty_lots=qty)
        )  # fmt: skip
        raise_for(_outcome(submitted))
        return await self._order(TenantScope.of(principal), order.id)

    async def transfer(self, principal: Principal, request: TransferFunds) -> int:
        """Move funds atomically between two accounts of one customer, or (tenant admins)
        between the institution's treasury and a customer's account; returns the sequence."""
        source = await self._account(principal, request.from_account_id)
        target = await self._account(principal, request.to_account_id)
        if source.id == target.id:
            raise ValidationError("choose two different accounts", field="toAccountId")
        treasury = AccountKind.TREASURY in (source.kind, target.kind)
        if treasury and principal.role is not Role.TENANT_ADMIN:
            raise ForbiddenError("only the institution's admins move treasury funds")
        if not treasury and source.customer_id != target.customer_id:
            raise ForbiddenError(
                "transfers move funds between accounts of one customer, or to and from the "
                "institution's treasury"
            )
        asset = self._directory.asset(request.asset)
        if asset is None:
            raise ValidationError(f"unknown asset {request.asset}", field="asset")
        minor = request.amount.scaleb(asset.decimals)
        if minor <= 0 or minor != minor.to_integral_value():
            raise ValidationError(
                f"amount must be positive and a multiple of 1e-{asset.decimals}", field="amount"
            )
        submitted = await self._bus.submit(
            cmd.transfer(
                0, 0, from_account=await self.account_index(source),
                to_account=await self.account_index(target), asset=asset.index,
                amount_minor=int(minor),
            ),
            {"by": principal.key_id},
        )  # fmt: skip
        raise_for(_outcome(submitted))
        return submitted.seq

    async def adjust_balance(self, principal: Principal, request: AdjustBalance) -> int:
        """Operator funding: credit, or hold-and-debit, one account; returns the sequence."""
        if principal.role is not Role.OPERATOR:
            raise ForbiddenError("balance adjustments are for operators")
        if not request.reason.strip():
            raise ValidationError("an adjustment needs a reason", field="reason")
        asset = self._directory.asset(request.asset)
        if asset is None:
            raise ValidationError(f"unknown asset {request.asset}", field="asset")
        index = await self._adjustable_index(request.account_id)
        minor = request.amount.scaleb(asset.decimals)
        if minor == 0 or minor != minor.to_integral_value():
            raise ValidationError(f"amount must be a non-zero multiple of 1e-{asset.decimals}",
                                  field="amount")  # fmt: skip
        note = {"reason": request.reason.strip()[:500], "by": principal.key_id}
        amount = abs(int(minor))
        if minor > 0:
            return await self._money(cmd.deposit_credit, index, asset.index, amount, note)
        await self._money(cmd.withdrawal_hold, index, asset.index, amount, note)
        return await self._money(cmd.withdrawal_debit, index, asset.index, amount, note)

    async def _adjustable_index(self, account_id: str) -> int:
        """A customer account, the platform's venue clearing account (its inventory) or an
        insurance fund (``platform:insurance:<asset>``: capital a wind-down's takeovers at the
        mark are margined with)."""
        if account_id == CLEARING_ACCOUNT_ID and self._router is not None:
            return await self._router.clearing_account()
        if account_id.startswith(INSURANCE_PREFIX):
            if self._directory.asset(account_id.removeprefix(INSURANCE_PREFIX)) is None:
                raise NotFoundError("no such account", id=account_id)
            return await self.insurance_account(account_id.removeprefix(INSURANCE_PREFIX))
        found = await self._accounts.accounts(TenantScope(None), [account_id])
        if not found:
            raise NotFoundError("no such account", id=account_id)
        return await self.account_index(found[0])

    async def _money(self, build: MoneyCommand, account: int, asset: int, amount: int,
                     note: dict[str, str]) -> int:  # fmt: skip
        submitted = await self._bus.submit(
            build(0, 0, account=account, asset=asset, amount_minor=amount), note
        )
        result = _outcome(submitted)
        if (
            result.code == codes.RISK_INSUFFICIENT_HELD
            or result.code == codes.RISK_INSUFFICIENT_FUNDS
        ):
            raise errors.InsufficientFundsError("the account does not hold that much")
        raise_for(result)
        return submitted.seq

    @staticmethod
    def visible(principal: Principal, market: Market) -> bool:
        """Whether the market is on the caller's side of the sandbox boundary: a sandbox
        tenant's credential sees only its own sandbox markets, a live tenant's no sandbox
        market, operators everything."""
        return not _crosses_sandbox(principal.tenant_id, principal.sandbox, market)

    async def listed_market(self, principal: Principal, market_id: str) -> tuple[MarketSpec, int]:
        """A market the caller's institution lists (any market for operators)."""
        spec = await self.spec(market_id)
        _check_boundary(principal.tenant_id, principal.sandbox, spec.market)
        if principal.tenant_id is not None:
            config = await self._config(principal.tenant_id)
            if not config.lists(market_id):
                raise errors.MarketNotListedError("your institution does not list this market",
                                                  market=market_id)  # fmt: skip
        return spec, await self._directory.market_index(spec.market.id)

    async def listed_ids(self, principal: Principal) -> frozenset[str] | None:
        """Markets the caller's institution lists; None (all) for operators."""
        if principal.tenant_id is None:
            return None
        return (await self._config(principal.tenant_id)).listed_markets

    async def market_trades(self, market_id: str, first: int, after: str | None) -> list[Trade]:
        return await self._repo.market_trades(market_id, first, after)

    async def trades_between(
        self, market_id: str, after: int, before: int, limit: int
    ) -> list[Trade]:
        """The market's own trades numbered strictly between ``after`` and ``before``, oldest
        first, at most ``limit`` (what a trade stream lost while its broker was away)."""
        return await self._repo.trades_between(market_id, after, before, limit)

    async def order_by_client_id(
        self, principal: Principal, account_id: str, client_order_id: str
    ) -> Order | None:
        return await self._repo.order_by_client_id(
            TenantScope.of(principal), account_id, client_order_id
        )

    def book_sequence(self, index: int) -> int:
        """The book sequence of market ``index`` in the engine this process reads."""
        return int(self._bus.engine.market_seq(index))

    async def _read_book(
        self, index: int, depth: int
    ) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        if self.book_reader is not None:
            return await self.book_reader.book(index, depth)
        bids, asks = self._bus.engine.book(index, depth)
        return self.book_sequence(index), bids, asks

    async def order_book(
        self, spec: MarketSpec, index: int, depth: int, min_sequence: int = 0
    ) -> BookView:
        """The book now, from this process's engine (writer or replica) or its book reader;
        waits (up to BOOK_WAIT_S) until it reflects ``min_sequence``."""
        deadline = time.monotonic() + BOOK_WAIT_S
        while True:
            sequence, bids, asks = await self._read_book(index, depth)
            if sequence >= min_sequence or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.01)  # a replica or the writer's view is about to catch up
        return BookView(
            sequence=sequence,
            bids=[(spec.price(p), spec.quantity(q)) for p, q in bids],
            asks=[(spec.price(p), spec.quantity(q)) for p, q in asks],
        )


@dataclass(frozen=True)
class BookView:
    """An order book snapshot in decimals, with the book sequence it reflects."""

    sequence: int
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]


class MoneyCommand(Protocol):
    def __call__(
        self, seq: int, ts_ns: int, *, account: int, asset: int, amount_minor: int,
        client_tag: int = 0,
    ) -> Records: ...  # fmt: skip


def _crosses_sandbox(tenant_id: str | None, sandbox: bool, market: Market) -> bool:
    if tenant_id is None:  # operators
        return False
    if market.sandbox_tenant is not None:
        return market.sandbox_tenant != tenant_id
    return sandbox


def _check_boundary(tenant_id: str | None, sandbox: bool, market: Market) -> None:
    """SANDBOX_BOUNDARY when a sandbox reaches for a live market or anyone else's sandbox."""
    if _crosses_sandbox(tenant_id, sandbox, market):
        side = "a sandbox tenant reaches only its own sandbox markets" if sandbox else (
            "sandbox markets are reachable only by their sandbox tenant")  # fmt: skip
        raise errors.SandboxBoundaryError(side, market=market.id)


def _routable(command: Records) -> bool:
    """Market orders and IOC limits may go to the venue (FOK, post-only and stops never)."""
    kind = command["order_type"][0]
    immediate = kind == codes.MARKET or (kind == codes.LIMIT and command["tif"][0] == codes.IOC)
    return bool(immediate and not command["flags"][0] & codes.FLAG_POST_ONLY)


def insurance_account_id(quote_asset: str) -> str:
    """The platform account holding the insurance fund of perpetuals margined in an asset."""
    return f"{INSURANCE_PREFIX}{quote_asset}"


def quote_minor(amount: Decimal, decimals: int) -> int:
    """A quote-asset amount in minor units (callers validated it is whole)."""
    return int(amount.scaleb(decimals))


def _outcome(submitted: Submitted) -> Outcome:
    if submitted.events is None:
        return Outcome(True, codes.OK)
    return outcome(submitted.events)


def _client_tag(client_order_id: str) -> int:
    text = client_order_id.strip()
    if not text or len(text) > MAX_CLIENT_ORDER_ID or not text.isprintable():
        raise ValidationError(f"clientOrderId must be 1-{MAX_CLIENT_ORDER_ID} printable characters",
                              field="clientOrderId")  # fmt: skip
    return client_tag(text)


__all__ = ["PlacedOrder", "Trade", "TradingService"]
