"""The Numba engine and the pure-Python reference agree on every event and the final state."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.core import Engine
from engine.events import describe_all
from engine.layout import Records
from engine.reference import ReferenceEngine
from tests.unit.engine.streams import SMALL, batches, split_points, streams

pytestmark = pytest.mark.property
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _first_difference(ours: Records, theirs: Records) -> str:
    for i, (a, b) in enumerate(zip(describe_all(ours), describe_all(theirs), strict=False)):
        if a != b:
            return f"event {i}: engine {a} != reference {b}"
    return f"lengths {len(ours)} != {len(theirs)}"


@SETTINGS
@given(data=st.data(), commands=streams(max_size=100, min_size=20))
def test_engine_and_reference_produce_identical_events_and_state(
    data: st.DataObject, commands: Records
) -> None:
    engine, reference = Engine(SMALL), ReferenceEngine(SMALL)
    cuts = data.draw(split_points(len(commands)))

    ours = np.concatenate([engine.apply(b) for b in batches(commands, cuts)])
    theirs = reference.apply(commands)

    assert np.array_equal(ours, theirs), _first_difference(ours, theirs)
    assert engine.dump() == reference.dump()
