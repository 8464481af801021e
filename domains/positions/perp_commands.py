"""Perpetual position commands: leverage and margin mode, isolated margin, index prices.

Checks what only the API knows (who may act on which account, listing and permission,
decimal -> ticks / minor units) and submits one engine command through the writer; the
engine decides against the live position (RISK_POSITION_OPEN, INVALID_LEVERAGE, margin).
"""

from __future__ import annotations

from decimal import Decimal

from domains.orders.errors import NoIsolatedPositionError
from domains.orders.trading import TradingService
from domains.positions.model import MarginMode
from domains.shared.context import Principal, Role
from domains.shared.errors import ForbiddenError, ValidationError
from engine import codes
from engine import commands as cmd

MODES = {MarginMode.CROSS: codes.MARGIN_CROSS, MarginMode.ISOLATED: codes.MARGIN_ISOLATED}


class PerpetualCommands:
    """setLeverage, adjustIsolatedMargin and postIndexPrice."""

    def __init__(self, trading: TradingService) -> None:
        self._trading = trading

    async def set_leverage(
        self, principal: Principal, account_id: str, market_id: str, leverage: int,
        mode: MarginMode,
    ) -> int:  # fmt: skip
        """Set the account's leverage and margin mode on a perpetual; returns the sequence."""
        spec, account, market = await self._trading.perpetual_target(
            principal, account_id, market_id
        )
        highest = spec.market.margin_brackets[0].max_leverage
        if not 1 <= leverage <= highest:
            raise ValidationError(f"leverage must be 1 to {highest}", field="leverage")
        return await self._trading.submit_checked(
            cmd.set_leverage(0, 0, account=account, market=market, leverage=leverage,
                             margin_mode=MODES[mode]),
            {"by": principal.key_id},
        )  # fmt: skip

    async def adjust_isolated_margin(
        self, principal: Principal, account_id: str, market_id: str, amount: Decimal
    ) -> int:
        """Add (> 0) or remove (< 0) margin of an isolated position; returns the sequence."""
        spec, account, market = await self._trading.perpetual_target(
            principal, account_id, market_id
        )
        minor = amount.scaleb(spec.quote.decimals)
        if minor == 0 or minor != minor.to_integral_value():
            raise ValidationError(
                f"amount must be a non-zero multiple of 1e-{spec.quote.decimals}", field="amount"
            )
        try:
            return await self._trading.submit_checked(
                cmd.adjust_margin(0, 0, account=account, market=market, amount_minor=int(minor)),
                {"by": principal.key_id},
            )
        except NoIsolatedPositionError as exc:  # VALIDATION on the API, as it always was
            raise ValidationError(
                "the account has no open isolated position on this market", field="market"
            ) from exc

    async def post_index_price(self, principal: Principal, market_id: str, price: Decimal) -> int:
        """The oracle's index price of a perpetual (operators): the mark follows, due
        positions are liquidated in the same command. Returns the sequence."""
        if principal.role is not Role.OPERATOR:
            raise ForbiddenError("only operators post index prices")
        spec, market = await self._trading.perpetual(market_id)
        ticks = spec.price_ticks(price)
        return await self._trading.submit_checked(
            cmd.set_index_price(0, 0, market=market, price_ticks=ticks), {"by": principal.key_id}
        )
