"""Sanctions lists in their published formats and fuzzy matching against them; pure, no I/O
beyond reading the list files it is given.

Formats: OFAC's SDN CSV (``sdn.csv``: ent_num, SDN_Name, SDN_Type, Program, Title, Call_Sign,
Vess_type, Tonnage, GRT, Vess_flag, Vess_owner, Remarks; ``-0-`` marks an empty field; dates
of birth and digital currency addresses sit in Remarks) with its alias file (``alt.csv``:
ent_num, alt_num, alt_type, alt_name, alt_remarks).

Names are compared with rapidfuzz after normalisation (accents folded, punctuation dropped,
``LAST, First`` reordered): each token of the shorter name is matched to its best token of
the other (Levenshtein ratio), so a transliteration variant (Dmitry / Dmitri) or a missing
middle name still matches while a different surname does not. A date of birth on both
sides must agree (year only for ``circa``/year-only entries) or the candidate is dropped.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rapidfuzz import fuzz, process

NAME_THRESHOLD = 90.0  # mean per-token similarity (0-100) for a name hit
PREFILTER_THRESHOLD = 55.0
PREFILTER_LIMIT = 25
EMPTY = "-0-"
_MONTHS = {
    m: i
    for i, m in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_DOB = re.compile(r"DOB\s+(?:circa\s+)?(?:(\d{1,2})\s+([A-Za-z]{3})\s+)?(\d{4})", re.IGNORECASE)
_ADDRESS = re.compile(r"Digital Currency Address - ([A-Z0-9]+)\s+([A-Za-z0-9]+)")


@dataclass(frozen=True)
class BirthDate:
    """A listed date of birth; ``month``/``day`` are None when the list gives a year only."""

    year: int
    month: int | None = None
    day: int | None = None

    def agrees_with(self, date: dt.date) -> bool:
        if self.year != date.year:
            return False
        return self.month is None or (self.month == date.month and self.day == date.day)

    def __str__(self) -> str:
        if self.month is None or self.day is None:
            return str(self.year)
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"


@dataclass(frozen=True)
class ListEntry:
    """One sanctioned party with its names, dates of birth and crypto addresses."""

    list_name: str
    entry_id: str
    name: str
    kind: str  # individual, entity (OFAC leaves entities' type empty), vessel, aircraft
    programs: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    birth_dates: tuple[BirthDate, ...] = ()
    addresses: tuple[tuple[str, str], ...] = ()  # (currency, address)


@dataclass(frozen=True)
class NameMatch:
    """A candidate hit of a name screening."""

    entry: ListEntry
    matched_name: str
    score: float
    dob_confirmed: bool  # both sides had a date of birth and it agreed


@dataclass
class SanctionsList:
    """A loaded list, indexed for name and address screening."""

    name: str
    entries: list[ListEntry]
    checksum: str
    loaded_at: dt.datetime
    _names: list[str] = field(default_factory=list)  # normalised, one per name or alias
    _owners: list[tuple[ListEntry, str]] = field(default_factory=list)
    _addresses: dict[str, tuple[ListEntry, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for entry in self.entries:
            for name in (entry.name, *entry.aliases):
                self._names.append(normalise_name(name))
                self._owners.append((entry, name))
            for currency, address in entry.addresses:
                self._addresses[normalise_address(address)] = (entry, currency)

    @property
    def address_count(self) -> int:
        return len(self._addresses)

    def match_address(self, address: str) -> tuple[ListEntry, str] | None:
        """The entry listing this address (and its currency), if any."""
        return self._addresses.get(normalise_address(address))

    def match_name(self, name: str, date_of_birth: dt.date | None = None) -> list[NameMatch]:
        """Entries whose name or alias matches ``name``, best first, one per entry."""
        query = normalise_name(name)
        single = len(query.split()) < 2  # one token only matches a one-token listed name
        candidates = process.extract(
            query, self._names, scorer=fuzz.token_set_ratio,
            score_cutoff=PREFILTER_THRESHOLD, limit=PREFILTER_LIMIT,
        )  # fmt: skip
        best: dict[str, NameMatch] = {}
        for listed, _, index in candidates:
            if single and len(listed.split()) > 1:
                continue
            score = token_score(query, listed)
            if score < NAME_THRESHOLD:
                continue
            entry, original = self._owners[index]
            dob_confirmed = False
            if date_of_birth is not None and entry.birth_dates:
                if not any(b.agrees_with(date_of_birth) for b in entry.birth_dates):
                    continue  # a different person of a similar name
                dob_confirmed = True
            known = best.get(entry.entry_id)
            if known is None or score > known.score:
                best[entry.entry_id] = NameMatch(entry, original, round(score, 1), dob_confirmed)
        return sorted(best.values(), key=lambda m: -m.score)


def normalise_name(name: str) -> str:
    """Lower-case ASCII tokens, accents folded, punctuation dropped, ``LAST, First`` reordered."""
    if "," in name:
        last, _, first = name.partition(",")
        name = f"{first} {last}"
    folded = unicodedata.normalize("NFKD", name)
    ascii_only = "".join(c for c in folded if not unicodedata.combining(c))
    cleaned = re.sub(r"[^a-z0-9 ]+", " ", ascii_only.lower().replace("-", " "))
    return " ".join(cleaned.split())


def token_score(a: str, b: str) -> float:
    """Mean best-token similarity of the shorter name's tokens against the other's (0-100).

    Needs two tokens of the shorter name (or one long one) to say anything at all.
    """
    left, right = a.split(), b.split()
    if len(left) > len(right):
        left, right = right, left
    if not left:
        return 0.0
    scores = [max(fuzz.ratio(token, other) for other in right) for token in left]
    return sum(scores) / len(scores)


def normalise_address(address: str) -> str:
    """Hex (0x...) and bech32 (bc1/tb1/ltc1...) addresses are case-insensitive; base58 is not."""
    stripped = address.strip()
    lowered = stripped.lower()
    if lowered.startswith(("0x", "bc1", "tb1", "ltc1")):
        return lowered
    return stripped


def _field(value: str) -> str:
    value = value.strip()
    return "" if value == EMPTY else value


def _birth_dates(remarks: str) -> tuple[BirthDate, ...]:
    found = []
    for day, month, year in _DOB.findall(remarks):
        if day and month.lower() in _MONTHS:
            found.append(BirthDate(int(year), _MONTHS[month.lower()], int(day)))
        else:
            found.append(BirthDate(int(year)))
    return tuple(found)


def _rows(path: Path) -> Iterable[list[str]]:
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        yield from csv.reader(handle)


def load_ofac_sdn(folder: Path, list_name: str = "OFAC-SDN") -> SanctionsList:
    """Load ``sdn.csv`` (and ``alt.csv`` if present) from ``folder``."""
    sdn, alt = folder / "sdn.csv", folder / "alt.csv"
    digest = hashlib.sha256(sdn.read_bytes())
    aliases: dict[str, list[str]] = {}
    if alt.exists():
        digest.update(alt.read_bytes())
        for row in _rows(alt):
            if len(row) >= 4 and _field(row[3]):
                aliases.setdefault(row[0].strip(), []).append(_field(row[3]))
    entries = [_entry(row, aliases, list_name) for row in _rows(sdn) if len(row) >= 12]
    return SanctionsList(list_name, entries, digest.hexdigest(), dt.datetime.now(dt.UTC))


def _entry(row: Sequence[str], aliases: dict[str, list[str]], list_name: str) -> ListEntry:
    entry_id, remarks = row[0].strip(), _field(row[11])
    return ListEntry(
        list_name=list_name,
        entry_id=entry_id,
        name=_field(row[1]),
        kind=_field(row[2]) or "entity",
        programs=tuple(p.strip(" []") for p in _field(row[3]).split("] [") if p.strip(" []")),
        aliases=tuple(aliases.get(entry_id, ())),
        birth_dates=_birth_dates(remarks),
        addresses=tuple((c, a.rstrip(".;")) for c, a in _ADDRESS.findall(remarks)),
    )
