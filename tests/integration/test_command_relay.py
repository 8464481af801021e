"""The command relay on the real Redis and store: API-side bus -> stream -> writer -> reply."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from redis.asyncio import Redis

from domains.shared.mongo import Database, ensure_indexes
from engine import codes
from engine import commands as cmd
from engine.layout import EngineConfig, Records
from graph.writer import relay_wire as wire
from graph.writer.command_relay import (
    COMMANDS_STREAM,
    WRITERS_GROUP,
    CommandRelayConsumer,
    RedisCommandBus,
)
from graph.writer.idempotency import DuplicateCommandError
from graph.writer.journal import INDEXES, MongoJournal
from graph.writer.replica import EngineReplica, JournalNotifier
from graph.writer.sequencer import EngineWriter, WriterStoppedError
from subscriptions.redis_batches import RedisOutbox
from tests.conftest import REDIS_URL

pytestmark = [pytest.mark.store, pytest.mark.redis, pytest.mark.asyncio(loop_scope="session")]

CONFIG = EngineConfig(max_markets=2, max_accounts=64, max_assets=4, max_orders=1000)
BTC, USDT = 1, 2


@dataclass
class FakeDirectory:
    """Records which indices the writer side asked about."""

    accounts: set[int] = field(default_factory=set)
    markets: set[int] = field(default_factory=set)

    async def learn(self, accounts: Iterable[int], markets: Iterable[int]) -> None:
        self.accounts.update(accounts)
        self.markets.update(markets)


@dataclass
class Rig:
    """A writer with its relay consumer, and an API-side bus with its replica."""

    redis: Redis
    prefix: str
    journal: MongoJournal
    writer: EngineWriter
    replica: EngineReplica
    directory: FakeDirectory
    consumers: list[CommandRelayConsumer] = field(default_factory=list)
    buses: list[RedisCommandBus] = field(default_factory=list)

    async def consumer(self, name: str = "writer-1") -> CommandRelayConsumer:
        relay = CommandRelayConsumer(self.redis, self.writer, self.journal, self.directory,
                                     consumer=name, prefix=self.prefix)  # fmt: skip
        await relay.start()
        self.consumers.append(relay)
        return relay

    async def bus(self, timeout_s: float = 5.0) -> RedisCommandBus:
        bus = RedisCommandBus(self.redis, self.replica, prefix=self.prefix, timeout_s=timeout_s)
        await bus.start()
        self.buses.append(bus)
        return bus

    @property
    def stream(self) -> str:
        return self.prefix + COMMANDS_STREAM


@pytest_asyncio.fixture(loop_scope="session")
async def rig(scratch_db: Database) -> AsyncIterator[Rig]:
    await ensure_indexes(scratch_db, INDEXES)
    redis = Redis.from_url(REDIS_URL)
    prefix = f"test:relay:{uuid.uuid4().hex[:12]}:"
    journal = MongoJournal(scratch_db)
    writer = EngineWriter(journal, CONFIG)
    await writer.start()
    replica = EngineReplica(journal, CONFIG, poll_interval_s=0.05)
    await replica.start()
    setup = Rig(redis, prefix, journal, writer, replica, FakeDirectory())
    yield setup
    for consumer in setup.consumers:
        await consumer.stop()
    for bus in setup.buses:
        await bus.close()
    await replica.stop()
    await writer.stop()
    keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


def _deposit(account: int, amount: int, asset: int = USDT) -> Records:
    return cmd.deposit_credit(0, 0, account=account, asset=asset, amount_minor=amount)


def _market() -> Records:
    return cmd.add_market(0, 0, market=0, base_asset=BTC, quote_asset=USDT, base_per_lot=1,
                          quote_per_tick_lot=1, fee_account=0,
                          reference_price_ticks=100)  # fmt: skip


def _tagged_buy(price: int, tag: int = 77) -> Records:
    order = cmd.place(0, 0, order_id=0, account=1, market=0, side=codes.BUY,
                      price_ticks=price, qty_lots=1)  # fmt: skip
    order["client_tag"] = tag
    return order


async def test_a_relayed_command_is_journaled_by_the_writer_and_read_back_through_the_replica(
    rig: Rig,
) -> None:
    await rig.consumer()
    bus = await rig.bus()

    submitted = await bus.submit(_deposit(3, 500), {"by": "test"})

    assert submitted.seq == rig.writer.engine.last_seq == 1
    assert submitted.events is not None and int(submitted.events["code"][0]) == codes.OK
    assert bus.engine.balance(3, USDT) == (500, 0), "the caller reads its own write"
    assert 3 in rig.directory.accounts, "the writer learned the account index first"
    notes = [n async for n in rig.journal.notes_since(0)]
    assert notes[0][1]["by"] == "test" and wire.RELAY_NOTE in notes[0][1]


async def test_a_relayed_group_gets_contiguous_sequence_numbers_in_one_batch(rig: Rig) -> None:
    await rig.consumer()
    bus = await rig.bus()
    group = np.concatenate([_deposit(1, 10), _deposit(2, 20), _deposit(1, 30)])

    results = await bus.submit_many(group, [{"step": "a"}, None, {"step": "c"}])

    assert [r.seq for r in results] == [1, 2, 3]
    assert rig.writer.stats.batches == 1
    assert bus.engine.balance(1, USDT) == (40, 0)
    with pytest.raises(ValueError, match="no client tag"):
        await bus.submit_many(_tagged_buy(100))


async def test_many_concurrent_relayed_commands_are_each_answered_and_share_batches(
    rig: Rig,
) -> None:
    await rig.consumer()
    bus = await rig.bus()

    results = await asyncio.gather(*(bus.submit(_deposit(1 + i % 4, 1 + i)) for i in range(200)))

    assert sorted(r.seq for r in results) == list(range(1, 201))
    assert rig.writer.stats.batches < 100, "relayed commands are group committed too"
    assert bus.engine.state_hash() == rig.writer.engine.state_hash()


async def test_a_reused_client_order_id_is_a_duplicate_error_with_the_original_seq(
    rig: Rig,
) -> None:
    await rig.consumer()
    bus = await rig.bus()
    await bus.submit(_market())
    await bus.submit(_deposit(1, 10**6))
    first = await bus.submit(_tagged_buy(100))

    retry = await bus.submit(_tagged_buy(100))
    with pytest.raises(DuplicateCommandError) as refused:
        await bus.submit(_tagged_buy(101))

    assert retry.replayed and retry.seq == first.seq
    assert refused.value.original_seq == first.seq
    assert len(bus.engine.open_orders(1, 0)) == 1


async def test_without_a_writer_the_caller_gets_unavailable_and_the_stale_request_is_skipped(
    rig: Rig,
) -> None:
    bus = await rig.bus(timeout_s=0.3)

    with pytest.raises(WriterStoppedError, match="did not answer within"):
        await bus.submit(_deposit(1, 5))
    await rig.consumer()  # a writer arrives after the caller gave up
    await asyncio.sleep(0.3)

    assert rig.writer.stats.commands == 0, "a request past its deadline never runs"
    pending = await rig.redis.xpending(rig.stream, WRITERS_GROUP)
    assert pending["pending"] == 0, "skipped requests are acknowledged"


async def test_a_stopped_writer_answers_unavailable(rig: Rig) -> None:
    await rig.consumer()
    bus = await rig.bus()
    await rig.writer.stop()

    with pytest.raises(WriterStoppedError, match="does not run the engine writer"):
        await bus.submit(_deposit(1, 5))


async def _read_without_acknowledging(rig: Rig, consumer: str) -> wire.RelayRequest:
    """A writer that read a request and died before answering it."""
    await rig.redis.xgroup_create(rig.stream, WRITERS_GROUP, id="0", mkstream=True)
    for _ in range(100):
        answer: Any = await rig.redis.xreadgroup(
            WRITERS_GROUP, consumer, {rig.stream: ">"}, count=1
        )
        if answer:
            return wire.RelayRequest.from_fields(answer[0][1][0][1])
        await asyncio.sleep(0.02)
    raise AssertionError("the request never reached the stream")


async def test_a_new_writer_executes_what_the_previous_one_read_but_never_answered(
    rig: Rig,
) -> None:
    bus = await rig.bus()
    call = asyncio.create_task(bus.submit(_deposit(4, 900)))
    await _read_without_acknowledging(rig, "dead-writer")

    await rig.consumer("new-writer")
    submitted = await call

    assert submitted.seq == 1 and not submitted.replayed
    assert bus.engine.balance(4, USDT) == (900, 0)
    pending = await rig.redis.xpending(rig.stream, WRITERS_GROUP)
    assert pending["pending"] == 0


async def test_a_request_journaled_before_its_writer_died_is_answered_without_running_twice(
    rig: Rig,
) -> None:
    bus = await rig.bus()
    call = asyncio.create_task(bus.submit(_deposit(5, 250)))
    request = await _read_without_acknowledging(rig, "dead-writer")
    journaled = await rig.writer.submit(request.commands, request.journal_notes()[0])

    await rig.consumer("new-writer")
    submitted = await call

    assert submitted.seq == journaled.seq and submitted.replayed
    assert rig.writer.stats.commands == 1, "executed once"
    assert bus.engine.balance(5, USDT) == (250, 0)


async def test_the_replica_follows_the_writer_on_redis_notifications(rig: Rig) -> None:
    slow = EngineReplica(rig.journal, CONFIG, poll_interval_s=60)
    await slow.start(redis=rig.redis, prefix=rig.prefix)
    outbox = RedisOutbox(rig.redis, "test-fanout")
    rig.writer.add_listener(JournalNotifier(outbox, rig.prefix))
    await asyncio.sleep(0.1)  # subscribed
    try:
        submitted = await rig.writer.submit(_deposit(6, 42))
        for _ in range(100):
            if slow.last_seq >= submitted.seq:
                break
            await asyncio.sleep(0.02)
        assert slow.last_seq == submitted.seq, "woken by the notification, not the 60 s poll"
        assert slow.engine.state_hash() == rig.writer.engine.state_hash()
    finally:
        await slow.stop()


async def test_a_replica_continues_from_a_handed_over_engine(rig: Rig) -> None:
    await rig.writer.submit(_deposit(1, 1))
    await rig.writer.submit(_deposit(1, 2))
    handed = await rig.replica.stop()
    await rig.writer.submit(_deposit(1, 4))

    await rig.replica.start(handed)

    assert await rig.replica.wait_for(3, 2.0)
    assert rig.replica.engine is handed and handed.balance(1, USDT) == (7, 0)
