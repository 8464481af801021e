"""The audit trail's storage through graph/ops/faultproxy.py on its store link: records
appended while the store is away (a refusal past server selection) or while its answers
are lost are kept and written once it answers, each exactly once, and the chain verifies."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from pymongo import AsyncMongoClient

from domains.compliance.audit import AuditEntry
from domains.compliance.audit_trail import INDEXES, AuditTrail
from domains.shared.mongo import ensure_indexes
from graph.ops.faultproxy import FaultProxy, ProxyThread
from graph.ops.servers import uri_via

pytestmark = [pytest.mark.store, pytest.mark.asyncio(loop_scope="session")]


def _entry(n: int) -> AuditEntry:
    return AuditEntry(tenant_id="t", actor="key_1", role="TRADER", at=dt.datetime.now(dt.UTC),
                      source_ip="127.0.0.1", operation="mutation placeOrder", outcome="OK",
                      request_id=f"r{n}", arguments={"n": n})  # fmt: skip


async def _on(link: ProxyThread, step: Callable[[FaultProxy], Any]) -> None:
    await asyncio.wrap_future(link.submit(step))


def _refuse_and_reset(proxy: FaultProxy) -> None:
    proxy.refuse()
    proxy.reset_all()


async def _recorded(trail: AuditTrail, n: int, tasks: list[asyncio.Task[Any]]) -> None:
    """As the audit extension does: the response waits a while, then goes on; a failure to
    keep the record is what this test is about (the extension logged and went on)."""
    task = asyncio.create_task(trail.append(_entry(n)))
    tasks.append(task)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(task), 0.5)


async def test_records_appended_while_the_store_is_away_are_written_once_it_answers(
    mongodb_uri: str,
) -> None:
    port = urlsplit(mongodb_uri).port
    if port is None or "," in urlsplit(mongodb_uri).netloc:
        pytest.skip("the fault proxy stands in front of a single-host store")
    name = f"test_audit_faults_{uuid.uuid4().hex[:8]}"
    direct: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    await ensure_indexes(direct[name], INDEXES)
    tasks: list[asyncio.Task[Any]] = []
    with ProxyThread(port) as link:
        proxied: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            uri_via(mongodb_uri, link.port), tz_aware=True, serverSelectionTimeoutMS=1000
        )
        trail = AuditTrail(proxied[name])
        for n in range(10):
            await _recorded(trail, n, tasks)
        await _on(link, _refuse_and_reset)  # past server selection: every write fails
        for n in range(10, 20):
            await _recorded(trail, n, tasks)
        await asyncio.sleep(1.5)
        await _on(link, lambda p: p.heal())
        await _on(link, lambda p: p.lose_replies())  # writes land, their answers do not
        for n in range(20, 30):
            await _recorded(trail, n, tasks)
        await _on(link, lambda p: p.heal())  # (resets the links that lost answers)
        for n in range(30, 40):
            await _recorded(trail, n, tasks)
        await asyncio.wait(tasks, timeout=30)
        verification = await AuditTrail(direct[name]).verify("t")
        failures = trail.stats.write_failures
        await proxied.close()
    stored: Counter[str] = Counter()
    async for block in direct[name].audit_trail.find({"tenant_id": "t"}):
        stored.update(record["request_id"] for record in block["entries"])
    await direct.drop_database(name)
    await direct.close()

    assert failures > 0, "the store's faults failed some writes"
    assert sorted(stored) == sorted(f"r{n}" for n in range(40)), "a record was lost"
    assert max(stored.values()) == 1, "a record was written twice"
    assert verification.intact and verification.checked == 40, verification
