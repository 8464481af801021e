"""Folding funding rounds back into the read models' documents, behind the projections.

A funding round is a few ``funding_rounds`` and ``balance_rounds`` documents per market
(domains/positions/funding_rounds.py, domains/accounts/balances.py), and reads apply the
rounds newer than a position's or balance's document. Left so, every round would make
those reads cost more. In the writer, every ``CAAS_FUNDING_FOLD_SECONDS``, this job folds
the rounds the projections have written since its last pass into the position and balance
documents (bulk conditional writes in small chunks, never on the acknowledgement path nor
inside a projection batch): reads are equal before and after, and read only the rounds
newer than the last fold.

Where each read model was folded to (``read_model_folds``) is remembered in the store. A
replay re-projects the batches after the snapshot it started from, which can put a folded
document back to an older state (still read correctly, with the rounds): the first pass
after this process becomes the writer therefore starts at that snapshot, not later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from domains.shared.mongo import Database
from domains.shared.periodic import Periodic

log = logging.getLogger("caas.round_folding")

Fold = Callable[[int, int], Awaitable[int]]  # (after_seq, up_to_seq) -> documents written
FOLDS = "read_model_folds"


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
        self, db: Database, folds: Sequence[tuple[str, Fold]], projected: Callable[[], int],
        replay_start: Callable[[], int], interval_s: float,
    ) -> None:  # fmt: skip
        self._db, self._folds, self._projected = db, list(folds), projected
        self._replay_start = replay_start
        self._started = False  # the first pass since becoming the writer is not done yet
        self.stats = FoldFigures()
        self._loop = Periodic("round-folding", interval_s, self.run_once, log)

    def start(self) -> None:
        self._started = False
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

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
        for name, fold in self._folds:
            stored = await self._db[FOLDS].find_one({"_id": name})
            after = int(stored["seq"]) if stored else 0
            if not self._started:
                after = min(after, self._replay_start())
            if target <= after:
                continue
            started = time.perf_counter()
            written += await fold(after, target)
            await self._db[FOLDS].update_one({"_id": name}, {"$set": {"seq": target}}, upsert=True)
            self.stats.by_model[name] = time.perf_counter() - started
        self._started = True
        s = self.stats
        s.passes, s.documents, s.seq = s.passes + 1, written, target
        s.seconds = time.perf_counter() - began
        if written:
            log.info("funding rounds folded", extra={"seq": target, "documents": written})
        return written


async def fold_all(folds: Sequence[tuple[str, Fold]], up_to_seq: int) -> int:
    """Fold every round up to ``up_to_seq`` whatever was folded before (``caas settlement
    rebuild`` folds both sides to the same sequence before comparing them)."""
    written = 0
    for _, fold in folds:
        written += await fold(0, up_to_seq)
    return written
