"""The audit trail's storage and writer: audit_trail (records), audit_heads (each chain's last
record), audit_anchors (the last purged record), audit_settings (retention); owned here only.

Appends are group-committed: concurrent callers' entries are chained in memory and written
with one insert per flush, and each caller returns once its record is stored (an action is
never acknowledged without its audit record). Several processes may append to one chain:
positions are unique ``_id``s (``<tenant>:<n>``), so a process that lost a race gets a
duplicate key, reloads that chain's head and chains its entries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import BulkWriteError, DuplicateKeyError

from domains.compliance.audit import (
    GENESIS,
    AuditEntry,
    ChainVerifier,
    Verification,
    chain,
)
from domains.shared.errors import ValidationError
from domains.shared.mongo import DUPLICATE_KEY, CollectionIndexes, Database, Document

INDEXES = (
    CollectionIndexes(
        "audit_trail",
        (
            IndexModel([("tenant_id", ASCENDING), ("n", ASCENDING)], unique=True),
            IndexModel([("tenant_id", ASCENDING), ("at_time", ASCENDING)]),
        ),
    ),
)
DEFAULT_RETENTION_DAYS = 7 * 365  # typical record-keeping duty (e.g. 5 years + margin)
MIN_RETENTION_DAYS, MAX_RETENTION_DAYS = 180, 36_500
MAX_RETRIES = 5
log = logging.getLogger("caas.compliance.audit")


class AuditTrail:
    """Append, read, verify and expire each tenant's chain."""

    def __init__(self, db: Database) -> None:
        self._records = db.audit_trail
        self._heads = db.audit_heads
        self._anchors = db.audit_anchors
        self._settings = db.audit_settings
        self._known_heads: dict[str, tuple[int, str]] = {}
        self._pending: list[tuple[AuditEntry, asyncio.Future[int]]] = []
        self._flushing: asyncio.Task[None] | None = None

    async def append(self, entry: AuditEntry) -> int:
        """Store ``entry`` at the end of its tenant's chain; returns its position."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_all(), name="audit-flush")
        return await asyncio.shield(future)

    async def _flush_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                await self._write(batch)
            except Exception as exc:  # the callers see the failure; the next batch retries
                log.exception("audit trail write failed")
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)

    async def _head(self, tenant_id: str, reload: bool = False) -> tuple[int, str]:
        if not reload and tenant_id in self._known_heads:
            return self._known_heads[tenant_id]
        doc = await self._records.find_one(
            {"tenant_id": tenant_id}, {"n": 1, "hash": 1}, sort=[("n", DESCENDING)]
        )
        if doc is None:
            anchor = await self._anchors.find_one({"_id": tenant_id})
            head = (int(anchor["n"]), str(anchor["hash"])) if anchor else (0, GENESIS)
        else:
            head = (int(doc["n"]), str(doc["hash"]))
        self._known_heads[tenant_id] = head
        return head

    async def _write(self, batch: list[tuple[AuditEntry, asyncio.Future[int]]]) -> None:
        remaining = batch
        for attempt in range(MAX_RETRIES):
            docs: list[Document] = []
            heads: dict[str, tuple[int, str]] = {}
            for entry, _ in remaining:
                known = heads.get(entry.tenant_id)
                n, prev = known or await self._head(entry.tenant_id, attempt > 0)
                fields, digest = chain(entry, n + 1, prev)
                docs.append({"_id": f"{entry.tenant_id}:{n + 1:012d}", **fields, "hash": digest,
                             "at_time": entry.at})  # fmt: skip
                heads[entry.tenant_id] = (n + 1, digest)
            try:
                await self._records.insert_many(docs, ordered=True)
            except BulkWriteError as exc:
                written = int(exc.details.get("nInserted", 0))
                self._settle(remaining[:written], docs[:written])
                codes = {e.get("code") for e in exc.details.get("writeErrors", [])}
                if codes != {DUPLICATE_KEY}:
                    raise
                remaining = remaining[written:]
                continue
            self._settle(remaining, docs)
            for tenant, head in heads.items():
                self._known_heads[tenant] = head
                with contextlib.suppress(DuplicateKeyError):  # another writer is further on
                    await self._heads.update_one(
                        {"_id": tenant, "n": {"$lt": head[0]}},
                        {"$set": {"n": head[0], "hash": head[1]}}, upsert=True,
                    )  # fmt: skip
            return
        raise RuntimeError("audit trail: too many concurrent writers for one chain")

    def _settle(
        self, done: list[tuple[AuditEntry, asyncio.Future[int]]], docs: list[Document]
    ) -> None:
        for (_, future), doc in zip(done, docs, strict=False):
            if not future.done():
                future.set_result(int(doc["n"]))

    async def records(
        self, tenant_id: str, first: int, before_n: int | None, operation: str | None = None
    ) -> list[Document]:
        """Newest first; ``before_n`` pages backwards."""
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if before_n is not None:
            query["n"] = {"$lt": before_n}
        if operation:
            query["operation"] = operation
        cursor = self._records.find(query).sort("n", DESCENDING).limit(first)
        return [doc async for doc in cursor]

    async def _stream(self, tenant_id: str) -> AsyncIterator[Document]:
        async for doc in self._records.find({"tenant_id": tenant_id}).sort("n", ASCENDING):
            yield doc

    async def verify(self, tenant_id: str) -> Verification:
        """Walk the whole chain (streamed) and report every problem found."""
        anchor_doc = await self._anchors.find_one({"_id": tenant_id})
        head_doc = await self._heads.find_one({"_id": tenant_id})
        anchor = (int(anchor_doc["n"]), str(anchor_doc["hash"])) if anchor_doc else None
        head = (int(head_doc["n"]), str(head_doc["hash"])) if head_doc else None
        verifier = ChainVerifier(tenant_id, anchor, head)
        async for doc in self._stream(tenant_id):
            verifier.feed(doc)
        return verifier.finish()

    async def retention_days(self, tenant_id: str) -> int:
        doc = await self._settings.find_one({"_id": tenant_id})
        return int(doc["retention_days"]) if doc else DEFAULT_RETENTION_DAYS

    async def set_retention_days(self, tenant_id: str, days: int) -> int:
        if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
            raise ValidationError(
                f"retention is {MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS} days", field="days"
            )
        await self._settings.replace_one(
            {"_id": tenant_id}, {"_id": tenant_id, "retention_days": days}, upsert=True
        )
        return days

    async def purge_expired(self, tenant_id: str, now: dt.datetime) -> int:
        """Delete records older than the tenant's retention, oldest first, moving the anchor
        to the last one deleted; returns how many."""
        cutoff = now - dt.timedelta(days=await self.retention_days(tenant_id))
        last = await self._records.find_one(
            {"tenant_id": tenant_id, "at_time": {"$lt": cutoff}}, {"n": 1, "hash": 1},
            sort=[("n", DESCENDING)],
        )  # fmt: skip
        if last is None:
            return 0
        await self._anchors.replace_one(
            {"_id": tenant_id}, {"_id": tenant_id, "n": last["n"], "hash": last["hash"]},
            upsert=True,
        )  # fmt: skip
        deleted = await self._records.delete_many(
            {"tenant_id": tenant_id, "n": {"$lte": last["n"]}}
        )
        return int(deleted.deleted_count)
