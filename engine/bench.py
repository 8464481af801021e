"""`caas bench engine`: replay a generated workload through the engine and the reference.

Prints throughput in batches of 1,000, `apply` latency for batches of 1 and of 1,000, and
the reference model's speed on a prefix of the same workload. The last line is
`engine: <N> cmd/s, p99 batch-of-1 <X> us, <R>x reference` so runs compare. Not a test.
Imports rich for output; timing uses floats (the engine never does).
"""

from __future__ import annotations

import argparse
import gc
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from engine import codes as c
from engine import commands as cmd
from engine.core import Engine
from engine.kernels.workload import G_MID, G_NFIELDS, generate, seed_workload
from engine.layout import COMMAND_DTYPE, EngineConfig, Records
from engine.reference import ReferenceEngine

N_ACCOUNTS = 8
FEE_ACCOUNT = N_ACCOUNTS
MID_TICKS = 10_000
BATCH = 1_000
CONFIG = EngineConfig(max_markets=1, max_accounts=N_ACCOUNTS + 1, max_assets=2,
                      max_orders=1_000_000, max_price_levels=8_192)  # fmt: skip


@dataclass
class BenchResult:
    """Figures of one run; `summary_line()` is the comparable last line."""

    n_commands: int
    seconds: float
    cpu_seconds: float  # this thread's CPU time inside the same apply calls
    batch_1000_us: tuple[float, float]  # p50, p99
    batch_1_us: tuple[float, float]
    reference_prefix: int
    reference_cmd_per_s: float
    engine_prefix_cmd_per_s: float
    events: int
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def cmd_per_s(self) -> float:
        """Throughput over the whole workload, batches of 1,000."""
        return self.n_commands / self.seconds

    @property
    def cmd_per_cpu_s(self) -> float:
        """Throughput per second of this thread's CPU time: unaffected by other processes
        taking the core (a shared machine), still affected by their use of shared caches."""
        return self.n_commands / self.cpu_seconds

    @property
    def reference_ratio(self) -> float:
        """Engine speed / reference speed on the same prefix."""
        return self.engine_prefix_cmd_per_s / self.reference_cmd_per_s

    def summary_line(self) -> str:
        """`engine: <N> cmd/s, p99 batch-of-1 <X> us, <R>x reference, <C> cmd per CPU-s`."""
        return (
            f"engine: {self.cmd_per_s:,.0f} cmd/s, p99 batch-of-1 {self.batch_1_us[1]:.2f} us, "
            f"{self.reference_ratio:,.0f}x reference, {self.cmd_per_cpu_s:,.0f} cmd per CPU-s"
        )


class Workload:
    """Setup commands, then chunks from the generator kernel (deterministic per seed)."""

    def __init__(self, n_commands: int, seed: int) -> None:
        seed_workload(seed)
        self.setup = self._setup()
        self._gen = np.zeros(G_NFIELDS, dtype=np.int64)
        self._gen[:] = (len(self.setup), MID_TICKS, 0)[:G_NFIELDS]
        self._gen[G_MID] = MID_TICKS
        self._pool = np.zeros(n_commands + 1, dtype=np.int64)
        self._owner = np.zeros(n_commands + 1, dtype=np.int64)

    @staticmethod
    def _setup() -> Records:
        parts = [cmd.add_market(1, 0, market=0, base_asset=0, quote_asset=1, base_per_lot=1_000,
                                quote_per_tick_lot=1, fee_account=FEE_ACCOUNT, collar_bps=500,
                                band_bps=2_000, reference_price_ticks=MID_TICKS)]  # fmt: skip
        seq = 2
        for account in range(N_ACCOUNTS):
            for asset in (0, 1):
                parts.append(cmd.deposit_credit(seq, 0, account=account, asset=asset,
                                                amount_minor=10**15))  # fmt: skip
                seq += 1
            parts.append(cmd.set_fee_rate(seq, 0, account=account, maker_bps=2, taker_bps=5))
            seq += 1
        return np.concatenate(parts)

    def chunk(self, n: int, engine: Engine) -> Records:
        """The next `n` commands; cancels pick orders live in `engine` right now."""
        out = np.zeros(n, dtype=COMMAND_DTYPE)
        generate(
            out, self._gen, self._pool, self._owner, N_ACCOUNTS, engine.order_index,
            engine.order_rows, engine.last_seq,
        )  # fmt: skip
        return out


def _percentiles(samples_ns: list[int] | np.ndarray) -> tuple[float, float]:
    arr = np.asarray(samples_ns, dtype=np.float64) / 1_000.0
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


Replay = tuple[Engine, Workload, float, float, list[int], int, Counter[str]]


def _throughput(n_commands: int, seed: int, progress: bool) -> Replay:
    engine, work = Engine(CONFIG), Workload(n_commands, seed)
    engine.apply(work.setup)
    batch_ns: list[int] = []
    cpu_ns = 0
    events, outcomes = 0, Counter[str]()
    columns = (TextColumn("[bold]engine"), BarColumn(), TextColumn("{task.completed:,} cmd"))
    with Progress(*columns, TimeRemainingColumn(), disable=not progress) as bar:
        task = bar.add_task("replay", total=n_commands)
        for start in range(0, n_commands, BATCH):
            batch = work.chunk(min(BATCH, n_commands - start), engine)  # not timed
            c0, t0 = time.thread_time_ns(), time.perf_counter_ns()
            out = engine.apply(batch)
            batch_ns.append(time.perf_counter_ns() - t0)
            cpu_ns += time.thread_time_ns() - c0
            events += len(out)
            if len(batch_ns) % 64 == 0:
                _tally(outcomes, out)
                bar.update(task, completed=start + len(batch))
        bar.update(task, completed=n_commands)
    return engine, work, sum(batch_ns) / 1e9, cpu_ns / 1e9, batch_ns, events, outcomes


def _tally(outcomes: Counter[str], events: Records) -> None:
    """Sample of outcomes (every 64th batch) for the report."""
    for kind, code in zip(events["kind"], events["code"], strict=True):
        if kind in (c.EV_REJECTED, c.EV_ORDER_DONE):
            outcomes[c.REASON_NAMES.get(int(code), str(code))] += 1
        elif kind == c.EV_TRADE:
            outcomes["TRADE"] += 1


def _single_latency(engine: Engine, work: Workload, n: int = 20_000) -> tuple[float, float]:
    samples = np.empty(n, dtype=np.int64)
    for i in range(n):
        one = work.chunk(1, engine)
        t0 = time.perf_counter_ns()
        engine.apply(one)
        samples[i] = time.perf_counter_ns() - t0
    return _percentiles(samples)


def _reference_speed(prefix: int, seed: int) -> tuple[float, float]:
    """(engine cmd/s, reference cmd/s) on the same first `prefix` workload commands."""
    recorder, work = Engine(CONFIG), Workload(prefix, seed)
    recorder.apply(work.setup)
    batches = []
    for _ in range(0, prefix, BATCH):
        batches.append(work.chunk(BATCH, recorder))
        recorder.apply(batches[-1])
    speeds = []
    for model in (Engine(CONFIG), ReferenceEngine(CONFIG)):
        model.apply(work.setup)
        t0 = time.perf_counter()
        for batch in batches:
            model.apply(batch)
        speeds.append(len(batches) * BATCH / (time.perf_counter() - t0))
    return speeds[0], speeds[1]


def run(n_commands: int = 5_000_000, *, seed: int = 1, progress: bool = True) -> BenchResult:
    """Run the benchmark, print its figures with rich, return them."""
    console = Console()
    warm = Engine(CONFIG)
    warm.apply(Workload(10, seed).chunk(10, warm))  # load / compile kernels first
    gc.collect()
    gc.freeze()  # as a latency-sensitive service would: no long GC walks while timing
    engine, work, seconds, cpu_seconds, batch_ns, events, outcomes = _throughput(
        n_commands, seed, progress
    )
    single = _single_latency(engine, work)
    prefix = min(200_000, n_commands)
    engine_prefix, reference = _reference_speed(prefix, seed)
    result = BenchResult(n_commands=n_commands, seconds=seconds, cpu_seconds=cpu_seconds,
                         batch_1000_us=_percentiles(batch_ns), batch_1_us=single,
                         reference_prefix=prefix, reference_cmd_per_s=reference,
                         engine_prefix_cmd_per_s=engine_prefix, events=events,
                         outcomes=dict(outcomes.most_common(8)))  # fmt: skip
    _report(console, result, engine)
    console.print(result.summary_line())
    return result


def _report(console: Console, r: BenchResult, engine: Engine) -> None:
    table = Table(title="engine benchmark (one core, balances + fees + STP on)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("commands", f"{r.n_commands:,}")
    table.add_row("throughput, batches of 1,000", f"{r.cmd_per_s:,.0f} cmd/s")
    table.add_row("ns per command", f"{1e9 / r.cmd_per_s:,.0f}")
    table.add_row("throughput per CPU-second (this thread)", f"{r.cmd_per_cpu_s:,.0f} cmd/s")
    table.add_row("events", f"{r.events:,} ({r.events / r.n_commands:.2f} per command)")
    table.add_row(
        "apply, batch of 1,000: p50 / p99", "{:,.0f} / {:,.0f} us".format(*r.batch_1000_us)
    )
    table.add_row("apply, batch of 1: p50 / p99", "{:.2f} / {:.2f} us".format(*r.batch_1_us))
    table.add_row(f"reference, first {r.reference_prefix:,} commands",
                  f"{r.reference_cmd_per_s:,.0f} cmd/s")  # fmt: skip
    table.add_row(f"engine, same {r.reference_prefix:,} commands",
                  f"{r.engine_prefix_cmd_per_s:,.0f} cmd/s")  # fmt: skip
    bids, asks = engine.book(0, 1)
    table.add_row("live orders at the end", f"{len(engine.open_orders(0)):,} (account 0)")
    table.add_row("top of book at the end", f"{bids} / {asks}")
    table.add_row("sampled outcomes", ", ".join(f"{k} {v:,}" for k, v in r.outcomes.items()))
    console.print(table)


def main() -> None:
    """`python -m engine.bench [--n N] [--seed S] [--no-progress]`."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    run(args.n, seed=args.seed, progress=not args.no_progress)


if __name__ == "__main__":
    main()
