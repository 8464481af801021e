"""What a soak or fault run checks once it is over, as a client and in the store.

- ``resolve_unknown``: every outcome a client could not know is looked up by clientOrderId
  (``orderByClientOrderId``), as a client whose request timed out would;
- ``check_orders``: every acknowledged order is in the journal exactly once and in the
  orders read model exactly once under the id it was acknowledged with; every order the
  run journaled is in the read model; a lookup that found nothing means the journal has
  nothing either;
- ``check_replay``: a fresh engine replaying the whole journal ends with the state hash of
  the writer's last snapshot (taken at its orderly stop, after every crash and recovery),
  and each asset's balances, credits and debits are what they were when the run began;
- ``reconcile``: `caas reconcile` (engine, balance read model, ledger) agrees.

Each returns problems as sentences; no problem means the check passed.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field

import httpx

from domains.shared.mongo import Database
from graph.ops.order_load import OrderLoad
from graph.ops.servers import run_cli
from graph.writer.journal import MongoJournal

CHUNK = 500


@dataclass
class Resolution:
    """Unknown outcomes after the lookups: the ones that ran and the ones that did not."""

    found: dict[str, str] = field(default_factory=dict)  # clientOrderId -> order id
    absent: list[str] = field(default_factory=list)


async def resolve_unknown(
    load: OrderLoad, client: httpx.AsyncClient, url: str, concurrency: int = 16
) -> Resolution:
    """Look every still-unknown outcome up by clientOrderId (errors raise: unresolved)."""
    resolution = Resolution()
    gate = asyncio.Semaphore(concurrency)

    async def one(coid: str) -> None:
        async with gate:
            found = await load.lookup(client, url, coid)
        if found is None:
            resolution.absent.append(coid)
        else:
            resolution.found[coid] = found

    await asyncio.gather(*(one(coid) for coid in load.unresolved()))
    resolution.absent.sort()
    return resolution


async def journaled_client_orders(db: Database, prefix: str) -> Counter[str]:
    """How many journaled commands carry each clientOrderId starting with ``prefix``."""
    counts: Counter[str] = Counter()
    async for doc in db.journal.find({}, projection=["notes"]):
        for note in (doc.get("notes") or {}).values():
            coid = note.get("client_order_id")
            if isinstance(coid, str) and coid.startswith(prefix):
                counts[coid] += 1
    return counts


async def stored_client_orders(db: Database, prefix: str) -> dict[str, list[str]]:
    """The orders read model's order ids under each clientOrderId starting with ``prefix``."""
    stored: dict[str, list[str]] = {}
    query = {"client_order_id": {"$regex": f"^{re.escape(prefix)}"}}
    async for doc in db.orders.find(query, projection=["client_order_id"]):
        stored.setdefault(str(doc["client_order_id"]), []).append(str(doc["_id"]))
    return stored


@dataclass
class OrderCheck:
    """The orders check's verdict: problems, and how many acknowledged orders were lost."""

    problems: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)  # acknowledged clientOrderIds not found once


async def check_orders(
    db: Database, prefix: str, acked: dict[str, str], resolution: Resolution
) -> OrderCheck:
    """Acknowledged orders exactly once (journal and read model, same id); lookups agree."""
    journal = await journaled_client_orders(db, prefix)
    stored = await stored_client_orders(db, prefix)
    check = OrderCheck()
    for coid, order_id in sorted(acked.items()):
        ids = stored.get(coid, [])
        if journal[coid] != 1 or ids != [order_id]:
            check.lost.append(coid)
            check.problems.append(
                f"acknowledged order {coid} ({order_id}): journaled {journal[coid]} times, "
                f"in the read model as {ids or 'nothing'}"
            )
    for coid, count in sorted(journal.items()):
        if count != 1:
            check.problems.append(f"{coid} journaled {count} times (a retry ran twice)")
        elif len(stored.get(coid, [])) != 1 and coid not in acked:
            check.problems.append(f"{coid} journaled but {len(stored.get(coid, []))} in the "
                                  "read model")  # fmt: skip
    for coid, order_id in resolution.found.items():
        if stored.get(coid) != [order_id]:
            check.problems.append(f"lookup of {coid}: {order_id}, read model: {stored.get(coid)}")
    for coid in resolution.absent:
        if journal[coid]:
            check.problems.append(f"lookup of {coid} found nothing, but the journal has it")
    return check


@dataclass
class ReplayCheck:
    """A fresh replay of the journal against the writer's last snapshot."""

    problems: list[str] = field(default_factory=list)
    state_hash: str = ""
    last_seq: int = 0
    totals_before: dict[int, dict[str, int]] = field(default_factory=dict)  # asset -> totals
    totals_after: dict[int, dict[str, int]] = field(default_factory=dict)


async def check_replay(db: Database, since_seq: int) -> ReplayCheck:
    """Replay every journaled batch into a new engine; compare with the latest snapshot,
    and each asset's balances, credits and debits at ``since_seq`` and at the end."""
    from engine.core import Engine
    from graph.bootstrap import ENGINE_CONFIG

    journal = MongoJournal(db)
    latest = await journal.latest_snapshot()
    check = ReplayCheck()
    if latest is None:
        check.problems.append("no snapshot: the writer did not stop in order at the end")
        return check
    snapshot = latest[0]
    engine = Engine(ENGINE_CONFIG)
    assets = range(ENGINE_CONFIG.max_assets)
    check.totals_before = {a: engine.asset_totals(a) for a in assets}
    async for batch, _ in journal.batches_after(0):
        if engine.last_seq < since_seq <= int(batch["seq"][-1]):
            engine.apply(batch[batch["seq"] <= since_seq])
            check.totals_before = {a: engine.asset_totals(a) for a in assets}
            batch = batch[batch["seq"] > since_seq]
        batch = batch[batch["seq"] <= snapshot.last_seq]
        if len(batch):
            engine.apply(batch)
    check.state_hash, check.last_seq = engine.state_hash(), engine.last_seq
    journaled = await journal.last_seq()
    if snapshot.last_seq != journaled:
        check.problems.append(f"last snapshot at seq {snapshot.last_seq}, journal at {journaled}")
    if engine.last_seq != snapshot.last_seq or check.state_hash != snapshot.state_hash:
        check.problems.append(
            f"fresh replay to seq {engine.last_seq}: state hash {check.state_hash[:16]}, the "
            f"writer's snapshot at seq {snapshot.last_seq}: {snapshot.state_hash[:16]}"
        )
    check.totals_after = {a: engine.asset_totals(a) for a in assets}
    for asset in assets:
        before, after = check.totals_before[asset], check.totals_after[asset]
        for key in ("balances", "credits", "debits"):
            if before[key] != after[key]:
                check.problems.append(
                    f"asset {asset}: {key} {before[key]} before the run, {after[key]} after"
                )
    return check


def reconcile(env: dict[str, str]) -> list[str]:
    """`caas reconcile` against the run's database; its differences, or none."""
    result = run_cli(env, "reconcile")
    if result.returncode == 0 and "books agree" in result.stdout:
        return []
    return [f"reconcile: {line}" for line in (result.stdout + result.stderr).splitlines()[-20:]]
