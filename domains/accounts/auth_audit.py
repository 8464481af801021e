"""The authentication audit: every refused credential, in the auth_audit collection (owned here).

Entries never hold a secret, token or signature: a key id is recorded only when the key
exists (so a secret pasted where the id goes is never stored), the path without its query.
Writes are batched off the request path: one insert_many per flush.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import deque
from dataclasses import asdict, dataclass

from pymongo import ASCENDING, DESCENDING, IndexModel

from domains.shared.context import TenantScope
from domains.shared.ids import new_id
from domains.shared.mongo import CollectionIndexes, Database, Document, page_filter

log = logging.getLogger("caas.auth")

INDEXES = (
    CollectionIndexes(
        "auth_audit",
        (
            IndexModel([("tenant_id", ASCENDING), ("_id", DESCENDING)]),
            IndexModel([("key_id", ASCENDING), ("_id", DESCENDING)]),
        ),
    ),
)
MAX_PENDING = 10_000
FLUSH_EVERY_S = 0.25
MAX_PATH = 200


@dataclass(frozen=True)
class AuthFailure:
    """One refused credential."""

    id: str
    at: dt.datetime
    reason: str
    transport: str  # http or ws
    method: str
    path: str
    ip: str | None = None
    key_id: str | None = None
    tenant_id: str | None = None

    @classmethod
    def new(
        cls,
        reason: str,
        transport: str,
        method: str,
        path: str,
        ip: str | None,
        key_id: str | None = None,
        tenant_id: str | None = None,
    ) -> AuthFailure:
        return cls(
            id=new_id("aua"),
            at=dt.datetime.now(dt.UTC),
            reason=reason,
            transport=transport,
            method=method[:16],
            path=path.split("?", 1)[0][:MAX_PATH],
            ip=ip,
            key_id=key_id,
            tenant_id=tenant_id,
        )


def _document(event: AuthFailure) -> Document:
    doc = asdict(event)
    doc["_id"] = doc.pop("id")
    return doc


def _event(doc: Document) -> AuthFailure:
    doc = dict(doc)
    doc["id"] = doc.pop("_id")
    return AuthFailure(**doc)


class MongoAuthAudit:
    """The auth_audit collection."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def insert_many(self, events: list[AuthFailure]) -> None:
        await self._db.auth_audit.insert_many([_document(e) for e in events], ordered=False)

    async def list(
        self,
        scope: TenantScope,
        first: int,
        after: str | None,
        reason: str | None = None,
        key_id: str | None = None,
    ) -> list[AuthFailure]:
        """Failures in the scope's tenant (all for operators), newest first."""
        base: Document = dict(scope.filter())
        if reason is not None:
            base["reason"] = reason
        if key_id is not None:
            base["key_id"] = key_id
        cursor = self._db.auth_audit.find(page_filter(base, after)).sort("_id", DESCENDING)
        return [_event(doc) async for doc in cursor.limit(first + 1)]

    async def purge(self, tenant_id: str | None, cutoff: dt.datetime) -> int:
        """Retention: delete ``tenant_id``'s failures before ``cutoff`` (None: those that
        named no tenant, under the platform's policy); how many."""
        query = {"tenant_id": tenant_id, "at": {"$lt": cutoff}}
        return int((await self._db.auth_audit.delete_many(query)).deleted_count)


class AuthAuditRecorder:
    """Logs each failure at once and stores them in batches (``flush`` waits for the store)."""

    def __init__(self, store: MongoAuthAudit) -> None:
        self.store = store
        self._pending: deque[AuthFailure] = deque()
        self._dropped = 0
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def record(self, event: AuthFailure) -> None:
        log.warning(
            "authentication refused",
            extra={
                "reason": event.reason,
                "key_id": event.key_id,
                "ip": event.ip,
                "path": event.path,
                "transport": event.transport,
            },
        )
        if len(self._pending) >= MAX_PENDING:
            self._pending.popleft()
            self._dropped += 1
        self._pending.append(event)
        if self._task is None or self._task.done():
            with contextlib.suppress(RuntimeError):  # no running loop: flushed on close
                self._task = asyncio.get_running_loop().create_task(self._run(), name="auth-audit")

    async def _run(self) -> None:
        while self._pending:
            await asyncio.sleep(FLUSH_EVERY_S)
            await self.flush()

    async def flush(self) -> None:
        """Store everything recorded so far."""
        async with self._lock:
            while self._pending:
                batch = [self._pending.popleft() for _ in range(min(500, len(self._pending)))]
                try:
                    await self.store.insert_many(batch)
                except Exception:
                    log.exception("could not store %d auth audit entries", len(batch))
            if self._dropped:
                log.warning("auth audit overflowed; %d entries were not stored", self._dropped)
                self._dropped = 0

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
