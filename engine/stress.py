"""Seeded stress run: the stress workload through the engine, checked for conservation and
for a bit-identical snapshot + replay.

`run_stress(n_commands, seed, snapshot_at)` applies the commands of engine.stress_workload
in batches through `Engine.apply`, keeps its own ledger (accepted deposits, withdrawals and
holds from the commands it sent, fees from TRADE events, the last BALANCE_CHANGED of every
balance), snapshots the engine after `snapshot_at` commands, then checks that money is
conserved per asset, that the engine's counters and events agree with the ledger, and that
the snapshot, restored into a fresh engine and replayed, ends with the same state hash after
the same events. `python -m engine.stress` is the soak (argparse, as engine.bench).
Pure: no I/O but the CLI's printed line; imports numpy and engine only.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from engine import codes as c
from engine.core import Engine
from engine.layout import COMMAND_DTYPE, Records
from engine.stress_workload import (
    ASSETS,
    CONFIG,
    FEE_ACCOUNTS,
    MARKETS,
    PERP,
    StressWorkload,
    setup_commands,
)

BATCH = 1_000
REPLAY_BATCH = 4_096  # the replay cuts the same commands differently: batching must not matter
_MONEY = (  # (command, ledger column, sign) for accepted money commands
    (c.DEPOSIT_CREDIT, "deposits", 1),
    (c.WITHDRAWAL_DEBIT, "withdrawals", 1),
    (c.WITHDRAWAL_HOLD, "holds", 1),
    (c.WITHDRAWAL_DEBIT, "holds", -1),
    (c.WITHDRAWAL_RELEASE, "holds", -1),
)


def _zeros(n: int) -> list[int]:
    return [0] * n


@dataclass
class Ledger:
    """What the run sent and saw, kept outside the engine (Python ints, per asset/market)."""

    deposits: list[int] = field(default_factory=lambda: _zeros(len(ASSETS)))
    withdrawals: list[int] = field(default_factory=lambda: _zeros(len(ASSETS)))
    holds: list[int] = field(default_factory=lambda: _zeros(len(ASSETS)))  # not yet settled
    fees: list[int] = field(default_factory=lambda: _zeros(len(MARKETS)))  # TRADE events'
    commands: int = 0
    verdicts: int = 0  # ACCEPTED + REJECTED events: one per command
    trades: int = 0
    events: int = 0
    rejects: Counter[str] = field(default_factory=Counter)  # REJECTED reasons
    outcomes: Counter[str] = field(default_factory=Counter)  # ORDER_DONE reasons
    kinds: Counter[str] = field(default_factory=Counter)  # events by kind
    balances: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)

    def record(self, commands: Records, events: Records) -> None:
        """Account for one applied batch of commands and its events."""
        kind = events["kind"]
        self.commands += len(commands)
        self.events += len(events)
        self.verdicts += int(np.count_nonzero((kind == c.EV_ACCEPTED) | (kind == c.EV_REJECTED)))
        accepted = np.isin(commands["seq"], events["seq"][kind == c.EV_ACCEPTED])
        for command, column, sign in _MONEY:
            sent = commands[accepted & (commands["kind"] == command)]
            totals: list[int] = getattr(self, column)
            for asset, amount in zip(sent["asset"].tolist(), sent["amount"].tolist(), strict=True):
                totals[asset] += sign * amount
        trades = events[kind == c.EV_TRADE]
        self.trades += len(trades)
        fees = zip(
            trades["market"].tolist(),
            trades["value_a"].tolist(),
            trades["value_b"].tolist(),
            strict=True,
        )
        for market, maker_fee, taker_fee in fees:
            self.fees[market] += maker_fee + taker_fee
        _count(self.rejects, events["code"][kind == c.EV_REJECTED], c.REASON_NAMES)
        _count(self.outcomes, events["code"][kind == c.EV_ORDER_DONE], c.REASON_NAMES)
        _count(self.kinds, kind, c.EVENT_NAMES)
        changed = events[kind == c.EV_BALANCE_CHANGED]
        keys = zip(changed["account"].tolist(), changed["asset"].tolist(), strict=True)
        values = zip(changed["value_a"].tolist(), changed["value_b"].tolist(), strict=True)
        self.balances.update(zip(keys, values, strict=True))  # the last event of a balance wins


def _count(counter: Counter[str], values: Records, names: dict[int, str]) -> None:
    found, counts = np.unique(values, return_counts=True)
    for value, n in zip(found.tolist(), counts.tolist(), strict=True):
        counter[names.get(value, str(value))] += n


@dataclass
class StressRun:
    """An uninterrupted run, its snapshot and the batches applied after it."""

    engine: Engine
    ledger: Ledger
    snapshot: bytes
    snapshot_hash: str
    tail: list[Records]  # the batches applied after the snapshot, in order
    tail_digest: str  # blake2b of the bytes of every event after the snapshot
    setup_commands: int
    apply_seconds: float  # time inside Engine.apply after the setup


def execute(n_commands: int, seed: int, snapshot_at: int, batch_size: int = BATCH) -> StressRun:
    """Apply the setup, then `n_commands` generated commands in batches of `batch_size`,
    snapshotting after `snapshot_at` of them (the batch there is cut short)."""
    if not 0 <= snapshot_at <= n_commands:
        raise ValueError(f"snapshot_at must be in [0, {n_commands}], got {snapshot_at}")
    engine, ledger = Engine(CONFIG), Ledger()
    setup = setup_commands(seed)
    ledger.record(setup, engine.apply(setup))
    if ledger.rejects:
        raise RuntimeError(f"the stress world's setup was refused: {dict(ledger.rejects)}")
    ledger.kinds.clear()  # the figures describe the generated mix; the checks cover both
    ledger.events = 0
    workload = StressWorkload(seed, first_seq=engine.last_seq + 1)
    digest = hashlib.blake2b(digest_size=32)
    tail: list[Records] = []
    snapshot, snapshot_hash, seconds, done = b"", "", 0.0, 0
    while True:
        if done == snapshot_at and not snapshot:
            snapshot, snapshot_hash = engine.snapshot(), engine.state_hash()
        if done == n_commands:
            break
        limit = snapshot_at if done < snapshot_at else n_commands
        batch = workload.batch(min(batch_size, limit - done), engine)
        started = time.perf_counter()
        events = engine.apply(batch)
        seconds += time.perf_counter() - started
        workload.observe(events)
        ledger.record(batch, events)
        if snapshot:
            tail.append(batch)
            digest.update(events.tobytes())
        done += len(batch)
    digest_hex = digest.hexdigest()
    return StressRun(engine, ledger, snapshot, snapshot_hash, tail, digest_hex, len(setup), seconds)


def check_replay(run: StressRun, tail: Sequence[Records] | None = None) -> list[str]:
    """Restore the snapshot into a fresh engine and replay `tail` (default: the run's) in
    batches of REPLAY_BATCH; report a differing restored hash, events or final state hash."""
    restored = Engine.restore(run.snapshot)
    problems = []
    if restored.state_hash() != run.snapshot_hash:
        problems.append("the restored snapshot's state hash differs from the engine's at the cut")
    batches = list(run.tail if tail is None else tail)
    commands = np.concatenate(batches) if batches else np.zeros(0, COMMAND_DTYPE)
    digest = hashlib.blake2b(digest_size=32)
    for start in range(0, len(commands), REPLAY_BATCH):
        digest.update(restored.apply(commands[start : start + REPLAY_BATCH]).tobytes())
    if digest.hexdigest() != run.tail_digest:
        problems.append("events after the snapshot differ between the replay and the run")
    replayed, expected = restored.state_hash(), run.engine.state_hash()
    if replayed != expected:
        problems.append(
            f"state hash after snapshot+replay {replayed[:16]}.. differs from the "
            f"uninterrupted run's {expected[:16]}.."
        )
    return problems


def check_conservation(engine: Engine, ledger: Ledger) -> list[str]:
    """Per asset, over every account (traders, fee accounts, the insurance fund):
    sum(available + locked) - open cost of the perpetual's positions (its margin asset only)
    == accepted deposits - accepted withdrawals, exactly; withdrawal holds are part of
    `locked`. Then the engine's own counters, fee accounts and events against the ledger."""
    problems = []
    accounts = range(engine.config.max_accounts)
    positions = [p for p in (engine.position(a, PERP) for a in accounts) if p is not None]
    if sum(p.qty for p in positions) != 0:
        problems.append(f"perpetual positions sum to {sum(p.qty for p in positions)} lots, not 0")
    for asset in ASSETS:
        held = [engine.balance(a, asset) for a in accounts]
        if any(available < 0 or locked < 0 for available, locked in held):
            problems.append(f"asset {asset}: a negative balance")
        total = sum(available + locked for available, locked in held)
        cost = sum(p.cost for p in positions) if asset == MARKETS[PERP].quote else 0
        net = ledger.deposits[asset] - ledger.withdrawals[asset]
        if total - cost != net:
            problems.append(
                f"asset {asset}: balances {total} - open cost {cost} = {total - cost}, "
                f"but deposits - withdrawals = {net}"
            )
        problems += _check_counters(engine, ledger, asset, cost)
    return problems + _check_events(engine, ledger)


def _check_counters(engine: Engine, ledger: Ledger, asset: int, open_cost: int) -> list[str]:
    """The engine's credits, debits, fees, open cost and withdrawal holds of `asset`."""
    totals = engine.asset_totals(asset)
    fees = sum(ledger.fees[m.market] for m in MARKETS if m.quote == asset)
    held = sum(engine.withdrawal_held(a, asset) for a in range(engine.config.max_accounts))
    pairs = {
        "credits": (totals["credits"], ledger.deposits[asset]),
        "debits": (totals["debits"], ledger.withdrawals[asset]),
        "fees": (totals["fees"], fees),
        "open cost": (totals["open_cost"], open_cost),
        "withdrawal holds": (held, ledger.holds[asset]),
    }
    return [
        f"asset {asset}: engine {name} {engine_value}, ledger {expected}"
        for name, (engine_value, expected) in pairs.items()
        if engine_value != expected
    ]


def _check_events(engine: Engine, ledger: Ledger) -> list[str]:
    """One verdict per command; each fee account holds exactly its market's trade fees; the
    last BALANCE_CHANGED of every balance is the engine's balance (untouched ones are 0)."""
    problems = []
    if ledger.verdicts != ledger.commands:
        problems.append(
            f"{ledger.verdicts} ACCEPTED/REJECTED events for {ledger.commands} commands"
        )
    for m in MARKETS:
        available, locked = engine.balance(FEE_ACCOUNTS[m.market], m.quote)
        if (available, locked) != (ledger.fees[m.market], 0):
            problems.append(
                f"market {m.market}: fee account holds {available} + {locked}, "
                f"its trades' fees sum to {ledger.fees[m.market]}"
            )
    stale = [
        (account, asset)
        for account in range(engine.config.max_accounts)
        for asset in ASSETS
        if engine.balance(account, asset) != ledger.balances.get((account, asset), (0, 0))
    ]
    if stale:
        problems.append(
            f"{len(stale)} balances differ from their last BALANCE_CHANGED event, "
            f"e.g. (account, asset) {stale[0]}"
        )
    return problems


@dataclass(frozen=True)
class StressResult:
    """Figures and verdict of one stress run; `summary_line()` is what the CLI prints."""

    n_commands: int
    seed: int
    snapshot_at: int
    setup_commands: int
    trades: int
    events: int
    rejects: dict[str, int]  # REJECTED events by reason
    outcomes: dict[str, int]  # ORDER_DONE events by reason
    event_kinds: dict[str, int]
    deposits_minor: tuple[int, ...]  # accepted, per asset
    withdrawals_minor: tuple[int, ...]
    apply_seconds: float  # inside Engine.apply (generation and checks excluded)
    wall_seconds: float  # everything: generation, apply, checks, snapshot and replay
    state_hash: str
    mismatches: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """No conservation or replay mismatch."""
        return not self.mismatches

    @property
    def cmd_per_s(self) -> float:
        """Engine throughput: generated commands / seconds inside Engine.apply."""
        return self.n_commands / self.apply_seconds if self.apply_seconds else 0.0

    def summary_line(self) -> str:
        """`stress: <N> commands, <T> trades, balances conserved, state hash equal after
        snapshot+replay, <X> cmd/s`, or the mismatches."""
        head = f"stress: {self.n_commands:,} commands, {self.trades:,} trades"
        if not self.ok:
            return f"{head}, MISMATCH: " + "; ".join(self.mismatches)
        return (
            f"{head}, balances conserved, state hash equal after snapshot+replay, "
            f"{self.cmd_per_s:,.0f} cmd/s"
        )


def run_stress(
    n_commands: int, seed: int, snapshot_at: int | None = None, *, batch_size: int = BATCH
) -> StressResult:
    """Run `n_commands` seeded commands, snapshot after `snapshot_at` (default: half way),
    check conservation and snapshot + replay. Mismatches are reported, never raised."""
    started = time.perf_counter()
    cut = n_commands // 2 if snapshot_at is None else snapshot_at
    run = execute(n_commands, seed, cut, batch_size)
    mismatches = check_conservation(run.engine, run.ledger) + check_replay(run)
    led = run.ledger
    return StressResult(
        n_commands=n_commands,
        seed=seed,
        snapshot_at=cut,
        setup_commands=run.setup_commands,
        trades=led.trades,
        events=led.events,
        rejects=dict(led.rejects.most_common()),
        outcomes=dict(led.outcomes.most_common()),
        event_kinds=dict(led.kinds.most_common()),
        deposits_minor=tuple(led.deposits),
        withdrawals_minor=tuple(led.withdrawals),
        apply_seconds=run.apply_seconds,
        wall_seconds=time.perf_counter() - started,
        state_hash=run.engine.state_hash(),
        mismatches=tuple(mismatches),
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m engine.stress [--commands N] [--seed S] [--snapshot-at K] [--batch B]`:
    prints one line; exit status 1 on any mismatch."""
    parser = argparse.ArgumentParser(description="Seeded engine stress run (engine.stress).")
    parser.add_argument("--commands", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--snapshot-at", type=int, default=None, help="default: half way")
    parser.add_argument("--batch", type=int, default=BATCH)
    args = parser.parse_args(argv)
    result = run_stress(args.commands, args.seed, args.snapshot_at, batch_size=args.batch)
    print(result.summary_line(), file=sys.stdout if result.ok else sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
