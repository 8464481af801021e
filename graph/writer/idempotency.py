"""Exactly-once commands: the writer's window of recent client tags.

A PLACE command carrying a ``client_tag`` (a 63-bit digest of the caller's clientOrderId,
per engine account) is executed once. A retry within the window with the same payload is
answered with the original events without being journaled again; with a different
payload it is refused. The window is derived from the journal, so it survives restarts.
Tagged TRANSFER and SET_ACCOUNT_MODE commands get the same (a clearing rollback resumed
after a crash submits its transfers again with their tags and must not move money twice).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from domains.shared.engine_port import DuplicateCommandError, client_tag
from engine import codes
from engine.layout import Records

DAY_NS = 24 * 3600 * 1_000_000_000
PAYLOAD_FIELDS = (
    "market", "side", "order_type", "tif", "price", "qty", "stop_price", "stp", "flags",
)  # fmt: skip
PAYLOADS: dict[int, tuple[str, ...]] = {  # the kinds a client tag makes exactly-once
    codes.PLACE_ORDER: PAYLOAD_FIELDS,
    codes.TRANSFER: ("account2", "asset", "amount"),
    codes.SET_ACCOUNT_MODE: ("status",),
}
TAGGED_KINDS = np.array(sorted(PAYLOADS))


@dataclass(frozen=True)
class PriorResult:
    """The first execution of a retried command: its sequence (its order id) and events.

    ``events`` is None when the command predates the snapshot the writer recovered from;
    the order's current state then answers the retry.
    """

    seq: int
    events: Records | None


@dataclass(frozen=True)
class _Entry:
    ts_ns: int
    payload: tuple[int, ...]
    prior: PriorResult


def _payload(command: Records) -> tuple[int, ...]:
    kind = int(command["kind"][0])
    return (kind, *(int(command[f][0]) for f in PAYLOADS[kind]))


def tagged_key(command: Records) -> tuple[int, int] | None:
    """(account, client tag) of a tagged PLACE, TRANSFER or SET_ACCOUNT_MODE, else None."""
    if int(command["kind"][0]) not in PAYLOADS or int(command["client_tag"][0]) == 0:
        return None
    return int(command["account"][0]), int(command["client_tag"][0])


class IdempotencyWindow:
    """Recent (account, client tag) -> first command and its events, pruned by age."""

    def __init__(self, window_ns: int = DAY_NS) -> None:
        self.window_ns = window_ns
        self._entries: OrderedDict[tuple[int, int], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(self, command: Records, now_ns: int) -> PriorResult | None:
        """The first execution for a retry, None for a new command; raises for a reused tag."""
        key = tagged_key(command)
        entry = self._entries.get(key) if key else None
        if entry is None or now_ns - entry.ts_ns > self.window_ns:
            return None
        if entry.payload != _payload(command):
            raise DuplicateCommandError(entry.prior.seq)
        return entry.prior

    def record(self, batch: Records, events: Records | None) -> None:
        """Remember every tagged command of a batch with its own events (None: not known)."""
        tagged = np.flatnonzero(np.isin(batch["kind"], TAGGED_KINDS) & (batch["client_tag"] != 0))
        for index in tagged:
            command = batch[index : index + 1]
            key = tagged_key(command)
            if key is None or key in self._entries:
                continue
            seq = int(command["seq"][0])
            own: Records | None = None
            if events is not None:
                lo, hi = np.searchsorted(events["seq"], [seq, seq + 1])
                own = events[lo:hi].copy()
            self._entries[key] = _Entry(
                int(command["ts_ns"][0]), _payload(command), PriorResult(seq, own)
            )
        if len(batch):
            self.prune(int(batch["ts_ns"][-1]))

    def prune(self, now_ns: int) -> None:
        """Forget entries older than the window (entries are in time order)."""
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if now_ns - entry.ts_ns <= self.window_ns:
                break
            del self._entries[key]


__all__ = ["DuplicateCommandError", "IdempotencyWindow", "PriorResult", "client_tag", "tagged_key"]
