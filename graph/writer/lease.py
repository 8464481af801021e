"""The engine writer's lease: exactly one process owns the journal at a time.

A process that cannot take the lease is a standby: it serves reads from the state it
recovered and refuses writes, instead of appending to the journal behind another writer's
back. The owner renews the lease well within its time to live and steps down if it ever
fails to.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import uuid
from collections.abc import Callable

from pymongo.errors import DuplicateKeyError

from domains.shared.mongo import Database

log = logging.getLogger("caas.lease")


class MongoLease:
    """A named lease document with an owner and an expiry, taken atomically."""

    def __init__(self, db: Database, name: str = "engine-writer", ttl_s: float = 10.0) -> None:
        self._leases = db.engine_leases
        self.name = name
        self.ttl_s = ttl_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._renewer: asyncio.Task[None] | None = None

    def _expiry(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.ttl_s)

    async def acquire(self) -> bool:
        """Take the lease if it is free, expired or ours; False if another owner holds it."""
        now = dt.datetime.now(dt.UTC)
        try:
            await self._leases.find_one_and_update(
                {"_id": self.name, "$or": [{"expires_at": {"$lt": now}}, {"owner": self.owner}]},
                {"$set": {"owner": self.owner, "expires_at": self._expiry()}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        return True

    async def release(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        await self._leases.delete_one({"_id": self.name, "owner": self.owner})

    def keep(self, on_lost: Callable[[], None]) -> None:
        """Renew every third of the TTL in the background; call ``on_lost`` if it fails."""

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.ttl_s / 3)
                try:
                    held = await self.acquire()
                except Exception:
                    log.exception("lease renewal failed")
                    held = False
                if not held:
                    log.error(
                        "engine writer lease lost; stepping down", extra={"owner": self.owner}
                    )
                    on_lost()
                    return

        self._renewer = asyncio.create_task(renew(), name="lease-renewal")
