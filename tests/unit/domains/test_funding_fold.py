"""Folding a funding round into a position document reads the same as applying the round:
for any position and any round state (engine integers), the document with the folded fields
reads back as ``applied`` gives it, and ``newest_states`` picks each position's newest
round that carries its state, whatever order the rounds come in."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from domains.positions.funding_rounds import (
    RoundHeader,
    applied,
    folded_fields,
    newest_states,
    payment_entry,
    round_documents,
    state_entry,
)
from domains.positions.model import MarginMode, Position
from domains.positions.repository import position_document, position_from_document

MINOR = st.integers(min_value=-(10**15), max_value=10**15)


def _position(seq: int) -> Position:
    return Position(
        id="acc_1:BTC-USDT-PERP", tenant_id="ten_1", customer_id="cus_1", account_id="acc_1",
        market_id="BTC-USDT-PERP", quantity=Decimal("0.5"), entry_price=Decimal("64000"),
        realized_pnl=Decimal("-1.25"), updated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        cost=Decimal("32000"), margin=Decimal("3200"), leverage=10,
        margin_mode=MarginMode.CROSS, quote_asset="USDT", seq=seq,
    )  # fmt: skip


def _round(seq: int, lot_size: str, decimals: int, entries: dict[str, Any]) -> dict[str, Any]:
    header = RoundHeader(
        market_id="BTC-USDT-PERP", seq=seq, paid_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
        mark=Decimal("65325"), rate_ppm=5_000, asset="USDT", quote_decimals=decimals,
        lot_size=Decimal(lot_size),
    )  # fmt: skip
    return round_documents(header, entries)[0]


@given(
    lots=st.integers(min_value=-(10**9), max_value=10**9).filter(lambda q: q != 0),
    cost=MINOR, margin=MINOR, realized=MINOR, leverage=st.integers(1, 125),
    isolated=st.booleans(), lot_size=st.sampled_from(["0.001", "1", "0.00001", "10"]),
    decimals=st.sampled_from([2, 6, 8]),
)  # fmt: skip
def test_a_folded_document_reads_as_the_round_applied(
    lots: int, cost: int, margin: int, realized: int, leverage: int, isolated: bool,
    lot_size: str, decimals: int,
) -> None:  # fmt: skip
    entry = payment_entry(0, "ten_1", "cus_1", lots, -12_345)
    entry["p"] = state_entry(cost, margin, realized, leverage, isolated)
    doc = _round(100, lot_size, decimals, {"acc_1": entry})
    position = _position(seq=7)
    folded = {**position_document(position), **folded_fields(doc, doc["entries"]["acc_1"])}
    assert position_from_document(folded) == applied(position, doc, doc["entries"]["acc_1"])
    assert folded["open"] and folded["seq"] == 100


@given(
    seqs=st.lists(st.integers(1, 10_000), min_size=1, max_size=12, unique=True),
    carried=st.lists(st.booleans(), min_size=12, max_size=12),
    seed=st.integers(0, 99),
)
def test_the_newest_round_carrying_a_state_is_folded_in_any_order(
    seqs: list[int], carried: list[bool], seed: int
) -> None:
    rounds = []
    for seq, has_state in zip(seqs, carried, strict=False):
        entry = payment_entry(0, "ten_1", "cus_1", 3, seq)
        if has_state:  # a round that liquidated the position carries its payment only
            entry["p"] = state_entry(seq, seq, seq, 10, False)
        rounds.append(_round(seq, "0.001", 6, {"acc_1": entry}))
    random.Random(seed).shuffle(rounds)
    newest = newest_states(rounds)
    with_state = [s for s, c in zip(seqs, carried, strict=False) if c]
    if not with_state:
        assert newest == {}
    else:
        doc, entry = newest["acc_1:BTC-USDT-PERP"]
        assert doc["seq"] == max(with_state) and entry["p"][0] == max(with_state)
