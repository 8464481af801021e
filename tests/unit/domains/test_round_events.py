"""The positions projector's bulk round path (domains/positions/round_events.py) writes what
projecting the events one by one writes: for any batches of funding rounds (any order of
events within a round, liquidations among them, unknown accounts and markets), trades and
mark prices, the same ``funding_rounds`` documents, position documents, liquidation steps
and insurance funds as a readable per-event reference; its stream message carries each
round once per tenant (market, sequence, payments), which a subscriber reads as "re-read
this market". Also: the balances projector's round selection on the columns is the
per-event rule."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import orjson
from hypothesis import given, settings

from domains.accounts.balances import settled_mask as balance_settled_mask
from domains.positions.funding_rounds import (
    Entry,
    RoundHeader,
    payment_entry,
    round_documents,
    state_entry,
)
from domains.positions.model import InsuranceFund, LiquidationEvent, Position
from domains.positions.projection import POSITION_STREAM, PositionsProjector, ns_datetime
from domains.positions.repository import MongoPositionsRepository
from domains.positions.streams import Changes
from domains.shared.events import EventBus
from engine import codes
from engine.events import rows
from engine.layout import Records
from tests.unit.funding_events import SPEC, Directory, batches, spec_for


class _Repository:
    """What the projector writes, in memory (last write of an id wins, as upserts do)."""

    def __init__(self) -> None:
        self.positions: dict[str, Position] = {}
        self.rounds: dict[str, dict[str, Any]] = {}
        self.liquidations: dict[str, LiquidationEvent] = {}
        self.insurance: dict[str, InsuranceFund] = {}

    async def save_positions(self, positions: Sequence[Position]) -> None:
        self.positions.update((p.id, p) for p in positions)

    async def save_marks(self, marks: Sequence[object]) -> None:
        return None

    async def insert_rounds(self, documents: Sequence[dict[str, Any]]) -> None:
        for doc in documents:
            self.rounds.setdefault(doc["_id"], doc)  # insert-only

    async def insert_liquidations(self, steps: Sequence[LiquidationEvent]) -> None:
        for step in steps:
            self.liquidations.setdefault(step.id, step)

    async def save_insurance(self, funds: Sequence[InsuranceFund]) -> None:
        self.insurance.update((f.asset, f) for f in funds)


class _Bus:
    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, topic: str, payload: bytes) -> None:
        self.messages.append((topic, orjson.loads(payload)))


def _reference_rounds(events: Records, batch: Records) -> list[dict[str, Any]]:
    """The round documents of one batch, event by event (the projector before the bulk
    path): a round's header from its first payment, an account's ordinal its rank among
    the round's payments, its state the last change of a position the round paid and
    neither closed nor liquidated."""
    directory, times = (
        Directory(),
        dict(zip(batch["seq"].tolist(), batch["ts_ns"].tolist(), strict=True)),
    )
    perp = rows(events)
    paid = {(e["seq"], e["account"]) for e in perp if e["kind"] == codes.EV_FUNDING}
    liquidated = {(e["seq"], e[side]) for e in perp if e["kind"] == codes.EV_LIQUIDATION
                  for side in ("account", "maker_account")}  # fmt: skip
    rounds: dict[int, tuple[RoundHeader, dict[str, Entry]]] = {}
    states: dict[tuple[int, str], list[int]] = {}
    for e in perp:
        ref = directory.account(e["account"])
        if directory.market_id(e["market"]) is None or ref is None:
            continue
        if e["kind"] == codes.EV_FUNDING:
            if e["seq"] not in rounds:
                rounds[e["seq"]] = (RoundHeader(
                    SPEC.market.id, e["seq"], ns_datetime(times[e["seq"]]), SPEC.price(e["price"]),
                    e["value_b"], SPEC.quote.code, SPEC.quote.decimals, SPEC.market.lot_size,
                ), {})  # fmt: skip
            entries = rounds[e["seq"]][1]
            ordinal = len(entries)
            entries.setdefault(ref.account_id, {}).update(
                payment_entry(ordinal, ref.tenant_id, ref.customer_id, e["qty"], e["value_a"])
            )
        elif (
            e["kind"] == codes.EV_POSITION_CHANGED and e["qty"] != 0
            and (e["seq"], e["account"]) in paid and (e["seq"], e["account"]) not in liquidated
        ):  # fmt: skip
            states[(e["seq"], ref.account_id)] = state_entry(
                e["value_a"], e["value_b"], e["order_id"], e["maker_order_id"],
                e["status"] == codes.MARGIN_ISOLATED,
            )  # fmt: skip
    for (seq, account_id), state in states.items():
        rounds[seq][1][account_id]["p"] = state
    return [doc for header, entries in rounds.values() for doc in round_documents(header, entries)]


def _reference_positions(events: Records) -> dict[str, int]:
    """Position id -> sequence of the position documents written: every change of a known
    account and market that no round carries (a round carries the change of a position
    it paid, left open and neither liquidated nor deleveraged)."""
    every = rows(events)
    paid = {(e["seq"], e["account"]) for e in every if e["kind"] == codes.EV_FUNDING}
    liquidated = {(e["seq"], e[side]) for e in every if e["kind"] == codes.EV_LIQUIDATION
                  for side in ("account", "maker_account")}  # fmt: skip
    written: dict[str, int] = {}
    for e in every:
        ref = Directory().account(e["account"])
        if e["kind"] != codes.EV_POSITION_CHANGED or ref is None or e["market"] != 0:
            continue
        if e["qty"] == 0 or (e["seq"], e["account"]) not in paid - liquidated:
            written[f"{ref.account_id}:{SPEC.market.id}"] = e["seq"]
    return written


def _project(batches_: list[tuple[Records, Records]]) -> tuple[_Repository, _Bus]:
    repository, bus = _Repository(), _Bus()
    projector = PositionsProjector(cast(MongoPositionsRepository, repository), Directory(),
                                   spec_for, cast(EventBus, bus))  # fmt: skip

    async def run() -> None:
        for batch, events in batches_:
            await projector(batch, events, {})

    asyncio.run(run())
    return repository, bus


@settings(max_examples=150, deadline=None)
@given(stream=batches())
def test_bulk_rounds_write_what_the_events_one_by_one_write(
    stream: list[tuple[Records, Records]],
) -> None:
    repository, bus = _project(stream)

    expected_rounds = [doc for batch, events in stream for doc in _reference_rounds(events, batch)]
    assert repository.rounds == {doc["_id"]: doc for doc in expected_rounds}
    expected_positions: dict[str, int] = {}
    for _, events in stream:
        expected_positions.update(_reference_positions(events))
    assert {k: p.seq for k, p in repository.positions.items()} == expected_positions

    # liquidation steps keep their ids (the event's ordinal among the batch's perp events)
    for _, events in stream:
        perp = [e for e in rows(events) if e["kind"] >= codes.EV_POSITION_CHANGED
                or e["kind"] == codes.EV_BALANCE_CHANGED]  # fmt: skip
        for ordinal, e in enumerate(perp):
            known = Directory().account(e["account"]) is not None and e["market"] == 0
            if e["kind"] == codes.EV_LIQUIDATION and known:
                assert f"{e['seq']:016d}:{ordinal:05d}" in repository.liquidations
    funds = [e for _, events in stream for e in rows(events)
             if e["kind"] == codes.EV_BALANCE_CHANGED and e["account"] == 9]  # fmt: skip
    assert [(f.seq, int(f.balance.scaleb(8))) for f in repository.insurance.values()] == (
        [(funds[-1]["seq"], funds[-1]["value_a"])] if funds else []
    )

    # streams: each round once per tenant it paid, with that tenant's number of payments
    told: dict[tuple[str, int], dict[str, int]] = {}
    for topic, message in bus.messages:
        for summary in message.get("rounds", ()):
            told.setdefault((summary["market_id"], summary["seq"]), {})[topic] = summary["payments"]
    expected: dict[tuple[str, int], dict[str, int]] = {}
    for doc in expected_rounds:
        counts = expected.setdefault((doc["market_id"], doc["seq"]), {})
        for entry in doc["entries"].values():
            topic = f"{POSITION_STREAM}.{entry['t']}"
            counts[topic] = counts.get(topic, 0) + 1
    assert told == expected


def test_a_round_summary_wakes_a_subscriber_for_its_market() -> None:
    changes = Changes()
    summary = {"rounds": [{"market_id": "BTC-USDT-PERP", "seq": 7, "payments": 10_000}]}
    changes.add("positions.ten_a", orjson.dumps(summary))
    assert changes.funded == {"BTC-USDT-PERP"} and changes.positions == []
    assert not changes.everything and changes.markets == set()


@settings(max_examples=100, deadline=None)
@given(stream=batches())
def test_balances_a_round_carries_are_those_it_paid_and_did_not_liquidate(
    stream: list[tuple[Records, Records]],
) -> None:
    for _, events in stream:
        changed = events[events["kind"] == codes.EV_BALANCE_CHANGED]
        every = rows(events)
        paid = {(e["seq"], e["account"]) for e in every if e["kind"] == codes.EV_FUNDING}
        liquidated = {(e["seq"], e[side]) for e in every if e["kind"] == codes.EV_LIQUIDATION
                      for side in ("account", "maker_account")}  # fmt: skip
        expected = [(e["seq"], e["account"]) in paid - liquidated for e in rows(changed)]
        assert balance_settled_mask(events, changed).tolist() == expected
