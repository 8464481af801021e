"""The seeded stress workload: a five-market world and an exchange-core-style command mix.

Owns the stress world (assets, markets, fee and insurance accounts, traders' deposits) and
`StressWorkload`, which generates commands batch by batch. Modelled on exchange-core's
`TestOrdersGenerator`: many accounts; GTC limits around a centre that follows the last trade
and drifts (a bias toward bids or asks that flips at the edges of a price range); more GTC
orders while a book side is below its target size, then mostly moves (amends toward the
last trade price), reduces, cancels and IOC takers. Beyond exchange-core's mix: market, FOK,
post-only and stop orders, self-trade prevention modes, deposits, withdrawals (hold, then
debit or release), transfers, fee changes, and a linear perpetual with reduce-only orders,
leverage and margin changes, an index feed with occasional shocks (liquidations), funding.
Cancels and amends pick live orders through the engine's public reads at each batch start.
Deterministic for a seed: no clock, no I/O; imports the standard library, numpy and engine.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate

import numpy as np

from engine import codes as c
from engine import commands as cmd
from engine.core import Engine, OrderState
from engine.layout import COMMAND_DTYPE, EngineConfig, Records

BTC, ETH, USDT, EUR = 0, 1, 2, 3
ASSETS = (BTC, ETH, USDT, EUR)
N_TRADERS = 1_000
NS_PER_COMMAND = 1_000  # ts_ns = seq * 1 us
FUNDING_INTERVAL_NS = 20_000 * NS_PER_COMMAND  # a funding round every ~20,000 commands
TARGET_BOOK_ORDERS = 500  # per market side: below it the mix places more GTC orders
DEPOSIT_SCALE = {BTC: 10**6, ETH: 10**6, USDT: 10**7, EUR: 10**7}  # minor units


@dataclass(frozen=True)
class MarketSpec:
    """One market of the stress world (integers: ticks, lots, minor units)."""

    market: int
    base: int
    quote: int
    base_per_lot: int
    quote_per_tick_lot: int
    reference_price_ticks: int
    deviation_ticks: int  # spread of new GTC prices around the centre
    weight: int  # share of the order flow
    tick_step: int = 1
    lot_step: int = 1
    band_bps: int = 0
    min_notional_minor: int = 0
    perpetual: bool = False


MARKETS = (
    MarketSpec(0, BTC, USDT, 1_000, 1, 30_000, 60, 30),
    MarketSpec(1, ETH, USDT, 1_000, 1, 2_000, 8, 20, band_bps=2_000),
    MarketSpec(2, ETH, BTC, 1_000, 2, 700, 4, 10, lot_step=2, min_notional_minor=500),
    MarketSpec(3, BTC, EUR, 1_000, 1, 27_500, 50, 15, tick_step=5),
    MarketSpec(4, BTC, USDT, 1, 1, 30_000, 60, 25, perpetual=True),
)
PERP = 4
FEE_ACCOUNTS = tuple(N_TRADERS + m.market for m in MARKETS)  # one per market
INSURANCE_ACCOUNT = N_TRADERS + len(MARKETS)
CONFIG = EngineConfig(
    max_markets=len(MARKETS),
    max_accounts=INSURANCE_ACCOUNT + 1,
    max_assets=len(ASSETS),
    max_orders=1 << 16,
    max_price_levels=4_096,
)

# actions of the mix and their weights (per 1,000) while the book side is at its target
(GTC, IOC, MARKET_ORDER, FOK, STOP, CANCEL, CANCEL_ALL, MOVE, REDUCE, DEPOSIT, HOLD, SETTLE,
 TRANSFER, FEE_RATE, LEVERAGE, MARGIN, INDEX) = range(17)  # fmt: skip
MIX = {
    GTC: 170, IOC: 50, MARKET_ORDER: 20, FOK: 10, STOP: 10, CANCEL: 90, CANCEL_ALL: 1,
    MOVE: 450, REDUCE: 100, DEPOSIT: 5, HOLD: 5, SETTLE: 5, TRANSFER: 3, FEE_RATE: 1,
    LEVERAGE: 10, MARGIN: 3, INDEX: 5,
}  # fmt: skip
GROWING_GTC_FACTOR = 5  # GTC weight multiplier while the side is below TARGET_BOOK_ORDERS
_PERP_ONLY = (LEVERAGE, MARGIN, INDEX)
_FIELD = {name: i for i, name in enumerate(COMMAND_DTYPE.names or ())}
_BLANK = [0] * len(_FIELD)
Row = list[int]


def setup_commands(seed: int) -> Records:
    """Markets, the perpetual's brackets and params, the insurance fund, and per trader a fee
    rate, a leverage (30% isolated) and deposits of a random subset of the assets
    (log-uniform amounts over four decades: some accounts are thin)."""
    rng = random.Random(seed)
    parts: list[Records] = []

    def add(factory: Callable[..., Records], **fields: int | bool) -> None:
        seq = len(parts) + 1
        parts.append(factory(seq, seq * NS_PER_COMMAND, **fields))

    for m in MARKETS:
        add(cmd.add_market, market=m.market, base_asset=m.base, quote_asset=m.quote,
            base_per_lot=m.base_per_lot, quote_per_tick_lot=m.quote_per_tick_lot,
            fee_account=FEE_ACCOUNTS[m.market], min_notional_minor=m.min_notional_minor,
            band_bps=m.band_bps, collar_bps=500, reference_price_ticks=m.reference_price_ticks,
            tick_step=m.tick_step, lot_step=m.lot_step, perpetual=m.perpetual)  # fmt: skip
    add(cmd.set_margin_bracket, market=PERP, index=0, notional_floor_minor=0,
        maint_rate_ppm=5_000, maint_amount_minor=0, max_leverage=20)  # fmt: skip
    add(cmd.set_margin_bracket, market=PERP, index=1, notional_floor_minor=5 * 10**7,
        maint_rate_ppm=10_000, maint_amount_minor=250_000, max_leverage=10)  # fmt: skip
    add(cmd.set_perp_params, market=PERP, insurance_account=INSURANCE_ACCOUNT,
        funding_interval_ns=FUNDING_INTERVAL_NS, funding_cap_bps=75, basis_cap_bps=100,
        index_price_ticks=MARKETS[PERP].reference_price_ticks)  # fmt: skip
    add(cmd.deposit_credit, account=INSURANCE_ACCOUNT, asset=USDT, amount_minor=10**9)
    for account in range(N_TRADERS):
        maker = int(rng.random() * 6)
        taker = maker + int(rng.random() * 8)
        add(cmd.set_fee_rate, account=account, maker_bps=maker, taker_bps=taker)
        mode = c.MARGIN_ISOLATED if rng.random() < 0.3 else c.MARGIN_CROSS
        leverage = 1 + int(rng.random() * 20)
        add(cmd.set_leverage, account=account, market=PERP, leverage=leverage, margin_mode=mode)
        for asset in ASSETS:
            if rng.random() < 0.8:
                amount = int(DEPOSIT_SCALE[asset] * 10 ** (4 * rng.random() - 1))
                add(cmd.deposit_credit, account=account, asset=asset, amount_minor=amount)
    out: Records = np.zeros(len(parts), dtype=COMMAND_DTYPE)
    for i, part in enumerate(parts):
        out[i : i + 1] = part  # one by one: np.concatenate of thousands of records is slow
    return out


class StressWorkload:
    """Generates the stress mix after `setup_commands`; call `observe` with each batch's
    events so the mix sees book sizes and accepted withdrawal holds."""

    def __init__(self, seed: int, first_seq: int) -> None:
        self._random = random.Random(seed * 1_000_003 + 7).random
        self.seq = first_seq - 1  # the last seq handed out
        self._pool: list[int] = []  # candidate live order ids (dead ones dropped lazily)
        self._fresh: list[int] = []  # ids placed in the batch being generated
        self._taken: set[int] = set()  # ids a command of this batch already targets
        self._live = np.zeros((len(MARKETS), 2), dtype=np.int64)  # live orders per side
        self._holds: list[tuple[int, int, int]] = []  # accepted, unsettled (acct, asset, amt)
        self._bias = [0] * len(MARKETS)  # +1: more bids (price goes up), -1: more asks
        self._centre = [m.reference_price_ticks for m in MARKETS]
        self._last = [0] * len(MARKETS)
        self._index = MARKETS[PERP].reference_price_ticks
        self._market_cum = list(accumulate(m.weight for m in MARKETS))
        self._mix_cum = {
            (growing, perp): list(accumulate(_weights(growing, perp)))
            for growing in (False, True)
            for perp in (False, True)
        }

    def _below(self, n: int) -> int:
        """A uniform integer in [0, n) (random.randrange is several times slower)."""
        return int(self._random() * n)

    # --- feedback -------------------------------------------------------------------------
    def observe(self, events: Records) -> None:
        """Book sizes per side (accepted places minus finished orders) and accepted holds."""
        kind = events["kind"]
        placed = (kind == c.EV_ACCEPTED) & (events["value_b"] == c.PLACE_ORDER)
        done = (kind == c.EV_ORDER_DONE) & (events["order_id"] < c.LIQ_ORDER_ID_BASE)
        np.add.at(self._live, (events["market"][placed], events["side"][placed]), 1)
        np.subtract.at(self._live, (events["market"][done], events["side"][done]), 1)
        held = events[(kind == c.EV_ACCEPTED) & (events["value_b"] == c.WITHDRAWAL_HOLD)]
        columns = (held["account"].tolist(), held["asset"].tolist(), held["qty"].tolist())
        self._holds.extend(zip(*columns, strict=True))

    def _start_batch(self, engine: Engine) -> None:
        """New orders become pickable; centres follow the last trades; biases flip at the
        edges of +-15% around the reference price, and now and then at random."""
        self._pool.extend(self._fresh)
        self._fresh.clear()
        self._taken.clear()
        for m in MARKETS:
            state = engine.market_state(m.market)
            last = state["last_price_ticks"] if state else 0
            if last:
                self._last[m.market] = self._centre[m.market] = last
            if m.perpetual:
                self._centre[m.market] = (self._centre[m.market] + self._index) // 2
            ref, centre = m.reference_price_ticks, self._centre[m.market]
            if self._random() < 0.05:
                self._bias[m.market] = self._below(3) - 1
            if centre <= ref * 85 // 100:
                self._bias[m.market] = 1
            elif centre >= ref * 115 // 100:
                self._bias[m.market] = -1

    # --- generation -----------------------------------------------------------------------
    def batch(self, n: int, engine: Engine) -> Records:
        """The next `n` commands, generated against `engine`'s current state."""
        self._start_batch(engine)
        rows: list[tuple[int, ...]] = []
        next_funding_ns = engine.mark(PERP)[2]
        if n and 0 < next_funding_ns <= (self.seq + 1) * NS_PER_COMMAND:
            rows.append(tuple(self._command(c.APPLY_FUNDING, market=PERP)))
        while len(rows) < n:
            rows.append(tuple(self._next(engine)))
        return np.array(rows, dtype=COMMAND_DTYPE)

    def _command(self, kind: int, **fields: int) -> Row:
        self.seq += 1
        row = _BLANK.copy()
        row[_FIELD["seq"]] = self.seq
        row[_FIELD["ts_ns"]] = self.seq * NS_PER_COMMAND
        row[_FIELD["kind"]] = kind
        for name, value in fields.items():
            row[_FIELD[name]] = value
        return row

    def _next(self, engine: Engine) -> Row:
        m = MARKETS[bisect(self._market_cum, self._random() * self._market_cum[-1])]
        side = c.BUY if self._below(4) + self._bias[m.market] >= 2 else c.SELL
        growing = bool(self._live[m.market, side] < TARGET_BOOK_ORDERS)
        cum = self._mix_cum[(growing, m.perpetual)]
        action = bisect(cum, self._random() * cum[-1])
        if action in (CANCEL, MOVE, REDUCE):
            target = self._pick(engine)
            if target is not None:
                return self._modify(action, target)
            action = GTC
        if action <= STOP:
            return self._place(action, m, side)
        if action in (DEPOSIT, HOLD, SETTLE, TRANSFER):
            return self._money(action, engine)
        return self._admin(action, m)

    def _pick(self, engine: Engine) -> OrderState | None:
        """A random live order that no other command of this batch targets (exchange-core
        picks among its session's open orders)."""
        pool = self._pool
        for _ in range(16):
            if not pool:
                return None
            k = self._below(len(pool))
            order_id = pool[k]
            if order_id in self._taken:
                continue
            state = engine.order_state(order_id)
            if state is None:
                pool[k] = pool[-1]
                pool.pop()
                continue
            self._taken.add(order_id)
            return state
        return None

    def _tick(self, m: MarketSpec, price: int) -> int:
        return max(m.tick_step, price // m.tick_step * m.tick_step)

    def _place(self, action: int, m: MarketSpec, side: int) -> Row:
        """GTC (5% post-only, 15% crossing, rare fat fingers), IOC, FOK, market or stop."""
        below, centre = self._below, self._centre[m.market]
        away = 1 if side == c.SELL else -1  # sign of a passive price offset
        qty = m.lot_step * (1 + below(6) * below(6) * below(6))
        fields = {"account": below(N_TRADERS), "market": m.market, "side": side, "qty": qty,
                  "order_type": c.LIMIT, "tif": c.GTC}  # fmt: skip
        if action == GTC:
            dev = 1 + int(self._random() ** 2 * m.deviation_ticks)
            offset = abs((below(dev) + below(dev) + below(dev) + below(dev)) // 2 - dev)
            if self._random() < 0.15:
                away = -away  # an aggressive limit: it trades, then rests its remainder
            if self._random() < 0.002:
                offset = centre // 5  # a fat finger, outside any band
            fields["price"] = self._tick(m, centre + away * offset)
            if self._random() < 0.05:
                fields["flags"] = c.FLAG_POST_ONLY
        elif action in (IOC, FOK):
            fields["tif"] = c.IOC if action == IOC else c.FOK
            fields["price"] = self._tick(m, centre - away * (1 + below(3)) * m.tick_step)
        elif action == MARKET_ORDER:
            fields["order_type"], fields["tif"] = c.MARKET, c.IOC
        else:
            fields.update(self._stop(m, side))
        if self._random() < 0.05:
            fields["stp"] = c.STP_NONE + below(4)  # NONE, EXPIRE_TAKER/_MAKER/_BOTH
        if m.perpetual and self._random() < 0.1:
            fields["flags"] = fields.get("flags", 0) | c.FLAG_REDUCE_ONLY
        row = self._command(c.PLACE_ORDER, order_id=self.seq + 1, **fields)
        if fields["tif"] == c.GTC or action == STOP:
            self._fresh.append(self.seq)  # it may rest, or wait for its trigger
        return row

    def _stop(self, m: MarketSpec, side: int) -> dict[str, int]:
        """A stop beyond the last trade price (buy stops above it, sell stops below)."""
        direction = 1 if side == c.BUY else -1
        last = self._last[m.market] or m.reference_price_ticks
        stop = self._tick(m, last + direction * (1 + self._below(m.deviation_ticks)) * m.tick_step)
        if self._random() < 0.5:
            return {"order_type": c.STOP_MARKET, "tif": c.IOC, "stop_price": stop}
        limit = self._tick(m, stop + direction * 2 * m.tick_step)
        return {"order_type": c.STOP_LIMIT, "stop_price": stop, "price": limit}

    def _modify(self, action: int, order: OrderState) -> Row:
        """Cancel (1% by the wrong account), move toward the centre (exchange-core's alpha
        0.01, else one tick) or reduce; pending stops are canceled instead of amended."""
        m = MARKETS[order.market]
        owner = order.account
        if action == CANCEL and self._random() < 0.01:
            owner = (owner + 1) % N_TRADERS  # someone else's order: WRONG_OWNER
        step = m.lot_step
        pending = order.status == c.PENDING_TRIGGER
        if action == CANCEL or pending or (action == REDUCE and order.remaining_lots <= step):
            return self._command(c.CANCEL_ORDER, order_id=order.order_id, account=owner)
        price, qty = order.price_ticks, order.remaining_lots
        if action == MOVE:
            gap = self._centre[m.market] - price
            move = int(gap * 0.01) or (gap > 0) - (gap < 0) or 2 * self._below(2) - 1
            price = self._tick(m, price + move * m.tick_step)
        else:
            qty = step * (1 + self._below(qty // step - 1))
        fields = {"order_id": order.order_id, "account": owner, "price": price, "qty": qty}
        return self._command(c.AMEND_ORDER, **fields)

    def _money(self, action: int, engine: Engine) -> Row:
        """Deposits, withdrawal holds (up to half the available), their debit (75%) or
        release, and transfers between traders."""
        account, asset = self._below(N_TRADERS), ASSETS[self._below(len(ASSETS))]
        amount = int(DEPOSIT_SCALE[asset] * self._random()) + 1
        if action == SETTLE and self._holds:
            k = self._below(len(self._holds))
            account, asset, amount = self._holds[k]
            self._holds[k] = self._holds[-1]
            self._holds.pop()
            kind = c.WITHDRAWAL_DEBIT if self._random() < 0.75 else c.WITHDRAWAL_RELEASE
            return self._command(kind, account=account, asset=asset, amount=amount)
        if action in (HOLD, SETTLE):
            available = engine.balance(account, asset)[0]
            if available:
                amount = max(1, int(available * self._random() * 0.5))
            return self._command(c.WITHDRAWAL_HOLD, account=account, asset=asset, amount=amount)
        if action == TRANSFER:
            to = self._below(N_TRADERS)
            return self._command(c.TRANSFER, account=account, account2=to, asset=asset,
                                 amount=amount)  # fmt: skip
        return self._command(c.DEPOSIT_CREDIT, account=account, asset=asset, amount=10 * amount)

    def _admin(self, action: int, m: MarketSpec) -> Row:
        """Cancel-all, fee rates, and on the perpetual: leverage, isolated margin and the
        index feed (a random walk of +-0.3%, 5% of steps a shock of 4-10%, within +-30%)."""
        account = self._below(N_TRADERS)
        if action == CANCEL_ALL:
            return self._command(c.CANCEL_ALL, account=account, market=m.market)
        if action == FEE_RATE:
            maker = self._below(6)
            return self._command(c.SET_FEE_RATE, account=account, bps1=maker,
                                 bps2=maker + self._below(8))  # fmt: skip
        if action == LEVERAGE:
            mode = c.MARGIN_ISOLATED if self._random() < 0.3 else c.MARGIN_CROSS
            return self._command(c.SET_LEVERAGE, account=account, market=PERP,
                                 bps1=1 + self._below(20), status=mode)  # fmt: skip
        if action == MARGIN:
            amount = int(DEPOSIT_SCALE[USDT] * (self._random() - 0.4) / 10)
            return self._command(c.ADJUST_MARGIN, account=account, market=PERP, amount=amount)
        if action != INDEX:
            raise ValueError(f"no generator for action {action}")
        ref, index = m.reference_price_ticks, self._index
        if self._random() < 0.05:
            move = index * (4 + self._below(7)) // 100  # a shock
        else:
            move = self._below(index // 300 + 1)
        index += (2 * self._below(2) - 1) * move
        self._index = min(max(index, ref * 70 // 100), ref * 130 // 100)
        return self._command(c.SET_INDEX_PRICE, market=PERP, price=self._index)


def _weights(growing: bool, perp: bool) -> list[int]:
    """MIX as a list by action; GTC boosted while growing; perp-only actions on perp only."""
    out = []
    for action in range(len(MIX)):
        weight = MIX[action] * (GROWING_GTC_FACTOR if growing and action == GTC else 1)
        out.append(0 if action in _PERP_ONLY and not perp else weight)
    return out
