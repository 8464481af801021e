"""Each AML rule fires on a constructed scenario and stays silent on a clean one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from domains.compliance.alert_model import AlertRule
from domains.compliance.aml import AmlRules, Movement, Transaction, evaluate

T0 = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
RULES = AmlRules("ten_a", watch_addresses=frozenset({"0xWATCHED"}))


def tx(seq: int, kind: Movement, amount: str, minutes: float = 0, asset: str = "USDT",
       counterparty: str | None = None) -> Transaction:  # fmt: skip
    return Transaction(seq, "ten_a", "cus_a", "acc_a", kind, asset, Decimal(amount),
                       T0 + dt.timedelta(minutes=minutes), counterparty)  # fmt: skip


def rules_hit(history: list[Transaction]) -> set[AlertRule]:
    """Rules that fire on the last movement of ``history``."""
    return {hit.rule for hit in evaluate(RULES, history[-1], history)}


def test_a_large_deposit_fires_and_a_normal_one_does_not() -> None:
    assert rules_hit([tx(1, Movement.DEPOSIT, "10000")]) == {AlertRule.AML_LARGE_TRANSACTION}
    assert rules_hit([tx(1, Movement.DEPOSIT, "9999.99")]) == set()


def test_several_deposits_just_under_the_threshold_are_structuring() -> None:
    history = [tx(i, Movement.DEPOSIT, "9500", minutes=i * 60) for i in range(1, 4)]
    hits = evaluate(RULES, history[-1], history)
    assert {h.rule for h in hits} == {AlertRule.AML_STRUCTURING}
    assert len(hits[0].evidence) == 3
    # the same pattern seen again (a replay, or a fourth deposit) keeps the same alert key
    fourth = [*history, tx(4, Movement.DEPOSIT, "9600", minutes=240)]
    assert evaluate(RULES, fourth[-1], fourth)[0].key == hits[0].key


def test_small_or_spread_out_deposits_are_not_structuring() -> None:
    small = [tx(i, Movement.DEPOSIT, "3000", minutes=i) for i in range(1, 5)]
    spread = [tx(i, Movement.DEPOSIT, "9500", minutes=i * 60 * 13) for i in range(1, 4)]
    assert rules_hit(small) == set()
    assert rules_hit(spread) == set()


def test_a_deposit_withdrawn_within_the_window_is_rapid_in_and_out() -> None:
    history = [tx(1, Movement.DEPOSIT, "5000"), tx(2, Movement.WITHDRAWAL, "4900", minutes=30)]
    assert rules_hit(history) == {AlertRule.AML_RAPID_IN_OUT}


def test_a_withdrawal_long_after_or_of_a_small_part_is_not_rapid() -> None:
    late = [tx(1, Movement.DEPOSIT, "5000"), tx(2, Movement.WITHDRAWAL, "4900", minutes=180)]
    part = [tx(1, Movement.DEPOSIT, "5000"), tx(2, Movement.WITHDRAWAL, "1000", minutes=30)]
    other_asset = [tx(1, Movement.DEPOSIT, "5000"),
                   tx(2, Movement.WITHDRAWAL, "1", minutes=30, asset="BTC")]  # fmt: skip
    assert rules_hit(late) == rules_hit(part) == rules_hit(other_asset) == set()


def test_too_many_movements_in_the_window_is_velocity() -> None:
    busy = [tx(i, Movement.DEPOSIT, "10", minutes=i * 5) for i in range(1, 12)]
    calm = [tx(i, Movement.DEPOSIT, "10", minutes=i * 7) for i in range(1, 12)]
    assert rules_hit(busy) == {AlertRule.AML_VELOCITY}
    assert rules_hit(calm) == set()


def test_a_watched_counterparty_fires_and_another_does_not() -> None:
    watched = [tx(1, Movement.WITHDRAWAL, "10", counterparty="0xwatched")]
    other = [tx(1, Movement.WITHDRAWAL, "10", counterparty="0xelsewhere")]
    assert rules_hit(watched) == {AlertRule.AML_LISTED_COUNTERPARTY}
    assert rules_hit(other) == set()


def test_a_released_withdrawal_fires_nothing() -> None:
    history = [tx(1, Movement.DEPOSIT, "5000"),
               tx(2, Movement.WITHDRAWAL_RELEASED, "50000", minutes=1)]  # fmt: skip
    assert rules_hit(history) == set()
