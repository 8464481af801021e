"""Event buffers: a batch whose events outgrow the first buffer resumes in a larger one, and
every returned event is fully defined (no stray padding bytes), whatever the batch size."""

from __future__ import annotations

import numpy as np
import pytest

from engine import codes as c
from engine import commands as cmd
from engine.core import Engine
from engine.layout import EVENT_DTYPE, EngineConfig, Records
from engine.reference import ReferenceEngine

from .desk import ALICE, BASE, BOB, QUOTE

CONFIG = EngineConfig(max_markets=1, max_accounts=10, max_assets=2, max_orders=1_024,
                      max_price_levels=16)  # fmt: skip
MAKERS = 600


def _setup() -> list[Records]:
    parts = [cmd.add_market(1, 0, market=0, base_asset=BASE, quote_asset=QUOTE,
                            base_per_lot=100, quote_per_tick_lot=1, fee_account=9,
                            collar_bps=1_000, stp_default=c.STP_EXPIRE_TAKER)]  # fmt: skip
    seq = 1
    for account in (ALICE, BOB):
        for asset in (BASE, QUOTE):
            seq += 1
            parts.append(cmd.deposit_credit(seq, 0, account=account, asset=asset,
                                            amount_minor=10**9))  # fmt: skip
    return parts


def _sweep(stp: int) -> Records:
    """Setup, MAKERS one-lot asks (every third one BOB's), then BOB buys them all at market."""
    parts = _setup()
    seq = len(parts)
    for k in range(MAKERS):
        seq += 1
        account = BOB if k % 3 == 0 else ALICE
        parts.append(cmd.place(seq, 0, order_id=seq, account=account, market=0, side=c.SELL,
                               price_ticks=100 + k % 6, qty_lots=1))  # fmt: skip
    seq += 1
    parts.append(cmd.place(seq, 0, order_id=seq, account=BOB, market=0, side=c.BUY,
                           qty_lots=MAKERS, order_type=c.MARKET, tif=c.IOC, stp=stp))  # fmt: skip
    return np.concatenate(parts)


def _no_stray_bytes(events: Records) -> bool:
    raw = np.frombuffer(events.tobytes(), np.uint8).reshape(-1, EVENT_DTYPE.itemsize)
    return not raw[:, 85:].any()  # the padding after `status`


@pytest.mark.parametrize("stp", [c.STP_NONE, c.STP_EXPIRE_TAKER, c.STP_EXPIRE_MAKER])
def test_one_batch_equals_the_reference_and_one_command_at_a_time(stp: int) -> None:
    commands = _sweep(stp)
    engine = Engine(CONFIG)
    calls: list[int] = []
    call = engine._call

    def counted(commands: Records, events: Records) -> tuple[int, int, int]:
        calls.append(len(commands))
        return call(commands, events)

    engine._call = counted  # type: ignore[method-assign]
    whole = engine.apply(commands)
    single = Engine(CONFIG)
    outputs = [single.apply(commands[i : i + 1]) for i in range(len(commands))]
    assert all(_no_stray_bytes(out) for out in outputs)
    one_by_one = np.concatenate(outputs)
    expected = ReferenceEngine(CONFIG).apply(commands)
    assert len(calls) == 2  # the sweep's worst case did not fit: resumed in a larger buffer
    assert np.array_equal(whole, expected)
    assert np.array_equal(one_by_one, expected)
    assert _no_stray_bytes(whole)
