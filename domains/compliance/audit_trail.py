"""The audit trail's storage and writer: audit_trail (records, in blocks), audit_heads (each
chain's last record), audit_anchors (the last purged record); owned here only. The retention
period is the AUDIT kind of the tenant's policy (retention.py).

Appends are group-committed: concurrent callers' entries are chained in memory and written
as one block document per chain and flush (``_id`` ``<tenant>:<first n>``, ``n`` and
``last`` the block's first and last positions, ``entries`` the records in order), and each
caller returns once its block is stored (an action is never acknowledged without its audit
record). One document per flush instead of one per record: on the embedded store a flush
of 18 records cost ~12 ms as 18 documents and ~3 ms as one block. Several processes may
append to one chain: a block starts right after the head its writer knows, and heads are
always block ends, so a writer that lost a race starts where an existing block starts,
gets a duplicate key, reloads that chain's head and chains its entries again.

The head document is written without the per-commit fsync: it only ever lags behind the
blocks (a lost head update after a crash is a head that is too short, which verification
accepts; a truncated chain is one shorter than its head).

A record is never dropped because the store failed: a flush that fails stays queued, in
order, and is written again (with backoff) until the store takes it. A write whose reply
was lost may have landed: before anything is chained again, the blocks it tried are looked
up by ``_id`` and the ones stored by this writer (``writer``, a random id per trail) with
the same hash count as written (never twice). The writer id is needed: two processes that
chain equal entries after the same head (same actor, operation and millisecond) compute the
same hash, and the other writer's block must not be taken for this one's lost reply. The
queue is bounded (``max_backlog`` records): beyond it ``full`` tells the audit extension
to refuse new mutations (UNAVAILABLE) rather than run one whose record could not be kept.
``record`` waits for its record at most ``wait_s`` and leaves it queued after that.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import BulkWriteError, PyMongoError
from pymongo.write_concern import WriteConcern

from domains.compliance.audit import (
    GENESIS,
    AuditEntry,
    ChainVerifier,
    Verification,
    chain,
)
from domains.compliance.retention import RecordKind, RetentionPolicies
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
MAX_RETRIES = 5
MAX_BLOCK = 256  # records per block document (arguments are bounded, so well under 16 MB)
MAX_BACKLOG = 50_000  # records queued for the store before new mutations are refused
MAX_FLUSH = 4096  # records one flush takes
RETRY_DELAYS_S = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
HEAD_WRITES = WriteConcern(w="majority", j=False)
log = logging.getLogger("caas.compliance.audit")


def block_id(tenant_id: str, n: int) -> str:
    """The ``_id`` of the block whose first record is at position ``n``."""
    return f"{tenant_id}:{n:012d}"


@dataclass
class AuditStats:
    """Counters for /metrics (``caas_audit_*``)."""

    written: int = 0  # records stored
    write_failures: int = 0  # flushes the store failed (their records stayed queued)
    refused: int = 0  # mutations refused because the backlog was full


Pending = tuple[AuditEntry, "asyncio.Future[int]"]


class AuditTrail:
    """Append, read, verify and expire each tenant's chain."""

    def __init__(self, db: Database, max_backlog: int = MAX_BACKLOG) -> None:
        self._records = db.audit_trail
        self._heads = db.get_collection("audit_heads", write_concern=HEAD_WRITES)
        self._anchors = db.audit_anchors
        self.policies = RetentionPolicies(db)  # the AUDIT kind of each tenant's policy
        self._known_heads: dict[str, tuple[int, str]] = {}
        self._writer = secrets.token_hex(8)  # tells this trail's blocks from another's
        self._pending: list[Pending] = []
        self._writing = 0  # records in the flush under way
        self._unconfirmed: tuple[list[Document], list[list[asyncio.Future[int]]]] | None = None
        self._flushing: asyncio.Task[None] | None = None
        self.max_backlog = max_backlog
        self.stats = AuditStats()

    @property
    def backlog(self) -> int:
        """Records not stored yet (queued or being written)."""
        return len(self._pending) + self._writing

    @property
    def full(self) -> bool:
        return self.backlog >= self.max_backlog

    def figures(self) -> dict[str, float]:
        s = self.stats
        return {
            "caas_audit_written": s.written, "caas_audit_backlog": self.backlog,
            "caas_audit_write_failures": s.write_failures, "caas_audit_refused": s.refused,
        }  # fmt: skip

    async def append(self, entry: AuditEntry) -> int:
        """Store ``entry`` at the end of its tenant's chain; returns its position once it is
        stored (however long the store takes: it is retried until it answers)."""
        return await asyncio.shield(self._queue(entry))

    async def record(self, entry: AuditEntry, wait_s: float) -> int | None:
        """Queue ``entry``; its position once stored, or None if that took longer than
        ``wait_s`` (it stays queued and is written when the store answers)."""
        future = self._queue(entry)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                return await asyncio.shield(future)
        return None

    async def drain(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until every queued record is stored."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while self._flushing is not None and not self._flushing.done():
                    await asyncio.shield(self._flushing)
        if self.backlog:
            log.error("audit records not stored at shutdown", extra={"count": self.backlog})
        return self.backlog == 0

    def _queue(self, entry: AuditEntry) -> asyncio.Future[int]:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._pending.append((entry, future))
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.create_task(self._flush_all(), name="audit-flush")
        return future

    async def _flush_all(self) -> None:
        failures = 0
        while self._pending:
            batch, self._pending = self._pending[:MAX_FLUSH], self._pending[MAX_FLUSH:]
            self._writing = len(batch)
            try:
                await self._write(batch)
                failures = 0
            except Exception:  # kept, in order, ahead of what came meanwhile; tried again
                self.stats.write_failures += 1
                log.warning("audit trail write failed; %d records kept for the next try",
                            len(batch), exc_info=failures == 0)  # fmt: skip
                self._pending = [(e, f) for e, f in batch if not f.done()] + self._pending
                await asyncio.sleep(RETRY_DELAYS_S[min(failures, len(RETRY_DELAYS_S) - 1)])
                failures += 1
            finally:
                self._writing = 0

    async def _head(self, tenant_id: str, reload: bool = False) -> tuple[int, str]:
        if not reload and tenant_id in self._known_heads:
            return self._known_heads[tenant_id]
        doc = await self._records.find_one(
            {"tenant_id": tenant_id}, {"last": 1, "hash": 1}, sort=[("n", DESCENDING)]
        )
        if doc is None:
            anchor = await self._anchors.find_one({"_id": tenant_id})
            head = (int(anchor["n"]), str(anchor["hash"])) if anchor else (0, GENESIS)
        else:
            head = (int(doc["last"]), str(doc["hash"]))
        self._known_heads[tenant_id] = head
        return head

    async def _blocks(
        self, batch: list[tuple[AuditEntry, asyncio.Future[int]]], reload: bool
    ) -> tuple[list[Document], list[list[asyncio.Future[int]]]]:
        """Chain ``batch`` after each tenant's head: block documents and, per block, the
        callers to answer with the positions they got."""
        blocks: dict[str, list[tuple[Document, asyncio.Future[int]]]] = {}
        heads: dict[str, tuple[int, str]] = {}
        for entry, future in batch:
            n, prev = heads.get(entry.tenant_id) or await self._head(entry.tenant_id, reload)
            fields, digest = chain(entry, n + 1, prev)
            record = {**fields, "hash": digest, "at_time": entry.at}
            blocks.setdefault(entry.tenant_id, []).append((record, future))
            heads[entry.tenant_id] = (n + 1, digest)
        docs, futures = [], []
        for tenant, records in blocks.items():
            for start in range(0, len(records), MAX_BLOCK):
                part = records[start : start + MAX_BLOCK]
                first, last = part[0][0], part[-1][0]
                docs.append({
                    "_id": block_id(tenant, first["n"]), "tenant_id": tenant, "n": first["n"],
                    "last": last["n"], "hash": last["hash"],
                    "at_time": max(r["at_time"] for r, _ in part), "writer": self._writer,
                    "entries": [r for r, _ in part],
                })  # fmt: skip
                futures.append([f for _, f in part])
        return docs, futures

    async def _landed(self) -> None:
        """After a write the store did not confirm: settle the callers of the blocks that
        are stored all the same (same ``_id``, writer and hash); the rest are chained again."""
        if self._unconfirmed is None:
            return
        docs, futures = self._unconfirmed
        ids = [doc["_id"] for doc in docs]
        stored = {d["_id"]: (d["hash"], d.get("writer")) async for d in self._records.find(
            {"_id": {"$in": ids}}, {"hash": 1, "writer": 1})}  # fmt: skip
        landed = [i for i, doc in enumerate(docs)
                  if stored.get(doc["_id"]) == (doc["hash"], self._writer)]  # fmt: skip
        self._settle([docs[i] for i in landed], [futures[i] for i in landed])
        for doc in docs:
            self._known_heads.pop(doc["tenant_id"], None)  # read again from the store
        self._unconfirmed = None

    async def _write(self, batch: list[tuple[AuditEntry, asyncio.Future[int]]]) -> None:
        await self._landed()
        remaining = [(e, f) for e, f in batch if not f.done()]
        for attempt in range(MAX_RETRIES):
            if not remaining:
                return
            docs, futures = await self._blocks(remaining, attempt > 0)
            try:
                await self._records.insert_many(docs, ordered=True)
            except BulkWriteError as exc:
                written = int(exc.details.get("nInserted", 0))
                self._settle(docs[:written], futures[:written])
                codes = {e.get("code") for e in exc.details.get("writeErrors", [])}
                # a block already there may be this one (the driver retried a write whose
                # reply was lost) or another writer's: _landed tells them apart
                self._unconfirmed = (docs[written:], futures[written:])
                if codes != {DUPLICATE_KEY}:
                    raise
                await self._landed()
                remaining = [(e, f) for e, f in remaining if not f.done()]
                continue
            except PyMongoError:  # it may have landed (a lost reply): _landed finds out
                self._unconfirmed = (docs, futures)
                raise
            self._settle(docs, futures)
            for doc in docs:
                head = (int(doc["last"]), str(doc["hash"]))
                self._known_heads[doc["tenant_id"]] = head
                # another writer is further on, or the store failed: a head only lags
                with contextlib.suppress(PyMongoError):
                    await self._heads.update_one(
                        {"_id": doc["tenant_id"], "n": {"$lt": head[0]}},
                        {"$set": {"n": head[0], "hash": head[1]}}, upsert=True,
                    )  # fmt: skip
            return
        raise RuntimeError("audit trail: too many concurrent writers for one chain")

    def _settle(self, docs: list[Document], futures: list[list[asyncio.Future[int]]]) -> None:
        for doc, waiting in zip(docs, futures, strict=True):
            for record, future in zip(doc["entries"], waiting, strict=True):
                if not future.done():
                    future.set_result(int(record["n"]))
                    self.stats.written += 1

    async def records(
        self, tenant_id: str, first: int, before_n: int | None, operation: str | None = None
    ) -> list[Document]:
        """Newest first; ``before_n`` pages backwards."""
        query: dict[str, Any] = {"tenant_id": tenant_id}
        if before_n is not None:
            query["n"] = {"$lt": before_n}
        if operation:
            query["entries.operation"] = operation
        found: list[Document] = []
        async for block in self._records.find(query).sort("n", DESCENDING):
            for record in reversed(block["entries"]):
                if before_n is not None and record["n"] >= before_n:
                    continue
                if operation and record.get("operation") != operation:
                    continue
                found.append(record)
                if len(found) >= first:
                    return found
        return found

    async def _stream(self, tenant_id: str) -> AsyncIterator[Document]:
        async for block in self._records.find({"tenant_id": tenant_id}).sort("n", ASCENDING):
            for record in block["entries"]:
                yield record

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
        """The AUDIT period of the tenant's retention policy (domains/compliance/retention.py)."""
        return (await self.policies.days(tenant_id))[RecordKind.AUDIT]

    async def set_retention_days(self, tenant_id: str, days: int) -> int:
        """Set the AUDIT period (at least the regulatory floor: RETENTION_BELOW_MINIMUM)."""
        return (await self.policies.set(tenant_id, {RecordKind.AUDIT: days}))[RecordKind.AUDIT]

    async def purge_expired(self, tenant_id: str, now: dt.datetime) -> int:
        """Delete the blocks whose records are all older than the tenant's retention, oldest
        first, moving the anchor to the last record deleted; returns how many records."""
        cutoff = now - dt.timedelta(days=await self.retention_days(tenant_id))
        return await self.purge_expired_before(tenant_id, cutoff)

    async def purge_expired_before(self, tenant_id: str, cutoff: dt.datetime) -> int:
        """Delete the blocks whose records are all older than ``cutoff`` (see purge_expired)."""
        last = await self._records.find_one(
            {"tenant_id": tenant_id, "at_time": {"$lt": cutoff}}, {"n": 1, "last": 1, "hash": 1},
            sort=[("n", DESCENDING)],
        )  # fmt: skip
        if last is None:
            return 0
        await self._anchors.replace_one(
            {"_id": tenant_id}, {"_id": tenant_id, "n": last["last"], "hash": last["hash"]},
            upsert=True,
        )  # fmt: skip
        expired = {"tenant_id": tenant_id, "n": {"$lte": last["n"]}}
        count = 0
        async for block in self._records.find(expired, {"n": 1, "last": 1}):
            count += int(block["last"]) - int(block["n"]) + 1
        await self._records.delete_many(expired)
        return count
