"""Seeded stress (#17): the exchange-core-style mix conserves money to the minor unit and
replays bit-identically from a snapshot; the checks catch a broken balance or replay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine import codes as c
from engine import commands as cmd
from engine import stress
from engine.layout import B_AVAILABLE
from engine.stress import check_conservation, check_replay, execute, main, run_stress
from engine.stress_workload import EUR, USDT

pytestmark = pytest.mark.property


def test_fifty_thousand_seeded_commands_conserve_money_and_replay_from_a_snapshot() -> None:
    result = run_stress(50_000, seed=1)

    assert result.mismatches == ()
    assert result.n_commands == 50_000 and result.snapshot_at == 25_000
    # the mix reaches what it is meant to: resting and crossing books, amends, stops, STP,
    # rejections, withdrawals, funding and liquidations
    kinds = result.event_kinds
    assert result.trades > 10_000 and kinds["ORDER_AMENDED"] > 10_000
    for kind in ("STOP_TRIGGERED", "SELF_TRADE_PREVENTED", "FUNDING", "LIQUIDATION"):
        assert kinds.get(kind, 0) > 0, kind
    assert {"INSUFFICIENT_FUNDS", "UNKNOWN_ORDER", "WRONG_OWNER"} <= result.rejects.keys()
    assert all(w > 0 for w in result.withdrawals_minor)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), cut=st.integers(0, 4_000))
def test_any_seed_conserves_money_and_replays_from_any_cut(seed: int, cut: int) -> None:
    result = run_stress(4_000, seed, snapshot_at=cut)

    assert result.mismatches == ()


def test_the_same_seed_generates_the_same_run_and_another_seed_another() -> None:
    first, again, other = (execute(2_000, seed, snapshot_at=0) for seed in (7, 7, 8))

    assert first.engine.state_hash() == again.engine.state_hash()
    assert first.tail_digest == again.tail_digest
    assert other.engine.state_hash() != first.engine.state_hash()


def test_a_balance_changed_behind_the_ledgers_back_is_reported() -> None:
    run = execute(3_000, seed=3, snapshot_at=1_500)
    assert check_conservation(run.engine, run.ledger) == []

    run.engine._state.bal[17, USDT, B_AVAILABLE] += 1

    problems = check_conservation(run.engine, run.ledger)
    assert any(p.startswith(f"asset {USDT}: balances") for p in problems), problems
    assert any("differ from their last BALANCE_CHANGED" in p for p in problems), problems


def test_a_deposit_the_ledger_never_saw_is_reported() -> None:
    run = execute(3_000, seed=4, snapshot_at=1_500)

    run.engine.apply(
        cmd.deposit_credit(run.engine.last_seq + 1, 0, account=5, asset=EUR, amount_minor=1)
    )

    problems = check_conservation(run.engine, run.ledger)
    assert any(p.startswith(f"asset {EUR}: balances") for p in problems), problems
    assert any(p.startswith(f"asset {EUR}: engine credits") for p in problems), problems


def test_a_replay_that_skips_one_command_is_reported() -> None:
    run = execute(3_000, seed=5, snapshot_at=1_000)
    assert check_replay(run) == []
    first = run.tail[0]
    placed = np.flatnonzero(first["kind"] == c.PLACE_ORDER)[5]

    problems = check_replay(run, [np.delete(first, placed), *run.tail[1:]])

    assert any(p.startswith("events after the snapshot differ") for p in problems), problems
    assert any(p.startswith("state hash after snapshot+replay") for p in problems), problems


def test_the_cli_prints_one_line_and_exits_zero_when_all_checks_pass(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = main(["--commands", "2000", "--seed", "1"])

    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert len(out) == 1 and out[0].startswith("stress: 2,000 commands, ")
    assert "balances conserved, state hash equal after snapshot+replay" in out[0]


def test_the_cli_exits_non_zero_and_names_the_mismatch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(stress, "check_replay", lambda run: ["events after the snapshot differ"])

    status = main(["--commands", "1000", "--seed", "2"])

    err = capsys.readouterr().err
    assert status == 1
    assert "MISMATCH: events after the snapshot differ" in err
