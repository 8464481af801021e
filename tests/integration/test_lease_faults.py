"""The writer lease when the store does not answer a renewal: kept while it is surely still
ours, given up before it can lapse, and lost at once to another owner."""

from __future__ import annotations

import asyncio
import time

import pytest
from pymongo.errors import AutoReconnect

from domains.shared.mongo import Database
from graph.writer.lease import MongoLease

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]


class FlakyLease(MongoLease):
    """Renewals fail while ``failing`` is set (the store away), or hang when ``hanging``."""

    failing = False
    hanging = False

    async def acquire(self) -> bool:
        if self.hanging:
            await asyncio.sleep(3600)
        if self.failing:
            raise AutoReconnect("connection refused")
        return await super().acquire()


async def test_a_renewal_the_store_misses_is_retried_and_the_lease_kept(
    scratch_db: Database,
) -> None:
    lease = FlakyLease(scratch_db, ttl_s=1.5)
    assert await lease.acquire()
    lost: list[float] = []
    lease.keep(on_lost=lambda: lost.append(time.monotonic()))
    await asyncio.sleep(0.3)
    lease.failing = True  # the renewal at ttl/3 (0.5 s) fails, the retries too ...
    await asyncio.sleep(0.6)
    lease.failing = False  # ... until the store answers, before the lease could lapse
    await asyncio.sleep(1.2)
    assert lost == []
    stored = await scratch_db.engine_leases.find_one({"_id": lease.name})
    assert stored is not None and stored["owner"] == lease.owner
    await lease.release()


async def test_a_lease_whose_renewals_hang_is_given_up_as_it_lapses(
    scratch_db: Database,
) -> None:
    lease = FlakyLease(scratch_db, ttl_s=1.5)
    assert await lease.acquire()
    held_until = lease.held_until
    lease.hanging = True
    lost = asyncio.Event()
    lease.keep(on_lost=lost.set)
    await asyncio.wait_for(lost.wait(), 3)
    # (a tenth of the TTL before it lapses, give or take the event loop's lag; a standby
    # polls every third of the TTL after that)
    assert time.monotonic() < held_until + lease.ttl_s / 3, "kept writing on a lapsed lease"
    lease.hanging = False
    await lease.release()


async def test_a_lease_another_owner_took_is_lost_at_the_next_renewal(
    scratch_db: Database,
) -> None:
    lease = MongoLease(scratch_db, ttl_s=0.9)
    assert await lease.acquire()
    await scratch_db.engine_leases.update_one({"_id": lease.name}, {"$set": {"owner": "other"}})
    lost = asyncio.Event()
    lease.keep(on_lost=lost.set)
    await asyncio.wait_for(lost.wait(), 2)


async def test_keeping_a_lease_a_slow_takeover_used_up_renews_it_first(
    scratch_db: Database,
) -> None:
    lease = FlakyLease(scratch_db, ttl_s=1.5)
    assert await lease.acquire()
    await asyncio.sleep(1.3)  # catching up with the journal took most of the lease
    lost: list[float] = []
    lease.keep(on_lost=lambda: lost.append(time.monotonic()))
    await asyncio.sleep(1.0)
    assert lost == [], "a renewal confirmed late is still a renewal"
    await lease.release()
