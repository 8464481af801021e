"""The engine directory against the embedded store: a new account's listeners (the wind-down
gives it its tenant's mode) run once, again after they failed, and in another process."""

from __future__ import annotations

import pytest

from domains.shared.engine_port import AccountRef
from domains.shared.mongo import Database
from graph.writer.engine_directory import MongoEngineDirectory

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]


def directory(db: Database) -> MongoEngineDirectory:
    return MongoEngineDirectory(db, max_accounts=64, max_assets=8, max_markets=8)


async def test_new_account_listeners_run_once_and_again_after_a_failure(
    scratch_db: Database,
) -> None:
    heard: list[AccountRef] = []
    failing = True

    async def listener(ref: AccountRef) -> None:
        if failing:
            raise ConnectionError("the writer is away")
        heard.append(ref)

    first = directory(scratch_db)
    first.on_new_account.append(listener)
    with pytest.raises(ConnectionError):
        await first.account_index("acc_1", "ten_a", "cus_1")
    failing = False
    index = await first.account_index("acc_1", "ten_a", "cus_1")  # the index is kept
    assert heard == [AccountRef(index, "acc_1", "ten_a", "cus_1")]
    assert await first.account_index("acc_1", "ten_a", "cus_1") == index
    other = directory(scratch_db)  # another process: announced already
    other.on_new_account.append(listener)
    await other.load()
    assert await other.account_index("acc_1", "ten_a", "cus_1") == index
    assert len(heard) == 1
    assert [r.account_id for r in await other.tenant_accounts("ten_a")] == ["acc_1"]
    assert await other.tenant_accounts("ten_b") == []


async def test_an_account_loaded_while_still_marked_is_announced_on_first_use(
    scratch_db: Database,
) -> None:
    heard: list[str] = []

    async def broken(ref: AccountRef) -> None:
        raise ConnectionError("down")

    async def listener(ref: AccountRef) -> None:
        heard.append(ref.account_id)

    crashed = directory(scratch_db)
    crashed.on_new_account.append(broken)
    with pytest.raises(ConnectionError):
        await crashed.account_index("acc_2", "ten_a", "cus_2")
    restarted = directory(scratch_db)
    restarted.on_new_account.append(listener)
    await restarted.load()
    index = await restarted.account_index("acc_2", "ten_a", "cus_2")
    assert heard == ["acc_2"] and restarted.account(index) is not None
