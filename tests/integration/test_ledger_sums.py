"""``account_sums`` against the embedded store: the ledger's sums per account and asset are
the same over both layouts (ordinary postings documents and a funding round's columns) as
summing every document's ``postings_of`` here, with and without an account filter, a
sequence range and grouping by sequence."""

from __future__ import annotations

import random

import pytest

from domains.shared.mongo import Database
from graph.writer.ledger import (
    RoundPairs,
    SumKey,
    account_sums,
    line_documents,
    postings_of,
    round_documents,
)

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]
ACCOUNTS = [f"acc_{n}" for n in range(12)]


def _ledger(rng: random.Random) -> list[dict[str, object]]:
    """Fills (ordinary documents) and funding rounds (columns) in sequence order."""
    docs: list[dict[str, object]] = []
    for seq in range(1, 40):
        if seq % 7 == 0:  # a round: each of some accounts against the market's settlement
            paying = rng.sample(ACCOUNTS, rng.randint(1, len(ACCOUNTS)))
            docs += round_documents({seq: RoundPairs(
                "USDT", "perp:BTC-USDT-PERP", paying, [rng.randint(-500, 500) for _ in paying]
            )})  # fmt: skip
            continue
        a, b = rng.sample(ACCOUNTS, 2)
        qty, cost = rng.randint(1, 9), rng.randint(1, 900)
        legs = ((a, "BTC", qty), (b, "BTC", -qty), (a, "USDT", -cost), (b, "USDT", cost))
        lines: list[dict[str, object]] = [
            {"leg": leg + 1, "account_id": acc, "asset": asset, "amount_minor": amount,
             "kind": "TRADE", "reference": f"t{seq}"}
            for leg, (acc, asset, amount) in enumerate(legs)
        ]  # fmt: skip
        docs += line_documents({seq: lines}, per_doc=3)
    return docs


def _reference(docs: list[dict[str, object]], low: int, high: int, wanted: set[str] | None,
               by_seq: bool) -> dict[SumKey, int]:  # fmt: skip
    totals: dict[SumKey, int] = {}
    for doc in docs:
        seq = int(str(doc["seq"]))
        if not low < seq <= high:
            continue
        for line in postings_of(doc):
            account = str(line["account_id"])
            if wanted is None or account in wanted:
                key = (account, str(line["asset"]), seq if by_seq else 0)
                totals[key] = totals.get(key, 0) + int(str(line["amount_minor"]))
    return totals


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_sums_over_both_layouts_equal_the_postings_summed_one_by_one(
    scratch_db: Database, seed: int
) -> None:
    rng = random.Random(seed)
    docs = _ledger(rng)
    assert any("perp_pnl" in d for d in docs) and any("postings" in d for d in docs)
    await scratch_db.ledger_entries.insert_many([dict(d) for d in docs])
    everything = await account_sums(scratch_db.ledger_entries)
    assert everything == _reference(docs, 0, 10**9, None, False)
    assert sum(everything.values()) == 0  # every command balances
    wanted = set(rng.sample(ACCOUNTS, 4)) | {"perp:BTC-USDT-PERP"}
    for low, high in ((0, 10**9), (0, 14), (7, 28), (13, 14)):
        for by_seq in (False, True):
            found = await account_sums(scratch_db.ledger_entries, {"$gt": low, "$lte": high},
                                       wanted, by_seq=by_seq)  # fmt: skip
            assert found == _reference(docs, low, high, wanted, by_seq), (low, high, by_seq)
