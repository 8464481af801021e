"""Exactly one engine writer per journal: the second process is a standby."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from domains.shared.errors import UnavailableError
from engine import commands as cmd
from graph.bootstrap import Platform
from graph.settings import Settings

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]


async def test_a_second_process_becomes_a_standby_and_takes_over_after_release(
    mongodb_uri: str,
) -> None:
    settings = Settings(mongodb_db=f"test_lease_{uuid.uuid4().hex[:8]}")
    first, second = Platform(settings, mongodb_uri), Platform(settings, mongodb_uri)
    await first.start()
    await second.start()
    try:
        assert (first.role, second.role) == ("writer", "standby")
        credit = cmd.deposit_credit(0, 0, account=1, asset=1, amount_minor=5)
        await first.writer.submit(credit)
        with pytest.raises(UnavailableError, match="does not run the engine writer"):
            await second.writer.submit(credit)
    finally:
        await first.close()
        await second.close()
    third = Platform(settings, mongodb_uri)
    await third.start()
    try:
        assert third.role == "writer"
        assert third.writer.engine.balance(1, 1) == (5, 0), "recovered the first writer's work"
    finally:
        await third.close()
        cleanup = Platform(settings, mongodb_uri)
        await cleanup.client.drop_database(settings.mongodb_db)
        await cleanup.client.close()


@pytest.mark.redis
async def test_a_writer_that_loses_the_lease_follows_as_standby_and_forwards_to_the_new_writer(
    mongodb_uri: str,
) -> None:
    from graph.writer.roles import ProcessBus
    from tests.conftest import REDIS_URL

    settings = Settings(mongodb_db=f"test_lease_{uuid.uuid4().hex[:8]}", redis_url=REDIS_URL,
                        writer_lease_seconds=1.0, replica_poll_seconds=0.05)  # fmt: skip
    first, second = Platform(settings, mongodb_uri), Platform(settings, mongodb_uri)
    await first.start()
    await second.start()
    try:
        bus: ProcessBus = first.engines.bus
        await bus.submit(cmd.deposit_credit(0, 0, account=1, asset=1, amount_minor=5))
        assert await second.engines.replica.wait_for(first.writer.engine.last_seq, 2.0), "follows"
        await first.lease.release()  # as if another process had taken it
        first._step_down()
        for _ in range(100):
            if second.role == "writer" and first.engines.replica.running:
                break
            await asyncio.sleep(0.05)
        assert (first.role, second.role) == ("standby", "writer")

        forwarded = await bus.submit(cmd.deposit_credit(0, 0, account=1, asset=1, amount_minor=7))

        assert forwarded.seq == second.engine_seq, "the old writer forwarded to the new one"
        assert bus.engine.balance(1, 1) == (12, 0) == second.engines.bus.engine.balance(1, 1)
    finally:
        await first.close()
        await second.close()
        cleanup = Platform(Settings(mongodb_db=settings.mongodb_db), mongodb_uri)
        await cleanup.client.drop_database(settings.mongodb_db)
        await cleanup.client.close()
        redis = Redis.from_url(REDIS_URL)
        keys = [key async for key in redis.scan_iter(match=f"{settings.relay_prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
