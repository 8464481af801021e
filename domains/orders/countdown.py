"""The dead-man's switch: `countdownCancelAll(account, timeoutMs)` (Binance's auto-cancel,
Deribit's heartbeat). A client arms it and keeps renewing it; when a countdown is not renewed
in time, every live order of the account is cancelled, on every market.

Countdowns live in ``order_countdowns`` (owned here; one per account, the deadline in engine
time: the writer's clock, in ns). The writer's ``CountdownRunner`` looks for due countdowns
every TICK_S and cancels through the sequencer: one CANCEL_ALL per market with live orders,
journaled as one group with the note ``countdown``, so a replay of the journal gives the same
book without knowing any countdown. A standby that takes over reads the same collection.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pymongo import ASCENDING, IndexModel

from domains.shared.errors import ValidationError
from domains.shared.mongo import CollectionIndexes, Database
from domains.shared.periodic import Periodic

MIN_MS, MAX_MS = 1_000, 3_600_000  # 0 disarms
TICK_S = 0.1
NOTE_COUNTDOWN = "countdown"  # journal note of the cancels: the deadline they enforce (ns)
INDEXES = (CollectionIndexes("order_countdowns", (IndexModel([("deadline_ns", ASCENDING)]),)),)
log = logging.getLogger("caas.orders.countdown")


@dataclass(frozen=True)
class Countdown:
    """An account's armed countdown (``deadline_ns`` None: disarmed)."""

    account_id: str
    timeout_ms: int
    deadline_ns: int | None

    @property
    def armed_until(self) -> dt.datetime | None:
        if self.deadline_ns is None:
            return None
        return dt.datetime.fromtimestamp(self.deadline_ns / 1e9, dt.UTC)


def check_timeout(timeout_ms: int) -> int:
    """0 (disarm) or MIN_MS..MAX_MS."""
    if timeout_ms != 0 and not MIN_MS <= timeout_ms <= MAX_MS:
        raise ValidationError(
            f"timeoutMs is 0 (disarm) or {MIN_MS} to {MAX_MS}", field="timeoutMs", min=MIN_MS,
            max=MAX_MS,
        )  # fmt: skip
    return timeout_ms


class MongoCountdowns:
    """``order_countdowns``: ``_id`` account id, ``tenant_id``, ``deadline_ns``, ``timeout_ms``."""

    def __init__(self, db: Database) -> None:
        self._docs = db.order_countdowns

    async def arm(self, account_id: str, tenant_id: str, timeout_ms: int, now_ns: int) -> Countdown:
        if timeout_ms == 0:
            await self._docs.delete_one({"_id": account_id})
            return Countdown(account_id, 0, None)
        deadline = now_ns + timeout_ms * 1_000_000
        await self._docs.update_one(
            {"_id": account_id},
            {"$set": {"tenant_id": tenant_id, "deadline_ns": deadline, "timeout_ms": timeout_ms}},
            upsert=True,
        )
        return Countdown(account_id, timeout_ms, deadline)

    async def due(self, now_ns: int) -> list[Countdown]:
        cursor = self._docs.find({"deadline_ns": {"$lte": now_ns}})
        return [Countdown(d["_id"], int(d["timeout_ms"]), int(d["deadline_ns"]))
                async for d in cursor]  # fmt: skip

    async def clear(self, countdown: Countdown) -> bool:
        """Remove a countdown that fired, unless it was renewed meanwhile."""
        done = await self._docs.delete_one(
            {"_id": countdown.account_id, "deadline_ns": countdown.deadline_ns}
        )
        return bool(done.deleted_count)


class CancelEverywhere(Protocol):
    """What the runner needs of order entry (TradingService.cancel_everywhere)."""

    async def cancel_everywhere(self, account_id: str, note: dict[str, str]) -> int: ...


class CountdownRunner:
    """In the writer: cancels the orders of every account whose countdown ran out."""

    def __init__(
        self, countdowns: MongoCountdowns, trading: CancelEverywhere,
        clock: Callable[[], int] = time.time_ns, tick_s: float = TICK_S,
    ) -> None:  # fmt: skip
        self._countdowns, self._trading, self._clock = countdowns, trading, clock
        self._loop = Periodic("countdowns", tick_s, self.run_due, log)
        self.fired = 0

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def run_due(self) -> int:
        """Cancel for every due countdown; how many fired."""
        fired = 0
        for countdown in await self._countdowns.due(self._clock()):
            note = {NOTE_COUNTDOWN: str(countdown.deadline_ns)}
            cancelled = await self._trading.cancel_everywhere(countdown.account_id, note)
            await self._countdowns.clear(countdown)
            extra = {"account_id": countdown.account_id, "cancelled": cancelled}
            log.warning("countdown ran out: orders cancelled", extra=extra)
            fired += 1
        self.fired += fired
        return fired
