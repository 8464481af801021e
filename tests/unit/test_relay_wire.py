"""The command relay's wire format: what crosses Redis between API processes and the writer."""

from __future__ import annotations

import numpy as np
import pytest

from domains.shared.engine_port import Submitted
from engine import commands as cmd
from engine.layout import EVENT_DTYPE
from graph.writer import relay_wire as wire
from graph.writer.relay_wire import Fields


def _as_redis_returns(fields: Fields) -> dict[bytes, bytes]:
    """What redis-py hands back for an entry written with ``fields``."""
    out: dict[bytes, bytes] = {}
    for key, value in fields.items():
        raw_key = key if isinstance(key, bytes) else key.encode()
        out[raw_key] = value if isinstance(value, bytes) else str(value).encode()
    return out


def test_a_request_round_trips_and_expires_after_its_deadline() -> None:
    command = cmd.deposit_credit(0, 0, account=1, asset=2, amount_minor=5)
    request = wire.RelayRequest("r1", "replies", 123, command, [{"a": "b"}], False)

    decoded = wire.RelayRequest.from_fields(_as_redis_returns(request.to_fields()))

    assert (decoded.commands == request.commands).all()
    assert decoded.notes == [{"a": "b"}] and not decoded.group
    assert not decoded.expired(123) and decoded.expired(124)
    assert decoded.journal_notes() == [{"a": "b", wire.RELAY_NOTE: "r1"}]


def test_malformed_requests_are_refused_with_a_wire_format_error() -> None:
    command = cmd.deposit_credit(0, 0, account=1, asset=2, amount_minor=5)
    good = _as_redis_returns(wire.RelayRequest("r1", "x", 1, command, [None], False).to_fields())
    for broken in ({b"commands": b"123"}, {b"notes": b"[1]"}, {b"notes": b"[]"},
                   {b"deadline_ms": b"soon"}):  # fmt: skip
        with pytest.raises(wire.WireFormatError):
            wire.RelayRequest.from_fields({**good, **broken})
    with pytest.raises(wire.WireFormatError):
        wire.RelayRequest.from_fields({k: v for k, v in good.items() if k != b"reply"})


def test_replies_carry_results_or_a_stable_error() -> None:

    events = np.zeros(3, dtype=EVENT_DTYPE)
    events["seq"] = [7, 7, 8]
    results = [
        Submitted(7, events[:2]),
        Submitted(8, events[2:], replayed=True),
        Submitted(9, None),
    ]

    ok = wire.RelayReply.from_fields(_as_redis_returns(wire.ok_reply("r", results)))
    duplicate = wire.RelayReply.from_fields(
        _as_redis_returns(wire.error_reply("r", wire.DUPLICATE, "used", 9))
    )

    assert [(r.seq, r.replayed) for r in ok.results] == [(7, False), (8, True), (9, False)]
    assert ok.results[0].events is not None and len(ok.results[0].events) == 2
    assert ok.results[2].events is None
    assert (duplicate.status, duplicate.original_seq) == (wire.DUPLICATE, 9)
