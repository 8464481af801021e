"""Invariants over random command streams: conservation, no negative balance, replay."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import Engine
from engine.layout import Records
from tests.unit.engine.streams import SMALL, batches, split_points, streams

pytestmark = pytest.mark.property
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _assert_conserved(engine: Engine) -> None:
    for asset in range(SMALL.max_assets):
        totals = engine.asset_totals(asset)
        assert totals["balances"] == totals["credits"] - totals["debits"], asset
    for account in range(SMALL.max_accounts):
        for asset in range(SMALL.max_assets):
            available, locked = engine.balance(account, asset)
            assert available >= 0 and locked >= 0, (account, asset)


@SETTINGS
@given(data=st.data(), commands=streams(max_size=100, min_size=20))
def test_money_is_conserved_and_never_negative_after_every_batch(
    data: st.DataObject, commands: Records
) -> None:
    engine = Engine(SMALL)

    for batch in batches(commands, data.draw(split_points(len(commands)))):
        engine.apply(batch)

        _assert_conserved(engine)


@SETTINGS
@given(data=st.data(), commands=streams(max_size=100, min_size=20))
def test_snapshot_then_replay_matches_an_uninterrupted_run(
    data: st.DataObject, commands: Records
) -> None:
    cut = data.draw(st.integers(0, len(commands)))
    uninterrupted = Engine(SMALL)
    expected = uninterrupted.apply(commands)
    first = Engine(SMALL)
    head = first.apply(commands[:cut])

    restored = Engine.restore(first.snapshot())
    tail = restored.apply(commands[cut:])

    assert np.array_equal(np.concatenate([head, tail]), expected)
    assert restored.state_hash() == uninterrupted.state_hash()
