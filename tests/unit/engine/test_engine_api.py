"""The Engine's contract with the API layer: batches, snapshots, hashes, reads, buffers."""

from __future__ import annotations

import numpy as np
import pytest

from engine import codes as c
from engine import commands as cmd
from engine.core import Engine, SnapshotError
from engine.layout import COMMAND_DTYPE, EVENT_DTYPE, EngineConfig

from .desk import ALICE, BOB, QUOTE, Desk


def test_snapshot_restore_gives_an_identical_engine() -> None:
    desk = Desk()
    desk.place(ALICE, c.BUY, 3, 100)
    desk.place(BOB, c.SELL, 1, 100)

    restored = Engine.restore(desk.engine.snapshot())

    assert restored.state_hash() == desk.engine.state_hash()
    assert restored.dump() == desk.engine.dump()
    assert restored.last_seq == desk.seq


def test_restore_refuses_corrupt_snapshots() -> None:
    data = bytearray(Desk().engine.snapshot())
    data[40] ^= 0xFF

    with pytest.raises(SnapshotError, match="corrupt"):
        Engine.restore(bytes(data))


def test_restore_refuses_truncated_snapshots() -> None:
    with pytest.raises(SnapshotError):
        Engine.restore(Desk().engine.snapshot()[:20])


def test_engine_refuses_a_seq_at_or_below_the_last_applied() -> None:
    desk = Desk()
    stale = cmd.deposit_credit(desk.seq, 0, account=ALICE, asset=QUOTE, amount_minor=5)

    events = desk.apply(stale)

    assert events[0]["reason"] == "SEQ_NOT_INCREASING"
    assert desk.engine.last_seq == desk.seq


def test_event_buffer_grows_instead_of_truncating() -> None:
    desk = Desk(EngineConfig(max_accounts=10, max_assets=3, max_orders=4_000))
    batch = np.concatenate([cmd.place(desk.seq + 1 + i, 0, order_id=desk.seq + 1 + i,
                                      account=ALICE, market=0, side=c.BUY, qty_lots=1,
                                      price_ticks=100) for i in range(3_000)])  # fmt: skip

    events = desk.engine.apply(batch)

    assert len(events) == 3 * 3_000  # accepted, book delta, balance per order
    assert events.dtype == EVENT_DTYPE


def test_apply_rejects_arrays_of_the_wrong_dtype() -> None:
    with pytest.raises(TypeError):
        Engine().apply(np.zeros(3, dtype=np.int64))


def test_read_helpers_report_book_orders_and_balances() -> None:
    desk = Desk()
    desk.place(ALICE, c.BUY, 3, 100)
    desk.place(ALICE, c.BUY, 2, 99)

    bids, asks = desk.engine.book(0, depth=1)
    orders = desk.engine.open_orders(ALICE, market=0)

    assert (bids, asks) == ([(100, 3)], [])
    assert [o.price_ticks for o in orders] == [100, 99]
    assert desk.engine.market_seq(0) == 2
    assert desk.engine.balances_of(ALICE)[QUOTE] == (10_000_000 - 498, 498)
    assert desk.engine.order_state(424242) is None


def test_command_builder_fills_a_preallocated_array() -> None:
    builder = cmd.CommandBuilder(capacity=1)

    builder.append(cmd.set_fee_rate(1, 0, account=1, maker_bps=1, taker_bps=2))
    builder.append(cmd.set_fee_rate(2, 0, account=2, maker_bps=1, taker_bps=2))

    assert len(builder) == 2
    assert builder.commands.dtype == COMMAND_DTYPE
    assert list(builder.commands["seq"]) == [1, 2]
