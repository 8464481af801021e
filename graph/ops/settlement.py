"""Redundant settlement: every read model and the ledger rebuilt from the journal into a
second database, compared document by document with the live one (`caas settlement
rebuild`).

The second database gets what only the store holds (the journal, the engine directory,
customers, keys, custody, configuration) copied as of one journal sequence, and no
snapshot: a platform started on it in rebuild mode (no lease, no background jobs, no new
commands) replays the whole journal through every projection. The read models are then
compared with the live ones, leaving out what the wall clock decides in them. A live
system that journals more commands while this runs cannot be compared exactly: the report
says so (inconclusive) instead of listing differences that are only progress.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field

from pymongo import AsyncMongoClient

from domains.shared.mongo import Database, Document
from graph.bootstrap import Platform
from graph.settings import Settings
from graph.writer.billing_ledger import BILLING_SOURCE
from graph.writer.journal import MongoJournal
from graph.writer.round_folding import fold_all

# read models the projections write (rebuilt) and what only the wall clock decides in them
PROJECTED = ("orders", "trades", "balances", "balance_rounds", "ledger_entries", "positions",
             "funding_rounds", "liquidations", "compliance_alerts", "aml_transactions")  # fmt: skip
VOLATILE = frozenset({"updated_at", "detected_at", "sort_key", "recorded_at"})
# the ledger's memory of each position's realised PnL is projected state too: copied, it
# made the rebuilt ledger skip every realised-PnL posting as already made
NOT_COPIED = frozenset({*PROJECTED, "engine_snapshots", "engine_snapshot_files.files",
                        "engine_snapshot_files.chunks", "engine_leases",
                        "ledger_perp_realized"})  # fmt: skip
COPY_CHUNK = 1_000
SHOWN_PER_COLLECTION = 5  # differences listed per read model (all are counted)


@dataclass
class SettlementReport:
    """What the rebuild found: per read model, documents compared and differences."""

    journal_seq: int = 0
    live_seq_after: int = 0
    compared: dict[str, int] = field(default_factory=dict)
    differences: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def moved(self) -> bool:
        """The live journal grew while the rebuild ran: the comparison is not exact."""
        return self.live_seq_after != self.journal_seq

    @property
    def clean(self) -> bool:
        return not any(self.differences.values())


def comparable(doc: Document) -> Document:
    """A read-model document without the fields the wall clock decides."""
    return {k: v for k, v in doc.items() if k not in VOLATILE}


async def copy_sources(source: Database, target: Database) -> None:
    """Copy every collection only the store holds (not the read models, not snapshots), and
    the ledger entries the journal does not replay (invoices: graph/writer/billing_ledger.py)."""
    for name in await source.list_collection_names():
        if name.startswith("system."):
            continue
        only: Document = {}
        if name == "ledger_entries":
            only = {"source": BILLING_SOURCE}
        elif name in NOT_COPIED:
            continue
        chunk: list[Document] = []
        async for doc in source[name].find(only):
            chunk.append(doc)
            if len(chunk) >= COPY_CHUNK:
                await target[name].insert_many(chunk, ordered=False)
                chunk = []
        if chunk:
            await target[name].insert_many(chunk, ordered=False)


async def compare(live: Database, rebuilt: Database, report: SettlementReport) -> None:
    """Each read model by ``_id``: documents only one side has, and differing ones (the
    rebuilt side is held in memory, the live side streamed)."""
    for name in PROJECTED:
        compared = differing = 0
        others = {repr(d["_id"]): comparable(d) async for d in rebuilt[name].find({})}
        problems: list[str] = []
        async for doc in live[name].find({}):
            compared += 1
            other = others.pop(repr(doc["_id"]), None)
            if other is None:
                problems.append(f"{name} {doc['_id']}: live only")
            elif doc.get("migrated"):  # funding history migrated from one document per
                doc, other = _as_migrated(doc, other)  # payment: no position states
                if (problem := _difference(name, comparable(doc), other)) is not None:
                    problems.append(problem)
            elif (problem := _difference(name, comparable(doc), other)) is not None:
                problems.append(problem)
        compared += len(others)
        problems += [f"{name} {doc['_id']}: rebuilt only" for doc in others.values()]
        differing = len(problems)
        report.examples += problems[:SHOWN_PER_COLLECTION]
        report.compared[name], report.differences[name] = compared, differing


def _as_migrated(live: Document, rebuilt: Document) -> tuple[Document, Document]:
    """A funding round migrated from ``funding_payments`` and its rebuilt document, both as
    the migration could write them: payments only (the old scheme kept each position's
    state in its own document, so the migrated entries carry none)."""
    entries = {account: {k: v for k, v in entry.items() if k != "p"}
               for account, entry in rebuilt.get("entries", {}).items()}  # fmt: skip
    return {k: v for k, v in live.items() if k != "migrated"}, {**rebuilt, "entries": entries}


def _difference(name: str, live: Document, rebuilt: Document) -> str | None:
    if live == rebuilt:
        return None
    fields = sorted(k for k in live.keys() | rebuilt.keys() if live.get(k) != rebuilt.get(k))
    shown = ", ".join(f"{k} live {live.get(k)!r} rebuilt {rebuilt.get(k)!r}" for k in fields[:3])
    return f"{name} {live['_id']}: {shown}"


async def rebuild(
    settings: Settings, uri: str, target_db: str, keep: bool = False
) -> SettlementReport:
    """Rebuild the read models of ``settings.mongodb_db`` into ``target_db`` and compare."""
    started = time.perf_counter()
    report = SettlementReport()
    client: AsyncMongoClient[Document] = AsyncMongoClient(uri, tz_aware=True)
    try:
        if target_db in await client.list_database_names():
            raise ValueError(f"database {target_db!r} exists: name a new one")
        source, target = client[settings.mongodb_db], client[target_db]
        report.journal_seq = await MongoJournal(source).last_seq()
        try:
            await copy_sources(source, target)
            copy = dataclasses.replace(settings, mongodb_db=target_db, redis_url=None)
            rebuilt = Platform(copy, uri,  # no broker: replayed events reach no subscriber
                               read_only=True, rebuild=True)  # fmt: skip
            await rebuilt.start()  # no snapshot: the whole journal replays through projections
            try:
                await rebuilt.writer.projections.drain()
                # funding rounds folded into the documents on both sides alike: the live
                # writer folds them on its own clock (graph/writer/round_folding.py)
                for db in (target, source):
                    await fold_all(rebuilt.funding_folds(db), report.journal_seq)
            finally:
                await rebuilt.close()
            await compare(source, target, report)
            report.live_seq_after = await MongoJournal(source).last_seq()
        finally:
            if not keep:
                await client.drop_database(target_db)
    finally:
        await client.close()
    report.seconds = time.perf_counter() - started
    return report


def summary(report: SettlementReport) -> list[str]:
    """The report as lines for the terminal."""
    lines = [
        f"journal through seq {report.journal_seq}: "
        + ", ".join(f"{name} {report.compared[name]}" for name in PROJECTED)
        + f" documents compared in {report.seconds:.1f} s"
    ]
    lines += [f"difference: {line}" for line in report.examples]
    for name, count in report.differences.items():
        if count > SHOWN_PER_COLLECTION:
            lines.append(f"{name}: {count} differences in all")
    if report.moved:
        lines.append(
            f"the live journal moved to seq {report.live_seq_after} meanwhile: run again "
            "when it is quiet (or against a copy) for an exact comparison"
        )
    return lines


async def quiet(db: Database, seconds: float = 1.0, timeout_s: float = 30.0) -> int:
    """Wait until the journal has not grown for ``seconds``; its last seq."""
    journal = MongoJournal(db)
    deadline = time.monotonic() + timeout_s
    last = await journal.last_seq()
    since = time.monotonic()
    while time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        now = await journal.last_seq()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            break
    return last
