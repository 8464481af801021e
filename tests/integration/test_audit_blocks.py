"""The audit trail's block storage against the embedded store: group commits, concurrent
writers on one chain, paging across blocks, retention by block."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import pytest_asyncio

from domains.compliance.audit import AuditEntry
from domains.compliance.audit_trail import INDEXES, AuditTrail
from domains.shared.mongo import Database, ensure_indexes

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def db(scratch_db: Database) -> Database:
    await ensure_indexes(scratch_db, INDEXES)
    return scratch_db


def _entry(tenant: str, n: int, at: dt.datetime | None = None) -> AuditEntry:
    operation = "mutation placeOrder" if n % 3 else "mutation cancelOrder"
    return AuditEntry(tenant_id=tenant, actor=f"key_{n}", role="TRADER",
                      at=at or dt.datetime.now(dt.UTC), source_ip="127.0.0.1",
                      operation=operation, outcome="OK", request_id=f"r{n}",
                      arguments={"n": n})  # fmt: skip


async def test_a_group_commit_is_one_block_and_every_caller_gets_its_position(
    db: Database,
) -> None:
    trail = AuditTrail(db)
    positions = await asyncio.gather(*(trail.append(_entry("t1", i)) for i in range(40)))
    assert sorted(positions) == list(range(1, 41))
    blocks = [b async for b in db.audit_trail.find({"tenant_id": "t1"}).sort("n", 1)]
    assert len(blocks) < 40  # grouped: far fewer documents than records
    assert [r["n"] for b in blocks for r in b["entries"]] == list(range(1, 41))
    assert all(b["last"] == b["entries"][-1]["n"] for b in blocks)
    assert (await trail.verify("t1")).intact


async def test_two_writers_on_one_chain_never_share_a_position(db: Database) -> None:
    first, second = AuditTrail(db), AuditTrail(db)  # two processes' trails, one store
    await first.append(_entry("t2", 0))
    await second.append(_entry("t2", 1))  # the second writer learns the head from the store
    results = await asyncio.gather(
        *(trail.append(_entry("t2", i)) for i in range(2, 62) for trail in (first, second))
    )
    assert sorted(results) == list(range(3, 123))
    verification = await first.verify("t2")
    assert verification.intact and verification.checked == 122


async def test_equal_entries_from_two_writers_are_both_kept_never_taken_for_a_lost_reply(
    db: Database,
) -> None:
    # the same actor, operation and millisecond after the same head hash the same: the
    # second block must not count as the first writer's retried write (CI saw both trails
    # answer 3..62 when their batches lined up)
    first, second = AuditTrail(db), AuditTrail(db)
    at = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    assert await first.append(_entry("t4", 0, at)) == 1
    assert await second.append(_entry("t4", 1, at)) == 2  # first still believes the head is 1
    # first: duplicate at 2, reloads the head, chains after 2, where second already wrote the
    # same record after the same hash
    same = _entry("t4", 2, at)
    results = await asyncio.gather(first.append(same), second.append(same))
    assert sorted(results) == [3, 4]
    verification = await first.verify("t4")
    assert verification.intact and verification.checked == 4


async def test_records_page_newest_first_across_blocks_and_filter_by_operation(
    db: Database,
) -> None:
    trail = AuditTrail(db)
    for start in range(0, 30, 10):  # three flushes, three blocks
        await asyncio.gather(*(trail.append(_entry("t3", i)) for i in range(start, start + 10)))
    newest = await trail.records("t3", 12, None)
    assert [r["n"] for r in newest] == list(range(30, 18, -1))
    page = await trail.records("t3", 5, newest[-1]["n"])
    assert [r["n"] for r in page] == list(range(18, 13, -1))
    cancels = await trail.records("t3", 100, None, "mutation cancelOrder")
    assert cancels and all(r["operation"] == "mutation cancelOrder" for r in cancels)
    assert [r["n"] for r in cancels] == sorted((r["n"] for r in cancels), reverse=True)


async def test_retention_deletes_whole_blocks_and_the_rest_verifies(db: Database) -> None:
    trail = AuditTrail(db)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=3000)
    await asyncio.gather(*(trail.append(_entry("t4", i, old)) for i in range(5)))
    await asyncio.gather(*(trail.append(_entry("t4", i)) for i in range(5, 8)))
    assert await trail.purge_expired("t4", dt.datetime.now(dt.UTC)) == 5
    verification = await trail.verify("t4")
    assert verification.intact and verification.checked == 3 and verification.first_n == 6
