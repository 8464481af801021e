"""ProjectionPipeline.at: a check runs with the read models exactly at one sequence."""

from __future__ import annotations

import asyncio

import numpy as np

from engine.layout import COMMAND_DTYPE, EVENT_DTYPE, Records
from graph.writer.projections import ProjectionPipeline


def _batch(first: int, n: int) -> Records:
    batch = np.zeros(n, dtype=COMMAND_DTYPE)
    batch["seq"] = np.arange(first, first + n)
    return batch


async def test_a_checkpoint_sees_the_read_model_at_its_sequence_while_batches_keep_coming() -> None:
    model = {"seq": 0}

    async def slow_read_model(commands: Records, events: Records, notes: object) -> None:
        await asyncio.sleep(0.002)
        model["seq"] = int(commands["seq"][-1])

    pipeline = ProjectionPipeline([slow_read_model], max_lag_batches=1_000)
    seen: list[tuple[int, int]] = []
    results = []
    for n in range(60):  # batches of 3 keep arriving; checkpoints at some batch ends
        pipeline.push(_batch(3 * n + 1, 3), np.zeros(0, EVENT_DTYPE), {})
        if n % 7 == 3:
            seq = 3 * n + 3

            async def check(seq: int = seq) -> None:
                await asyncio.sleep(0.003)  # the projections stay paused meanwhile
                seen.append((seq, model["seq"]))

            results.append(asyncio.create_task(pipeline.at(seq, check)))
        await asyncio.sleep(0.0005)
    ran = await asyncio.gather(*results)
    await pipeline.drain()
    assert all(want == got for want, got in seen), seen
    assert sum(ran) == len(seen) >= 3  # most checkpoints ran (a newer one skips an older)
    assert await pipeline.at(1, check) is False  # long passed
    await pipeline.stop()
