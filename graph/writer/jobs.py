"""The background jobs only the lease holder runs (the simulated chain's miner and custody's
block work, the perpetuals' funding and index feed, the continuous reconciliation, the
countdown runner ...): started when this process becomes the writer, stopped when it
steps down or stops, started again when it takes the lease back. Knows no domain: each job
is a name with a start and a stop.

A stepped-down writer that kept them running would mine a second chain, cancel countdowns
and settle funding beside the new writer, and reconcile an engine it no longer owns.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("caas.writer_jobs")

Start = Callable[[], Awaitable[object] | object]
Stop = Callable[[], Awaitable[object]]


@dataclass
class _Job:
    name: str
    start: Start
    stop: Stop
    running: bool = False


class WriterJobs:
    """Named jobs started and stopped together with the writer role."""

    def __init__(self) -> None:
        self._jobs: list[_Job] = []
        self.starts = 0  # times the jobs were started (becoming the writer)
        self.stops = 0  # times they were stopped (stepping down, stopping)

    def add(self, name: str, start: Start, stop: Stop) -> None:
        """A job: ``start`` (sync or async) begins it, ``stop`` ends it and waits."""
        self._jobs.append(_Job(name, start, stop))

    @property
    def running(self) -> list[str]:
        return [job.name for job in self._jobs if job.running]

    async def start_all(self) -> None:
        """Start every job not running yet, in order (idempotent: a takeover retried after
        a failure part way starts only what did not start)."""
        for job in self._jobs:
            if job.running:
                continue
            started = job.start()
            if inspect.isawaitable(started):
                await started
            job.running = True
        self.starts += 1

    async def stop_all(self) -> None:
        """Stop every running job, in reverse order; a job failing to stop is logged and
        the others are stopped all the same."""
        for job in reversed(self._jobs):
            if not job.running:
                continue
            try:
                await job.stop()
            except Exception:
                log.exception("writer job %s did not stop cleanly", job.name)
            job.running = False
        self.stops += 1

    def figures(self) -> dict[str, float]:
        """``caas_writer_jobs_running``: writer-only jobs running in this process (0 on a
        standby); ``caas_writer_jobs_starts`` / ``_stops``: role changes seen."""
        return {
            "caas_writer_jobs_running": len(self.running),
            "caas_writer_jobs_starts": self.starts,
            "caas_writer_jobs_stops": self.stops,
        }
