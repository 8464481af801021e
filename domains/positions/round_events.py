"""A funding round's events in bulk: the FUNDING events and the position changes a round
settled, read as columns of the engine's event array, become the round's entries (what
``funding_rounds`` stores, domains/positions/funding_rounds.py) without a Position, a
FundingPayment or a numpy scalar per event; the streams get one summary per tenant and
round. Pure: no pymongo, no strawberry, no asyncio.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from domains.orders.spec import MarketSpec
from domains.positions.funding_rounds import Entry, RoundHeader, payment_entry, round_documents
from domains.shared.engine_port import AccountRef
from engine import codes
from engine.layout import Records

ROWS_PER_STEP = 512  # events handled between two hand-backs of the event loop (<1 ms)
PAID_COLUMNS = ("seq", "account", "market", "qty", "value_a", "price", "value_b")
STATE_COLUMNS = ("seq", "account", "market", "value_a", "value_b", "order_id",
                 "maker_order_id", "status")  # fmt: skip


class Accounts(Protocol):
    def account(self, index: int) -> AccountRef | None: ...


def _keys(seqs: np.ndarray, accounts: np.ndarray) -> np.ndarray:
    """(seq, engine account) as one int64 (an account is an int32, NIL included)."""
    return (seqs.astype(np.int64) << 32) | accounts.astype(np.uint32).astype(np.int64)


def settled_mask(perp: Records) -> np.ndarray:
    """The POSITION_CHANGED events a round's document carries: a FUNDING event of the same
    command paid the account, the position stays open, and the round neither liquidated
    nor deleveraged it (as the account or as the counterparty)."""
    kinds = perp["kind"]
    keys = _keys(perp["seq"], perp["account"])
    paid = kinds == codes.EV_FUNDING
    candidates = (kinds == codes.EV_POSITION_CHANGED) & (perp["qty"] != 0)
    if not paid.any() or not candidates.any():
        return np.zeros(len(perp), dtype=bool)
    liq = kinds == codes.EV_LIQUIDATION
    liquidated = np.concatenate([keys[liq], _keys(perp["seq"][liq], perp["maker_account"][liq])])
    settled: np.ndarray = candidates & np.isin(keys, keys[paid]) & ~np.isin(keys, liquidated)
    return settled


def steps(records: Records) -> list[Records]:
    """``records`` in slices of ROWS_PER_STEP (the caller yields between them)."""
    return [records[i : i + ROWS_PER_STEP] for i in range(0, len(records), ROWS_PER_STEP)]


class RoundBuilder:
    """Collects the rounds of one projected batch: ``pay`` the FUNDING events, ``settle``
    the position changes ``settled_mask`` selects (each in event order, in slices), then
    ``documents``. Entries equal the per-event projection's: an account's ordinal is its
    rank among the round's payments of known accounts, its state the last of its changes."""

    def __init__(
        self,
        directory: Accounts,
        specs: Mapping[int, MarketSpec | None],
        paid_at: Callable[[int], dt.datetime],
    ) -> None:
        self._directory, self._specs, self._paid_at = directory, specs, paid_at
        self.rounds: dict[int, tuple[RoundHeader, dict[str, Entry]]] = {}
        self._states: dict[tuple[int, str], list[int]] = {}
        # tenant -> (market id, round seq) -> payments: what the streams are told
        self.tenants: dict[str, dict[tuple[str, int], int]] = {}

    def pay(self, funding: Records) -> None:
        account_of, specs = self._directory.account, self._specs
        columns = [funding[name].tolist() for name in PAID_COLUMNS]
        for seq, account, market, qty, amount, mark, rate in zip(*columns, strict=True):
            spec = specs.get(market)
            ref = account_of(account) if spec is not None else None
            if spec is None or ref is None:
                continue
            found = self.rounds.get(seq)
            if found is None:
                found = self.rounds[seq] = (self._header(spec, seq, mark, rate), {})
            entries = found[1]
            ordinal = len(entries)  # counted before this account's entry (as per event)
            entries.setdefault(ref.account_id, {}).update(
                payment_entry(ordinal, ref.tenant_id, ref.customer_id, qty, amount)
            )
            counts = self.tenants.setdefault(ref.tenant_id, {})
            key = (spec.market.id, seq)
            counts[key] = counts.get(key, 0) + 1

    def settle(self, changes: Records) -> None:
        account_of, specs, states = self._directory.account, self._specs, self._states
        columns = [changes[name].tolist() for name in STATE_COLUMNS]
        for seq, account, market, cost, margin, realized, leverage, status in zip(
            *columns, strict=True
        ):
            ref = account_of(account) if specs.get(market) is not None else None
            if ref is not None:
                isolated = int(status == codes.MARGIN_ISOLATED)
                states[(seq, ref.account_id)] = [cost, margin, realized, leverage, isolated]

    def _header(self, spec: MarketSpec, seq: int, mark: int, rate: int) -> RoundHeader:
        return RoundHeader(
            market_id=spec.market.id, seq=seq, paid_at=self._paid_at(seq),
            mark=spec.price(mark), rate_ppm=rate, asset=spec.quote.code,
            quote_decimals=spec.quote.decimals, lot_size=spec.market.lot_size,
        )  # fmt: skip

    def documents(self) -> list[dict[str, Any]]:
        """Every round's bucket documents, each paid position's state in its entry."""
        for (seq, account_id), state in self._states.items():
            found = self.rounds.get(seq)
            entry = found[1].get(account_id) if found is not None else None
            if entry is not None:
                entry["p"] = state
        self._states.clear()
        docs: list[dict[str, Any]] = []
        for header, entries in self.rounds.values():
            docs.extend(round_documents(header, entries))
        return docs

    def summaries(self) -> dict[str, list[dict[str, Any]]]:
        """Per tenant, the rounds that paid its accounts: market, sequence and how many
        payments (a stream message per tenant, not one per position)."""
        return {
            tenant: [{"market_id": market, "seq": seq, "payments": n}
                     for (market, seq), n in sorted(counts.items(), key=lambda kv: kv[0][1])]
            for tenant, counts in self.tenants.items()
        }  # fmt: skip
