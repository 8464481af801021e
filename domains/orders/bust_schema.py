"""Clearing rollback root fields (mixed into OrdersQuery / OrdersMutation): bustTrades and
the busts' reports. Operators only: a bust moves money of every party to the trades."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Annotated

import strawberry

from domains.orders.busts import Amount, InexactPosition, PositionLeg, TradeBust, TradeBustService
from domains.orders.types import Info
from domains.shared.context import Role
from domains.shared.errors import ValidationError
from domains.shared.graphql import described_enum

MAX_FIRST = 200


class TradeBustStatus(enum.Enum):
    """Where a bust stands (domains/orders/busts.py)."""

    PLANNED = "PLANNED"
    POSITIONS = "POSITIONS"
    COLLECTING = "COLLECTING"
    PAYING = "PAYING"
    COMPLETED = "COMPLETED"


described_enum(
    TradeBustStatus, "Where a bust stands.",
    PLANNED="Planned, nothing journaled yet.",
    POSITIONS="Perpetual markets: moving the positions (one journaled group).",
    COLLECTING="Taking what each party owes into the bust's clearing account.",
    PAYING="Paying the parties owed.",
    COMPLETED="Done; the report is final.",
)  # fmt: skip


@strawberry.type(description="An amount of one asset for one account in a bust's report.")
class BustAmount:
    account_id: strawberry.ID = strawberry.field(description="The account.")
    asset: str = strawberry.field(description="Asset code.")
    amount: Decimal = strawberry.field(description="The amount, a decimal string.")

    @classmethod
    def of(cls, amount: Amount) -> BustAmount:
        return cls(
            account_id=strawberry.ID(amount.account_id), asset=amount.asset,
            amount=Decimal(amount.amount_minor).scaleb(-amount.decimals),
        )  # fmt: skip


@strawberry.type(description="How a perpetual bust moved one position (signed changes).")
class BustPositionLeg:
    account_id: strawberry.ID = strawberry.field(description="The account.")
    quantity: Decimal = strawberry.field(description="Change of the signed size (long > 0).")
    cost: Decimal = strawberry.field(description="Change of the signed cost (entry value).")
    realized_pnl: Decimal = strawberry.field(
        description="Change of the cumulative realised PnL (its money moved by the transfers)."
    )
    margin: Decimal = strawberry.field(description="Change of the position margin.")

    @classmethod
    def of(cls, leg: PositionLeg) -> BustPositionLeg:
        return cls(
            account_id=strawberry.ID(leg.account_id), quantity=leg.quantity, cost=leg.cost,
            realized_pnl=leg.realized_pnl, margin=leg.margin,
        )  # fmt: skip


@strawberry.type(
    description=(
        "A position its trades alone do not explain (a funding payment, a margin adjustment, "
        "a liquidation step, auto-deleveraging, a wind-down or a socialised loss moved it): "
        "the bust kept that part as it happened and did not recompute it."
    )
)
class BustInexactPosition:
    account_id: strawberry.ID = strawberry.field(description="The account.")
    fields: list[str] = strawberry.field(
        description="What differs from the replay of its trades: qty, cost, margin, realized."
    )

    @classmethod
    def of(cls, p: InexactPosition) -> BustInexactPosition:
        return cls(account_id=strawberry.ID(p.account_id), fields=list(p.fields))


@strawberry.type(
    description=(
        "A clearing rollback: a range of a spot market's internal trades reversed by new "
        "journaled transfers (history is never rewritten). Each party's net amounts over the "
        "range are taken back, at most what it has available, and paid to the parties owed; "
        "what could not be taken is a shortfall, what could not be paid an unpaid claim "
        "(equal per asset). Without shortfalls every balance is as if the trades had not "
        "happened. On a perpetual market every position the trades touched is also moved, by "
        "journaled BUST_POSITION legs, to its replay without the busted trades (funding and "
        "liquidations since are kept, not recomputed: `inexactPositions`)."
    )
)
class TradeBustReport:
    id: strawberry.ID = strawberry.field(description="Bust id.")
    market: strawberry.ID = strawberry.field(description="Market symbol.")
    from_sequence: int = strawberry.field(description="First trade number of the range.")
    to_sequence: int = strawberry.field(description="Last trade number of the range.")
    reason: str = strawberry.field(description="Why the trades were busted.")
    requested_by: str = strawberry.field(description="The operator key that asked for it.")
    requested_at: dt.datetime = strawberry.field(description="When it was asked for.")
    status: TradeBustStatus = strawberry.field(description="Where the bust stands.")
    busted_trades: list[int] = strawberry.field(
        description="The trade numbers reversed (trades already busted are left out)."
    )
    skipped_external: int = strawberry.field(
        description="Trades in the range executed on the external venue: never busted here."
    )
    bust_sequence: int | None = strawberry.field(
        description="Journal sequence of the bust's first command (each busted trade shows it)."
    )
    last_sequence: int | None = strawberry.field(
        description="Journal sequence of its last command once COMPLETED."
    )
    recovered: list[BustAmount] = strawberry.field(
        description="What was taken back from each party, per asset."
    )
    shortfalls: list[BustAmount] = strawberry.field(
        description=(
            "What a party owed but did not have available (withdrawn, spent or locked in "
            "orders since): left uncollected, never a negative balance."
        )
    )
    unpaid_claims: list[BustAmount] = strawberry.field(
        description="What a party is owed but was not paid because of the shortfalls (pro rata)."
    )
    position_legs: list[BustPositionLeg] = strawberry.field(
        description="Perpetual markets: how each position the trades touched was moved."
    )
    inexact_positions: list[BustInexactPosition] = strawberry.field(
        description=(
            "Perpetual markets: positions that something besides their trades moved; the "
            "result is exact only up to that."
        )
    )
    uncovered: list[BustAmount] = strawberry.field(
        description=(
            "Perpetual markets: shortfalls beyond every unpaid claim, held by the bust's "
            "clearing account as a cost nobody paid (settle outside the platform)."
        )
    )

    @classmethod
    def of(cls, bust: TradeBust) -> TradeBustReport:
        return cls(
            id=strawberry.ID(bust.id), market=strawberry.ID(bust.market_id),
            from_sequence=bust.from_number, to_sequence=bust.to_number, reason=bust.reason,
            requested_by=bust.requested_by, requested_at=bust.requested_at,
            status=TradeBustStatus(bust.status),
            busted_trades=list(bust.trades), skipped_external=bust.skipped_external,
            bust_sequence=bust.marker_seq, last_sequence=bust.last_seq,
            recovered=[BustAmount.of(a) for a in bust.recovered],
            shortfalls=[BustAmount.of(a) for a in bust.shortfalls],
            unpaid_claims=[BustAmount.of(a) for a in bust.unpaid],
            position_legs=[BustPositionLeg.of(g) for g in bust.positions],
            inexact_positions=[BustInexactPosition.of(p) for p in bust.inexact],
            uncovered=[BustAmount.of(a) for a in bust.uncovered],
        )  # fmt: skip


@strawberry.type(description="Clearing rollback queries.")
class BustQuery:
    @strawberry.field(description="Busts, newest first (operators).")
    async def trade_busts(
        self,
        info: Info,
        market: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this market's busts.")
        ] = None,
        first: Annotated[int, strawberry.argument(description="How many, 1 to 200.")] = 50,
    ) -> list[TradeBustReport]:
        info.context.require(Role.OPERATOR)
        if not 1 <= first <= MAX_FIRST:
            raise ValidationError(f"first must be 1 to {MAX_FIRST}", field="first")
        busts = await info.context.get(TradeBustService).recent(
            str(market) if market else None, first
        )
        return [TradeBustReport.of(b) for b in busts]

    @strawberry.field(description="One bust's report (operators).")
    async def trade_bust(
        self, info: Info, id: Annotated[strawberry.ID, strawberry.argument(description="Bust id.")]
    ) -> TradeBustReport:
        info.context.require(Role.OPERATOR)
        return TradeBustReport.of(await info.context.get(TradeBustService).get(str(id)))


@strawberry.type(description="Clearing rollback mutations.")
class BustMutation:
    @strawberry.mutation(
        description=(
            "Clearing rollback (operators): reverse the internal trades of a market numbered "
            "`fromSequence` to `toSequence` (the trades' `sequence`). Every party's net "
            "amounts are moved back by new journaled transfers, fees included; on a perpetual "
            "market every position they touched is moved to its replay without them "
            "(`positionLegs`; funding and liquidations since are kept: `inexactPositions`). "
            "The trades show `status` BUSTED with the bust's sequence. A party that no longer "
            "has what it owes is reported in `shortfalls` (never made negative) and the "
            "parties owed are paid pro rata (`unpaidClaims`). No standing trade in the range: "
            "NO_TRADES; one bust per market at a time; more than 200,000 trades of the "
            "parties to replay: HISTORY_TOO_LONG."
        )
    )
    async def bust_trades(
        self,
        info: Info,
        market: Annotated[
            strawberry.ID, strawberry.argument(description="Market symbol (spot or perpetual).")
        ],
        from_sequence: Annotated[
            int, strawberry.argument(description="First trade number to reverse (>= 1).")
        ],
        to_sequence: Annotated[
            int, strawberry.argument(description="Last trade number to reverse (at most 10,000).")
        ],
        reason: Annotated[str, strawberry.argument(description="Why (1-500 characters; audited).")],
    ) -> TradeBustReport:
        bust = await info.context.get(TradeBustService).bust(
            info.context.require(Role.OPERATOR), str(market), from_sequence,
            to_sequence, reason,
        )  # fmt: skip
        return TradeBustReport.of(bust)
