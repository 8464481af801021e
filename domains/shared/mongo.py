"""Storage helpers over PyMongo's async API: index declarations and multi-document transactions."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pymongo import AsyncMongoClient, IndexModel, ReplaceOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

Document = dict[str, Any]
T = TypeVar("T")
Database = AsyncDatabase[Document]
Client = AsyncMongoClient[Document]


@dataclass(frozen=True)
class CollectionIndexes:
    """The indexes one repository declares for one collection; created at start-up."""

    collection: str
    indexes: Sequence[IndexModel] = field(default_factory=tuple)
    retired: Sequence[str] = field(default_factory=tuple)  # names of indexes to drop if present


async def ensure_indexes(db: Database, declarations: Sequence[CollectionIndexes]) -> None:
    """Create every declared index and drop the retired ones (idempotent: an existing
    identical index is a no-op, a retired one already gone is skipped)."""
    for declaration in declarations:
        collection = db[declaration.collection]
        if declaration.indexes:
            await collection.create_indexes(list(declaration.indexes))
        if declaration.retired:
            existing = {index["name"] async for index in await collection.list_indexes()}
            for name in declaration.retired:
                if name in existing:
                    await collection.drop_index(name)


@asynccontextmanager
async def transaction(client: Client) -> AsyncIterator[AsyncClientSession]:
    """Run the block in a multi-document transaction with majority write concern.

    Commits when the block exits normally, aborts on any exception (which propagates).
    """
    async with (
        client.start_session() as session,
        await session.start_transaction(
            read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority")
        ),
    ):
        yield session


def page_filter(base: dict[str, Any], after_key: str | None) -> dict[str, Any]:
    """Keyset pagination over ``_id`` descending: ``base`` AND ``_id < after_key``."""
    return {"$and": [base, {"_id": {"$lt": after_key}}]} if after_key else base


DUPLICATE_KEY = 11000


WRITE_CHUNK = 64  # documents per request of a read model's bulk write


def chunks(items: Sequence[T], size: int = WRITE_CHUNK) -> list[Sequence[T]]:
    """``items`` in requests of at most ``size``: a read model's bulk write of ten thousand
    documents goes out as several requests, so the journal's small writes (same store) are
    not queued behind one long one."""
    return [items[i : i + size] for i in range(0, len(items), size)]


async def bulk_write_chunked(
    collection: AsyncCollection[Document], requests: Sequence[Any], *, ordered: bool
) -> None:
    """``collection.bulk_write`` in chunks (ordered chunks run one after the other)."""
    for chunk in chunks(requests):
        await collection.bulk_write(list(chunk), ordered=ordered)


Pace = Callable[[float], Awaitable[None]]  # told a chunk's seconds, waits before the next


async def no_pace(seconds: float) -> None:
    """Hand the event loop back between chunks, no more."""
    await asyncio.sleep(0)


async def fold_writes(
    collection: AsyncCollection[Document], requests: Iterable[Any], chunk: int, pace: Pace
) -> int:
    """Background rewrites (funding rounds folded into documents) in unordered chunks of
    ``chunk``, ``pace`` awaited after each; the documents modified. ``requests`` is drawn
    one chunk at a time, so building them (a generator) holds the event loop for one
    chunk's worth only: built all at once, 10,000 of them held it (and the writer) ~0.3 s."""
    modified, drawn = 0, iter(requests)
    while found := list(itertools.islice(drawn, chunk)):
        began = time.perf_counter()
        result = await collection.bulk_write(found, ordered=False)
        modified += result.modified_count
        await pace(time.perf_counter() - began)
    return modified


async def insert_new(
    collection: AsyncCollection[Document], documents: Sequence[Document], size: int = WRITE_CHUNK
) -> None:
    """Insert documents whose ``_id`` is deterministic, skipping those already there.

    One unordered insert_many per ``size`` documents (the store's fast path, far cheaper
    than upserts); a replayed batch's duplicates are expected and ignored, any other write
    error is raised.
    """
    for chunk in chunks(documents, size):
        try:
            await collection.insert_many(list(chunk), ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            others = [e for e in errors if e.get("code") != DUPLICATE_KEY]
            if others or exc.details.get("writeConcernErrors"):
                raise


async def insert_or_replace(
    collection: AsyncCollection[Document], documents: Sequence[Document]
) -> None:
    """Write documents whose ``_id`` is deterministic as they now are: one unordered
    insert_many (the fast path), then a replace of those that were already there (a replay
    of a batch whose older state a crashed writer had stored)."""
    for chunk in chunks(documents):
        docs = list(chunk)
        try:
            await collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors) or exc.details.get(
                "writeConcernErrors"
            ):
                raise
            existing = [docs[int(e["index"])] for e in errors]
            await collection.bulk_write(
                [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in existing], ordered=True
            )
