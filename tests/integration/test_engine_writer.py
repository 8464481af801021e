"""The engine writer over the real journal: group commit, durability, recovery."""

from __future__ import annotations

import asyncio
import hashlib

import numpy as np
import pytest
import pytest_asyncio

from domains.shared.engine_port import Submitted
from domains.shared.mongo import Database, ensure_indexes
from engine import codes
from engine import commands as cmd
from engine.core import Engine, SnapshotError
from engine.layout import EngineConfig, Records
from graph.writer.idempotency import DuplicateCommandError
from graph.writer.journal import INDEXES, MongoJournal
from graph.writer.sequencer import EngineWriter

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]

CONFIG = EngineConfig(max_markets=2, max_accounts=64, max_assets=4, max_orders=1000)
BTC, USDT, FEES = 1, 2, 0


@pytest_asyncio.fixture(loop_scope="session")
async def db(scratch_db: Database) -> Database:
    await ensure_indexes(scratch_db, INDEXES)
    return scratch_db


async def _writer(db: Database, snapshot_every: int = 200_000) -> EngineWriter:
    writer = EngineWriter(MongoJournal(db), CONFIG, snapshot_every=snapshot_every)
    await writer.start()
    return writer


def _deposit(account: int, amount: int) -> Records:
    return cmd.deposit_credit(0, 0, account=account, asset=USDT, amount_minor=amount)


def _orders(n: int) -> list[Records]:
    out = []
    for i in range(n):
        side = codes.BUY if i % 2 else codes.SELL
        out.append(
            cmd.place(
                0,
                0,
                order_id=1000 + i,
                account=1 + i % 4,
                market=0,
                side=side,
                price_ticks=100 + i % 3,
                qty_lots=1 + i % 5,
            )
        )
    return out


async def _setup_market(writer: EngineWriter) -> None:
    await writer.submit(
        cmd.add_market(0, 0, market=0, base_asset=BTC, quote_asset=USDT, base_per_lot=1,
                       quote_per_tick_lot=1, fee_account=FEES, reference_price_ticks=100)
    )  # fmt: skip
    for account in range(1, 5):
        await writer.submit(_deposit(account, 10**9))
        await writer.submit(
            cmd.deposit_credit(0, 0, account=account, asset=BTC, amount_minor=10**6)
        )


async def test_concurrent_commands_are_group_committed_and_each_caller_gets_its_events(
    db: Database,
) -> None:
    writer = await _writer(db)
    events = await asyncio.gather(*(writer.submit(_deposit(1 + i % 8, 10 + i)) for i in range(500)))
    await writer.stop()
    assert writer.stats.commands == 500
    assert writer.stats.batches < 50, "commands queued during a journal write share a batch"
    assert all(
        e.events is not None
        and list(e.events["kind"]) == [codes.EV_ACCEPTED, codes.EV_BALANCE_CHANGED]
        for e in events
    )
    seqs = [e.seq for e in events]
    assert sorted(seqs) == list(range(1, 501))
    assert await MongoJournal(db).last_seq() == 500


async def test_a_restarted_writer_replays_to_the_identical_state(db: Database) -> None:
    writer = await _writer(db)
    await _setup_market(writer)
    await asyncio.gather(*(writer.submit(c) for c in _orders(300)))
    expected_hash, expected_seq = writer.engine.state_hash(), writer.engine.last_seq
    await writer.stop()
    again = await _writer(db)
    assert again.engine.state_hash() == expected_hash
    assert again.engine.last_seq == expected_seq and again.stats.replayed == expected_seq
    await again.stop()


async def test_recovery_starts_from_the_latest_snapshot_and_replays_only_the_rest(
    db: Database,
) -> None:
    writer = await _writer(db, snapshot_every=10**9)
    await _setup_market(writer)
    await asyncio.gather(*(writer.submit(c) for c in _orders(100)))
    await writer.snapshot_now()
    snapshot_seq = writer.engine.last_seq
    await asyncio.gather(*(writer.submit(_deposit(2, 5)) for _ in range(7)))
    expected = writer.engine.state_hash()
    await writer.stop()
    again = await _writer(db)
    assert again.engine.state_hash() == expected
    assert again.stats.replayed == again.engine.last_seq - snapshot_seq == 7
    await again.stop()


async def test_a_snapshot_of_an_older_engine_version_is_skipped_and_the_journal_replayed(
    db: Database,
) -> None:
    """After an engine layout change (SNAPSHOT_VERSION bumped) a stored snapshot cannot be
    read: the writer starts anyway, from the whole journal, at the same state."""
    writer = await _writer(db, snapshot_every=10**9)
    await _setup_market(writer)
    await asyncio.gather(*(writer.submit(c) for c in _orders(40)))
    expected, last = writer.engine.state_hash(), writer.engine.last_seq
    await writer.stop()
    body = bytearray(writer.engine.snapshot()[:-32])
    body[8:12] = (1).to_bytes(4, "little")  # the header's version field: version 1
    old_format = bytes(body) + hashlib.blake2b(bytes(body), digest_size=32).digest()
    with pytest.raises(SnapshotError, match="version 1"):
        Engine.restore(old_format)
    await MongoJournal(db).save_snapshot(last, expected, old_format)
    again = await _writer(db)
    assert again.engine.state_hash() == expected
    assert again.stats.replayed == last  # everything, from the first command
    await again.stop()


class FailingJournal(MongoJournal):
    async def append(self, batch: Records, notes: dict[int, dict[str, str]] | None = None) -> None:
        raise OSError("disk full")


async def test_a_failed_journal_write_fails_the_callers_and_changes_nothing(
    db: Database,
) -> None:
    writer = EngineWriter(FailingJournal(db), CONFIG)
    await writer.start()
    before = writer.engine.state_hash()
    with pytest.raises(OSError, match="disk full"):
        await writer.submit(_deposit(1, 100))
    assert writer.engine.state_hash() == before
    await writer.stop()


async def test_listeners_see_every_batch_in_sequence_order(db: Database) -> None:
    writer = await _writer(db)
    seen: list[int] = []

    async def listener(batch: Records, events: Records, notes: dict[int, dict[str, str]]) -> None:
        seen.extend(int(s) for s in batch["seq"])

    writer.add_listener(listener)
    start = writer.engine.last_seq
    await asyncio.gather(*(writer.submit(_deposit(3, 1)) for _ in range(50)))
    await writer.stop()
    assert seen == list(range(start + 1, start + 51))
    assert np.all(np.diff(seen) == 1)


def _tagged_order(tag: int, qty: int = 1, account: int = 1) -> Records:
    return cmd.place(0, 0, order_id=0, account=account, market=0, side=codes.BUY,
                     price_ticks=90, qty_lots=qty, client_tag=tag)  # fmt: skip


async def test_a_retried_order_executes_once_and_gets_the_original_answer(db: Database) -> None:
    writer = await _writer(db)
    await _setup_market(writer)
    first = await writer.submit(_tagged_order(77))
    journaled = await MongoJournal(db).last_seq()
    retry = await writer.submit(_tagged_order(77))
    assert retry.replayed and retry.seq == first.seq and not first.replayed
    assert retry.events is not None and first.events is not None
    assert retry.events.tolist() == first.events.tolist()
    assert await MongoJournal(db).last_seq() == journaled, "a retry is not journaled"
    order = writer.engine.order_state(first.seq)
    assert order is not None, "a new order's id is its sequence number"
    with pytest.raises(DuplicateCommandError):
        await writer.submit(_tagged_order(77, qty=2))
    await writer.stop()


async def test_concurrent_duplicates_in_one_batch_execute_once(db: Database) -> None:
    writer = await _writer(db)
    await _setup_market(writer)
    answers = await asyncio.gather(
        *(writer.submit(_tagged_order(5, account=2)) for _ in range(20)), return_exceptions=True
    )
    submitted = [a for a in answers if isinstance(a, Submitted)]
    assert len(submitted) == 20 and len({a.seq for a in submitted}) == 1
    assert sum(1 for a in submitted if not a.replayed) == 1
    await writer.stop()


async def test_the_window_survives_a_restart_with_and_without_a_snapshot(db: Database) -> None:
    writer = await _writer(db, snapshot_every=10**9)
    await _setup_market(writer)
    before_snapshot = await writer.submit(_tagged_order(901, account=3))
    await writer.snapshot_now()
    after_snapshot = await writer.submit(_tagged_order(902, account=3))
    await writer.stop()
    again = await _writer(db)
    old = await again.submit(_tagged_order(901, account=3))
    new = await again.submit(_tagged_order(902, account=3))
    assert old.replayed and old.seq == before_snapshot.seq and old.events is None
    assert new.replayed and new.seq == after_snapshot.seq and new.events is not None
    await again.stop()


async def test_stopping_during_a_journal_write_answers_every_caller(db: Database) -> None:
    """A writer stopped while its batch is being journaled fails the callers (UNAVAILABLE,
    outcome unknown) instead of leaving them waiting forever."""
    from graph.writer.sequencer import WriterStoppedError

    class SlowJournal(MongoJournal):
        async def append(
            self, batch: Records, notes: dict[int, dict[str, str]] | None = None
        ) -> None:
            await asyncio.sleep(3600)

    writer = EngineWriter(SlowJournal(db), CONFIG)
    await writer.start()
    pending = asyncio.create_task(writer.submit(_deposit(1, 5)))
    await asyncio.sleep(0.05)
    await writer.stop()
    with pytest.raises(WriterStoppedError):
        await asyncio.wait_for(pending, timeout=2)
