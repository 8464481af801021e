"""The arithmetic of a clearing rollback on a perpetual market: pure integers, no I/O.

A perpetual fill moves positions, not base balances, so a bust is not a set of transfers
(domains/orders/bust_plan.py) alone. For every account the busted trades touched:

* **replays**: its position is replayed through all its standing fills in the market, in
  trade order, with the engine's arithmetic (engine/kernels/perp.py ``apply_to_position``:
  close first, pro rata cost and margin release with floors, realised = closing signed
  notional - the cost removed; then the opening part's cost and initial margin
  ``ceil(notional / leverage)``; an isolated position's loss beyond the margin released is
  taken from its remaining margin) once with every fill (``full``) and once without the
  busted ones (``without``);
* **target** = the engine's position now + (``without`` - ``full``), per field (lots, cost,
  realised PnL, margin). When only trades moved the position, ``full`` is the engine's
  position and the target *is* the replay without the busted trades, exactly. What else
  moved it (funding payments, margin adjustments, liquidation steps, auto-deleveraging, a
  wind-down, a socialised loss) is kept as it happened and not recomputed; such an account
  is reported (``exact`` False, with the fields that differ). Margins are replayed at the
  position's leverage now and at the fill price (an order's margin is taken at its own
  leverage and at min(fill, limit) price): a difference there shows as a margin
  difference, kept the same way. A target left flat gives up its remaining cost
  (realised) and all its margin, as the engine's BUST_POSITION does;
* **money**: the realised PnL difference plus the fees the busted fills paid is what the
  account is owed (> 0) or owes (< 0) in the margin asset; the market's fee account owes
  the fees back. Per market the lots of the legs sum to 0, and the realised differences sum
  to the cost differences (each fill's ``cost - realised`` change is its signed notional,
  opposite for its two sides), so the clearing account ends flat with nothing left when
  nobody is short.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace

from domains.orders.bust_plan import FeeRefund, Reversal


@dataclass(frozen=True)
class PerpFill:
    """One side of one perpetual trade, in engine units."""

    number: int  # the market's trade number
    account: int
    signed_qty: int  # lots, > 0 bought
    price_ticks: int
    fee: int  # quote minor units this side paid
    maker: bool


@dataclass(frozen=True)
class PositionState:
    """A position's fields the replay follows (engine ``pos[account, market, P_*]``)."""

    qty: int = 0
    cost: int = 0
    margin: int = 0
    realized: int = 0

    def plus(self, other: PositionState, sign: int = 1) -> PositionState:
        return PositionState(*(getattr(self, f.name) + sign * getattr(other, f.name)
                               for f in fields(self)))  # fmt: skip

    def differing(self, other: PositionState) -> tuple[str, ...]:
        return tuple(
            f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)
        )


@dataclass(frozen=True)
class PositionPlan:
    """One account's part of a perpetual bust."""

    account: int
    current: PositionState  # the engine's position when planned
    target: PositionState
    fees_refunded: int  # what the busted fills charged it
    differs: tuple[str, ...]  # fields the trades alone do not explain (empty: exact)

    @property
    def leg(self) -> PositionState:
        """The BUST_POSITION deltas: target - current."""
        return self.target.plus(self.current, -1)

    @property
    def owed(self) -> int:
        """Margin-asset money the account is owed (> 0) or owes (< 0)."""
        return self.leg.realized + self.fees_refunded


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def apply_fill(state: PositionState, signed_qty: int, price: int, qptl: int, leverage: int,
               isolated: bool) -> PositionState:  # fmt: skip
    """engine/kernels/perp.py ``apply_to_position`` (margin price = fill price) and the
    isolated margin part of ``cover_isolated_loss``."""
    q0, cost, margin, realized = state.qty, state.cost, state.margin, state.realized
    size = abs(signed_qty)
    close = min(size, abs(q0)) if q0 != 0 and (q0 > 0) != (signed_qty > 0) else 0
    gained, released = 0, 0
    qty = q0
    if close > 0:
        held = abs(q0)
        removed, released = cost, margin
        if close < held:
            removed, released = cost * close // held, margin * close // held
        sign = 1 if q0 > 0 else -1
        gained = sign * close * price * qptl - removed
        cost, margin, realized = cost - removed, margin - released, realized + gained
        qty = q0 - sign * close
    opened = size - close
    if opened > 0:
        sign = 1 if signed_qty > 0 else -1
        cost += sign * opened * price * qptl
        margin += _ceil_div(opened * price * qptl, leverage)
        qty += sign * opened
    if isolated and gained + released < 0:
        margin -= min(-(gained + released), margin)
    return PositionState(qty, cost, margin, realized)


def replay(fills: Iterable[PerpFill], qptl: int, leverage: int, isolated: bool,
           skip: frozenset[int] = frozenset()) -> PositionState:  # fmt: skip
    """One account's position through its fills (oldest first), without those in ``skip``."""
    state = PositionState()
    for f in fills:
        if f.number not in skip:
            state = apply_fill(state, f.signed_qty, f.price_ticks, qptl, leverage, isolated)
    return state


def flat(target: PositionState) -> PositionState:
    """A flat target gives up its remaining cost (realised) and its margin."""
    if target.qty != 0:
        return replace(target, margin=max(target.margin, 0))
    return PositionState(0, 0, 0, target.realized - target.cost)


def plan_position(
    account: int, current: PositionState, fills: list[PerpFill], busted: frozenset[int],
    qptl: int, leverage: int, isolated: bool,
) -> PositionPlan:  # fmt: skip
    """The account's target and leg (module docstring)."""
    full = replay(fills, qptl, leverage, isolated)
    without = replay(fills, qptl, leverage, isolated, busted)
    target = flat(current.plus(without).plus(full, -1))
    fees = sum(f.fee for f in fills if f.number in busted)
    return PositionPlan(account, current, target, fees, current.differing(full))


def money(plans: Iterable[PositionPlan], fills: Iterable[PerpFill], busted: frozenset[int],
          quote: int, fee_account: int) -> Reversal:  # fmt: skip
    """What each account owes or is owed in the margin asset (realised difference and fee
    refunds), and the fee account's refunds by payer and role, as bust_plan's Reversal."""
    deltas: dict[tuple[int, int], int] = {}
    for p in plans:
        if p.account == fee_account:
            raise ValueError("the fee account does not trade")
        if p.owed:
            deltas[(p.account, quote)] = p.owed
    refunds: dict[tuple[int, bool], int] = {}
    for f in fills:
        if f.number in busted and f.fee:
            refunds[(f.account, f.maker)] = refunds.get((f.account, f.maker), 0) + f.fee
    total = sum(refunds.values())
    if total:
        deltas[(fee_account, quote)] = -total
    return Reversal(
        dict(sorted(deltas.items())), fee_account,
        tuple(FeeRefund(a, quote, m, v) for (a, m), v in sorted(refunds.items()) if v),
    )  # fmt: skip


def conserved(plans: Iterable[PositionPlan]) -> bool:
    """The legs' lots sum to 0 and their realised differences to their cost differences."""
    legs = [p.leg for p in plans]
    return sum(g.qty for g in legs) == 0 and sum(g.cost for g in legs) == sum(
        g.realized for g in legs
    )


def fills_by_account(fills: Iterable[PerpFill]) -> Mapping[int, list[PerpFill]]:
    """Each account's fills, oldest first."""
    out: dict[int, list[PerpFill]] = {}
    for f in sorted(fills, key=lambda f: f.number):  # stable: a trade's buyer side first
        out.setdefault(f.account, []).append(f)
    return out
