"""Index declarations against the embedded store: created, and retired ones dropped."""

from __future__ import annotations

import pytest
from pymongo import ASCENDING, IndexModel

from domains.shared.mongo import CollectionIndexes, Database, ensure_indexes
from graph.writer.ledger import INDEXES as LEDGER_INDEXES

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]


async def _names(db: Database, collection: str) -> set[str]:
    return {index["name"] async for index in await db[collection].list_indexes()}


async def test_a_retired_index_is_dropped_and_a_second_run_changes_nothing(
    scratch_db: Database,
) -> None:
    old = IndexModel([("postings.account_id", ASCENDING), ("postings.asset", ASCENDING)])
    await ensure_indexes(scratch_db, (CollectionIndexes("ledger_entries", (old,)),))
    assert "postings.account_id_1_postings.asset_1" in await _names(scratch_db, "ledger_entries")
    for _ in range(2):
        await ensure_indexes(scratch_db, LEDGER_INDEXES)
        assert await _names(scratch_db, "ledger_entries") == {
            "_id_", "postings.account_id_1", "seq_1"
        }  # fmt: skip
