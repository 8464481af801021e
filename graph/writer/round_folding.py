"""Folding funding rounds back into the read models' documents, behind the projections.

A funding round is a few ``funding_rounds`` and ``balance_rounds`` documents per market
(domains/positions/funding_rounds.py, domains/accounts/balances.py), and reads apply the
rounds newer than a position's or balance's document. Left so, every round would make
those reads cost more. In the writer, every ``CAAS_FUNDING_FOLD_SECONDS``, once a read may
have to apply ``CAAS_FUNDING_FOLD_ROUNDS`` rounds of one market (or margin asset), this job
folds the rounds the projections have written since its last pass into the position and
balance documents (bulk conditional writes in small chunks, paced to a quarter of the store's
time, never on the acknowledgement path nor inside a projection batch): reads are equal
before and after, and apply at most those few rounds. Folding costs a write per position
and balance (~20,000 for a round over 10,000 positions), so it is done every few rounds,
not after each.

Where each read model was folded to (``read_model_folds``) is remembered in the store. A
replay re-projects the batches after the snapshot it started from, which can put a folded
document back to an older state (still read correctly, with the rounds): the first pass
after this process becomes the writer therefore starts at that snapshot, not later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from domains.shared.mongo import Database, Pace, no_pace
from domains.shared.periodic import Periodic

log = logging.getLogger("caas.round_folding")

# (after_seq, up_to_seq, pace) -> documents written
Fold = Callable[[int, int, Pace], Awaitable[int]]
RoundsSince = Callable[[int], Awaitable[int]]  # after_seq -> most rounds a read may apply


@dataclass(frozen=True)
class Folded:
    """A read model that funding rounds fold into."""

    name: str
    fold: Fold
    rounds_since: RoundsSince


FOLDS = "read_model_folds"
# the share of time a pass keeps the store busy: each chunk of writes is followed by a pause
# three times as long, so the journal's and the projections' writes keep most of the store
# (a 10,000-position round takes a few minutes to fold; rounds come every 8 hours)
DUTY = 0.25


@dataclass
class FoldFigures:
    """Counters for metrics and benchmarks."""

    passes: int = 0
    documents: int = 0  # documents written by the last pass
    seq: int = 0  # what the last pass folded up to
    seconds: float = 0.0  # the last pass
    by_model: dict[str, float] = field(default_factory=dict)  # seconds of the last pass


class RoundFolding:
    """Folds rounds into documents: ``run_once`` up to the projected sequence."""

    def __init__(
        self, db: Database, folds: Sequence[Folded], projected: Callable[[], int],
        replay_start: Callable[[], int], interval_s: float, min_rounds: int = 1,
        duty: float = DUTY,
    ) -> None:  # fmt: skip
        self._db, self._folds, self._projected = db, list(folds), projected
        self._min_rounds = min_rounds
        self._rest = (1 - duty) / duty  # seconds of pause per second of writes
        self._replay_start = replay_start
        self._started = False  # the first pass since becoming the writer is not done yet
        self.stats = FoldFigures()
        self._loop = Periodic("round-folding", interval_s, self.run_once, log)

    def start(self) -> None:
        self._started = False
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    async def _pace(self, seconds: float) -> None:
        await asyncio.sleep(seconds * self._rest)

    def figures(self) -> dict[str, float]:
        s = self.stats
        return {"caas_fold_passes": s.passes, "caas_fold_documents": s.documents,
                "caas_fold_seq": s.seq, "caas_fold_seconds": s.seconds}  # fmt: skip

    async def run_once(self, up_to_seq: int | None = None) -> int:
        """Fold every round up to ``up_to_seq`` (default: what the projections have written)
        that the last pass did not; the documents written."""
        target = self._projected() if up_to_seq is None else up_to_seq
        began, written = time.perf_counter(), 0
        self.stats.by_model = {}
        for model in self._folds:
            stored = await self._db[FOLDS].find_one({"_id": model.name})
            after = int(stored["seq"]) if stored else 0
            if not self._started:
                after = min(after, self._replay_start())
            elif up_to_seq is None and await model.rounds_since(after) < self._min_rounds:
                continue  # reads apply fewer rounds than are worth a pass
            if target <= after:
                continue
            started = time.perf_counter()
            written += await model.fold(after, target, self._pace)
            await self._db[FOLDS].update_one(
                {"_id": model.name}, {"$set": {"seq": target}}, upsert=True
            )
            self.stats.by_model[model.name] = time.perf_counter() - started
        self._started = True
        s = self.stats
        s.passes, s.documents, s.seq = s.passes + 1, written, target
        s.seconds = time.perf_counter() - began
        if written:
            log.info("funding rounds folded", extra={"seq": target, "documents": written})
        return written


async def fold_all(folds: Sequence[Folded], up_to_seq: int) -> int:
    """Fold every round up to ``up_to_seq`` whatever was folded before (``caas settlement
    rebuild`` folds both sides to the same sequence before comparing them)."""
    written = 0
    for model in folds:
        written += await model.fold(0, up_to_seq, no_pace)
    return written
