"""The fast tier of `make soak` (graph/ops/soak.py): 5 SIGKILLs of the writer under order
load, each restarted, then a standby taking over from a killed writer. Nothing acknowledged
is lost or applied twice, retries are replays, a fresh replay of the journal ends at the
writer's state hash, the books reconcile. The store-link faults run in `make soak` and in
tests/e2e/test_faults.py; here the kills alone, so the tier stays within two minutes.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from graph.ops.soak import SoakConfig, run_soak
from graph.ops.soak_checks import check_orders

pytestmark = [pytest.mark.e2e, pytest.mark.store, pytest.mark.slow]

LEASE_S = 3.0


async def test_five_writer_kills_and_a_takeover_lose_no_acknowledged_order(
    mongodb_uri: str, tmp_path: Path
) -> None:
    config = SoakConfig(kills=5, seed=17, lease_s=LEASE_S, faults=False, stress_commands=0,
                        max_gap_s=1.0, retry_sample=20)  # fmt: skip
    result = await asyncio.to_thread(run_soak, config, mongodb_uri, None, tmp_path)
    print(f"\n{result.line()}; {result.acknowledged} acknowledged of {result.submitted}, "
          f"{result.unknown_ran} unknown then ran, {result.unknown_not_run} unknown then did "
          f"not; takeover {result.takeover_s:.2f} s (target {LEASE_S + 2:g} s); restarts up to "
          f"{max(result.restart_s):.1f} s; {result.wall_s:.0f} s")  # fmt: skip

    assert result.problems == []
    assert result.kills == 6 and result.lost == 0
    assert result.acknowledged > 100 and result.unknown > 0, "kills cut requests in flight"
    assert result.takeover_s is not None and result.takeover_s < LEASE_S + 5
    assert result.line().startswith("soak: 6 kills, 0 faults, ")

    # the checker can fail: an acknowledged order's record deleted is reported lost
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    db = client[result.database]
    victim = sorted(result.acked)[len(result.acked) // 3]
    await db.orders.delete_one({"_id": result.acked[victim]})
    check = await check_orders(db, result.run_id, result.acked, result.resolution)
    assert check.lost == [victim]
    await client.drop_database(result.database)
    await client.close()
