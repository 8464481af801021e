"""Reconciliation: the engine's balances (recovered from snapshot + journal) against the
balance read model and the ledger, and conservation per asset. There must be no difference.
`caas reconcile` runs it once; in the writer, ``ContinuousReconcile`` runs the balance and
conservation part every ``CAAS_RECONCILE_SECONDS``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from domains.accounts.balances import Balance, MongoBalances
from domains.shared.context import TenantScope
from domains.shared.mongo import Database
from domains.shared.periodic import Periodic
from engine.layout import I64Array
from graph.writer.engine_directory import MongoEngineDirectory
from graph.writer.ledger import MARKUP_PREFIX, ledger_totals
from graph.writer.sequencer import EngineWriter

if TYPE_CHECKING:  # the edge role imports this module and must never load Numba
    from engine.core import Engine

log = logging.getLogger("caas.reconcile")


@dataclass
class ReconcileReport:
    """Differences found; empty lists mean the books agree."""

    accounts_checked: int = 0
    differences: list[str] = field(default_factory=list)
    conservation: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.differences and not self.conservation


def balance_differences(
    table: I64Array, directory: MongoEngineDirectory, stored: list[Balance]
) -> list[str]:
    """Every account's engine balances (``Engine.balance_table`` at one sequence) against
    the balance read model at the same sequence."""
    projected = {(b.account_id, b.asset): (b.available, b.locked) for b in stored}
    differences = []
    for ref in directory.accounts():
        for info in directory.assets():
            available, locked = (int(v) for v in table[ref.index, info.index])
            expected = (
                Decimal(available).scaleb(-info.decimals),
                Decimal(locked).scaleb(-info.decimals),
            )
            got = projected.get((ref.account_id, info.code), (Decimal(0), Decimal(0)))
            if got != expected:
                differences.append(
                    f"{ref.account_id} {info.code}: engine {expected[0]}/{expected[1]}, "
                    f"read model {got[0]}/{got[1]}"
                )
    return differences


async def reconcile(
    engine: Engine, directory: MongoEngineDirectory, balances: MongoBalances, db: Database
) -> ReconcileReport:
    """Compare every account's engine balances with the read model and with the ledger,
    check that the ledger balances per asset, then conservation."""
    report = ReconcileReport()
    ledger = await ledger_totals(db)
    for info in directory.assets():
        net = sum(total for (_, asset), total in ledger.items() if asset == info.code)
        if net != 0:
            report.differences.append(f"ledger does not balance for {info.code}: net {net}")
    refs = directory.accounts()
    stored = await balances.of_accounts(TenantScope(None), [r.account_id for r in refs])
    table = engine.balance_table()
    report.accounts_checked = len(refs)
    report.differences += balance_differences(table, directory, stored)
    for ref in refs:
        for info in directory.assets():
            available, locked = (int(v) for v in table[ref.index, info.index])
            posted = ledger.get((ref.account_id, info.code), 0)
            if ref.index == 0:  # account 0 holds the platform's fees and every markup
                posted += sum(
                    total for (account, asset), total in ledger.items()
                    if asset == info.code and account.startswith(MARKUP_PREFIX)
                )  # fmt: skip
            if posted != available + locked:
                report.differences.append(
                    f"{ref.account_id} {info.code}: engine total {available + locked} minor, "
                    f"ledger {posted}"
                )
    report.conservation += conservation_problems(engine, directory)
    return report


def conservation_problems(engine: Engine, directory: MongoEngineDirectory) -> list[str]:
    """Per asset: balances - open cost == credits - debits, in the engine."""
    problems = []
    for info in directory.assets():
        totals = engine.asset_totals(info.index)
        open_cost = totals.get("open_cost", 0)  # perpetual positions margined in the asset
        if totals["balances"] - open_cost != totals["credits"] - totals["debits"]:
            problems.append(
                f"{info.code}: balances {totals['balances']} - open cost {open_cost} != "
                f"credits {totals['credits']} - debits {totals['debits']}"
            )
    return problems


@dataclass
class ReconcileFigures:
    """What the continuous reconciliation did, for /metrics."""

    runs: int = 0
    skipped: int = 0  # the read models had already passed the sequence taken
    drift: int = 0  # differences found by the last run
    drift_total: int = 0
    last_seq: int = 0
    seconds: float = 0.0


class ContinuousReconcile:
    """In the writer, every ``interval_s``: the engine's balances and conservation at one
    sequence against the balance read model standing at exactly that sequence (the
    projections pause while it is read). A difference is logged as an error
    (``reconcile drift``) and counted in ``caas_reconcile_drift`` for the alert rule."""

    def __init__(
        self, writer: EngineWriter, directory: MongoEngineDirectory, balances: MongoBalances,
        interval_s: float,
    ) -> None:  # fmt: skip
        self.writer, self.directory, self.balances = writer, directory, balances
        self.stats = ReconcileFigures()
        self._loop = Periodic("reconcile", interval_s, self.run_once, log)

    def start(self) -> None:
        self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()

    def figures(self) -> dict[str, float]:
        s = self.stats
        return {
            "caas_reconcile_runs": s.runs, "caas_reconcile_skipped": s.skipped,
            "caas_reconcile_drift": s.drift, "caas_reconcile_drift_total": s.drift_total,
            "caas_reconcile_last_seq": s.last_seq, "caas_reconcile_seconds": s.seconds,
        }  # fmt: skip

    async def run_once(self) -> list[str]:
        """One reconciliation; the differences found (also counted and logged)."""
        engine = self.writer.engine
        seq, table = engine.last_seq, engine.balance_table()  # one sequence, synchronously
        differences = conservation_problems(engine, self.directory)
        began = time.perf_counter()

        async def compare() -> None:
            refs = self.directory.accounts()
            ids = [r.account_id for r in refs]
            stored = await self.balances.of_accounts(TenantScope(None), ids)
            differences.extend(balance_differences(table, self.directory, stored))

        if not await self.writer.projections.at(seq, compare):
            self.stats.skipped += 1
            return []
        s = self.stats
        s.runs, s.last_seq, s.drift = s.runs + 1, seq, len(differences)
        s.drift_total += len(differences)
        s.seconds = time.perf_counter() - began
        if differences:
            log.error("reconcile drift", extra={"seq": seq, "differences": differences[:20],
                                                "count": len(differences)})  # fmt: skip
        return differences
