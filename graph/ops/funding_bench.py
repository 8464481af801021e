"""`caas bench funding`: one funding round over many open positions, on the embedded store.

Sets up N accounts, each long one lot of the demo perpetual against one maker (who is
short N lots), quotes around the index so the mark carries a premium, then applies one
funding round and measures:
- the writer's stall: how long the funding command holds the writer (journal + engine +
  the immediate listeners), and how long a command queued right behind it waits;
- the read models: how long until the positions, funding payments, balances and ledger
  show the round (the projections behind the journal have passed its sequence);
- folding the rounds into the position and balance documents after the last one (paced as
  the writer's job is): how long, and the slowest light command submitted meanwhile.
Several rounds one after another over the same positions (``--rounds``): the best is shown.

A benchmark, not a test: it prints figures, it asserts nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress

from domains.accounts.service import AccountsService
from domains.orders.trading import TradingService
from engine import codes
from engine import commands as cmd
from engine.layout import Records
from graph.bootstrap import Platform
from graph.ops.embedded_store import EmbeddedStore
from graph.ops.seed import DEMO_TENANT, seed_demo
from graph.settings import Settings

MARKET = "BTC-USDT-PERP"
CHUNK = 2_000  # commands per submit_many group


async def _submit_all(platform: Platform, commands: list[Records], progress: Progress,
                      label: str) -> None:  # fmt: skip
    task = progress.add_task(label, total=len(commands))
    for start in range(0, len(commands), CHUNK):
        group = np.concatenate(commands[start : start + CHUNK])
        await platform.writer.submit_many(group)
        progress.advance(task, len(group))


async def _setup(platform: Platform, positions: int, console: Console) -> tuple[int, int]:
    """N long positions of one lot against one short maker; returns (market, maker)."""
    await seed_demo(platform)
    tenant = await platform.get(AccountsService).tenant_by_name(DEMO_TENANT)
    assert tenant is not None
    spec, market = await platform.get(TradingService).perpetual(MARKET)
    usdt = platform.directory.asset("USDT")
    assert usdt is not None
    price = spec.price_ticks(Decimal("64250"))
    directory = platform.directory
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("accounts", total=positions + 1)
        accounts = []
        for n in range(positions + 1):
            accounts.append(await directory.account_index(
                f"acc_fundbench{n:06d}", tenant.id, f"cus_fundbench{n:06d}"))  # fmt: skip
            progress.advance(task)
        maker, takers = accounts[0], accounts[1:]
        unit = 10**usdt.decimals
        deposits = [cmd.deposit_credit(0, 0, account=a, asset=usdt.index,
                                       amount_minor=10_000 * unit) for a in takers]  # fmt: skip
        deposits.append(cmd.deposit_credit(0, 0, account=maker, asset=usdt.index,
                                           amount_minor=10**9 * unit))  # fmt: skip
        await _submit_all(platform, deposits, progress, "deposits")
        await platform.writer.submit(cmd.place(0, 0, order_id=0, account=maker, market=market,
                                               side=codes.SELL, qty_lots=positions,
                                               price_ticks=price))  # fmt: skip
        buys = [
            cmd.place(0, 0, order_id=0, account=a, market=market, side=codes.BUY, qty_lots=1,
                      price_ticks=price, tif=codes.IOC)
            for a in takers
        ]  # fmt: skip
        await _submit_all(platform, buys, progress, "positions")
    for side, ticks in ((codes.BUY, price + 10), (codes.SELL, price + 30)):  # mid above index
        quote = cmd.place(0, 0, order_id=0, account=maker, market=market, side=side,
                          qty_lots=1, price_ticks=ticks)  # fmt: skip
        await platform.writer.submit(quote)
    await platform.writer.submit(cmd.set_index_price(0, 0, market=market, price_ticks=price))
    return market, maker


class _GcClock:
    """The seconds this process spends in garbage collection until ``stop``."""

    def __init__(self) -> None:
        self.seconds, self._began = 0.0, 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        elif self._began:
            self.seconds += time.perf_counter() - self._began

    def stop(self) -> float:
        gc.callbacks.remove(self._tick)
        return self.seconds


async def _measure(platform: Platform, market: int, maker: int) -> tuple[float, float, list[str]]:
    """One round: (writer stall s, seconds until the read models show it, the report)."""
    writer, projections = platform.writer, platform.writer.projections
    await projections.drain()
    by_listener = dict(projections.stats.by_listener)
    await asyncio.sleep(1.2)  # past the next funding time (interval 1 s in this bench)
    before = dataclasses.replace(writer.stats)
    collecting = _GcClock()
    started = time.perf_counter()
    funding = asyncio.create_task(writer.submit(cmd.apply_funding(0, 0, market=market)))
    await asyncio.sleep(0)  # the funding command is queued first
    usdt = platform.directory.asset("USDT")
    assert usdt is not None
    probe = asyncio.create_task(writer.submit(  # a light command right behind it
        cmd.deposit_credit(0, 0, account=maker, asset=usdt.index, amount_minor=1)))  # fmt: skip
    submitted = await funding
    acked = time.perf_counter() - started
    await probe
    probed = time.perf_counter() - started
    await projections.reached(submitted.seq)
    shown = time.perf_counter() - started
    gc_seconds = collecting.stop()
    after = writer.stats
    events = submitted.events
    payments = (
        int(np.count_nonzero(events["kind"] == codes.EV_FUNDING)) if events is not None else 0
    )
    db = platform.db
    rounds = [doc async for doc in db.funding_rounds.find({"seq": submitted.seq})]
    stored = sum(len(doc["entries"]) for doc in rounds)
    carried = sum(1 for doc in rounds for entry in doc["entries"].values() if "p" in entry)
    moved = await db.positions.count_documents({"seq": {"$gte": submitted.seq}})
    spent = {name: seconds - by_listener.get(name, 0.0)
             for name, seconds in projections.stats.by_listener.items()}  # fmt: skip
    return (
        probed,
        shown,
        [
            f"funding round: {payments:,} payments (events), {stored:,} in {len(rounds)} round "
            f"documents ({carried:,} positions carried by them), {moved:,} position documents "
            "written",
            "  read models: "
            + ", ".join(
                f"{name} {seconds * 1000:.0f} ms"
                for name, seconds in spent.items()
                if seconds >= 0.0005
            ),
            f"  writer stall: funding acknowledged in {acked * 1000:.1f} ms (journal "
            f"{(after.journal_seconds - before.journal_seconds) * 1000:.1f} ms, engine "
            f"{(after.apply_seconds - before.apply_seconds) * 1000:.1f} ms, immediate listeners "
            f"{(after.listener_seconds - before.listener_seconds) * 1000:.1f} ms); a command "
            f"queued behind it answered after {probed * 1000:.1f} ms",
            f"  read models show it after {shown * 1000:.0f} ms (of which this process's "
            f"garbage collection {gc_seconds * 1000:.0f} ms)",
        ],
    )


async def _fold(platform: Platform, maker: int) -> str:
    """Fold the rounds into the documents (as the writer's job does every
    CAAS_FUNDING_FOLD_SECONDS) while a light command (a cancel of no order: journaled,
    refused, nothing to project) is submitted every 20 ms: how long it took, and the slowest
    of those commands (the fold's writer stall). Not a deposit: each would add to the
    maker's AML history, which the compliance projector reads for the next one."""
    slowest = 0.0
    up_to = platform.writer.projections.projected_seq  # every round, however few
    folding = asyncio.create_task(platform.round_folding.run_once(up_to))
    began = time.perf_counter()
    while not folding.done():
        sent = time.perf_counter()
        await platform.writer.submit(cmd.cancel(0, 0, order_id=2**40, account=maker))
        slowest = max(slowest, time.perf_counter() - sent)
        await asyncio.sleep(0.02)
    written, seconds = await folding, time.perf_counter() - began
    spent = ", ".join(f"{name} {t * 1000:.0f} ms"
                      for name, t in platform.round_folding.stats.by_model.items())  # fmt: skip
    return (f"  folded into {written:,} documents in {seconds * 1000:.0f} ms ({spent}); "
            f"slowest command meanwhile {slowest * 1000:.1f} ms")  # fmt: skip


def run(positions: int = 10_000, rounds: int = 3) -> str:
    """Start a store and a platform in this process, set up, measure ``rounds`` rounds one
    after another (the same positions); return the summary (the best round's figures)."""
    console = Console(soft_wrap=True)
    os.environ["CAAS_FUNDING_INTERVAL_SECONDS"] = "1"  # the perpetual settles every second
    os.environ["CAAS_FUNDING_CHECK_SECONDS"] = "100000"  # but only when the bench says so
    os.environ["CAAS_INDEX_FEED_SECONDS"] = "0"
    os.environ["CAAS_FUNDING_FOLD_SECONDS"] = "0"  # folded after each round, measured
    with tempfile.TemporaryDirectory() as tmp, EmbeddedStore(Path(tmp) / "mongo") as store:
        settings = dataclasses.replace(
            Settings.from_env(), data_dir=Path(tmp), mongodb_db="bench_funding", redis_url=None
        )

        async def main() -> list[str]:
            platform = Platform(settings, store.uri)
            await platform.start()
            try:
                began = time.perf_counter()
                market, maker = await _setup(platform, positions, console)
                await platform.writer.projections.drain()
                console.print(f"set up {positions:,} positions in "
                              f"{time.perf_counter() - began:.0f} s")  # fmt: skip
                stalls, shows = [], []
                for n in range(rounds):
                    stall, shown, lines = await _measure(platform, market, maker)
                    console.print(f"round {n + 1} of {rounds}:", *lines, sep="\n")
                    stalls.append(stall)
                    shows.append(shown)
                console.print("after the last round:", await _fold(platform, maker), sep="\n")
                return [
                    f"funding: writer stall {min(stalls) * 1000:.1f} ms, read models "
                    f"{min(shows) * 1000:.0f} ms, {positions + 1:,} positions (best of "
                    f"{rounds} rounds; stalls "
                    + ", ".join(f"{s * 1000:.0f}" for s in stalls)
                    + " ms, read models "
                    + ", ".join(f"{s * 1000:.0f}" for s in shows)
                    + " ms)"
                ]
            finally:
                await platform.close()

        lines = asyncio.run(main())
    return lines[-1]
