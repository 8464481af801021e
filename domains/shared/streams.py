"""How a stream resolver runs: alone (normal execution) or as part of the serialize-once fan-out.

The composition root (graph/streams/fanout.py) executes a groupable subscription document in two
roles, passed as the operation's root value: ``SnapshotOnly`` once per subscriber (authorise,
send what the subscriber needs first, stop) and ``SharedFeed`` once per group of identical
subscribers (the live events, executed and encoded once). Without either, the resolver runs
the whole stream itself. Both roles run the same resolver code, so the messages are the same.
Imports nothing but the standard library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from domains.shared.errors import DomainError

INITIAL = "INITIAL"
CONFLATED = "CONFLATED"
RESYNC = "RESYNC"


class SlowConsumerError(DomainError):
    """The subscriber kept falling behind even after conflation: the stream ends."""

    code = "SLOW_CONSUMER"


def slow_consumer(what: str) -> SlowConsumerError:
    """The error that ends a stream whose subscriber cannot keep up."""
    return SlowConsumerError(
        f"slow consumer: could not keep up with the {what} stream; reconnect and subscribe again",
        stream=what,
    )


@dataclass
class SnapshotOnly:
    """Root value of one subscriber's own execution: authorise, first message, return."""

    reason: str = INITIAL
    min_sequence: int = 0  # the snapshot must reflect at least this sequence
    authorised: bool = False  # set by the resolver once the caller may have the stream
    sequence: int | None = None  # set by the resolver: the sequence of the snapshot it sent


@dataclass
class SharedFeed:
    """Root value of a group's execution: yield every live event of the topic, no snapshot."""

    on_ready: Callable[[], None]  # the topic subscription is in place
    on_resync: Callable[[str], None]  # events were lost: every member needs a fresh snapshot
    current: tuple[int, int] | None = field(default=None)  # first/last sequence being yielded


def stream_role(root_value: object) -> SnapshotOnly | SharedFeed | None:
    """The role the resolver plays in this execution; None for a normal execution."""
    if isinstance(root_value, SnapshotOnly | SharedFeed):
        return root_value
    return None
