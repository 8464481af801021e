"""AML transaction monitoring: per-tenant rules and their pure evaluation; no I/O.

Each rule looks at one new money movement of a customer and that customer's recent history
(which includes the new movement) and returns hits. Hits carry a key that stays the same
when the same history is evaluated again (a replayed batch), so alerts are raised once.

Rules (all per tenant, thresholds per asset in the asset's units):
* large transaction: one deposit or withdrawal >= ``large_amount[asset]``;
* structuring: ``structuring_count`` or more movements in ``structuring_window`` each between
  ``structuring_floor_pct`` % of the threshold and the threshold (just under it);
* rapid in-and-out: a withdrawal within ``rapid_window`` of a deposit of the same asset
  taking at least ``rapid_min_pct`` % of it out again;
* velocity: more than ``velocity_max_count`` movements in ``velocity_window``;
* listed counterparty: a source or destination address on the tenant's watch list.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from domains.compliance.alert_model import AlertRule, Evidence, Severity


class Movement(enum.Enum):
    """A money movement the monitor records."""

    DEPOSIT = "DEPOSIT"
    WITHDRAWAL = "WITHDRAWAL"
    WITHDRAWAL_RELEASED = "WITHDRAWAL_RELEASED"  # a withdrawal hold given back (not sent)


@dataclass(frozen=True)
class Transaction:
    """One movement of one customer, from the engine command that made it."""

    seq: int
    tenant_id: str
    customer_id: str
    account_id: str
    kind: Movement
    asset: str
    amount: Decimal
    at: dt.datetime
    counterparty: str | None = None  # source (deposit) or destination (withdrawal) address
    reference: str | None = None  # custody's deposit or withdrawal id, if journaled


DEFAULT_LARGE: Mapping[str, Decimal] = MappingProxyType(
    {"BTC": Decimal("2"), "ETH": Decimal("30"), "USDT": Decimal("10000")}
)


@dataclass(frozen=True)
class AmlRules:
    """A tenant's monitoring parameters (platform defaults until it sets its own)."""

    tenant_id: str
    large_amount: Mapping[str, Decimal] = field(default_factory=lambda: DEFAULT_LARGE)
    structuring_count: int = 3
    structuring_window: dt.timedelta = dt.timedelta(hours=24)
    structuring_floor_pct: int = 80
    rapid_window: dt.timedelta = dt.timedelta(hours=2)
    rapid_min_pct: int = 80
    velocity_max_count: int = 10
    velocity_window: dt.timedelta = dt.timedelta(hours=1)
    watch_addresses: frozenset[str] = frozenset()
    updated_by: str | None = None
    updated_at: dt.datetime | None = None

    @property
    def longest_window(self) -> dt.timedelta:
        return max(self.structuring_window, self.rapid_window, self.velocity_window)


@dataclass(frozen=True)
class Hit:
    """What a rule found: the alert to raise (its id comes from ``key``)."""

    rule: AlertRule
    severity: Severity
    summary: str
    key: str
    evidence: tuple[Evidence, ...]
    customer_id: str | None = None  # whom it concerns, when not the movement's customer


def _evidence(txs: Sequence[Transaction]) -> tuple[Evidence, ...]:
    return tuple(
        Evidence(t.kind.value if t.kind is not Movement.WITHDRAWAL_RELEASED else "WITHDRAWAL",
                 t.reference or f"seq:{t.seq}", f"{t.amount} {t.asset}")
        for t in txs
    )  # fmt: skip


def _moves(history: Sequence[Transaction]) -> list[Transaction]:
    return [t for t in history if t.kind is not Movement.WITHDRAWAL_RELEASED]


def large_transaction(
    rules: AmlRules, tx: Transaction, history: Sequence[Transaction]
) -> list[Hit]:
    threshold = rules.large_amount.get(tx.asset)
    if tx.kind is Movement.WITHDRAWAL_RELEASED or threshold is None or tx.amount < threshold:
        return []
    return [Hit(AlertRule.AML_LARGE_TRANSACTION, Severity.MEDIUM,
                f"{tx.kind.value.lower()} of {tx.amount} {tx.asset} (threshold {threshold})",
                f"{tx.seq}", _evidence([tx]))]  # fmt: skip


def structuring(rules: AmlRules, tx: Transaction, history: Sequence[Transaction]) -> list[Hit]:
    threshold = rules.large_amount.get(tx.asset)
    if threshold is None or tx.kind is Movement.WITHDRAWAL_RELEASED:
        return []
    floor = threshold * rules.structuring_floor_pct / 100
    since = tx.at - rules.structuring_window
    near = [t for t in _moves(history) if t.asset == tx.asset and t.kind is tx.kind
            and since <= t.at <= tx.at and floor <= t.amount < threshold]  # fmt: skip
    if all(t.seq != tx.seq for t in near) or len(near) < rules.structuring_count:
        return []
    near.sort(key=lambda t: t.seq)
    total = sum((t.amount for t in near), Decimal(0))
    return [Hit(AlertRule.AML_STRUCTURING, Severity.HIGH,
                f"{len(near)} {tx.kind.value.lower()}s of {tx.asset} just under {threshold} "
                f"within {rules.structuring_window} (total {total})",
                f"{tx.kind.value}|{tx.asset}|{near[0].seq}", _evidence(near))]  # fmt: skip


def rapid_in_out(rules: AmlRules, tx: Transaction, history: Sequence[Transaction]) -> list[Hit]:
    if tx.kind is not Movement.WITHDRAWAL:
        return []
    since = tx.at - rules.rapid_window
    for deposit in sorted(_moves(history), key=lambda t: -t.seq):
        if (deposit.kind is Movement.DEPOSIT and deposit.asset == tx.asset
                and since <= deposit.at <= tx.at
                and tx.amount * 100 >= deposit.amount * rules.rapid_min_pct):  # fmt: skip
            minutes = int((tx.at - deposit.at).total_seconds() // 60)
            return [Hit(AlertRule.AML_RAPID_IN_OUT, Severity.HIGH,
                        f"{tx.amount} {tx.asset} withdrawn {minutes} min after a deposit of "
                        f"{deposit.amount}", f"{deposit.seq}|{tx.seq}",
                        _evidence([deposit, tx]))]  # fmt: skip
    return []


def velocity(rules: AmlRules, tx: Transaction, history: Sequence[Transaction]) -> list[Hit]:
    if tx.kind is Movement.WITHDRAWAL_RELEASED:
        return []
    since = tx.at - rules.velocity_window
    window = sorted((t for t in _moves(history) if since <= t.at <= tx.at), key=lambda t: t.seq)
    if len(window) <= rules.velocity_max_count:
        return []
    return [Hit(AlertRule.AML_VELOCITY, Severity.MEDIUM,
                f"{len(window)} movements within {rules.velocity_window} "
                f"(allowed {rules.velocity_max_count})",
                f"{window[0].seq}", _evidence(window[-rules.velocity_max_count - 1:]))]  # fmt: skip


def listed_counterparty(
    rules: AmlRules, tx: Transaction, history: Sequence[Transaction]
) -> list[Hit]:
    if tx.counterparty is None or tx.kind is Movement.WITHDRAWAL_RELEASED:
        return []
    if tx.counterparty.strip().lower() not in {a.lower() for a in rules.watch_addresses}:
        return []
    return [Hit(AlertRule.AML_LISTED_COUNTERPARTY, Severity.HIGH,
                f"{tx.kind.value.lower()} counterparty {tx.counterparty} is on the watch list",
                f"{tx.seq}", (*_evidence([tx]), Evidence("ADDRESS", tx.counterparty)))]  # fmt: skip


RULES = (large_transaction, structuring, rapid_in_out, velocity, listed_counterparty)


def evaluate(rules: AmlRules, tx: Transaction, history: Sequence[Transaction]) -> list[Hit]:
    """Every rule's hits for ``tx`` given the customer's history (``tx`` included)."""
    return [hit for rule in RULES for hit in rule(rules, tx, history)]
