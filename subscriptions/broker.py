"""The Broker protocol: publish bytes to a topic once, every subscriber of it receives them.

Imports no domain and no GraphQL: payloads are opaque bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Final, Protocol

# Markers a subscriber may receive in place of a payload (payloads are JSON: never these).
RESYNC: Final = b"!resync"  # the broker connection was re-established: deltas may be lost
OVERFLOW: Final = b"!overflow"  # this subscriber's queue overflowed: its pending items dropped


class Subscription(Protocol):
    """A live subscription: iterate to receive payloads; exit the context to unsubscribe."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...


class Broker(Protocol):
    """Topic-based fan-out. Delivery is at-most-once; sequences let receivers detect gaps."""

    async def start(self) -> None:
        """Connect (idempotent)."""

    async def close(self) -> None:
        """Disconnect and end every open subscription."""

    async def ping(self) -> bool:
        """True when the broker answers (readiness)."""

    async def publish(self, topic: str, payload: bytes) -> None:
        """Send ``payload`` to every current subscriber of ``topic``."""

    def subscribe(self, topic: str) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to ``topic``; messages published after entering are received."""
