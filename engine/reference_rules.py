"""Order rules of the reference engine: place, match, finish, stops, cancel, amend.

Each method mirrors one kernel of engine/kernels and states its rule in plain Python; the
checks run in the same order so both engines return the same first failing reason.
"""

from __future__ import annotations

from typing import Any

from engine import codes as c
from engine.layout import MAX_NOTIONAL_MINOR, MAX_PRICE_TICKS, MAX_QTY_LOTS
from engine.reference_admin import ReferenceAdmin
from engine.reference_core import Market, Order, crosses, fee_of

STP_REASONS = {
    c.STP_EXPIRE_TAKER: c.MATCH_STP_EXPIRE_TAKER,
    c.STP_EXPIRE_MAKER: c.MATCH_STP_EXPIRE_MAKER,
}


class ReferenceRules(ReferenceAdmin):
    """Order entry, matching and order management."""

    # --- checks ---------------------------------------------------------------------------
    def _check_qty(self, mk: Market, qty: int) -> int:
        if qty <= 0:
            return c.VALIDATION_INVALID_QUANTITY
        if qty > MAX_QTY_LOTS:
            return c.VALIDATION_VALUE_TOO_LARGE
        return c.VALIDATION_QUANTITY_OFF_LOT if qty % mk.lot_step else c.OK

    def _check_price(self, mk: Market, price: int, bad_code: int) -> int:
        if price <= 0:
            return bad_code
        if price > MAX_PRICE_TICKS:
            return c.VALIDATION_VALUE_TOO_LARGE
        return c.VALIDATION_PRICE_OFF_TICK if price % mk.tick_step else c.OK

    def _check_trading(self, mk: Market) -> int:
        if mk.status == c.MARKET_HALTED:
            return c.RISK_MARKET_HALTED
        if mk.status == c.MARKET_CANCEL_ONLY:
            return c.RISK_MARKET_CANCEL_ONLY
        return c.OK

    def _restriction(self, mk: Market, account: int) -> int:
        if mk.status == c.MARKET_REDUCE_ONLY:
            return c.RISK_MARKET_REDUCE_ONLY
        if self.account_modes.get(account) == c.ACCOUNT_MODE_REDUCE_ONLY:
            return c.RISK_ACCOUNT_REDUCE_ONLY
        return c.OK

    def _check_mode(self, mk: Market, account: int, side: int) -> int:
        """Spot only (this model has no perpetuals): a BUY is refused while reducing."""
        if self.account_modes.get(account) == c.ACCOUNT_MODE_CANCEL_ONLY:
            return c.RISK_ACCOUNT_CANCEL_ONLY
        return self._restriction(mk, account) if side == c.BUY else c.OK

    def _check_amend_mode(self, mk: Market, account: int, qty: int, remaining: int) -> int:
        if self.account_modes.get(account) == c.ACCOUNT_MODE_CANCEL_ONLY:
            return c.RISK_ACCOUNT_CANCEL_ONLY
        return self._restriction(mk, account) if qty > remaining else c.OK

    def _check_band(self, mk: Market, price: int) -> int:
        if mk.band_bps > 0 and mk.ref_price > 0:
            width = mk.ref_price * mk.band_bps // 10_000
            if not mk.ref_price - width <= price <= mk.ref_price + width:
                return c.RISK_PRICE_OUTSIDE_BAND
        return c.OK

    def _check_size(self, mk: Market, qty: int, price: int) -> int:
        if price * qty * mk.quote_per_tick_lot > MAX_NOTIONAL_MINOR:
            return c.VALIDATION_VALUE_TOO_LARGE
        if qty * mk.base_per_lot > MAX_NOTIONAL_MINOR:
            return c.VALIDATION_VALUE_TOO_LARGE
        return c.OK

    def _collar(self, mk: Market, side: int, basis: int) -> int:
        width = basis * mk.collar_bps // 10_000
        return basis + width if side == c.BUY else max(1, basis - width)

    def _check_shape(self, cmd: Any) -> int:
        kind, tif, flags = int(cmd["order_type"]), int(cmd["tif"]), int(cmd["flags"])
        if not 0 <= cmd["account"] < self.config.max_accounts:
            return c.VALIDATION_UNKNOWN_ACCOUNT
        if cmd["order_id"] <= 0 or cmd["order_id"] >= c.LIQ_ORDER_ID_BASE:
            return c.VALIDATION_INVALID_ORDER_ID
        if int(cmd["order_id"]) in self.orders:
            return c.VALIDATION_DUPLICATE_ORDER_ID
        if cmd["side"] not in (c.BUY, c.SELL):
            return c.VALIDATION_INVALID_SIDE
        if kind not in (c.LIMIT, c.MARKET, c.STOP_MARKET, c.STOP_LIMIT):
            return c.VALIDATION_INVALID_ORDER_TYPE
        if tif not in (c.GTC, c.IOC, c.FOK) or (kind in (c.MARKET, c.STOP_MARKET) and tif == c.GTC):
            return c.VALIDATION_INVALID_TIME_IN_FORCE
        if not c.STP_MARKET_DEFAULT <= cmd["stp"] <= c.STP_EXPIRE_BOTH:
            return c.VALIDATION_INVALID_STP_MODE
        if flags & ~c.ALL_FLAGS or (flags & c.FLAG_POST_ONLY and (kind != c.LIMIT or tif != c.GTC)):
            return c.VALIDATION_INVALID_FLAGS
        return c.OK

    def _check_prices(self, cmd: Any, mk: Market) -> int:
        code = self._check_qty(mk, int(cmd["qty"]))
        kind, side, stop = int(cmd["order_type"]), int(cmd["side"]), int(cmd["stop_price"])
        if code == c.OK and kind in (c.LIMIT, c.STOP_LIMIT):
            code = self._check_price(mk, int(cmd["price"]), c.VALIDATION_INVALID_PRICE)
        if code == c.OK and kind in (c.STOP_MARKET, c.STOP_LIMIT):
            code = self._check_price(mk, stop, c.VALIDATION_INVALID_STOP_PRICE)
            last = mk.last_price
            if (
                code == c.OK
                and last > 0
                and ((side == c.BUY and stop <= last) or (side == c.SELL and stop >= last))
            ):
                code = c.VALIDATION_STOP_WOULD_TRIGGER
        return code

    def _prices(self, cmd: Any, mk: Market) -> tuple[int, int, int]:
        """(code, execution limit, basis for min notional)."""
        kind, side = int(cmd["order_type"]), int(cmd["side"])
        if kind in (c.LIMIT, c.STOP_LIMIT):
            return c.OK, int(cmd["price"]), int(cmd["price"])
        if kind == c.STOP_MARKET:
            stop = int(cmd["stop_price"])
            return c.OK, self._collar(mk, side, stop), stop
        basis = mk.best(1 - side)
        if basis == 0:
            return c.MATCH_NO_LIQUIDITY, 0, 0
        return c.OK, self._collar(mk, side, basis), basis

    def _check_place(self, cmd: Any) -> tuple[int, int]:
        m, side, qty = int(cmd["market"]), int(cmd["side"]), int(cmd["qty"])
        if m not in self.markets:
            return c.VALIDATION_UNKNOWN_MARKET, 0
        mk = self.markets[m]
        kind, tif = int(cmd["order_type"]), int(cmd["tif"])
        code = self._check_shape(cmd)
        if code == c.OK:
            code = self._check_prices(cmd, mk)
        if code == c.OK:
            code = self._check_trading(mk)
        if code == c.OK:
            code = self._check_mode(mk, int(cmd["account"]), side)
        if code == c.OK and kind in (c.LIMIT, c.STOP_LIMIT):
            code = self._check_band(mk, int(cmd["price"]))
        if code != c.OK:
            return code, 0
        code, limit, basis = self._prices(cmd, mk)
        if code == c.OK:
            code = self._check_size(mk, qty, max(limit, basis))
        if code == c.OK and qty * basis * mk.quote_per_tick_lot < mk.min_notional:
            code = c.VALIDATION_NOTIONAL_TOO_SMALL
        may_rest = (kind == c.LIMIT and tif == c.GTC) or kind in (c.STOP_MARKET, c.STOP_LIMIT)
        if code == c.OK and may_rest and self._live_count() >= self.config.max_orders:
            code = c.MATCH_BOOK_FULL
        gtc_limit = kind == c.LIMIT and tif == c.GTC
        if code == c.OK and gtc_limit and not self._has_room(mk, side, int(cmd["price"])):
            code = c.MATCH_PRICE_LEVELS_FULL
        if code == c.OK and cmd["flags"] & c.FLAG_POST_ONLY:
            best = mk.best(1 - side)
            if best and crosses(side, int(cmd["price"]), best):
                code = c.MATCH_POST_ONLY_WOULD_TAKE
        if code == c.OK:
            account = int(cmd["account"])
            bps = max(self.fee_rates.get(account, (0, 0)))
            need = self._lock_required(mk, side, qty, limit, bps)
            if self._bal(account, self._asset_of(mk, side))[0] < need:
                code = c.RISK_INSUFFICIENT_FUNDS
        return code, limit

    # --- placing --------------------------------------------------------------------------
    def _new_order(self, cmd: Any, limit: int) -> Order:
        m, account = int(cmd["market"]), int(cmd["account"])
        stp = int(cmd["stp"]) or self.markets[m].stp_default
        kind = int(cmd["order_type"])
        maker_bps, taker_bps = self.fee_rates.get(account, (0, 0))
        return Order(
            order_id=int(cmd["order_id"]), account=account, market=m, side=int(cmd["side"]),
            order_type=kind, tif=int(cmd["tif"]), flags=int(cmd["flags"]), stp=stp,
            status=c.PENDING_TRIGGER if kind in (c.STOP_MARKET, c.STOP_LIMIT) else c.NEW,
            price_ticks=limit, stop_price_ticks=int(cmd["stop_price"]), qty_lots=int(cmd["qty"]),
            filled_lots=0, remaining_lots=int(cmd["qty"]), locked_minor=0, maker_bps=maker_bps,
            taker_bps=taker_bps, seq=int(cmd["seq"]), ts_ns=int(cmd["ts_ns"]),
            client_tag=int(cmd["client_tag"]),
        )  # fmt: skip

    def _place(self, cmd: Any) -> None:
        code, limit = self._check_place(cmd)
        if code != c.OK:
            self._verdict(cmd, code)
            return
        o = self._new_order(cmd, limit)
        self._verdict(cmd, c.OK, o.status)
        if o.status == c.PENDING_TRIGGER:
            self.orders[o.order_id] = o
            self._lock_for(o)
            self.markets[o.market].stops.append(o.order_id)
            return
        if o.tif == c.FOK and not self._fok_fillable(o):
            self._end_order(o, False, c.EXPIRED, c.MATCH_FOK_NOT_FILLABLE)
            return
        self._lock_for(o)
        self._run_taker(o, False)

    def _fok_fillable(self, o: Order) -> bool:
        mk = self.markets[o.market]
        need = o.remaining_lots
        for price in mk.levels_best_first(1 - o.side):
            if not crosses(o.side, o.price_ticks, price):
                return False
            for maker_id in mk.queues[1 - o.side][price]:
                maker = self.orders[maker_id]
                if o.stp != c.STP_NONE and maker.account == o.account:
                    if o.stp != c.STP_EXPIRE_MAKER:
                        return False
                    continue
                need -= maker.remaining_lots
                if need <= 0:
                    return True
        return False

    def _run_taker(self, o: Order, resting: bool) -> None:
        if o.tif == c.FOK and not self._fok_fillable(o):
            self._end_order(o, resting, c.EXPIRED, c.MATCH_FOK_NOT_FILLABLE)
            return
        stopped = self._match(o)
        self._finish(o, resting, stopped)

    def _end_order(self, o: Order, resting: bool, status: int, code: int) -> None:
        self._release(o)
        o.status = status
        self._done(o, status, code)
        if resting:
            del self.orders[o.order_id]

    def _finish(self, o: Order, resting: bool, stopped: int) -> None:
        mk = self.markets[o.market]
        if o.remaining_lots == 0:
            self._end_order(o, resting, c.FILLED, c.OK)
        elif stopped != c.OK:
            self._end_order(o, resting, c.EXPIRED_IN_MATCH, stopped)
        elif not (o.order_type in (c.LIMIT, c.STOP_LIMIT) and o.tif == c.GTC):
            if o.order_type in (c.LIMIT, c.STOP_LIMIT):
                reason = c.MATCH_IOC_REMAINDER
            elif not mk.prices[1 - o.side]:
                reason = c.MATCH_NO_LIQUIDITY
            else:
                reason = c.MATCH_MARKET_COLLAR
            self._end_order(o, resting, c.EXPIRED, reason)
        elif not self._has_room(mk, o.side, o.price_ticks):
            self._end_order(o, resting, c.EXPIRED, c.MATCH_PRICE_LEVELS_FULL)
        else:
            o.status = c.NEW if o.filled_lots == 0 else c.PARTIALLY_FILLED
            self.orders[o.order_id] = o
            self._rest(o)
            self._delta(o.market, o.side, o.price_ticks)

    # --- matching -------------------------------------------------------------------------
    def _match(self, o: Order) -> int:
        """Walk the opposite side; return OK or the STP reason that stopped the taker."""
        mk, opp = self.markets[o.market], 1 - o.side
        stopped = c.OK
        while o.remaining_lots > 0 and stopped == c.OK:
            price = mk.best(opp)
            if price == 0 or not crosses(o.side, o.price_ticks, price):
                break
            queue = mk.queues[opp][price]
            changed = False
            while o.remaining_lots > 0 and queue:
                maker = self.orders[queue[0]]
                if o.stp != c.STP_NONE and maker.account == o.account:
                    stopped = self._prevent(o, maker, price)
                    changed = changed or o.stp != c.STP_EXPIRE_TAKER
                    if stopped != c.OK:
                        break
                else:
                    self._fill(o, maker, price)
                    changed = True
            if changed:
                self._delta(o.market, opp, price)
        return stopped

    def _prevent(self, o: Order, maker: Order, price: int) -> int:
        """Self-trade prevention under the taker's mode; returns the taker's stop reason."""
        code = STP_REASONS.get(o.stp, c.MATCH_STP_EXPIRE_BOTH)
        prevented = min(o.remaining_lots, maker.remaining_lots)
        self._emit(c.EV_SELF_TRADE_PREVENTED, order_id=o.order_id, maker_order_id=maker.order_id,
                   price=price, qty=prevented, account=o.account, maker_account=maker.account,
                   market=o.market, code=code, side=o.side)  # fmt: skip
        if o.stp != c.STP_EXPIRE_TAKER:
            self._unlink(maker)
            self._end_order(maker, True, c.EXPIRED_IN_MATCH, code)
        return code if o.stp != c.STP_EXPIRE_MAKER else c.OK

    def _fill(self, o: Order, maker: Order, price: int) -> None:
        mk = self.markets[o.market]
        q = min(o.remaining_lots, maker.remaining_lots)
        for order in (o, maker):
            order.remaining_lots -= q
            order.filled_lots += q
        buyer, seller = (o, maker) if o.side == c.BUY else (maker, o)
        buyer_bps = o.taker_bps if buyer is o else maker.maker_bps
        seller_bps = o.taker_bps if seller is o else maker.maker_bps
        buyer_fee, seller_fee = self._settle(mk, buyer, seller, price, q, buyer_bps, seller_bps)
        maker_fee, taker_fee = (seller_fee, buyer_fee) if buyer is o else (buyer_fee, seller_fee)
        mk.trade_seq += 1
        mk.last_price = mk.ref_price = price
        self._emit(c.EV_TRADE, market_seq=mk.trade_seq, order_id=o.order_id,
                   maker_order_id=maker.order_id, price=price, qty=q, value_a=maker_fee,
                   value_b=taker_fee, account=o.account, maker_account=maker.account,
                   market=o.market, side=o.side)  # fmt: skip
        if maker.remaining_lots == 0:
            self._unlink(maker)
            maker.status = c.FILLED
            self._done(maker, c.FILLED, c.OK)
            del self.orders[maker.order_id]
        else:
            maker.status = c.PARTIALLY_FILLED

    def _settle(self, mk: Market, buyer: Order, seller: Order, price: int, q: int,
                buyer_bps: int, seller_bps: int) -> tuple[int, int]:  # fmt: skip
        notional = q * price * mk.quote_per_tick_lot
        base_amount = q * mk.base_per_lot
        buyer_fee, seller_fee = fee_of(notional, buyer_bps), fee_of(notional, seller_bps)
        lock_bps = max(buyer.maker_bps, buyer.taker_bps)
        new_lock = self._lock_required(mk, c.BUY, buyer.remaining_lots, buyer.price_ticks,
                                       lock_bps)  # fmt: skip
        release = buyer.locked_minor - notional - buyer_fee - new_lock
        self._move(buyer.account, mk.quote, release, -(buyer.locked_minor - new_lock))
        buyer.locked_minor = new_lock
        self._move(buyer.account, mk.base, base_amount, 0)
        self._move(seller.account, mk.base, 0, -base_amount)
        seller.locked_minor -= base_amount
        self._move(seller.account, mk.quote, notional - seller_fee, 0)
        if buyer_fee + seller_fee > 0:
            self._move(mk.fee_account, mk.quote, buyer_fee + seller_fee, 0)
            self.assets.setdefault(mk.quote, [0, 0, 0])[2] += buyer_fee + seller_fee
        return buyer_fee, seller_fee

    # --- stops ----------------------------------------------------------------------------
    def _trigger_stops(self, m: int) -> None:
        mk = self.markets[m]
        while True:
            hit = [
                i for i in mk.stops
                if (mk.last_price >= self.orders[i].stop_price_ticks
                    if self.orders[i].side == c.BUY
                    else mk.last_price <= self.orders[i].stop_price_ticks)
            ]  # fmt: skip
            if not hit:
                return
            o = self.orders[hit[0]]
            mk.stops.remove(o.order_id)
            o.status = c.NEW
            self._emit(c.EV_STOP_TRIGGERED, order_id=o.order_id, price=mk.last_price,
                       qty=o.remaining_lots, account=o.account, market=m, side=o.side)  # fmt: skip
            self._run_taker(o, True)
