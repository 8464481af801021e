"""Clearing rollback root fields (mixed into OrdersQuery / OrdersMutation): bustTrades and
the busts' reports. Operators only: a bust moves money of every party to the trades."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Annotated

import strawberry

from domains.orders.busts import Amount, TradeBust, TradeBustService
from domains.orders.types import Info
from domains.shared.context import Role
from domains.shared.errors import ValidationError
from domains.shared.graphql import described_enum

MAX_FIRST = 200


class TradeBustStatus(enum.Enum):
    """Where a bust stands (domains/orders/busts.py)."""

    PLANNED = "PLANNED"
    COLLECTING = "COLLECTING"
    PAYING = "PAYING"
    COMPLETED = "COMPLETED"


described_enum(
    TradeBustStatus, "Where a bust stands.",
    PLANNED="Planned, nothing journaled yet.",
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


@strawberry.type(
    description=(
        "A clearing rollback: a range of a spot market's internal trades reversed by new "
        "journaled transfers (history is never rewritten). Each party's net amounts over the "
        "range are taken back, at most what it has available, and paid to the parties owed; "
        "what could not be taken is a shortfall, what could not be paid an unpaid claim "
        "(equal per asset). Without shortfalls every balance is as if the trades had not "
        "happened."
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
            "Clearing rollback (operators): reverse the internal trades of a spot market "
            "numbered `fromSequence` to `toSequence` (the trades' `sequence`). Every party's "
            "net amounts are moved back by new journaled transfers, fees included; the trades "
            "show `status` BUSTED with the bust's sequence. A party that no longer has what it "
            "owes is reported in `shortfalls` (never made negative) and the parties owed are "
            "paid pro rata (`unpaidClaims`). Perpetual markets: PERPETUAL_NOT_SUPPORTED; no "
            "standing trade in the range: NO_TRADES; one bust per market at a time."
        )
    )
    async def bust_trades(
        self,
        info: Info,
        market: Annotated[strawberry.ID, strawberry.argument(description="Spot market symbol.")],
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
