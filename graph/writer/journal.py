"""The durable command journal and engine snapshots in MongoDB.

One journal document per batch (group commit): the batch's command records as raw bytes,
written with majority + journaled write concern before any caller is answered. Snapshots
go to GridFS (engine state is larger than a BSON document) tagged with the sequence they
cover and their state hash. Replay refuses a gap or an overlap in the sequence.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from bson.binary import Binary
from gridfs import AsyncGridFSBucket
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import ConnectionFailure
from pymongo.write_concern import WriteConcern

from domains.shared.mongo import CollectionIndexes, Database, Document
from engine.layout import COMMAND_DTYPE, Records

log = logging.getLogger("caas.journal")

JOURNAL = "journal"
SNAPSHOTS = "engine_snapshots"
DURABLE = WriteConcern(w="majority", j=True)
RESUME_FOR_S = 30.0  # how long a journal read reopens its cursor while the store is away

INDEXES = (
    CollectionIndexes(
        JOURNAL,
        (IndexModel([("last_seq", ASCENDING)], unique=True), IndexModel([("ts_ns", ASCENDING)])),
    ),
    CollectionIndexes(SNAPSHOTS, (IndexModel([("last_seq", DESCENDING)]),)),
)


T = TypeVar("T")


async def until_the_store_answers(
    step: Callable[[], Awaitable[T]], what: str, for_s: float = RESUME_FOR_S
) -> T:
    """``await step()``, again after a pause while it fails on the store's connection (for
    up to ``for_s``): starting up and taking over happen when the store may be failing
    over, and one reset there ended the process. ``step`` must be safe to run again."""
    deadline = time.monotonic() + for_s
    delay_s = 0.1
    while True:
        try:
            return await step()
        except ConnectionFailure:
            if time.monotonic() > deadline:
                raise
            log.warning("%s: the store does not answer; retrying", what, exc_info=True)
            await asyncio.sleep(delay_s)
            delay_s = min(delay_s * 2, 2.0)


class JournalGapError(RuntimeError):
    """The journal does not continue where the state it is replayed onto ends."""


@dataclass(frozen=True)
class SnapshotInfo:
    """A stored engine snapshot: the sequence it covers and its state hash."""

    last_seq: int
    state_hash: str
    file_id: object


def _sequences(batch: Records) -> tuple[int, int]:
    seqs = batch["seq"]
    first, last = int(seqs[0]), int(seqs[-1])
    if last - first + 1 != len(batch) or np.any(np.diff(seqs) != 1):
        raise ValueError("a journal batch must carry consecutive sequence numbers")
    return first, last


class MongoJournal:
    """Append-only command log and snapshot store (the engine writer is its only writer)."""

    def __init__(self, db: Database) -> None:
        self._journal = db.get_collection(JOURNAL, write_concern=DURABLE)
        self._snapshots = db.get_collection(SNAPSHOTS, write_concern=DURABLE)
        self._files = AsyncGridFSBucket(db, bucket_name="engine_snapshot_files")

    async def append(self, batch: Records, notes: dict[int, dict[str, str]] | None = None) -> None:
        """Durably store one batch of sequenced commands (and their notes) as one document."""
        first, last = _sequences(batch)
        await self._journal.insert_one(
            {
                "notes": {str(seq): note for seq, note in (notes or {}).items()},
                "_id": first,
                "last_seq": last,
                "n": len(batch),
                "ts_ns": int(batch["ts_ns"].max()),
                "commands": Binary(batch.tobytes()),
            }
        )

    async def batch_at(self, first_seq: int) -> Records | None:
        """The batch journaled from ``first_seq`` on, or None (how a writer learns whether
        a write whose reply it lost landed)."""
        doc = await self._journal.find_one({"_id": first_seq}, projection=["commands"])
        if doc is None:
            return None
        return np.frombuffer(doc["commands"], dtype=COMMAND_DTYPE).copy()

    async def last_seq(self) -> int:
        """The highest journaled sequence number (0 for an empty journal)."""
        doc = await self._journal.find_one({}, sort=[("_id", DESCENDING)], projection=["last_seq"])
        return int(doc["last_seq"]) if doc else 0

    async def batches_after(
        self, seq: int
    ) -> AsyncIterator[tuple[Records, dict[int, dict[str, str]]]]:
        """Every journaled batch after ``seq`` with its notes, in order; refuses a gap."""
        expected = seq + 1
        async for doc in self._documents({"last_seq": {"$gt": seq}}):
            batch = np.frombuffer(doc["commands"], dtype=COMMAND_DTYPE).copy()
            first = int(doc["_id"])
            if first > expected:
                raise JournalGapError(f"journal gap: expected seq {expected}, found {first}")
            batch = batch[batch["seq"] >= expected]  # a snapshot may fall inside a batch
            if len(batch):
                expected = int(batch["seq"][-1]) + 1
                kept = int(batch["seq"][0])
                notes = {int(k): v for k, v in doc.get("notes", {}).items() if int(k) >= kept}
                yield batch, notes

    async def batches_since(self, ts_ns: int, up_to_seq: int) -> AsyncIterator[Records]:
        """Journaled commands from ``ts_ns`` on with seq <= ``up_to_seq``, in order.

        Used to rebuild the idempotency window for commands a snapshot already covers.
        """
        query = {"ts_ns": {"$gte": ts_ns}, "_id": {"$lte": up_to_seq}}
        async for doc in self._documents(query):
            batch = np.frombuffer(doc["commands"], dtype=COMMAND_DTYPE).copy()
            batch = batch[batch["seq"] <= up_to_seq]
            if len(batch):
                yield batch

    async def notes_since(self, ts_ns: int) -> AsyncIterator[dict[int, dict[str, str]]]:
        """The notes of every batch journaled from ``ts_ns`` on, in order (no commands read)."""
        query = {"ts_ns": {"$gte": ts_ns}}
        async for doc in self._documents(query, ["notes"]):
            yield {int(k): v for k, v in doc.get("notes", {}).items()}

    async def _documents(
        self, query: dict[str, Any], projection: list[str] | None = None
    ) -> AsyncIterator[Document]:
        """The journal documents ``query`` selects, in ``_id`` order. A cursor whose store
        connection broke is reopened after the last document read (for ``RESUME_FOR_S``)
        instead of failing: a recovery or a replica catching up must not end the process
        on a connection reset (the driver retries single reads, never a cursor's getMore)."""
        last_id: object = None
        failing_since: float | None = None
        delay_s = 0.05
        while True:
            after = query if last_id is None else {"$and": [query, {"_id": {"$gt": last_id}}]}
            try:
                async for doc in self._journal.find(after, projection).sort("_id", ASCENDING):
                    last_id, failing_since = doc["_id"], None
                    yield doc
                return
            except ConnectionFailure:
                now = time.monotonic()
                failing_since = failing_since or now
                if now - failing_since > RESUME_FOR_S:
                    raise
                log.warning("journal read interrupted after %s; resuming", last_id, exc_info=True)
                await asyncio.sleep(delay_s)
                delay_s = min(delay_s * 2, 1.0)

    async def save_snapshot(self, last_seq: int, state_hash: str, data: bytes) -> SnapshotInfo:
        """Store a snapshot of the engine state covering commands up to ``last_seq``."""
        file_id = await self._files.upload_from_stream(
            f"engine-{last_seq}", data, metadata={"last_seq": last_seq, "state_hash": state_hash}
        )
        await self._snapshots.insert_one(
            {"last_seq": last_seq, "state_hash": state_hash, "file_id": file_id}
        )
        return SnapshotInfo(last_seq, state_hash, file_id)

    async def latest_snapshot(self) -> tuple[SnapshotInfo, bytes] | None:
        """The newest snapshot and its bytes, or None."""
        doc = await self._snapshots.find_one({}, sort=[("last_seq", DESCENDING)])
        if doc is None:
            return None
        stream = await self._files.open_download_stream(doc["file_id"])
        data = await stream.read()
        return SnapshotInfo(int(doc["last_seq"]), str(doc["state_hash"]), doc["file_id"]), data
