"""The command relay's wire format: requests and replies as Redis stream entry fields.

Command and event records travel as their raw bytes (``tobytes`` / ``np.frombuffer``),
notes and sequence lists as JSON. Imports numpy and orjson only (no Redis, no asyncio).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from domains.shared.engine_port import Submitted
from engine.layout import COMMAND_DTYPE, EVENT_DTYPE, Records

Note = dict[str, str]
Fields = dict[bytes | str, bytes | str | int]
RELAY_NOTE = "relay"  # journaled in the note of a relayed request's first command

OK = "ok"
DUPLICATE = "duplicate"  # DUPLICATE_CLIENT_ORDER_ID: a reused client tag, with the first seq
UNAVAILABLE = "unavailable"  # not journaled (writer stopping or standing by): retry
INVALID = "invalid"  # a malformed request (a bug in the sender)
INTERNAL = "internal"  # the writer failed unexpectedly (e.g. the journal write)


class WireFormatError(ValueError):
    """A stream entry that is not a well-formed request or reply."""


@dataclass(frozen=True)
class RelayRequest:
    """Commands forwarded to the writer, with where and until when to answer."""

    request_id: str
    reply_to: str
    deadline_ms: int
    commands: Records
    notes: list[Note | None]
    group: bool  # submit_many (a contiguous group) rather than submit

    def expired(self, now_ms: int | None = None) -> bool:
        """Whether the caller has given up waiting (it answered UNAVAILABLE already)."""
        return (now_ms if now_ms is not None else now_millis()) > self.deadline_ms

    def journal_notes(self) -> list[Note | None]:
        """The notes to journal: the first command's carries the request id (for recovery)."""
        first = dict(self.notes[0] or {})
        first[RELAY_NOTE] = self.request_id
        return [first, *self.notes[1:]]

    def to_fields(self) -> Fields:
        """The stream entry."""
        return {
            "id": self.request_id,
            "reply": self.reply_to,
            "deadline_ms": self.deadline_ms,
            "group": 1 if self.group else 0,
            "commands": self.commands.tobytes(),
            "notes": orjson.dumps(self.notes),
        }

    @classmethod
    def from_fields(cls, fields: Mapping[bytes, bytes]) -> RelayRequest:
        """Decode a stream entry; WireFormatError if it is malformed."""
        try:
            raw = fields[b"commands"]
            if len(raw) == 0 or len(raw) % COMMAND_DTYPE.itemsize:
                raise WireFormatError("commands are not whole COMMAND_DTYPE records")
            commands = np.frombuffer(raw, dtype=COMMAND_DTYPE).copy()
            notes = orjson.loads(fields[b"notes"])
            if not isinstance(notes, list) or len(notes) != len(commands):
                raise WireFormatError("one note (or null) per command")
            return cls(
                request_id=fields[b"id"].decode(),
                reply_to=fields[b"reply"].decode(),
                deadline_ms=int(fields[b"deadline_ms"]),
                commands=commands,
                notes=[_note(n) for n in notes],
                group=fields[b"group"] == b"1",
            )
        except (KeyError, ValueError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
            if isinstance(exc, WireFormatError):
                raise
            raise WireFormatError(f"malformed relay request: {exc!r}") from exc


def _note(value: object) -> Note | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise WireFormatError("a note is an object of strings")
    return dict(value)


def now_millis() -> int:
    """Wall-clock milliseconds (deadlines cross processes and hosts)."""
    return time.time_ns() // 1_000_000


def ok_reply(request_id: str, results: Sequence[Submitted]) -> Fields:
    """The results of a request: sequence numbers, events (or none known), replayed flags."""
    counts = [-1 if r.events is None else len(r.events) for r in results]
    chunks = [r.events.tobytes() for r in results if r.events is not None]
    return {
        "id": request_id,
        "status": OK,
        "seqs": orjson.dumps([r.seq for r in results]),
        "counts": orjson.dumps(counts),
        "replayed": orjson.dumps([r.replayed for r in results]),
        "ts": orjson.dumps([r.ts_ns for r in results]),
        "events": b"".join(chunks),
    }


def error_reply(request_id: str, status: str, message: str, original_seq: int = 0) -> Fields:
    """A stable error: DUPLICATE (with the first command's seq), UNAVAILABLE, INVALID..."""
    return {"id": request_id, "status": status, "message": message, "original_seq": original_seq}


@dataclass(frozen=True)
class RelayReply:
    """A decoded reply: results, or a status with a message."""

    request_id: str
    status: str
    results: list[Submitted]
    message: str = ""
    original_seq: int = 0

    @classmethod
    def from_fields(cls, fields: Mapping[bytes, bytes]) -> RelayReply:
        """Decode a reply entry; WireFormatError if it is malformed."""
        try:
            request_id, status = fields[b"id"].decode(), fields[b"status"].decode()
            if status != OK:
                return cls(request_id, status, [], fields[b"message"].decode(),
                           int(fields[b"original_seq"]))  # fmt: skip
            seqs, counts = orjson.loads(fields[b"seqs"]), orjson.loads(fields[b"counts"])
            replayed = orjson.loads(fields[b"replayed"])
            stamps = orjson.loads(fields[b"ts"]) if b"ts" in fields else [0] * len(seqs)
            events = np.frombuffer(fields[b"events"], dtype=EVENT_DTYPE)
            results, start = [], 0
            for seq, count, again, ts in zip(seqs, counts, replayed, stamps, strict=True):
                own = None if count < 0 else events[start : start + count].copy()
                start += max(count, 0)
                results.append(Submitted(int(seq), own, replayed=bool(again), ts_ns=int(ts)))
            if start != len(events):
                raise WireFormatError("event counts do not add up")
            return cls(request_id, status, results)
        except (KeyError, ValueError, TypeError, UnicodeDecodeError) as exc:
            if isinstance(exc, WireFormatError):
                raise
            raise WireFormatError(f"malformed relay reply: {exc!r}") from exc
