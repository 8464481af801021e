"""The arithmetic of a clearing rollback (``bustTrades``): pure integers, no I/O.

A bust reverses a range of a spot market's internal trades. History is never rewritten:
the reversal is a set of new engine TRANSFERs, from every account that received something
in those trades to a clearing account of the bust, and from there to every account that
gave something. What each account owes or is owed is netted first, per asset, over all the
busted trades (a market maker that bought and sold in the range owes only the difference).

Per trade (spot fee model, engine/codes.py: fees in the quote asset, both sides, into the
market's fee account): the buyer got ``base`` and paid ``notional + buyer_fee``; the seller
gave ``base`` and got ``notional - seller_fee``; the fee account got both fees. The
reversal is the negation: buyer ``-base`` / ``+notional + buyer_fee``, seller ``+base`` /
``-(notional - seller_fee)``, fee account ``-(buyer_fee + seller_fee)``. Per asset the
deltas sum to zero, so a reversal with every debtor paying in full leaves every balance as
if the trades had never happened.

A debtor pays at most what it has available (funds withdrawn or spent since, or locked in
orders, are not taken): the rest is its **shortfall**, reported, never a negative balance.
What was recovered of an asset is paid to that asset's creditors in full when nothing is
short, else pro rata to their claims (floors; the units left by the floors go one each to
the largest claims first, ties by account) and what a creditor is not paid is its **unpaid
claim**. Per asset, shortfalls and unpaid claims are equal, and recovered == paid out: a
bust creates and destroys nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

Key = tuple[int, int]  # (engine account, engine asset)
# journal notes of a bust's commands (read by the trades projection and the ledger)
LEG = "TRADE_BUST"  # the ledger label of a bust's transfers (note key routing.NOTE_LEG)
NOTE_BUST = "bust"  # the bust id, on every command of a bust
NOTE_BUST_MARKET, NOTE_BUST_FROM, NOTE_BUST_TO = "bust_market", "bust_from", "bust_to"  # marker
NOTE_FEE_PAYER, NOTE_FEE_MAKER = "fee_payer", "fee_maker"  # a fee refund's payer and role


@dataclass(frozen=True)
class BustTrade:
    """One internal spot trade in engine units."""

    number: int  # the market's trade number
    buyer: int
    seller: int
    base_asset: int
    quote_asset: int
    base_minor: int  # qty lots * base per lot
    notional_minor: int  # qty lots * price ticks * quote per tick-lot
    buyer_fee: int
    seller_fee: int
    buyer_is_maker: bool


@dataclass(frozen=True)
class FeeRefund:
    """What the fee account owes back to one fee payer for one role (the ledger splits a
    fee between the platform and the payer's institution by role and payer)."""

    payer: int
    asset: int
    maker: bool
    amount: int


@dataclass(frozen=True)
class Reversal:
    """The netted deltas of a bust: negative owes, positive is owed; and the fee account's
    part by payer (its delta is minus their sum)."""

    deltas: dict[Key, int]
    fee_account: int
    fee_refunds: tuple[FeeRefund, ...]


def reverse(trades: Iterable[BustTrade], fee_account: int) -> Reversal:
    """The net delta per (account, asset) that undoes ``trades``; zeros dropped."""
    deltas: dict[Key, int] = {}
    fees: dict[tuple[int, int, bool], int] = {}

    def add(key: Key, amount: int) -> None:
        deltas[key] = deltas.get(key, 0) + amount

    for t in trades:
        if fee_account in (t.buyer, t.seller):
            raise ValueError(f"trade {t.number}: the fee account does not trade")
        add((t.buyer, t.base_asset), -t.base_minor)
        add((t.seller, t.base_asset), t.base_minor)
        add((t.buyer, t.quote_asset), t.notional_minor + t.buyer_fee)
        add((t.seller, t.quote_asset), -(t.notional_minor - t.seller_fee))
        add((fee_account, t.quote_asset), -(t.buyer_fee + t.seller_fee))
        for payer, fee, maker in ((t.buyer, t.buyer_fee, t.buyer_is_maker),
                                  (t.seller, t.seller_fee, not t.buyer_is_maker)):  # fmt: skip
            if fee:
                key = (payer, t.quote_asset, maker)
                fees[key] = fees.get(key, 0) + fee
    refunds = tuple(FeeRefund(p, a, m, v) for (p, a, m), v in sorted(fees.items()) if v)
    return Reversal({k: v for k, v in sorted(deltas.items()) if v}, fee_account, refunds)


@dataclass(frozen=True)
class Collect:
    """One TRANSFER into the bust's clearing account; ``refund`` when it is a fee refund
    from the fee account (the ledger needs the payer and role)."""

    account: int
    asset: int
    amount: int
    refund: FeeRefund | None = None


@dataclass
class Settlement:
    """Who pays what into the clearing account, who is paid what out of it, and what is
    left short on either side."""

    collects: list[Collect] = field(default_factory=list)
    shortfalls: dict[Key, int] = field(default_factory=dict)  # debtor: owed but not taken
    payouts: dict[Key, int] = field(default_factory=dict)  # creditor: paid
    unpaid: dict[Key, int] = field(default_factory=dict)  # creditor: owed but not paid

    def recovered(self, asset: int) -> int:
        return sum(c.amount for c in self.collects if c.asset == asset)


def collects(reversal: Reversal, available: Callable[[int, int], int]) -> list[Collect]:
    """What each debtor pays now: min(owed, available). The fee account pays its refunds
    in payer order until its available runs out (one transfer per refund)."""
    out: list[Collect] = []
    for (account, asset), delta in reversal.deltas.items():
        if delta >= 0:
            continue
        left = min(-delta, max(available(account, asset), 0))
        if account != reversal.fee_account:
            if left > 0:
                out.append(Collect(account, asset, left))
            continue
        for refund in reversal.fee_refunds:  # the fee account: one transfer per refund
            take = min(refund.amount, left) if refund.asset == asset else 0
            if take > 0:
                out.append(Collect(account, asset, take, refund))
                left -= take
    return out


def settle(
    reversal: Reversal, taken: Iterable[Collect], pools: Mapping[int, int] | None = None
) -> Settlement:
    """Given what was actually collected, the payouts (in full, or pro rata when short) and
    each side's shortfall. ``pools`` (per asset) replaces what was collected as what there
    is to pay out: a perpetual bust's clearing account also holds what the positions' legs
    gave it (domains/orders/perp_bust_plan.py)."""
    result = Settlement(collects=list(taken))
    got: dict[Key, int] = {}
    for c in result.collects:
        got[(c.account, c.asset)] = got.get((c.account, c.asset), 0) + c.amount
    for key, delta in reversal.deltas.items():
        if delta < 0 and -delta > got.get(key, 0):
            result.shortfalls[key] = -delta - got.get(key, 0)
    assets = sorted({asset for _, asset in reversal.deltas})
    for asset in assets:
        claims = {k: v for k, v in reversal.deltas.items() if k[1] == asset and v > 0}
        pool = result.recovered(asset) if pools is None else pools.get(asset, 0)
        paid = pro_rata(claims, max(pool, 0))
        for key, claim in claims.items():
            if paid[key]:
                result.payouts[key] = paid[key]
            if claim > paid[key]:
                result.unpaid[key] = claim - paid[key]
    return result


def pro_rata(claims: Mapping[Key, int], pool: int) -> dict[Key, int]:
    """``pool`` shared by ``claims``: in full when it covers them, else floors of the
    proportional shares, the remaining units one each to the largest claims first."""
    total = sum(claims.values())
    if pool >= total:
        return dict(claims)
    shares = {k: v * pool // total for k, v in claims.items()}
    left = pool - sum(shares.values())
    for key in sorted(claims, key=lambda k: (-claims[k], k))[:left]:
        shares[key] += 1
    return shares
