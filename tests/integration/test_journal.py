"""The command journal and snapshot store against the embedded store."""

from __future__ import annotations

import os

import numpy as np
import pytest
import pytest_asyncio

from domains.shared.mongo import Database, ensure_indexes
from engine.layout import COMMAND_DTYPE, Records
from graph.writer.journal import INDEXES, JournalGapError, MongoJournal

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def db(scratch_db: Database) -> Database:
    await ensure_indexes(scratch_db, INDEXES)
    return scratch_db


def _batch(first: int, n: int) -> Records:
    batch = np.zeros(n, dtype=COMMAND_DTYPE)
    batch["seq"] = np.arange(first, first + n)
    batch["amount"] = np.arange(n) * 7
    return batch


async def _replay(journal: MongoJournal, after: int) -> Records:
    batches = [b async for b, _ in journal.batches_after(after)]
    return np.concatenate(batches) if batches else np.zeros(0, COMMAND_DTYPE)


async def test_batches_come_back_in_order_with_every_field_identical(db: Database) -> None:
    journal = MongoJournal(db)
    batches = [_batch(1, 3), _batch(4, 1000), _batch(1004, 2)]
    for batch in batches:
        await journal.append(batch)
    assert await journal.last_seq() == 1005
    replayed, expected = await _replay(journal, 0), np.concatenate(batches)
    assert all(np.array_equal(replayed[f], expected[f]) for f in COMMAND_DTYPE.names or ())


async def test_replay_after_a_snapshot_inside_a_batch_starts_at_the_next_command(
    db: Database,
) -> None:
    journal = MongoJournal(db)
    start = await journal.last_seq()
    await journal.append(_batch(start + 1, 10))
    rest = await _replay(journal, start + 4)
    assert list(rest["seq"]) == list(range(start + 5, start + 11))


async def test_notes_travel_with_their_commands(db: Database) -> None:
    journal = MongoJournal(db)
    start = await journal.last_seq()
    await journal.append(_batch(start + 1, 3), {start + 2: {"client_order_id": "abc-1"}})
    replayed = [notes async for _, notes in journal.batches_after(start)]
    assert replayed == [{start + 2: {"client_order_id": "abc-1"}}]


async def test_a_gap_in_the_journal_is_refused(db: Database) -> None:
    journal = MongoJournal(db)
    start = await journal.last_seq()
    await journal.append(_batch(start + 3, 2))
    with pytest.raises(JournalGapError, match=f"expected seq {start + 1}"):
        await _replay(journal, start)


async def test_a_batch_with_non_consecutive_sequences_is_not_written(db: Database) -> None:
    journal = MongoJournal(db)
    batch = _batch(10_000, 3)
    batch["seq"][2] = 10_005
    with pytest.raises(ValueError, match="consecutive"):
        await journal.append(batch)


async def test_a_20_mb_snapshot_round_trips_and_the_newest_wins(db: Database) -> None:
    journal = MongoJournal(db)
    big = os.urandom(20 * 1024 * 1024)
    await journal.save_snapshot(5, "aa", b"old")
    await journal.save_snapshot(9, "bb", big)
    latest = await journal.latest_snapshot()
    assert latest is not None
    info, data = latest
    assert (info.last_seq, info.state_hash) == (9, "bb")
    assert data == big
