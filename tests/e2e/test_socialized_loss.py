"""A gap the insurance fund cannot cover is socialised over HTTP: the losing isolated
account's balance is not left negative, the winner's entry price moves by its share, the
liquidation history shows the step, and the ledger still reconciles with the engine.

BTC-USDT-PERP at index 64,000; the fund of this module's fresh platform is empty. Jo is
isolated long 0.01 at 64,000 with 50x (margin 12.8) and sells into Kim's bid at 62,000: a loss
of 20, 7.2 beyond the margin, taken from Kim's unrealised profit (0.01 x (64,000 - 62,000)).
"""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from starlette.applications import Starlette

from graph.ops.seed import DemoKey
from tests.e2e.test_perpetuals import (
    INDEX,
    LEVERAGE,
    LIQUIDATIONS,
    ORDER,
    _ok,
    _position,
    _trader,
    _usdt,
    settings,
)
from tests.factories import reconcile_platform

pytestmark = [pytest.mark.e2e, pytest.mark.store]
__all__ = ["settings"]  # the fixture: funding on demand, no timers


async def test_a_loss_beyond_margin_and_fund_is_socialised_and_still_reconciles(
    app: Starlette, http: httpx.AsyncClient, demo_keys: dict[str, DemoKey]
) -> None:
    operator = demo_keys["operator"]
    jo = await _trader(app, http, demo_keys, "Jo", usdt="1000")
    lee = await _trader(app, http, demo_keys, "Lee")
    kim = await _trader(app, http, demo_keys, "Kim")
    await _ok(http, INDEX, {"p": "64000"}, operator)
    await _ok(http, LEVERAGE, {"a": jo.account_id, "l": 50, "m": "ISOLATED"}, jo)
    await _ok(http, ORDER, {"a": lee.account_id, "s": "SELL", "q": "0.01", "p": "64000"}, lee)
    await _ok(http, ORDER, {"a": jo.account_id, "s": "BUY", "q": "0.01", "p": "64000"}, jo)
    await _ok(http, ORDER, {"a": kim.account_id, "s": "BUY", "q": "0.01", "p": "62000"}, kim)

    sold = await _ok(http, ORDER, {"a": jo.account_id, "s": "SELL", "q": "0.01", "p": "62000"},
                     jo)  # fmt: skip

    assert sold["placeOrder"]["order"]["status"] == "FILLED"
    await app.state.platform.writer.projections.drain()
    steps = (await _ok(http, LIQUIDATIONS, {"a": jo.account_id}, jo))["liquidations"]["nodes"]
    assert [(s["step"], s["amount"]) for s in steps] == [("SOCIALIZED_LOSS", "7.2")]
    assert await _position(http, jo) is None
    winner = await _position(http, kim)
    assert winner is not None and winner["entryPrice"] == "62720"  # 62,000 + 7.2 / 0.01
    available, locked = await _usdt(http, jo)
    # 1,000 - margin 12.8 - fees 1.6 (buy) and 1.55 (sell); the loss stayed in the position
    assert (available, locked) == (Decimal("984.05"), Decimal(0))
    report = await reconcile_platform(app.state.platform)
    assert report.clean, report
