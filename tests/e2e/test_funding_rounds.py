"""Funding rounds stored per market, not per position: two rounds over HTTP give each
position the hand-computed sum, the payments and balances show them, the rounds are a few
documents (the position and balance documents are not rewritten), reconcile is clean and
the read models rebuilt from the journal equal the live ones. Rounds folded back into the
position and balance documents read the same; funding history stored one document per
payment (before rounds per market) is migrated into round entries and still shown.

Demo data as in test_perpetuals.py: BTC-USDT-PERP, tick 0.1, lot 0.001 (quote per tick x
lot: 0.0001 USDT = 10,000 minor units), funding every 2 s of engine time.
"""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from domains.positions.funding_rounds import BUCKETS, payment
from domains.positions.repository import LEGACY_PAYMENTS, MIGRATED_PAYMENTS, funding_document
from graph.bootstrap import Platform
from graph.ops.seed import DemoKey
from graph.ops.settlement import rebuild
from graph.settings import Settings
from graph.writer.round_folding import RoundFolding
from tests.e2e.test_perpetuals import (
    INDEX,
    ORDER,
    _ok,
    _position,
    _trader,
    _usdt,
    settings,  # noqa: F401 (the module's settings: funding every 2 s)
)
from tests.factories import reconcile_platform

pytestmark = [pytest.mark.e2e, pytest.mark.store]

PAYMENTS = """query($a: ID!, $after: String) { fundingPayments(accountId: $a,
  market: "BTC-USDT-PERP", first: 1, after: $after) { nodes { id quantity markPrice rate
  amount asset sequence } pageInfo { hasNextPage endCursor } } }"""


async def _settle_round(platform: Platform) -> int:
    """One funding round (waiting for the market's funding time); its sequence."""
    for _ in range(60):
        if await platform.perp_runtime.settle_due_funding():
            await platform.writer.projections.drain()
            return int(platform.writer.engine.last_seq)
        await asyncio.sleep(0.1)
    raise AssertionError("no funding round became due")


async def _payments(http: httpx.AsyncClient, key: DemoKey) -> list[dict[str, object]]:
    """Every payment of the account, one page of one at a time (the cursor walks back)."""
    nodes: list[dict[str, object]] = []
    after = None
    while True:
        page = await _ok(http, PAYMENTS, {"a": key.account_id, "after": after}, key)
        connection = page["fundingPayments"]
        nodes += connection["nodes"]
        if not connection["pageInfo"]["hasNextPage"]:
            return nodes
        after = connection["pageInfo"]["endCursor"]


async def test_two_funding_rounds_add_up_to_the_hand_computed_sum_and_rebuild_equal(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey],
    settings: Settings, mongodb_uri: str,  # noqa: F811
) -> None:  # fmt: skip
    platform: Platform = app.state.platform
    operator = demo_keys["operator"]
    ada = await _trader(app, http, demo_keys, "Ada")
    bo = await _trader(app, http, demo_keys, "Bo")
    await _ok(http, INDEX, {"p": "64000"}, operator)
    await _ok(http, ORDER, {"a": bo.account_id, "s": "SELL", "q": "0.1", "p": "64000"}, bo)
    await _ok(http, ORDER, {"a": ada.account_id, "s": "BUY", "q": "0.1", "p": "64000"}, ada)
    # a book 65,600 / 65,800 against index 65,000: mark 65,325 (basis capped at 0.5%), rate 0.5%
    await _ok(http, ORDER, {"a": ada.account_id, "s": "BUY", "q": "0.001", "p": "65600"}, ada)
    await _ok(http, ORDER, {"a": bo.account_id, "s": "SELL", "q": "0.001", "p": "65800"}, bo)
    await _ok(http, INDEX, {"p": "65000"}, operator)
    await platform.writer.projections.drain()
    opened = {k.account_id: await platform.db.positions.find_one({"account_id": k.account_id})
              for k in (ada, bo)}  # fmt: skip
    before = {k.account_id: await _usdt(http, k) for k in (ada, bo)}

    rounds = [await _settle_round(platform), await _settle_round(platform)]

    # each round the long pays 100 lots x 653,250 ticks x 10,000 x 5,000 ppm / 1e6 minor
    # = 3,266,250,000 minor = 32.6625 USDT, and the only short receives all of it
    long, short = await _position(http, ada), await _position(http, bo)
    assert long is not None and short is not None
    assert (long["quantity"], long["realizedPnl"]) == ("0.1", "-65.325")
    assert (short["quantity"], short["realizedPnl"]) == ("-0.1", "65.325")
    for key, sign in ((ada, -1), (bo, 1)):
        available, locked = await _usdt(http, key)
        assert available == before[key.account_id][0] + sign * Decimal("65.325")
        assert locked == before[key.account_id][1]
        paid = await _payments(http, key)
        assert [p["sequence"] for p in paid] == sorted(rounds, reverse=True)
        assert [p["amount"] for p in paid] == [str(sign * Decimal("32.6625"))] * 2
        assert {(p["quantity"], p["markPrice"], p["rate"], p["asset"]) for p in paid} == {
            ("0.1" if sign < 0 else "-0.1", "65325", "0.005", "USDT")
        }
    # the rounds are a few documents each; the positions' and balances' were not rewritten
    for seq in rounds:
        assert 1 <= await platform.db.funding_rounds.count_documents({"seq": seq}) <= BUCKETS
        assert await platform.db.balance_rounds.count_documents({"seq": seq}) >= 1
    for key in (ada, bo):
        stored = await platform.db.positions.find_one({"account_id": key.account_id})
        assert stored is not None and stored == opened[key.account_id]

    report = await reconcile_platform(platform)
    assert report.clean, (report.differences, report.conservation)
    rebuilt = await rebuild(settings, mongodb_uri, f"rebuild_{uuid.uuid4().hex[:12]}")
    assert rebuilt.clean, rebuilt.examples
    assert not rebuilt.moved
    assert rebuilt.compared["funding_rounds"] >= 2 and rebuilt.compared["balance_rounds"] >= 2


Reads = list[tuple[dict[str, Any] | None, tuple[Decimal, Decimal], list[dict[str, object]]]]


async def _reads(http: httpx.AsyncClient, keys: tuple[DemoKey, ...]) -> Reads:
    """What the API shows of each account: its position, USDT balance and payments."""
    return [(await _position(http, k), await _usdt(http, k), await _payments(http, k))
            for k in keys]  # fmt: skip


async def test_rounds_folded_into_the_documents_read_the_same_and_rebuild_equal(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey],
    settings: Settings, mongodb_uri: str,  # noqa: F811
) -> None:  # fmt: skip
    platform: Platform = app.state.platform
    operator = demo_keys["operator"]
    ada = await _trader(app, http, demo_keys, "Ada")
    bo = await _trader(app, http, demo_keys, "Bo")
    keys = (ada, bo)
    await _ok(http, INDEX, {"p": "64000"}, operator)
    await _ok(http, ORDER, {"a": bo.account_id, "s": "SELL", "q": "0.1", "p": "64000"}, bo)
    await _ok(http, ORDER, {"a": ada.account_id, "s": "BUY", "q": "0.1", "p": "64000"}, ada)
    await _ok(http, ORDER, {"a": ada.account_id, "s": "BUY", "q": "0.001", "p": "65600"}, ada)
    await _ok(http, ORDER, {"a": bo.account_id, "s": "SELL", "q": "0.001", "p": "65800"}, bo)
    await _ok(http, INDEX, {"p": "65000"}, operator)
    rounds = [await _settle_round(platform), await _settle_round(platform)]
    before = await _reads(http, keys)
    ids = [f"{k.account_id}:USDT" for k in keys]
    stored_seqs = [d["seq"] async for d in platform.db.balances.find({"_id": {"$in": ids}})]
    assert len(stored_seqs) == 2 and max(stored_seqs) < rounds[0]  # not written by the rounds

    written = await platform.round_folding.run_once()

    # each position and balance document now holds its last round's state: read the same
    assert written >= 4  # two positions, two balances (and those of the test before)
    assert await _reads(http, keys) == before
    for key in keys:
        stored = await platform.db.positions.find_one({"account_id": key.account_id})
        balance = await platform.db.balances.find_one({"_id": f"{key.account_id}:USDT"})
        assert stored is not None and balance is not None
        assert stored["seq"] == balance["seq"] == rounds[-1]
    assert await platform.round_folding.run_once() == 0  # nothing new: nothing written
    # a round after the fold is applied on read, and folded by the next pass (a job that
    # waits for two rounds to apply leaves it)
    rounds.append(await _settle_round(platform))
    unfolded = await _reads(http, keys)
    assert unfolded != before
    projected = platform.writer.projections
    patient = RoundFolding(platform.read_models, platform.funding_folds(),
                           lambda: projected.projected_seq, lambda: 0, 0, min_rounds=2)  # fmt: skip
    await patient.run_once()  # its first pass: from the replay's start, whatever is pending
    assert await _reads(http, keys) == unfolded
    before = unfolded
    rounds.append(await _settle_round(platform))
    assert await patient.run_once() == 0  # one round pending: not worth a pass
    unfolded = await _reads(http, keys)
    assert await platform.round_folding.run_once() >= 4
    assert await _reads(http, keys) == unfolded
    for (was, _, _), (now, _, paid) in zip(before, unfolded, strict=True):
        assert was is not None and now is not None  # the latest round is in the realised PnL
        assert Decimal(now["realizedPnl"]) - Decimal(was["realizedPnl"]) == Decimal(
            str(paid[0]["amount"])
        )
        assert [p["sequence"] for p in paid] == sorted(rounds, reverse=True)

    report = await reconcile_platform(platform)
    assert report.clean, (report.differences, report.conservation)
    # the live side folded, the rebuilt one folded by the rebuild: document by document equal
    rebuilt = await rebuild(settings, mongodb_uri, f"rebuild_{uuid.uuid4().hex[:12]}")
    assert rebuilt.clean, rebuilt.examples
    assert not rebuilt.moved


async def test_funding_payments_stored_one_per_payment_are_migrated_into_round_entries(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey],
    settings: Settings, mongodb_uri: str,  # noqa: F811
) -> None:  # fmt: skip
    platform: Platform = app.state.platform
    operator = demo_keys["operator"]
    ada = await _trader(app, http, demo_keys, "Ada")
    bo = await _trader(app, http, demo_keys, "Bo")
    keys = (ada, bo)
    await _ok(http, INDEX, {"p": "64000"}, operator)
    await _ok(http, ORDER, {"a": bo.account_id, "s": "SELL", "q": "0.1", "p": "64000"}, bo)
    await _ok(http, ORDER, {"a": ada.account_id, "s": "BUY", "q": "0.1", "p": "64000"}, ada)
    await _ok(http, INDEX, {"p": "65000"}, operator)
    for _ in range(2):
        await _settle_round(platform)
    before = await _reads(http, keys)
    assert all(len(paid) == 2 for _, _, paid in before)
    # the store as the code before rounds per market left it: every position's document
    # written by the round, and one funding_payments document per payment (its id's
    # ordinal counted the batch's events, not the round's payments)
    await platform.round_folding.run_once()
    written = [doc async for doc in platform.db.funding_rounds.find({})]
    legacy = [
        funding_document(payment(doc, account, {**entry, "o": 3 * int(entry["o"]) + 7}))
        for doc in written for account, entry in doc["entries"].items()
    ]  # fmt: skip
    await platform.db.funding_rounds.delete_many({})
    await platform.db[LEGACY_PAYMENTS].insert_many(legacy)
    assert all(not paid for _, _, paid in await _reads(http, keys))

    assert await platform.migrate_funding_payments() == len(written)

    assert await _reads(http, keys) == before  # the same payments, ids and all
    names = await platform.db.list_collection_names()
    assert LEGACY_PAYMENTS not in names and MIGRATED_PAYMENTS in names
    assert await platform.db[MIGRATED_PAYMENTS].count_documents({}) == len(legacy)
    assert await platform.migrate_funding_payments() == 0  # once
    # what the projector wrote, without the positions' states (those are in their documents)
    migrated = {doc["_id"]: doc async for doc in platform.db.funding_rounds.find({})}
    assert migrated == {
        doc["_id"]: {**doc, "migrated": True, "entries": {
            account: {k: v for k, v in entry.items() if k != "p"}
            for account, entry in doc["entries"].items()}}
        for doc in written
    }  # fmt: skip
    rebuilt = await rebuild(settings, mongodb_uri, f"rebuild_{uuid.uuid4().hex[:12]}")
    assert rebuilt.clean, rebuilt.examples
    assert not rebuilt.moved
