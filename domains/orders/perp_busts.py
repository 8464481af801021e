"""A clearing rollback on a perpetual market: the positions' part of ``bustTrades``.

domains/orders/busts.py runs every bust (marker, collection, payouts, resume); for a
perpetual market this module adds what transfers cannot do (the arithmetic is
domains/orders/perp_bust_plan.py):

* ``plan``: reads every position the busted trades touched from the engine together with
  the market's trade count, waits for the trades read model to hold that many, replays
  each position through its account's trades in the market and gives the legs, the money
  each account owes or is owed (realised PnL difference and fee refunds) and the accounts
  whose position the trades alone do not explain (``inexact``: funding, liquidations,
  margin adjustments or a wind-down touched it; kept, not recomputed);
* ``legs``: the BUST_POSITION legs as one contiguous journaled group, opened by setting
  the clearing account CANCEL_ONLY (it never trades), which is how a resumed bust knows the
  group was applied; legs with the lowest cost change first, so the clearing account holds
  what it must as a cost before it holds anything as balance;
* ``carry``: after the collection, the clearing account's flat position settles its cost
  against what it collected; what it then holds is what the creditors share (``pool``),
  what stays a cost is ``uncovered`` (owed by parties that no longer have it, beyond what
  the creditors' claims could absorb).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from domains.orders import perp_bust_plan as pplan
from domains.orders.bust_plan import NOTE_BUST, Reversal
from domains.orders.model import Side, Trade, TradeStatus, Venue
from domains.orders.routing import NOTE_LEG
from domains.orders.spec import MarketSpec
from domains.shared.engine_port import CommandBus, EngineDirectory, Submitted, client_tag
from domains.shared.errors import UnavailableError, ValidationError
from engine import codes
from engine import commands as cmd

MAX_HISTORY = 200_000  # trades of the touched accounts a bust may replay
READ_MODEL_WAIT_S = 5.0
LEG_LABEL = "TRADE_BUST"


class AccountTrades(Protocol):
    """The trades read model (domains/orders/repository.py satisfies it)."""

    async def trades_between(
        self, market_id: str, after: int, before: int, limit: int
    ) -> list[Trade]: ...

    async def trades_of_accounts(
        self, market_id: str, account_ids: Sequence[str], before: int, limit: int
    ) -> list[Trade]: ...


@dataclass(frozen=True)
class PerpPlan:
    """What a perpetual bust does to positions, and the money that follows."""

    positions: tuple[pplan.PositionPlan, ...]
    reversal: Reversal
    history: int  # trades replayed


class PerpBusts:
    """Plans and applies the positions' part of a perpetual bust."""

    def __init__(self, trades: AccountTrades, bus: CommandBus, directory: EngineDirectory) -> None:
        self._trades = trades
        self._bus = bus
        self._directory = directory

    async def plan(self, spec: MarketSpec, market: int, busted: Sequence[Trade]) -> PerpPlan:
        engine = self._bus.engine
        ids = sorted({s.account_id for t in busted for s in (t.taker, t.maker) if s})
        index = {a: await self._index(t, a) for t in busted for a in ids if _party(t, a)}
        state = engine.market_state(market)
        count = int(state["trade_seq"]) if state else 0
        current = {}
        for a in sorted(set(index.values())):  # read at once: no await between
            p = engine.position(a, market)
            assert p is not None  # a perpetual market
            current[a] = p
        await self._trades_read_up_to(spec.market.id, count)
        history = await self._trades.trades_of_accounts(spec.market.id, ids, count + 1,
                                                        MAX_HISTORY + 1)  # fmt: skip
        if len(history) > MAX_HISTORY:
            raise ValidationError(
                f"the parties have more than {MAX_HISTORY} trades in this market to replay",
                field="market", reason="HISTORY_TOO_LONG",
            )  # fmt: skip
        fills = [f for t in history for f in await self._fills(spec, t, index)]
        numbers = frozenset(trade_number(t.id) for t in busted)
        by_account = pplan.fills_by_account(fills)
        plans = []
        for a, p in sorted(current.items()):
            now = pplan.PositionState(p.qty, p.cost, p.margin, p.realized)
            plans.append(pplan.plan_position(
                a, now, by_account.get(a, []), numbers, spec.quote_per_tick_lot,
                p.leverage, p.mode == codes.MARGIN_ISOLATED,
            ))  # fmt: skip
        if not pplan.conserved(plans):  # the arithmetic's own invariant (module docstring)
            raise AssertionError("a perpetual bust's legs do not conserve lots and cost")
        fee_account = engine.fee_account(market)
        reversal = pplan.money(plans, fills, numbers, spec.quote.index, fee_account)
        return PerpPlan(tuple(plans), reversal, len(history))

    async def _index(self, t: Trade, account_id: str) -> int:
        side = t.taker if t.taker.account_id == account_id else t.maker
        assert side is not None
        return await self._directory.account_index(side.account_id, side.tenant_id,
                                                   side.customer_id)  # fmt: skip

    async def _trades_read_up_to(self, market_id: str, count: int) -> None:
        """Wait until the trades read model holds the market's trade ``count``."""
        deadline = time.monotonic() + READ_MODEL_WAIT_S
        while count and not await self._trades.trades_between(market_id, count - 1, count + 1, 1):
            if time.monotonic() > deadline:
                raise UnavailableError("the trades read model is behind the engine; try again")
            await asyncio.sleep(0.05)

    async def _fills(
        self, spec: MarketSpec, t: Trade, index: dict[str, int]
    ) -> list[pplan.PerpFill]:
        """The sides of a standing internal trade that belong to touched accounts (the
        buyer's first, as the engine settles them)."""
        if t.venue is not Venue.INTERNAL or t.status is TradeStatus.BUSTED or t.maker is None:
            return []
        lots, ticks = spec.qty_lots(t.quantity), spec.price_ticks(t.price)
        buy = t.taker_side is Side.BUY
        buyer, seller = (t.taker, t.maker) if buy else (t.maker, t.taker)
        out = []
        for side, sign in ((buyer, 1), (seller, -1)):
            if side.account_id in index:
                out.append(pplan.PerpFill(
                    trade_number(t.id), index[side.account_id], sign * lots, ticks,
                    int(side.fee.scaleb(spec.quote.decimals)), side is t.maker,
                ))  # fmt: skip
        return out

    async def legs(self, ident: str, clearing: int, market: int,
                   legs: Sequence[Sequence[int]]) -> Submitted:  # fmt: skip
        """Submit the legs ([account, qty, cost, realised, margin]) as one group; the
        group's last command."""
        group = [cmd.set_account_mode(0, 0, account=clearing, mode=codes.ACCOUNT_MODE_CANCEL_ONLY)]
        for account, qty, cost, realized, margin in sorted(legs, key=lambda g: (g[2], g[0])):
            group.append(cmd.bust_position(
                0, 0, account=int(account), clearing_account=clearing, market=market,
                qty_lots=int(qty), cost_minor=int(cost), realized_minor=int(realized),
                margin_minor=int(margin),
            ))  # fmt: skip
        note = {NOTE_BUST: ident, NOTE_LEG: LEG_LABEL}
        results = await self._bus.submit_many(np.concatenate(group), [dict(note)] * len(group))
        return results[-1]

    def legs_applied(self, clearing: int) -> bool:
        """Did the group apply (its first command set the clearing account CANCEL_ONLY)?"""
        return self._bus.engine.account_mode(clearing) == codes.ACCOUNT_MODE_CANCEL_ONLY

    async def carry(self, ident: str, clearing: int, market: int) -> Submitted:
        carry = cmd.bust_carry(0, 0, clearing_account=clearing, market=market)
        carry["client_tag"] = client_tag(f"{ident}:carry")
        return await self._bus.submit(carry, {NOTE_BUST: ident, NOTE_LEG: LEG_LABEL})

    def held(self, clearing: int, market: int, quote: int) -> tuple[int, int]:
        """(available, cost) of the clearing account: what it pays out, what it could not
        cover."""
        p = self._bus.engine.position(clearing, market)
        return self._bus.engine.balance(clearing, quote)[0], p.cost if p else 0


def _party(t: Trade, account_id: str) -> bool:
    return t.taker.account_id == account_id or (
        t.maker is not None and t.maker.account_id == account_id
    )


def trade_number(trade_id: str) -> int:
    return int(trade_id.rsplit(":", 1)[1])
