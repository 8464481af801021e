"""The engine writer's lease: exactly one process owns the journal at a time.

A process that cannot take the lease is a standby: it serves reads from the state it
recovered and refuses writes, instead of appending to the journal behind another writer's
back. The owner renews the lease well within its time to live and steps down once it can
no longer be sure it holds it: a renewal the store did not answer (a reset, a failover) is
tried again until the last confirmed expiry is a tenth of the TTL away.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import os
import socket
import time
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
        self.held_until = 0.0  # time.monotonic() before which the last renewal holds

    def _expiry(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.ttl_s)

    async def acquire(self) -> bool:
        """Take the lease if it is free, expired or ours; False if another owner holds it."""
        now = dt.datetime.now(dt.UTC)
        asked = time.monotonic()
        try:
            await self._leases.find_one_and_update(
                {"_id": self.name, "$or": [{"expires_at": {"$lt": now}}, {"owner": self.owner}]},
                {"$set": {"owner": self.owner, "expires_at": self._expiry()}},
                upsert=True,
            )
        except DuplicateKeyError:
            return False
        self.held_until = asked + self.ttl_s
        return True

    async def release(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
        await self._leases.delete_one({"_id": self.name, "owner": self.owner})

    def keep(self, on_lost: Callable[[], None]) -> None:
        """Renew now, then every third of the TTL, in the background. Call ``on_lost`` when
        another owner holds the lease, or when no renewal was confirmed and the last one
        ends within a tenth of the TTL: a renewal the store did not answer is tried again
        meanwhile (each attempt bounded by what is left). A standby takes over only after
        the lease expired and it caught up, so stepping down that early leaves no overlap."""
        safety_s = self.ttl_s / 10

        async def renew() -> None:
            pause_s = 0.0  # the first at once: taking over may have used some of the lease
            while True:
                await asyncio.sleep(pause_s)
                pause_s, tried = self.ttl_s / 3, False
                while True:
                    left_s = self.held_until - safety_s - time.monotonic()
                    if left_s <= 0 and tried:
                        log.error("no lease renewal confirmed in time; stepping down",
                                  extra={"owner": self.owner})  # fmt: skip
                        on_lost()
                        return
                    try:
                        tried = True
                        async with asyncio.timeout(max(left_s, safety_s)):
                            held = await self.acquire()
                    except Exception:
                        log.warning("lease renewal failed; retrying", exc_info=True)
                        await asyncio.sleep(min(0.25, max(left_s, 0.0)))
                        continue
                    if not held:
                        log.error(
                            "engine writer lease lost; stepping down", extra={"owner": self.owner}
                        )
                        on_lost()
                        return
                    break

        self._renewer = asyncio.create_task(renew(), name="lease-renewal")
