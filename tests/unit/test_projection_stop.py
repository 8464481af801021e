"""ProjectionPipeline.stop ends its task even when a cancellation is swallowed downstream."""

from __future__ import annotations

import asyncio
import contextlib
import time

import numpy as np

from engine.layout import COMMAND_DTYPE, EVENT_DTYPE, Records
from graph.writer.projections import ProjectionPipeline


async def _read_model(commands: Records, events: Records, notes: object) -> None:
    return None


async def test_stopping_ends_the_projections_when_a_callback_swallows_the_cancellation() -> None:
    entered = asyncio.Event()

    async def publish_projected(seq: int) -> None:  # as a client library may do
        entered.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.5)

    pipeline = ProjectionPipeline([_read_model])
    pipeline.on_projected.append(publish_projected)
    batch = np.zeros(1, dtype=COMMAND_DTYPE)
    batch["seq"] = 1
    pipeline.push(batch, np.zeros(0, EVENT_DTYPE), {})
    await entered.wait()  # projected, and inside the callback: the drain is already done
    started = time.monotonic()
    await asyncio.wait_for(pipeline.stop(), 5)  # (3.11's wait_for may return late, not raise)
    assert time.monotonic() - started < 3, "stop waited on a task that never ended"
    assert pipeline.projected_seq == 1
