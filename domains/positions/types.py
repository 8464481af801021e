"""GraphQL surface of the positions domain: Position, risk views and Account.positions."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.dataloader import DataLoader

from domains.positions import model
from domains.positions import service as risk
from domains.positions.model import LiquidationStep, MarginMode
from domains.positions.service import MarketExposure, PositionsService, RatioBand
from domains.positions.valuation import PositionView
from domains.shared.context import RequestContext, SharedDataLoader
from domains.shared.graphql import described_enum, resolve_entity

if TYPE_CHECKING:
    from domains.orders.types import Market

Info = strawberry.Info[RequestContext, None]

described_enum(
    MarginMode,
    "How a position is margined.",
    CROSS="The account's margin asset is pooled across its cross positions.",
    ISOLATED="The position has its own margin; a liquidation loses at most that margin.",
)
described_enum(
    LiquidationStep,
    "A step of a liquidation, in the order they happen.",
    STARTED="The account's margin ratio reached 1.",
    ORDERS_CANCELED="Its open orders on perpetuals were canceled.",
    ORDER_FILLED="The engine's reduce-only liquidation order filled (partly or fully).",
    INSURANCE_PAID="The insurance fund covered a deficit beyond the bankruptcy price.",
    INSURANCE_CREDITED="Margin left over after a fill better than bankruptcy went to the fund.",
    AUTO_DELEVERAGED="Closed against an opposite position at the bankruptcy price.",
    DONE="The account is no longer due.",
    WOUND_DOWN="Closed at the mark by its institution's wind-down (`setTenantTradingMode` "
    "WOUND_DOWN): the insurance fund took the position over at that price; `amount` is the "
    "realised PnL.",
    SOCIALIZED_LOSS="A loss neither the account's margin nor the insurance fund could cover "
    "(a gap) was socialised: `amount` was taken pro rata from the unrealised profit of the "
    "market's winning positions (their entry price moves against them; their positions stream "
    "shows it) and credited to this account, so its balance is not left negative.",
)


class PositionSide(enum.Enum):
    LONG = "LONG"
    SHORT = "SHORT"
    FLAT = "FLAT"


described_enum(
    PositionSide,
    "Direction of a position.",
    LONG="Positive quantity: profits when the price rises.",
    SHORT="Negative quantity: profits when the price falls.",
    FLAT="Closed (quantity 0).",
)


def positions_loader(ctx: RequestContext) -> DataLoader[str, list[PositionView]]:
    """Open positions at the mark by account id, one query per batch."""
    service, scope = ctx.get(PositionsService), ctx.scope()

    async def load(keys: list[str]) -> list[list[PositionView]]:
        grouped = await service.account_positions(scope, keys)
        return [grouped[key] for key in keys]

    return ctx.loader("positions.by_account", lambda: SharedDataLoader(load_fn=load))


@strawberry.type(
    description=(
        "A perpetual position of one account on one market (one-way mode), valued at the "
        "current mark price. Money is in the market's quote (margin) asset."
    )
)
class Position:
    market_id: strawberry.Private[str]
    account_id: strawberry.ID = strawberry.field(description="The account holding it.")
    side: PositionSide = strawberry.field(description="LONG, SHORT or FLAT (closed).")
    quantity: Decimal = strawberry.field(
        description="Signed size in the base asset: positive long, negative short, e.g. `-0.5`."
    )
    entry_price: Decimal = strawberry.field(
        description="Average entry price of the open part (cost / quantity)."
    )
    mark_price: Decimal | None = strawberry.field(
        description="Current mark price; null until the market has an index price."
    )
    notional: Decimal | None = strawberry.field(description="|quantity| x mark price.")
    unrealized_pnl: Decimal | None = strawberry.field(
        description="quantity x mark price - cost: what closing at the mark would realise."
    )
    realized_pnl: Decimal = strawberry.field(
        description="Profit and loss realised so far: closes, funding payments and liquidations."
    )
    leverage: int = strawberry.field(description="Leverage of the account on this market.")
    margin_mode: MarginMode = strawberry.field(description="CROSS or ISOLATED.")
    position_margin: Decimal = strawberry.field(
        description="Margin held for the position (initial margin, or the isolated margin)."
    )
    maintenance_margin: Decimal | None = strawberry.field(
        description="notional x rate - amount of the notional's bracket, rounded up."
    )
    margin_ratio: Decimal | None = strawberry.field(
        description=(
            "Maintenance margin / margin balance (cross: the account's pooled cross positions; "
            "isolated: this position). 1 or more means due for liquidation."
        )
    )
    liquidation_price: Decimal | None = strawberry.field(
        description=(
            "Mark price at which the position would be liquidated given the account as it is, "
            "rounded to the tick towards safety; null when no positive price does."
        )
    )
    sequence: int = strawberry.field(description="Engine sequence of the last change.")
    updated_at: dt.datetime | None = strawberry.field(description="Last change.")

    @classmethod
    def from_view(cls, view: PositionView) -> Position:
        p = view.position
        side = (PositionSide.LONG if p.quantity > 0 else
                PositionSide.SHORT if p.quantity < 0 else PositionSide.FLAT)  # fmt: skip
        return cls(
            market_id=p.market_id, account_id=strawberry.ID(p.account_id), side=side,
            quantity=p.quantity, entry_price=p.entry_price, mark_price=view.mark,
            notional=view.notional, unrealized_pnl=view.unrealized_pnl,
            realized_pnl=p.realized_pnl, leverage=p.leverage, margin_mode=p.margin_mode,
            position_margin=p.margin, maintenance_margin=view.maintenance_margin,
            margin_ratio=view.margin_ratio, liquidation_price=view.liquidation_price,
            sequence=p.seq, updated_at=p.updated_at,
        )  # fmt: skip

    @strawberry.field(description="The market of the position.")
    async def market(
        self, info: Info
    ) -> Annotated[Market, strawberry.lazy("domains.orders.types")] | None:
        market_id = strawberry.ID(self.market_id)
        entity: Market | None = await resolve_entity(info, "Market", market_id)
        return entity


@strawberry.type(description="A tenant's exposure on one perpetual, at the mark.")
class MarketRiskExposure:
    market_id: strawberry.ID = strawberry.field(description="The perpetual, e.g. `BTC-USDT-PERP`.")
    mark_price: Decimal | None = strawberry.field(description="Current mark price.")
    long_notional: Decimal = strawberry.field(description="Sum of long notionals.")
    short_notional: Decimal = strawberry.field(description="Sum of short notionals (positive).")
    net_notional: Decimal = strawberry.field(description="long - short.")
    margin_in_use: Decimal = strawberry.field(description="Position margin held on it.")
    open_positions: int = strawberry.field(description="How many positions are open.")

    @classmethod
    def from_model(cls, m: MarketExposure) -> MarketRiskExposure:
        return cls(
            market_id=strawberry.ID(m.market_id), mark_price=m.mark,
            long_notional=m.long_notional, short_notional=m.short_notional,
            net_notional=m.net_notional, margin_in_use=m.margin_in_use, open_positions=m.positions,
        )  # fmt: skip


@strawberry.type(description="Margin held in one asset.")
class MarginAmount:
    asset: str = strawberry.field(description="Asset code, e.g. `USDT`.")
    amount: Decimal = strawberry.field(description="The amount.")


@strawberry.type(description="How many accounts have their worst margin ratio in a band.")
class MarginRatioBand:
    name: str = strawberry.field(description="SAFE, WATCH, DANGER or LIQUIDATION.")
    lower: Decimal = strawberry.field(description="Lowest margin ratio of the band (included).")
    upper: Decimal | None = strawberry.field(
        description="Upper bound (excluded); null for the last band."
    )
    accounts: int = strawberry.field(description="Accounts in the band.")

    @classmethod
    def from_model(cls, b: RatioBand) -> MarginRatioBand:
        return cls(name=b.name, lower=b.lower, upper=b.upper, accounts=b.accounts)


@strawberry.type(description="The platform's insurance fund of one margin asset.")
class InsuranceFund:
    asset: str = strawberry.field(description="Margin asset, e.g. `USDT`.")
    balance: Decimal = strawberry.field(description="What the fund holds.")
    updated_at: dt.datetime | None = strawberry.field(description="Last change.")


@strawberry.type(
    description=(
        "A tenant's perpetual-futures risk at the current marks: exposure per market, margin "
        "in use, accounts by margin-ratio band, the insurance funds and the largest positions."
    )
)
class RiskSummary:
    markets: list[MarketRiskExposure] = strawberry.field(description="Exposure per market.")
    margin_in_use: list[MarginAmount] = strawberry.field(
        description="Position margin held, per margin asset."
    )
    margin_ratio_bands: list[MarginRatioBand] = strawberry.field(
        description="Accounts with open positions by their worst margin ratio."
    )
    insurance_funds: list[InsuranceFund] = strawberry.field(
        description="The platform's insurance funds (they absorb liquidation deficits)."
    )
    largest_positions: list[Position] = strawberry.field(
        description="The 10 largest open positions by notional."
    )
    accounts_with_positions: int = strawberry.field(description="Accounts with open positions.")

    @classmethod
    def from_model(cls, s: risk.RiskSummary) -> RiskSummary:
        return cls(
            markets=[MarketRiskExposure.from_model(m) for m in s.markets],
            margin_in_use=[MarginAmount(asset=a, amount=v)
                           for a, v in sorted(s.margin_in_use.items())],
            margin_ratio_bands=[MarginRatioBand.from_model(b) for b in s.bands],
            insurance_funds=[InsuranceFund(asset=f.asset, balance=f.balance,
                                           updated_at=f.updated_at) for f in s.insurance_funds],
            largest_positions=[Position.from_view(v) for v in s.largest],
            accounts_with_positions=s.accounts,
        )  # fmt: skip


@strawberry.type(description="One funding settlement of one position.")
class FundingPayment:
    id: strawberry.ID = strawberry.field(description="Payment id (sortable, newest last).")
    account_id: strawberry.ID = strawberry.field(description="The account.")
    market_id: strawberry.ID = strawberry.field(description="The perpetual.")
    quantity: Decimal = strawberry.field(description="Signed position size at settlement.")
    mark_price: Decimal = strawberry.field(description="Mark price used.")
    rate: Decimal = strawberry.field(
        description="Funding rate of the interval, e.g. `0.0001`; longs pay when positive."
    )
    amount: Decimal = strawberry.field(description="Positive: received; negative: paid.")
    asset: str = strawberry.field(description="Margin asset of the payment.")
    sequence: int = strawberry.field(description="Engine sequence of the settlement.")
    paid_at: dt.datetime = strawberry.field(description="Engine time of the settlement.")

    @classmethod
    def from_model(cls, f: model.FundingPayment) -> FundingPayment:
        return cls(
            id=strawberry.ID(f.id), account_id=strawberry.ID(f.account_id),
            market_id=strawberry.ID(f.market_id), quantity=f.quantity, mark_price=f.mark,
            rate=f.rate, amount=f.amount, asset=f.asset, sequence=f.seq, paid_at=f.paid_at,
        )  # fmt: skip


@strawberry.type(description="One step of an account's liquidation.")
class Liquidation:
    id: strawberry.ID = strawberry.field(description="Step id (sortable).")
    account_id: strawberry.ID = strawberry.field(description="The liquidated account.")
    market_id: strawberry.ID | None = strawberry.field(description="The perpetual concerned.")
    step: LiquidationStep = strawberry.field(description="What happened.")
    order_id: strawberry.ID | None = strawberry.field(
        description="The engine's liquidation order, for ORDER_FILLED."
    )
    quantity: Decimal | None = strawberry.field(
        description="Quantity concerned (base asset): filled, deleveraged or closed; else null."
    )
    count: int | None = strawberry.field(
        description="STARTED: positions concerned; ORDERS_CANCELED: orders cancelled; else null."
    )
    price: Decimal | None = strawberry.field(description="Fill or bankruptcy price.")
    amount: Decimal = strawberry.field(
        description=(
            "Quote amount: paid by or credited to the insurance fund, or the realised loss; "
            "STARTED: equity minus maintenance margin (negative: how far below it the account "
            "was)."
        )
    )
    insurance_fund_after: Decimal = strawberry.field(
        description="The insurance fund's balance after the step."
    )
    counterparty_account_id: strawberry.ID | None = strawberry.field(
        description="For AUTO_DELEVERAGED: the opposite position's account, when visible."
    )
    sequence: int = strawberry.field(description="Engine sequence of the command.")
    at: dt.datetime = strawberry.field(description="Engine time.")

    @classmethod
    def from_model(cls, e: model.LiquidationEvent) -> Liquidation:
        counterparty = e.counterparty_account_id
        return cls(
            id=strawberry.ID(e.id), account_id=strawberry.ID(e.account_id),
            market_id=strawberry.ID(e.market_id) if e.market_id else None, step=e.step,
            order_id=strawberry.ID(e.order_id) if e.order_id else None, quantity=e.quantity,
            count=e.count, price=e.price, amount=e.amount,
            insurance_fund_after=e.insurance_fund_after,
            counterparty_account_id=strawberry.ID(counterparty) if counterparty else None,
            sequence=e.seq, at=e.at,
        )  # fmt: skip


@strawberry.type(description="A perpetual's mark and index price and its funding estimate.")
class MarkPrice:
    market_id: strawberry.ID = strawberry.field(description="The perpetual.")
    mark_price: Decimal = strawberry.field(
        description="index + clamp(book mid - index, +-index x markBasisCap)."
    )
    index_price: Decimal = strawberry.field(description="The last index (oracle) price.")
    funding_rate: Decimal = strawberry.field(
        description="Funding rate the next settlement would apply now, e.g. `0.0001`."
    )
    next_funding_at: dt.datetime | None = strawberry.field(
        description="When the next funding settlement is due (engine time)."
    )
    sequence: int = strawberry.field(description="Engine sequence of the last change.")

    @classmethod
    def from_model(cls, m: model.MarkPrice) -> MarkPrice:
        return cls(
            market_id=strawberry.ID(m.market_id), mark_price=m.mark, index_price=m.index,
            funding_rate=m.funding_rate, next_funding_at=m.next_funding_at, sequence=m.seq,
        )  # fmt: skip


@strawberry.type(description="Fields the positions subgraph contributes to Account.")
class AccountPositions:
    id: strawberry.ID = strawberry.field(description="Account id.")

    @strawberry.field(description="Open perpetual positions of this account, at the mark.")
    async def positions(self, info: Info) -> list[Position]:
        rows = await positions_loader(info.context).load(str(self.id))
        return [Position.from_view(v) for v in rows]
