"""The writer when the store fails under a journal write or a read model: a lost reply, a
write that never landed, a store that hangs. Nothing applied twice, nothing wedged, every
caller answered (UNAVAILABLE when the outcome is unknown), no hole in a read model."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pytest
import pytest_asyncio
from pymongo import AsyncMongoClient
from pymongo.errors import AutoReconnect

from domains.shared.mongo import Database, ensure_indexes
from engine import commands as cmd
from engine.layout import COMMAND_DTYPE, EVENT_DTYPE, EngineConfig, Records
from graph.ops.faultproxy import FaultProxy
from graph.writer.journal import INDEXES, MongoJournal
from graph.writer.projections import ProjectionPipeline
from graph.writer.sequencer import EngineWriter, JournalUnavailableError

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]

CONFIG = EngineConfig(max_markets=2, max_accounts=64, max_assets=4, max_orders=1000)
USDT = 2


@pytest_asyncio.fixture(loop_scope="session")
async def db(scratch_db: Database) -> Database:
    await ensure_indexes(scratch_db, INDEXES)
    return scratch_db


def _deposit(amount: int) -> Records:
    return cmd.deposit_credit(0, 0, account=1, asset=USDT, amount_minor=amount)


class LostReplyJournal(MongoJournal):
    """The first append lands in the store, then its reply is lost (connection reset)."""

    failures = 1

    async def append(self, batch: Records, notes: dict[int, dict[str, str]] | None = None) -> None:
        await super().append(batch, notes)
        if self.failures:
            self.failures -= 1
            raise AutoReconnect("connection reset by peer")


class NeverLandedJournal(MongoJournal):
    """The first two appends fail before reaching the store."""

    failures = 2

    async def append(self, batch: Records, notes: dict[int, dict[str, str]] | None = None) -> None:
        if self.failures:
            self.failures -= 1
            raise AutoReconnect("connection refused")
        await super().append(batch, notes)


class HangingJournal(MongoJournal):
    """Appends wait until ``release`` is set (a blackholed store link), then land."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.release = asyncio.Event()

    async def append(self, batch: Records, notes: dict[int, dict[str, str]] | None = None) -> None:
        await self.release.wait()
        await super().append(batch, notes)


async def _balance(writer: EngineWriter) -> int:
    return writer.engine.balance(1, USDT)[0]


async def test_a_journal_write_whose_reply_was_lost_is_applied_once_and_the_writer_goes_on(
    db: Database,
) -> None:
    writer = EngineWriter(LostReplyJournal(db), CONFIG)
    await writer.start()
    first = await asyncio.wait_for(writer.submit(_deposit(100)), 10)  # landed: found there
    second = await asyncio.wait_for(writer.submit(_deposit(5)), 10)  # no collision, no wedge
    assert second.seq == first.seq + 1
    assert await _balance(writer) == 105
    assert await MongoJournal(db).last_seq() == writer.engine.last_seq
    await writer.stop()


async def test_a_journal_write_that_never_landed_is_written_again_before_anything_else(
    db: Database,
) -> None:
    writer = EngineWriter(NeverLandedJournal(db), CONFIG)
    await writer.start()
    start = writer.engine.last_seq
    answers = await asyncio.wait_for(
        asyncio.gather(*(writer.submit(_deposit(1)) for _ in range(3))), 10
    )
    assert sorted(a.seq for a in answers) == [start + 1, start + 2, start + 3]
    replayed = [batch async for batch, _ in MongoJournal(db).batches_after(start)]
    assert sum(len(b) for b in replayed) == 3, "each command journaled once"
    await writer.stop()


async def test_callers_of_a_hanging_journal_write_get_unavailable_and_it_still_lands(
    db: Database,
) -> None:
    journal = HangingJournal(db)
    writer = EngineWriter(journal, CONFIG)
    writer.unknown_after_s = 0.2
    journal.release.set()
    await writer.start()
    journal.release.clear()
    before = await _balance(writer)
    with pytest.raises(JournalUnavailableError) as raised:
        await asyncio.wait_for(writer.submit(_deposit(7)), 10)
    assert raised.value.extensions["code"] == "UNAVAILABLE"
    journal.release.set()  # the store answers again: the unknown command did run
    after = await asyncio.wait_for(writer.submit(_deposit(1)), 10)
    assert await _balance(writer) == before + 8
    assert after.seq == writer.engine.last_seq == await MongoJournal(db).last_seq()
    await writer.stop()


async def test_a_read_model_whose_store_write_failed_is_retried_not_skipped() -> None:
    written: list[int] = []
    failures = [2]

    async def flaky_read_model(commands: Records, events: Records, notes: object) -> None:
        if failures[0]:
            failures[0] -= 1
            raise AutoReconnect("store unavailable")
        written.extend(int(s) for s in commands["seq"])

    async def broken_read_model(commands: Records, events: Records, notes: object) -> None:
        raise ValueError("a bug, not a store fault")

    pipeline = ProjectionPipeline([flaky_read_model, broken_read_model])
    batch = np.zeros(2, dtype=COMMAND_DTYPE)
    batch["seq"] = [1, 2]
    pipeline.push(batch, np.zeros(0, EVENT_DTYPE), {})
    await asyncio.wait_for(pipeline.drain(), 5)
    assert written == [1, 2], "retried until the store answered"
    assert pipeline.projected_seq == 2, "a failure that is not the store's is logged, skipped"
    await pipeline.stop()


async def _heal_later(proxy: FaultProxy, seconds: float) -> None:
    await asyncio.sleep(seconds)
    await proxy.heal()


async def test_a_journal_read_whose_connection_resets_resumes_after_the_last_batch_read(
    db: Database, mongodb_uri: str
) -> None:
    """Recovery and replicas read the journal through a cursor; a reset under it (the
    driver never retries a getMore) resumes where it was instead of ending the process."""
    journal = MongoJournal(db)
    for seq in range(1, 301):
        batch = np.zeros(1, dtype=COMMAND_DTYPE)
        batch["seq"] = seq
        await journal.append(batch)
    port = urlsplit(mongodb_uri).port
    assert port is not None
    async with FaultProxy(port) as proxy:
        proxied = urlsplit(mongodb_uri)._replace(netloc=f"127.0.0.1:{proxy.port}").geturl()
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(proxied)
        through = MongoJournal(client[db.name])
        seqs: list[int] = []
        healing: list[asyncio.Task[None]] = []
        async for batch, _ in through.batches_after(0):
            seqs.extend(int(s) for s in batch["seq"])
            if len(seqs) == 1:  # the next getMore's answer is lost, then its connection reset
                proxy.lose_replies()
                healing.append(asyncio.create_task(_heal_later(proxy, 0.3)))
        await asyncio.gather(*healing)
        assert proxy.connections_reset >= 1
        await client.close()
    assert seqs == list(range(1, 301))


class FlakyStartJournal(MongoJournal):
    """The first two reads of the journal's head fail on the connection (a failover)."""

    failures = 2

    async def last_seq(self) -> int:
        if self.failures:
            self.failures -= 1
            raise AutoReconnect("connection reset by peer")
        return await super().last_seq()


async def test_a_writer_starting_while_the_store_fails_over_recovers_instead_of_exiting(
    db: Database,
) -> None:
    first = EngineWriter(MongoJournal(db), CONFIG)
    await first.start()
    await first.submit(_deposit(9))
    await first.stop()
    again = EngineWriter(FlakyStartJournal(db), CONFIG)
    await asyncio.wait_for(again.start(), 10)
    assert await _balance(again) == 9
    await again.stop()
