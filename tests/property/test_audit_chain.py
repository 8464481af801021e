"""Property: any single alteration, removal or swap in an audit chain is found, and an
untouched chain always verifies."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domains.compliance.audit import GENESIS, AuditEntry, ChainVerifier, chain

T0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)


def build(operations: list[str]) -> list[dict[str, Any]]:
    docs, prev = [], GENESIS
    for n, operation in enumerate(operations, 1):
        entry = AuditEntry("ten_a", "key_a", "COMPLIANCE", T0 + dt.timedelta(seconds=n),
                           "203.0.113.7", operation, "OK", arguments={"n": n})  # fmt: skip
        fields, digest = chain(entry, n, prev)
        docs.append({**fields, "hash": digest})
        prev = digest
    return docs


def verify(docs: list[dict[str, Any]], head: tuple[int, str]) -> bool:
    verifier = ChainVerifier("ten_a", None, head)
    for doc in docs:
        verifier.feed(doc)
    return verifier.finish().intact


operations = st.lists(st.sampled_from(["mutation a", "mutation b", "report.export"]),
                      min_size=3, max_size=30)  # fmt: skip


@given(operations)
def test_an_untouched_chain_verifies(ops: list[str]) -> None:
    docs = build(ops)
    assert verify(docs, (len(docs), docs[-1]["hash"]))


@given(operations, st.data())
def test_any_single_tampering_is_found(ops: list[str], data: st.DataObject) -> None:
    docs = build(ops)
    head = (len(docs), docs[-1]["hash"])
    i = data.draw(st.integers(0, len(docs) - 1))
    how = data.draw(st.sampled_from(["alter", "remove", "swap"]))
    if how == "alter":
        docs[i] = {**docs[i], "outcome": "FORBIDDEN"}
    elif how == "remove":
        del docs[i]
    else:
        j = data.draw(st.integers(0, len(docs) - 1).filter(lambda j: j != i))
        a, b = docs[i], docs[j]
        docs[i], docs[j] = {**b, "n": a["n"]}, {**a, "n": b["n"]}
    assert not verify(docs, head)
