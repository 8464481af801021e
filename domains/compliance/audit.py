"""The tamper-evident audit trail: records, their hash chain per tenant, and verification;
pure (no I/O).

Each record carries its position ``n`` in its tenant's chain, the hash of the record before
it (``prev_hash``) and its own ``hash``: SHA-256 over the canonical JSON of every other
field. Altering a record changes its hash; removing one leaves a gap in ``n`` and breaks the
next ``prev_hash``; reordering breaks the links; cutting the tail leaves the chain short of
the head stored beside it. Retention purges the oldest records and keeps an anchor (the
last purged ``n`` and ``hash``) so the rest still verifies.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

GENESIS = "0" * 64
PLATFORM_CHAIN = "platform"  # operators' actions that name no tenant
MAX_SUMMARY_BYTES = 4096


class AuditProblem(enum.Enum):
    """What verification found wrong at a position of the chain."""

    ALTERED = "ALTERED"  # the record's content no longer matches its hash
    MISSING = "MISSING"  # positions are missing (removed records)
    BROKEN_LINK = "BROKEN_LINK"  # prev_hash does not match the record before (reordered)
    TRUNCATED = "TRUNCATED"  # the chain ends before the recorded head


@dataclass(frozen=True)
class AuditEntry:
    """What happened, before it is placed in a chain."""

    tenant_id: str
    actor: str  # key id (or ``system:...``)
    role: str
    at: dt.datetime
    source_ip: str
    operation: str  # e.g. ``mutation setKycStatus``, ``report.export``
    outcome: str  # OK or the error code
    request_id: str = ""
    arguments: Mapping[str, Any] = field(default_factory=dict)
    before: Any = None
    after: Any = None


@dataclass(frozen=True)
class AuditRecord:
    """An entry placed in its tenant's chain."""

    entry: AuditEntry
    n: int
    prev_hash: str
    hash: str


def iso_ms(value: dt.datetime) -> str:
    value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def bounded(value: Any) -> Any:
    """A summary small enough to store: JSON-able, at most MAX_SUMMARY_BYTES once encoded."""
    if value is None:
        return None
    encoded = orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS)
    if len(encoded) <= MAX_SUMMARY_BYTES:
        return orjson.loads(encoded)
    return {"truncated": True, "sha256": hashlib.sha256(encoded).hexdigest(),
            "head": encoded[:512].decode(errors="replace")}  # fmt: skip


def hashed_fields(entry: AuditEntry, n: int, prev_hash: str) -> dict[str, Any]:
    """Exactly what the hash covers."""
    return {
        "tenant_id": entry.tenant_id, "n": n, "prev_hash": prev_hash, "actor": entry.actor,
        "role": entry.role, "at": iso_ms(entry.at), "source_ip": entry.source_ip,
        "operation": entry.operation, "outcome": entry.outcome, "request_id": entry.request_id,
        "arguments": bounded(dict(entry.arguments)), "before": bounded(entry.before),
        "after": bounded(entry.after),
    }  # fmt: skip


def record_hash(fields: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys, no whitespace) of ``fields``."""
    return hashlib.sha256(orjson.dumps(dict(fields), option=orjson.OPT_SORT_KEYS)).hexdigest()


def chain(entry: AuditEntry, n: int, prev_hash: str) -> tuple[dict[str, Any], str]:
    """The stored fields and hash of ``entry`` at position ``n`` after ``prev_hash``."""
    fields = hashed_fields(entry, n, prev_hash)
    return fields, record_hash(fields)


@dataclass(frozen=True)
class Finding:
    """One problem at one position."""

    problem: AuditProblem
    n: int
    detail: str


@dataclass(frozen=True)
class Verification:
    """The outcome of verifying a chain."""

    tenant_id: str
    checked: int
    first_n: int
    last_n: int
    findings: tuple[Finding, ...]

    @property
    def intact(self) -> bool:
        return not self.findings


class ChainVerifier:
    """Checks stored records fed in ``n`` order (the hashed fields plus ``hash``), one at a
    time, so a long chain is verified without holding it.

    ``anchor`` is the last purged record (n, hash) or None; ``head`` the last appended one.
    """

    def __init__(
        self, tenant_id: str, anchor: tuple[int, str] | None, head: tuple[int, str] | None
    ) -> None:
        self.tenant_id, self._anchor, self._head = tenant_id, anchor, head
        self._expected_n, self._expected_prev = (
            (anchor[0] + 1, anchor[1]) if anchor else (1, GENESIS)
        )
        self._findings: list[Finding] = []
        self._checked, self._first_n, self._last_n = 0, 0, 0

    def _found(self, problem: AuditProblem, n: int, detail: str) -> None:
        self._findings.append(Finding(problem, n, detail))

    def feed(self, doc: Mapping[str, Any]) -> None:
        n = int(doc["n"])
        self._checked += 1
        self._first_n, self._last_n = self._first_n or n, n
        fields = {k: doc.get(k) for k in HASHED_KEYS}
        if record_hash(fields) != doc.get("hash"):
            self._found(AuditProblem.ALTERED, n, "content does not match its hash")
        if n != self._expected_n:
            missing = f"positions {self._expected_n}..{n - 1} are missing"
            self._found(AuditProblem.MISSING, self._expected_n, missing)
        elif doc.get("prev_hash") != self._expected_prev:
            self._found(AuditProblem.BROKEN_LINK, n, "prev_hash does not match the record before")
        self._expected_n, self._expected_prev = n + 1, str(doc.get("hash"))

    def finish(self) -> Verification:
        head, last = self._head, self._expected_n - 1
        if head is not None and last < head[0]:
            ends = f"the chain ends at {last}, its head is {head[0]}"
            self._found(AuditProblem.TRUNCATED, head[0], ends)
        elif head is not None and last == head[0] and self._expected_prev != head[1]:
            self._found(AuditProblem.ALTERED, head[0], "the last record is not the recorded head")
        return Verification(
            self.tenant_id, self._checked, self._first_n, self._last_n, tuple(self._findings)
        )


HASHED_KEYS = tuple(hashed_fields(AuditEntry("", "", "", dt.datetime.now(dt.UTC), "", "", ""),
                                  0, GENESIS))  # fmt: skip


BEFORE_NOTES = "audit.before"  # RequestContext.transport: response key -> state before
CLIENT_ADDRESS = "client_address"  # RequestContext.transport: the caller's address


def remember_before(transport: dict[str, object], response_key: str, summary: Any) -> None:
    """Let a resolver hand the audit trail the state it is about to change."""
    notes = transport.setdefault(BEFORE_NOTES, {})
    if isinstance(notes, dict):
        notes[response_key] = summary
