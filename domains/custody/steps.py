"""Which custody engine steps the journal holds: exactly-once holds, releases, debits, credits.

A projector (a writer listener, replayed from the journal after a crash like every read
model) records each accepted custody command under ``<step>:<object id>`` from its
journaled note. Before submitting a step, custody looks here: a step that reached the
journal is never submitted again, whatever crashed in between.
"""

from __future__ import annotations

from domains.shared.mongo import Database, insert_new
from engine import codes
from engine.layout import Records

NOTE_DEPOSIT = "custody_deposit"
NOTE_WITHDRAWAL = "custody_withdrawal"
NOTE_STEP = "step"


def step_key(note: dict[str, str]) -> str | None:
    """``<step>:<id>`` of a custody note, else None."""
    target = note.get(NOTE_WITHDRAWAL) or note.get(NOTE_DEPOSIT)
    if target is None or NOTE_STEP not in note:
        return None
    return f"{note[NOTE_STEP]}:{target}"


class CustodySteps:
    """The step log: written by the projector, read before each submit."""

    def __init__(self, db: Database) -> None:
        self._steps = db.custody_engine_steps

    async def seq_of(self, key: str) -> int | None:
        doc = await self._steps.find_one({"_id": key})
        return None if doc is None else int(doc["seq"])

    async def __call__(
        self, batch: Records, events: Records, notes: dict[int, dict[str, str]]
    ) -> None:
        if not notes:
            return
        accepted = set(events["seq"][events["kind"] == codes.EV_ACCEPTED].tolist())
        docs = []
        for seq, note in notes.items():
            key = step_key(note)
            if key is not None and int(seq) in accepted:
                docs.append({"_id": key, "seq": int(seq)})
        await insert_new(self._steps, docs)
