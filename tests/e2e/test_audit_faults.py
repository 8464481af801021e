"""The audit trail under store faults: a `caas serve` whose store link goes through
graph/ops/faultproxy.py (latency, resets, a blackhole, lost replies, a refusal) while four
clients place orders. Every acknowledged placeOrder has its audit record afterwards,
exactly once, and the chain verifies (``verifyAuditTrail``).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from graph.ops.faultproxy import ProxyThread
from graph.ops.order_load import OrderLoad, Trader
from graph.ops.servers import ServerGroup, seed_demo, soak_env, uri_via
from tests.e2e.test_faults import _schedule, _store_port

pytestmark = [pytest.mark.e2e, pytest.mark.store, pytest.mark.slow]

VERIFY = """query { verifyAuditTrail { intact checked findings { problem position detail } } }"""


async def _metric(client: httpx.AsyncClient, url: str, name: str) -> float:
    for line in (await client.get(f"{url}/metrics")).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not on /metrics")


async def _audited_orders(db: Any, tenant_id: str) -> Counter[str]:
    """clientOrderId -> how many successful placeOrder records the tenant's chain holds."""
    seen: Counter[str] = Counter()
    async for block in db.audit_trail.find({"tenant_id": tenant_id}):
        for record in block["entries"]:
            if record["operation"] == "mutation placeOrder" and record["outcome"] == "OK":
                seen[record["arguments"]["input"]["clientOrderId"]] += 1
    return seen


async def test_every_acknowledged_order_is_in_a_chain_that_verifies_after_store_faults(
    mongodb_uri: str, tmp_path: Path
) -> None:
    database = f"test_audit_faults_{uuid.uuid4().hex[:8]}"
    direct = soak_env(mongodb_uri, database, tmp_path)
    keys = await asyncio.to_thread(seed_demo, direct)
    load = OrderLoad([Trader.from_key(keys[n]) for n in ("alice", "bob")], f"a{database[-8:]}")
    compliance = {"authorization": f"Bearer {keys['compliance']['token']}"}
    with ProxyThread(_store_port(mongodb_uri)) as store_link:
        env = soak_env(uri_via(mongodb_uri, store_link.port), database, tmp_path,
                       CAAS_AUTH_CACHE_SECONDS="60",  # keys cached through the outage
                       CAAS_WRITER_LEASE_SECONDS="4")  # as test_faults  # fmt: skip
        group = ServerGroup(env, tmp_path)
        try:
            url = (await asyncio.to_thread(group.start, "server")).url
            stop = asyncio.Event()
            driving = asyncio.create_task(load.drive(lambda: url, 4, stop))
            await asyncio.sleep(1)
            await _schedule(store_link, blackhole_s=6.0, refuse_s=6.0)
            stop.set()
            await driving
            async with httpx.AsyncClient(timeout=60) as client:
                await load.barrier(client, url)
                deadline = time.monotonic() + 60
                while await _metric(client, url, "caas_audit_backlog") > 0:
                    assert time.monotonic() < deadline, "the audit backlog never drained"
                    await asyncio.sleep(0.2)
                failures = await _metric(client, url, "caas_audit_write_failures")
                response = await client.post(f"{url}/graphql", json={"query": VERIFY},
                                             headers=compliance)  # fmt: skip
                verification = response.json()["data"]["verifyAuditTrail"]
        finally:
            await asyncio.to_thread(group.close)
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    audited = await _audited_orders(mongo[database], keys["alice"]["tenant_id"])
    await mongo.drop_database(database)
    await mongo.close()
    missing = sorted(set(load.acked) - set(audited))
    twice = sorted(c for c, n in audited.items() if n > 1)
    print(f"\n{len(load.acked)} orders acknowledged, {len(missing)} without an audit record, "
          f"{len(twice)} recorded twice; {failures:g} audit flushes failed and were retried; "
          f"chain {verification['checked']} records, intact {verification['intact']}")  # fmt: skip

    assert load.acked and missing == [], "an acknowledged order has no audit record"
    assert twice == [], "a record written again after a lost reply"
    assert verification["intact"], verification["findings"]
