"""What domains need from the engine side, as protocols the composition root fills in.

Domains build engine commands (engine/ is the pure core every domain may use) but
never own the writer, the journal or the id directory.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

import numpy as np

from domains.shared.errors import UnavailableError
from engine.layout import Records

if TYPE_CHECKING:
    from engine.core import Engine

T = TypeVar("T")


@dataclass(frozen=True)
class Submitted:
    """A command's sequence number and events (None for a retry older than the snapshot)."""

    seq: int
    events: Records | None
    replayed: bool = False
    ts_ns: int = 0  # the engine time the writer stamped on the command (0: not known)


class DuplicateCommandError(Exception):
    """A client tag was used within the idempotency window for a different payload."""

    def __init__(self, original_seq: int) -> None:
        super().__init__(f"client tag already used by command {original_seq}")
        self.original_seq = original_seq


def client_tag(client_order_id: str) -> int:
    """The positive 63-bit tag the engine carries for a clientOrderId."""
    digest = hashlib.blake2b(client_order_id.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") & ((1 << 63) - 1)) or 1


class CommandBus(Protocol):
    """The engine writer: sequence, journal durably, apply, answer.

    ``note`` is journaled with the command (strings the engine does not carry, such as
    the clientOrderId). Raises DuplicateCommandError for a reused client tag.
    """

    async def submit(self, command: Records, note: dict[str, str] | None = None) -> Submitted: ...

    async def submit_many(
        self, commands: Records, notes: Sequence[dict[str, str] | None] | None = None
    ) -> list[Submitted]:
        """Several commands (no client tags) as one contiguous, all-or-nothing group."""
        ...

    @property
    def engine(self) -> Engine: ...


@dataclass(frozen=True)
class AccountRef:
    """Who an engine account index belongs to."""

    index: int
    account_id: str
    tenant_id: str
    customer_id: str


@dataclass(frozen=True)
class AssetInfo:
    """A platform asset: its engine index and how many decimals one minor unit has."""

    code: str
    index: int
    decimals: int


class EngineDirectory(Protocol):
    """Dense engine indices for accounts, assets and markets, and back."""

    async def account_index(self, account_id: str, tenant_id: str, customer_id: str) -> int: ...
    def account(self, index: int) -> AccountRef | None: ...
    def asset(self, code: str) -> AssetInfo | None: ...
    def asset_by_index(self, index: int) -> AssetInfo | None: ...
    async def market_index(self, market_id: str) -> int: ...
    def market_id(self, index: int) -> str | None: ...


class ReadModels:
    """The read models follow the journal a few milliseconds behind (they are written in
    bulk after the writer answered). ``settled()`` returns once they include everything
    this process was answered for: a use case that reads back its own write waits on it.
    This default waits for nothing; the composition root wires the real one."""

    async def settled(self) -> None:
        return None


CATCH_UP_S = 5.0  # how long a process waits for its engine replica to apply a sequence


async def engine_caught_up(bus: CommandBus, seq: int, retry_hint: str) -> None:
    """Wait until the engine this process reads has applied ``seq`` (at once in the writer;
    an API process reads a replica that follows the journal); UNAVAILABLE after CATCH_UP_S."""
    deadline = time.monotonic() + CATCH_UP_S
    while bus.engine.last_seq < seq:
        if time.monotonic() > deadline:
            raise UnavailableError(f"the engine replica is behind the journal; {retry_hint}")
        await asyncio.sleep(0.02)


GROUP_COMMANDS = 1024  # commands per journaled group of submit_in_groups


async def submit_in_groups(
    bus: CommandBus, commands: Sequence[Records], note: Mapping[str, str]
) -> list[Submitted]:
    """Journaled groups of up to GROUP_COMMANDS commands, each command with the note."""
    results: list[Submitted] = []
    for start in range(0, len(commands), GROUP_COMMANDS):
        chunk = np.concatenate(commands[start : start + GROUP_COMMANDS])
        results += await bus.submit_many(chunk, [dict(note)] * len(chunk))
    return results


YIELD_EVERY = 256  # items between yields: ~1-3 ms of projection work at a time


async def yielding(items: Iterable[T]) -> AsyncIterator[T]:
    """``items``, handing the event loop back every YIELD_EVERY of them.

    The writer and the read models share one event loop: a projection working through a
    funding round's ten thousand events in one go would hold the writer (and every request)
    for hundreds of milliseconds. Projections iterate through this instead."""
    for n, item in enumerate(items, 1):
        yield item
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
