"""The positions projector over hand-built engine events, read back through the service:
positions at the mark (PnL, margin, ratio, liquidation price), funding, liquidations and
the insurance fund, with the arithmetic written out."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import ClassVar

import numpy as np
import pytest
import pytest_asyncio

from domains.orders.model import MarginBracket, Market, MarketKind, PerpParams
from domains.orders.spec import MarketSpec
from domains.positions.model import LiquidationStep, MarginMode
from domains.positions.projection import PositionsProjector
from domains.positions.repository import INDEXES, MongoPositionsRepository
from domains.positions.service import PositionsService
from domains.shared.context import TenantScope
from domains.shared.engine_port import AccountRef, AssetInfo
from domains.shared.mongo import Database, ensure_indexes
from engine import codes
from engine.layout import COMMAND_DTYPE, EVENT_DTYPE, Records

pytestmark = [pytest.mark.store]

USDT, BTC = AssetInfo("USDT", 1, 8), AssetInfo("BTC", 2, 8)
BRACKETS = (
    MarginBracket(Decimal(0), 125, Decimal("0.004"), Decimal(0)),
    MarginBracket(Decimal(50_000), 100, Decimal("0.005"), Decimal(50)),
)
PERP = Market("BTC-USDT-PERP", MarketKind.PERPETUAL, "BTC", "USDT", Decimal("0.1"),
              Decimal("0.001"), Decimal("5"), margin_brackets=BRACKETS,
              perp=PerpParams())  # fmt: skip
SPEC = MarketSpec(PERP, BTC, USDT)  # quote per tick x lot: 0.1 x 0.001 USDT = 10,000 minor
LONG, SHORT, FUND = 1, 2, 3
ONE_BTC, TEN_K = 1000, 100_000  # lots, ticks
USD = 100_000_000  # minor units of one USDT


class Directory:
    accounts: ClassVar[dict[int, AccountRef]] = {
        LONG: AccountRef(LONG, "acc_long", "ten_a", "cus_long"),
        SHORT: AccountRef(SHORT, "acc_short", "ten_b", "cus_short"),
        FUND: AccountRef(FUND, "platform:insurance:USDT", "platform", "platform"),
    }

    def account(self, index: int) -> AccountRef | None:
        return self.accounts.get(index)

    def asset_by_index(self, index: int) -> AssetInfo | None:
        return {1: USDT, 2: BTC}.get(index)

    def market_id(self, index: int) -> str | None:
        return "BTC-USDT-PERP" if index == 0 else None


class Wallets:
    def __init__(self, available: dict[str, dict[str, Decimal]]) -> None:
        self._available = available

    async def available(
        self, scope: TenantScope, account_ids: Sequence[str]
    ) -> dict[str, dict[str, Decimal]]:
        return {a: self._available.get(a, {}) for a in account_ids}


def _event(seq: int, kind: int, **fields: int) -> Records:
    record = np.zeros(1, dtype=EVENT_DTYPE)
    record["seq"], record["kind"] = seq, kind
    for name, value in fields.items():
        record[name] = value
    return record


def _batch(*seqs: int) -> Records:
    batch = np.zeros(len(seqs), dtype=COMMAND_DTYPE)
    batch["seq"] = seqs
    batch["ts_ns"] = 1_764_000_000_000_000_000
    return batch


async def _spec(market_id: str) -> MarketSpec:
    assert market_id == PERP.id
    return SPEC


@pytest_asyncio.fixture(loop_scope="session")
async def repo(scratch_db: Database) -> MongoPositionsRepository:
    await ensure_indexes(scratch_db, INDEXES)
    return MongoPositionsRepository(scratch_db)


def _opened(seq: int) -> Records:
    """Long 1 BTC at 10,000 (10x, cross: 1,000 margin) and the mirror short (isolated)."""
    cost = ONE_BTC * TEN_K * 10_000  # 10,000 USDT in minor units
    return np.concatenate([
        _event(seq, codes.EV_POSITION_CHANGED, account=LONG, market=0, qty=ONE_BTC,
               value_a=cost, value_b=1000 * USD, maker_order_id=10, price=TEN_K,
               status=codes.MARGIN_CROSS),
        _event(seq, codes.EV_POSITION_CHANGED, account=SHORT, market=0, qty=-ONE_BTC,
               value_a=-cost, value_b=1000 * USD, maker_order_id=10, price=TEN_K,
               status=codes.MARGIN_ISOLATED),
        _event(seq, codes.EV_MARK_PRICE, market=0, price=101_000, qty=100_500,
               value_a=500, value_b=1_764_028_800_000_000_000),
    ])  # fmt: skip


async def test_positions_are_valued_at_the_mark_with_the_arithmetic_written_out(
    repo: MongoPositionsRepository,
) -> None:
    projector = PositionsProjector(repo, Directory(), _spec)
    await projector(_batch(7), _opened(7), {})
    service = PositionsService(repo, _spec, Wallets({}))

    longs = (await service.account_positions(TenantScope("ten_a"), ["acc_long"]))["acc_long"]
    (view,) = longs
    assert view.position.entry_price == Decimal(10_000) and view.mark == Decimal(10_100)
    # upnl = 1 x 10,100 - 10,000 = 100; mm = 10,100 x 0.004 = 40.4
    assert view.unrealized_pnl == 100 and view.maintenance_margin == Decimal("40.4")
    # cross, nothing else available: wallet 1,000; ratio = 40.4 / (1,000 + 100) = 0.0367
    assert view.margin_ratio == Decimal("0.0367")
    # LP = (WB - side x size x EP) / (size x MMR - side x size) = (1000 - 10000) / (0.004 - 1)
    #    = 9036.144..., rounded up to the tick for a long
    assert view.liquidation_price == Decimal("9036.2")
    assert view.position.margin_mode is MarginMode.CROSS and view.position.leverage == 10

    (short,) = (await service.account_positions(TenantScope("ten_b"), ["acc_short"]))["acc_short"]
    # isolated short: upnl = -1 x 10,100 + 10,000 = -100; ratio = 40.4 / (1,000 - 100)
    assert short.unrealized_pnl == -100 and short.margin_ratio == Decimal("0.0449")
    # LP = (1000 + 10000) / (0.004 + 1) = 10956.17..., rounded down for a short
    assert short.liquidation_price == Decimal("10956.1")
    # another tenant's scope sees neither
    assert (await service.account_positions(TenantScope("ten_b"), ["acc_long"]))["acc_long"] == []

    summary = await service.risk_summary(TenantScope("ten_a"))
    (exposure,) = summary.markets
    assert (exposure.long_notional, exposure.short_notional) == (Decimal(10_100), Decimal(0))
    assert summary.margin_in_use == {"USDT": Decimal(1000)} and summary.accounts == 1
    assert [b.accounts for b in summary.bands] == [1, 0, 0, 0]


async def test_funding_liquidations_and_the_insurance_fund_are_recorded_once(
    repo: MongoPositionsRepository,
) -> None:
    projector = PositionsProjector(repo, Directory(), _spec)
    # funding at mark 10,100, rate 500 ppm: 1 x 10,100 x 0.0005 = 5.05 paid by the long
    payment = 505_000_000
    events = np.concatenate([
        _event(9, codes.EV_FUNDING, account=LONG, market=0, qty=ONE_BTC, price=101_000,
               value_a=-payment, value_b=500),
        _event(9, codes.EV_FUNDING, account=SHORT, market=0, qty=-ONE_BTC, price=101_000,
               value_a=payment, value_b=500),
        _event(10, codes.EV_LIQUIDATION, account=SHORT, market=0, code=codes.LIQ_STARTED,
               qty=1, value_b=7 * USD),
        _event(10, codes.EV_LIQUIDATION, account=SHORT, market=0,
               code=codes.LIQ_AUTO_DELEVERAGED, qty=ONE_BTC, price=109_900,
               maker_account=LONG, value_b=7 * USD),
        _event(10, codes.EV_BALANCE_CHANGED, account=FUND, asset=1, value_a=7 * USD),
    ])  # fmt: skip
    for _ in range(2):  # a replayed batch writes the same documents again
        await projector(_batch(9, 10), events, {})
    service = PositionsService(repo, _spec)
    paid = await service.funding_payments(TenantScope("ten_a"), "acc_long", None, 10, None)
    assert [(p.amount, p.rate) for p in paid] == [(Decimal("-5.05"), Decimal("0.0005"))]
    steps = await service.liquidations(TenantScope("ten_b"), None, PERP.id, 10, None)
    assert [s.step for s in steps] == [LiquidationStep.AUTO_DELEVERAGED, LiquidationStep.STARTED]
    # the ADL counterparty belongs to another tenant: its account id is never recorded
    assert steps[0].counterparty_account_id is None
    assert steps[0].price == Decimal("10990") and steps[0].insurance_fund_after == 7
    assert await service.liquidations(TenantScope("ten_a"), None, None, 10, None) == []
    (fund,) = await repo.insurance_funds()
    assert (fund.asset, fund.balance) == ("USDT", Decimal(7))


def _settled(seq: int, payment: int, realized: int) -> Records:
    """A funding round at ``seq``: the long pays ``payment``, the short receives it; each
    position's state after it (realised PnL +- ``realized``)."""
    cost = ONE_BTC * TEN_K * 10_000
    return np.concatenate([
        _event(seq, codes.EV_FUNDING, account=LONG, market=0, qty=ONE_BTC, price=101_000,
               value_a=-payment, value_b=500),
        _event(seq, codes.EV_FUNDING, account=SHORT, market=0, qty=-ONE_BTC, price=101_000,
               value_a=payment, value_b=500),
        _event(seq, codes.EV_POSITION_CHANGED, account=LONG, market=0, qty=ONE_BTC,
               value_a=cost, value_b=1000 * USD, maker_order_id=10, order_id=-realized,
               status=codes.MARGIN_CROSS, code=codes.FUNDING_SETTLED),
        _event(seq, codes.EV_POSITION_CHANGED, account=SHORT, market=0, qty=-ONE_BTC,
               value_a=-cost, value_b=1000 * USD, maker_order_id=10, order_id=realized,
               status=codes.MARGIN_ISOLATED, code=codes.FUNDING_SETTLED),
    ])  # fmt: skip


async def test_funding_rounds_are_documents_per_round_and_positions_read_their_sum(
    repo: MongoPositionsRepository, scratch_db: Database
) -> None:
    projector = PositionsProjector(repo, Directory(), _spec)
    await projector(_batch(20), _opened(20), {})
    payment = 505_000_000  # 1 x 10,100 x 0.0005 = 5.05 USDT a round
    # two rounds, the second merged with nothing, the first replayed (same documents)
    for _ in range(2):
        await projector(_batch(21), _settled(21, payment, payment), {})
    await projector(_batch(22), _settled(22, payment, 2 * payment), {})
    service = PositionsService(repo, _spec, Wallets({}))

    (long,) = (await service.account_positions(TenantScope("ten_a"), ["acc_long"]))["acc_long"]
    assert long.position.realized_pnl == Decimal("-10.1") and long.position.seq == 22
    (short,) = (await service.account_positions(TenantScope("ten_b"), ["acc_short"]))["acc_short"]
    assert short.position.realized_pnl == Decimal("10.1")
    assert short.position.margin_mode is MarginMode.ISOLATED
    stored = await scratch_db.positions.find_one({"_id": "acc_long:BTC-USDT-PERP"})
    assert stored is not None and stored["seq"] == 20  # not rewritten by the rounds
    assert await scratch_db.funding_rounds.count_documents({"seq": {"$in": [21, 22]}}) <= 4
    paid = await service.funding_payments(TenantScope("ten_a"), "acc_long", None, 10, None)
    assert [(p.seq, p.amount) for p in paid] == [(22, Decimal("-5.05")), (21, Decimal("-5.05"))]
    page = await service.funding_payments(TenantScope("ten_a"), "acc_long", None, 10, paid[0].id)
    assert [p.seq for p in page] == [21]
    assert await service.funding_payments(TenantScope("ten_b"), "acc_long", None, 10, None) == []

    # a later trade writes the position again: the rounds before it no longer apply
    closed = _opened(23)[:1]
    closed["order_id"] = -3 * payment
    await projector(_batch(23), closed, {})
    (long,) = (await service.account_positions(TenantScope("ten_a"), ["acc_long"]))["acc_long"]
    assert long.position.realized_pnl == Decimal("-15.15") and long.position.seq == 23
