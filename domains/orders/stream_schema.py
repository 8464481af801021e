"""Market stream subscriptions: ``orderBook`` (snapshot, then deltas) and ``trades``."""

from __future__ import annotations

import enum
from collections.abc import AsyncGenerator
from decimal import Decimal
from typing import Annotated

import strawberry

from domains.orders.model import Side, Venue
from domains.orders.order_events import to_datetime
from domains.orders.streams import (
    MISSED_TRADES_LIMIT,
    BookMessage,
    MarketStreams,
    TradeMessage,
)
from domains.orders.trading_schema import MAX_DEPTH
from domains.orders.types import Info, Market, PriceLevel, Trade
from domains.shared.errors import ValidationError
from domains.shared.graphql import described_enum


class BookEventKind(enum.Enum):
    """What an `orderBook` stream message is."""

    SNAPSHOT = "SNAPSHOT"
    DELTA = "DELTA"


class SnapshotReason(enum.Enum):
    """Why the stream sent a snapshot."""

    INITIAL = "INITIAL"
    CONFLATED = "CONFLATED"
    RESYNC = "RESYNC"


described_enum(
    BookEventKind,
    "What an `orderBook` stream message is.",
    SNAPSHOT="The whole book (to `depth`): replace the local book with it.",
    DELTA="Changed levels with their new absolute quantity; 0 removes a level.",
)
described_enum(
    SnapshotReason,
    "Why the stream sent a snapshot.",
    INITIAL="The first message of the stream.",
    CONFLATED="You fell behind: the deltas you had not received were merged into this.",
    RESYNC="The server lost continuity (a gap or a broker reconnect) and resynchronised.",
)


@strawberry.type(
    description=(
        "One message of the `orderBook` stream (Binance depth-stream contract): a SNAPSHOT "
        "carrying `sequence`, then DELTAs carrying `firstSequence`/`lastSequence`. Apply a "
        "delta when `firstSequence <= sequence + 1 <= lastSequence` (the server already "
        "drops older ones); a later `firstSequence` means a gap: resubscribe or wait for the "
        "next snapshot. A SNAPSHOT may arrive at any time (conflation, resync): replace the book."
    )
)
class OrderBookEvent:
    market_id: strawberry.Private[str]
    kind: BookEventKind = strawberry.field(description="SNAPSHOT or DELTA.")
    sequence: int = strawberry.field(
        description="Book sequence the book is at after this message (= `lastSequence`)."
    )
    first_sequence: int = strawberry.field(
        description="First book sequence this message covers (snapshots: = `sequence`)."
    )
    last_sequence: int = strawberry.field(description="Last book sequence this message covers.")
    bids: list[PriceLevel] = strawberry.field(
        description="Buy levels, highest first: a snapshot's whole side, a delta's changed levels."
    )
    asks: list[PriceLevel] = strawberry.field(
        description="Sell levels, lowest first: a snapshot's whole side, a delta's changed levels."
    )
    conflated: bool = strawberry.field(
        description="True for a snapshot that replaces deltas you could not keep up with."
    )
    reason: SnapshotReason | None = strawberry.field(
        description="Why a snapshot was sent; null for deltas."
    )

    @classmethod
    def from_message(cls, message: BookMessage) -> OrderBookEvent:
        return cls(
            market_id=message.market_id,
            kind=BookEventKind.SNAPSHOT if message.is_snapshot else BookEventKind.DELTA,
            sequence=message.last_sequence,
            first_sequence=message.first_sequence,
            last_sequence=message.last_sequence,
            bids=[PriceLevel(price=Decimal(p), quantity=Decimal(q)) for p, q in message.bids],
            asks=[PriceLevel(price=Decimal(p), quantity=Decimal(q)) for p, q in message.asks],
            conflated=message.reason == SnapshotReason.CONFLATED.value,
            reason=SnapshotReason(message.reason) if message.reason else None,
        )

    @strawberry.field(description="The market.")
    async def market(self, info: Info) -> Market | None:
        return await Market.resolve_reference(info, strawberry.ID(self.market_id))


def trade_from_message(trade: TradeMessage) -> Trade:
    return Trade(
        id=strawberry.ID(trade.id), market_id=trade.market_id, price=Decimal(trade.price),
        quantity=Decimal(trade.quantity), taker_side=Side(trade.taker_side),
        venue=Venue.INTERNAL, executed_at=to_datetime(trade.executed_at_ns),
        sequence=trade.sequence,
    )  # fmt: skip


@strawberry.type(description="Market stream subscriptions.")
class MarketStreamsSubscription:
    @strawberry.subscription(
        description=(
            "A market's order book: a snapshot (to `depth` levels a side) with its `sequence`, "
            "then deltas of every changed level, one message per engine batch. A market your "
            "institution does not list is an error (MARKET_NOT_LISTED)."
        )
    )
    async def order_book(
        self,
        info: Info,
        market: Annotated[strawberry.ID, strawberry.argument(description="Market symbol.")],
        depth: Annotated[
            int, strawberry.argument(description=f"Snapshot levels per side, 1 to {MAX_DEPTH}.")
        ] = 20,
    ) -> AsyncGenerator[OrderBookEvent, None]:
        if not 1 <= depth <= MAX_DEPTH:
            raise ValidationError(f"depth must be 1 to {MAX_DEPTH}", field="depth")
        streams = info.context.get(MarketStreams)
        principal = info.context.require()
        async for message in streams.book(principal, str(market), depth, info.root_value):
            yield OrderBookEvent.from_message(message)

    @strawberry.subscription(
        description=(
            "A market's trades on this platform's book as they execute; `sequence` numbers "
            "them without gaps. A market your institution does not list is an error. To "
            "resume after a dropped connection, pass the last `sequence` you received as "
            "`afterSequence`: every trade after it is sent first, then the live ones, with "
            "no gap between them."
        )
    )
    async def trades(
        self,
        info: Info,
        market: Annotated[strawberry.ID, strawberry.argument(description="Market symbol.")],
        after_sequence: Annotated[
            int | None,
            strawberry.argument(
                name="afterSequence",
                description=(
                    "Resume: first send every trade numbered after this one (at most "
                    f"{MISSED_TRADES_LIMIT:,} back, else SLOW_CONSUMER: read them with the "
                    "`trades` query), then the live trades. Omitted: live trades only."
                ),
            ),
        ] = None,
    ) -> AsyncGenerator[Trade, None]:
        if after_sequence is not None and after_sequence < 0:
            raise ValidationError("afterSequence must be 0 or more", field="afterSequence")
        streams = info.context.get(MarketStreams)
        principal = info.context.require()
        async for trade in streams.trades(principal, str(market), info.root_value, after_sequence):
            yield trade_from_message(trade)
