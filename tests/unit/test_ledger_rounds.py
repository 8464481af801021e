"""The ledger posts a funding round from the event columns (``_round_postings``) exactly as
event by event: for any batches of rounds (liquidating ones among them, which go event by
event), trades' position changes and replays, the same postings in ``ledger_entries`` (legs
numbered alike, the round's FUNDING_DUST pair last; a bulk round's PERP_PNL pairs stored in
columns, ``postings_of`` expanding them) and the same realised PnL remembered per position,
as the projector with ``bulk_rounds`` off."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
from hypothesis import given, settings
from pymongo import DeleteMany, ReplaceOne
from pymongo.errors import BulkWriteError

from domains.shared.engine_port import EngineDirectory
from domains.shared.mongo import Database
from engine import codes
from engine.layout import COMMAND_DTYPE, EVENT_DTYPE, Records
from graph.writer.ledger import ROUND_PAIRS_PER_DOC, LedgerProjector, bulk_round_seqs, postings_of
from tests.unit.funding_events import Directory, batches, spec_for


class _Cursor:
    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self._docs = docs

    def sort(self, key: str, direction: int) -> _Cursor:
        return _Cursor(sorted(self._docs, key=lambda d: d[key], reverse=direction < 0))

    async def __aiter__(self) -> Any:
        for doc in self._docs:
            yield doc


class _Collection:
    """The few collection calls the ledger makes, in memory (ids unique, as in the store)."""

    def __init__(self) -> None:
        self.docs: dict[Any, dict[str, Any]] = {}

    def find(self, query: dict[str, Any]) -> _Cursor:
        assert query == {}
        return _Cursor(list(self.docs.values()))

    async def insert_many(self, docs: Sequence[dict[str, Any]], ordered: bool) -> None:
        duplicates = [{"code": 11000} for d in docs if d["_id"] in self.docs]
        for doc in docs:
            self.docs.setdefault(doc["_id"], doc)
        if duplicates:
            raise BulkWriteError({"writeErrors": duplicates})

    async def bulk_write(self, requests: Sequence[Any], ordered: bool = True) -> None:
        for request in requests:
            if isinstance(request, ReplaceOne):
                self.docs[request._filter["_id"]] = {"_id": request._filter["_id"], **request._doc}
            else:
                assert isinstance(request, DeleteMany)
                self.docs = {k: d for k, d in self.docs.items() if "round" not in d}

    async def replace_one(self, query: dict[str, Any], doc: dict[str, Any], upsert: bool) -> None:
        self.docs[query["_id"]] = {"_id": query["_id"], **doc}


class _Db:
    def __init__(self) -> None:
        self.ledger_entries = _Collection()
        self.ledger_fee_splits = _Collection()
        self.ledger_perp_realized = _Collection()


def _post(stream: list[tuple[Records, Records]], bulk: bool) -> _Db:
    db = _Db()

    def projector() -> LedgerProjector:  # a new one reads what the last one remembered
        made = LedgerProjector(cast(Database, db), cast(EngineDirectory, Directory()), spec_for)
        made.bulk_rounds = bulk
        return made

    async def run() -> None:
        ledger = projector()
        for n, (batch, events) in enumerate(stream):
            await ledger(batch, events, {})
            if n == 0:  # the first batch replayed by a restarted writer: nothing posted twice
                ledger = projector()
                await ledger(batch, events, {})

    asyncio.run(run())
    return db


@settings(max_examples=150, deadline=None)
@given(stream=batches())
def test_a_round_posted_from_columns_equals_its_events_posted_one_by_one(
    stream: list[tuple[Records, Records]],
) -> None:
    bulk, reference = _post(stream, bulk=True), _post(stream, bulk=False)
    assert _postings(bulk) == _postings(reference)
    assert not any("perp_pnl" in doc for doc in reference.ledger_entries.docs.values())
    assert bulk.ledger_perp_realized.docs == reference.ledger_perp_realized.docs
    for seq, lines in _postings(bulk).items():  # legs 1..n, and every command sums to zero
        assert [line["leg"] for line in lines] == list(range(1, len(lines) + 1)), seq
        assert sum(int(str(line["amount_minor"])) for line in lines) == 0, seq


def _postings(db: _Db) -> dict[int, list[dict[str, object]]]:
    """Every command's postings in leg order, whichever layout stored them."""
    found: dict[int, list[dict[str, object]]] = {}
    for doc in db.ledger_entries.docs.values():
        found.setdefault(doc["seq"], []).extend(postings_of(doc))
    return {seq: sorted(lines, key=lambda line: int(str(line["leg"])))
            for seq, lines in sorted(found.items())}  # fmt: skip


def test_only_rounds_without_a_liquidation_are_posted_from_columns() -> None:
    events = np.zeros(8, dtype=EVENT_DTYPE)
    events["seq"] = [1, 1, 1, 2, 2, 3, 3, 4]
    events["kind"] = [codes.EV_ACCEPTED, codes.EV_FUNDING, codes.EV_POSITION_CHANGED,  # a round
                      codes.EV_FUNDING, codes.EV_LIQUIDATION,  # a round that liquidated
                      codes.EV_POSITION_CHANGED, codes.EV_TRADE,  # a fill
                      codes.EV_FUNDING]  # fmt: skip  # a payment of some other command
    commands = np.zeros(4, dtype=COMMAND_DTYPE)
    commands["seq"] = [1, 2, 3, 4]
    commands["kind"] = [codes.APPLY_FUNDING, codes.APPLY_FUNDING, codes.PLACE_ORDER,
                        codes.CLOSE_POSITION]  # fmt: skip
    assert bulk_round_seqs(events, commands).tolist() == [1]


def test_a_large_round_is_a_few_columnar_documents_then_its_dust_pair() -> None:
    accounts = range(100, 100 + ROUND_PAIRS_PER_DOC + 452)  # engine:<index> (not named)
    events = np.zeros(1 + 2 * len(accounts), dtype=EVENT_DTYPE)
    events["seq"], events["kind"][0] = 5, codes.EV_ACCEPTED
    events["kind"][1::2], events["kind"][2::2] = codes.EV_FUNDING, codes.EV_POSITION_CHANGED
    events["account"][1::2] = events["account"][2::2] = accounts
    events["qty"][1:], events["value_a"][1::2] = 1, -7
    events["order_id"][2::2] = -7  # each position's realised PnL: the payment
    commands = np.zeros(1, dtype=COMMAND_DTYPE)
    commands["seq"], commands["kind"] = 5, codes.APPLY_FUNDING

    db = _Db()
    ledger = LedgerProjector(cast(Database, db), cast(EngineDirectory, Directory()), spec_for)
    asyncio.run(ledger(commands, events, {}))

    docs = db.ledger_entries.docs
    assert sorted(docs) == ["5:0", "5:r0", "5:r1"]
    assert [len(docs[k]["perp_pnl"]["accounts"]) for k in ("5:r0", "5:r1")] == [
        ROUND_PAIRS_PER_DOC, 452
    ]  # fmt: skip
    assert "postings" not in docs["5:r0"]  # not in the postings.account_id index
    lines = _postings(db)[5]
    assert [line["leg"] for line in lines] == list(range(1, 2 * len(accounts) + 3))
    assert lines[0] == {"leg": 1, "account_id": "engine:100", "asset": "USDT",
                        "amount_minor": -7, "kind": "PERP_PNL", "reference": "cmd:5"}  # fmt: skip
    assert lines[1]["account_id"] == "perp:BTC-USDT-PERP" and lines[1]["amount_minor"] == 7
    assert [line["kind"] for line in lines[-2:]] == ["FUNDING_DUST"] * 2
    assert [line["leg"] for line in docs["5:0"]["postings"]] == [len(lines) - 1, len(lines)]
