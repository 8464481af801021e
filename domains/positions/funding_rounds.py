"""Funding rounds as a few documents per market, not one write per position.

A funding round (one APPLY_FUNDING) pays every open position of a market. Instead of
updating each position document and inserting a payment per position, the positions
projector stores the round as one document per (market, round, account bucket) in
``funding_rounds``: the round's mark, rate and margin asset, and for each account paid
(``entries``, keyed by account id) its payment and, unless the round also liquidated it,
its position's state after the round, straight from the engine's events (integers: lots
and minor units, exact). Reads apply the newest round entry newer than a position's
document (``apply_rounds``); ``fundingPayments`` reads the entries (``payment``).

An account's bucket is fixed (crc32 of its id), so reading one account touches one
document per round. Pure: no pymongo, no strawberry.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zlib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from domains.positions.model import FundingPayment, MarginMode, Position
from domains.shared.money import from_units

BUCKETS = 16
PPM = Decimal(1_000_000)
Entry = dict[str, Any]


def bucket_of(account_id: str) -> int:
    """The account's bucket: stable across processes and restarts."""
    return zlib.crc32(account_id.encode()) % BUCKETS


def round_id(market_id: str, seq: int, bucket: int) -> str:
    return f"{market_id}:{seq:016d}:{bucket:02d}"


@dataclasses.dataclass(frozen=True)
class RoundHeader:
    """What every bucket document of one round carries."""

    market_id: str
    seq: int
    paid_at: dt.datetime
    mark: Decimal
    rate_ppm: int
    asset: str
    quote_decimals: int
    lot_size: Decimal

    def document(self, bucket: int, entries: dict[str, Entry]) -> dict[str, Any]:
        return {
            "_id": round_id(self.market_id, self.seq, bucket), "market_id": self.market_id,
            "seq": self.seq, "bucket": bucket, "paid_at": self.paid_at, "mark": str(self.mark),
            "rate_ppm": self.rate_ppm, "asset": self.asset,
            "quote_decimals": self.quote_decimals, "lot_size": str(self.lot_size),
            "entries": entries,
        }  # fmt: skip


def payment_entry(
    ordinal: int, tenant_id: str, customer_id: str, qty_lots: int, amount_minor: int
) -> Entry:
    """An account's payment in a round (amount > 0 received, < 0 paid)."""
    return {"o": ordinal, "t": tenant_id, "c": customer_id, "q": qty_lots, "a": amount_minor}


def state_entry(
    cost_minor: int, margin_minor: int, realized_minor: int, leverage: int, isolated: bool
) -> list[int]:
    """A position's state after the round (its quantity is the payment's ``q``)."""
    return [cost_minor, margin_minor, realized_minor, leverage, int(isolated)]


def round_documents(header: RoundHeader, entries: Mapping[str, Entry]) -> list[dict[str, Any]]:
    """The round's bucket documents (only buckets with an entry)."""
    by_bucket: dict[int, dict[str, Entry]] = {}
    for account_id, entry in entries.items():
        by_bucket.setdefault(bucket_of(account_id), {})[account_id] = entry
    return [header.document(b, found) for b, found in sorted(by_bucket.items())]


def _minor(doc: Mapping[str, Any], value: int) -> Decimal:
    return Decimal(value).scaleb(-int(doc["quote_decimals"]))  # as MarketSpec.quote_amount


def _quantity(doc: Mapping[str, Any], lots: int) -> Decimal:
    return Decimal(from_units(lots, Decimal(doc["lot_size"])))  # as MarketSpec.quantity


def _entry_price(cost: Decimal, quantity: Decimal, decimals: int) -> Decimal:
    if quantity == 0:
        return Decimal(0)
    return (cost / quantity).quantize(Decimal(1).scaleb(-decimals)).normalize() + 0


def _state(doc: Mapping[str, Any], entry: Entry) -> dict[str, Any]:
    """The Position fields the round ``doc`` (which paid ``entry``) leaves."""
    cost_minor, margin_minor, realized_minor, leverage, isolated = entry["p"]
    quantity, cost = _quantity(doc, int(entry["q"])), _minor(doc, cost_minor)
    return {
        "quantity": quantity, "cost": cost, "margin": _minor(doc, margin_minor),
        "realized_pnl": _minor(doc, realized_minor), "leverage": int(leverage),
        "margin_mode": MarginMode.ISOLATED if isolated else MarginMode.CROSS,
        "entry_price": _entry_price(cost, quantity, int(doc["quote_decimals"])),
        "seq": int(doc["seq"]), "updated_at": doc["paid_at"],
    }  # fmt: skip


def applied(position: Position, doc: Mapping[str, Any], entry: Entry) -> Position:
    """The position after the round ``doc`` (which paid it ``entry``)."""
    return dataclasses.replace(position, **_state(doc, entry))


def folded_fields(doc: Mapping[str, Any], entry: Entry) -> dict[str, Any]:
    """What folding the round ``doc`` into a position document sets: the fields of
    ``applied`` as the positions repository stores them (a read of the folded document
    equals a read that applies the round)."""
    state = _state(doc, entry)
    for name in ("quantity", "cost", "margin", "realized_pnl", "entry_price"):
        state[name] = str(state[name])
    state["margin_mode"] = state["margin_mode"].value
    return state


def newest_states(
    rounds: Iterable[Mapping[str, Any]],
) -> dict[str, tuple[Mapping[str, Any], Entry]]:
    """Per position id (``account:market``), the newest of ``rounds`` that carries its
    state, with its entry (``rounds`` in any order)."""
    newest: dict[str, tuple[Mapping[str, Any], Entry]] = {}
    for doc in rounds:
        seq = int(doc["seq"])
        for account_id, entry in doc["entries"].items():
            key = f"{account_id}:{doc['market_id']}"
            if "p" in entry and (key not in newest or int(newest[key][0]["seq"]) < seq):
                newest[key] = (doc, entry)
    return newest


def apply_rounds(positions: list[Position], rounds: Iterable[Mapping[str, Any]]) -> list[Position]:
    """Each position with the state of the newest round newer than its document that
    carries it (``rounds`` in any order, each a bucket document of its market)."""
    newest: dict[str, tuple[int, Mapping[str, Any], Entry]] = {}
    wanted = {(p.account_id, p.market_id): p.seq for p in positions}
    for doc in rounds:
        seq = int(doc["seq"])
        for account_id, entry in doc["entries"].items():
            since = wanted.get((account_id, doc["market_id"]))
            if since is None or seq <= since or "p" not in entry:
                continue
            key = f"{account_id}:{doc['market_id']}"
            if key not in newest or newest[key][0] < seq:
                newest[key] = (seq, doc, entry)
    out = []
    for p in positions:
        found = newest.get(p.id)
        out.append(applied(p, found[1], found[2]) if found else p)
    return out


def payment(doc: Mapping[str, Any], account_id: str, entry: Entry) -> FundingPayment:
    """The FundingPayment an entry of a round document records."""
    return FundingPayment(
        id=f"{int(doc['seq']):016d}:{int(entry['o']):05d}", tenant_id=entry["t"],
        customer_id=entry["c"], account_id=account_id, market_id=doc["market_id"],
        quantity=_quantity(doc, int(entry["q"])), mark=Decimal(doc["mark"]),
        rate=Decimal(int(doc["rate_ppm"])) / PPM, amount=_minor(doc, int(entry["a"])),
        asset=doc["asset"], seq=int(doc["seq"]), paid_at=doc["paid_at"],
    )  # fmt: skip
