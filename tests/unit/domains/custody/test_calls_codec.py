"""The JSON form forwarded custody calls travel in: models round-trip exactly, and the
writer's domain errors come back with their code and details."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domains.custody import codec
from domains.custody.calls import remote_error
from domains.custody.model import (
    Approval,
    CustodyMode,
    CustodySetup,
    DepositAddress,
    TreasuryLimits,
    Withdrawal,
    WithdrawalKind,
    WithdrawalStatus,
)
from domains.shared.context import Principal, Role
from domains.shared.errors import DomainError

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


@given(
    amount=st.integers(1, 2**62),
    slot=st.none() | st.integers(0, 2**31 - 1),
    status=st.sampled_from(WithdrawalStatus),
    approvals=st.lists(st.text(min_size=1, max_size=8), max_size=3),
)
def test_models_round_trip(
    amount: int, slot: int | None, status: WithdrawalStatus, approvals: list[str]
) -> None:
    w = Withdrawal("wdr_1", "ten_1", WithdrawalKind.CUSTOMER, "BTC", amount, "bcrt1q", status,
                   "key_1", "TRADER", "n", NOW, NOW, account_id="acc_1",
                   approvals=tuple(Approval(a, "sig", NOW) for a in approvals),
                   requirement={"join": "ALL", "quorums": [{"group": "g", "required": 2}]},
                   omnibus=slot is not None)  # fmt: skip
    assert codec.decode(Withdrawal, codec.encode(w)) == w
    a = DepositAddress("addr", "ten_1", "acc_1", "cus_1", "BTC", "wal_1", 7, NOW, slot)
    assert codec.decode(DepositAddress, codec.encode(a)) == a
    setup = CustodySetup(
        "ten_1", {"BTC": TreasuryLimits(amount, 2, 3, 1)}, mode=CustodyMode.OMNIBUS
    )
    assert codec.decode(CustodySetup, codec.encode(setup)) == setup


def test_a_principal_round_trips_with_its_scopes() -> None:
    p = Principal("key_1", Role.TRADER, "ten_1", "cus_1", frozenset({"READ", "WITHDRAW"}), NOW)
    assert codec.decode(Principal, codec.encode(p)) == p


def test_a_malformed_answer_is_refused() -> None:
    with pytest.raises(TypeError):
        codec.decode(DepositAddress, {**codec.encode(DepositAddress("a", "t", "c", "u", "BTC",
                                                                     "w", 1)),
                                      "derivation_index": "1"})  # fmt: skip


def test_remote_errors_keep_code_and_details() -> None:
    error = remote_error("CUSTODY_BALANCE_HELD", "holds BTC", {"code": "X", "asset": "BTC"})
    assert isinstance(error, DomainError) and error.code == "CUSTODY_BALANCE_HELD"
    assert error.extensions == {"code": "CUSTODY_BALANCE_HELD", "asset": "BTC"}
    assert str(error) == "holds BTC"
