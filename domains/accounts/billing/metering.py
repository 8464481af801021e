"""The API call meter: per tenant and UTC day, counted in memory on the request path and
added to ``billing_usage`` in one bulk write every ``flush_s`` (and on close), never a store
write per request.

Each process counts its own calls; the store sums the processes' increments (``$inc``). A
flush the store refuses keeps its counts for the next one; counts of a process that dies
between flushes (at most ``flush_s`` of its calls) are lost, never doubled by this code
(against a replica set, pymongo's retryable writes make a retried ``$inc`` apply once).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from domains.shared.periodic import Periodic

log = logging.getLogger("caas.billing.meter")
FLUSH_S = 5.0


class UsageStore(Protocol):
    """Where counts go (MongoBillingRepository, or a fake in tests)."""

    async def add_usage(self, counts: Mapping[tuple[str, dt.date], tuple[int, int]]) -> None: ...


@dataclass
class MeterFigures:
    """For /metrics: calls counted, flushes done and failed, counts waiting."""

    counted: int = 0
    flushes: int = 0
    failures: int = 0


class UsageMeter:
    """Counts each tenant's GraphQL operations (reads and mutations) per UTC day."""

    def __init__(self, store: UsageStore, flush_s: float = FLUSH_S) -> None:
        self._store = store
        self._pending: dict[tuple[str, dt.date], list[int]] = {}
        self._loop = Periodic("billing-meter", flush_s, self.flush, log)
        self.stats = MeterFigures()

    def count(self, tenant_id: str, mutation: bool, at: dt.datetime | None = None) -> None:
        """One operation of ``tenant_id``'s caller (no I/O)."""
        day = (at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()
        counters = self._pending.setdefault((tenant_id, day), [0, 0])
        counters[1 if mutation else 0] += 1
        self.stats.counted += 1

    @property
    def pending(self) -> int:
        return sum(sum(c) for c in self._pending.values())

    async def flush(self) -> None:
        """Add what was counted since the last flush to the store (kept on failure)."""
        taken, self._pending = self._pending, {}
        if not taken:
            return
        try:
            await self._store.add_usage({k: (v[0], v[1]) for k, v in taken.items()})
        except Exception:
            self.stats.failures += 1
            for key, (reads, mutations) in taken.items():  # counted meanwhile stays too
                counters = self._pending.setdefault(key, [0, 0])
                counters[0] += reads
                counters[1] += mutations
            raise
        self.stats.flushes += 1

    def start(self) -> None:
        self._loop.start()

    async def close(self) -> None:
        """Stop the timer and flush the rest (logged, not raised, if the store is away)."""
        await self._loop.stop()
        try:
            await self.flush()
        except Exception:
            log.exception("billing usage not flushed on close: %d calls lost", self.pending)

    def figures(self) -> dict[str, float]:
        s = self.stats
        return {"caas_billing_calls_counted": s.counted, "caas_billing_meter_flushes": s.flushes,
                "caas_billing_meter_failures": s.failures,
                "caas_billing_calls_pending": self.pending}  # fmt: skip
