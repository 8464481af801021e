"""Decimal <-> integer conversion for one market: the only place that knows tick and lot.

A price off the tick or a quantity off the lot is refused (INVALID_TICK / INVALID_LOT),
never rounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from domains.orders.errors import InvalidLotError, InvalidTickError, MarketSpecError
from domains.orders.model import Market
from domains.shared.engine_port import AssetInfo
from domains.shared.errors import ValidationError
from domains.shared.money import from_units, to_units


def _integral(value: Decimal, what: str) -> int:
    if value != value.to_integral_value():
        raise MarketSpecError(f"{what} is not a whole number of minor units ({value})")
    return int(value)


@dataclass(frozen=True)
class MarketSpec:
    """A market with the engine units of its assets."""

    market: Market
    base: AssetInfo
    quote: AssetInfo

    @property
    def base_per_lot(self) -> int:
        return _integral(self.market.lot_size.scaleb(self.base.decimals), "lot size")

    @property
    def quote_per_tick_lot(self) -> int:
        value = (self.market.tick_size * self.market.lot_size).scaleb(self.quote.decimals)
        return _integral(value, "tick x lot")

    @property
    def min_notional_minor(self) -> int:
        return _integral(self.market.min_notional.scaleb(self.quote.decimals), "min notional")

    def validate(self) -> MarketSpec:
        """Raise MarketSpecError when the increments do not fit the assets' minor units."""
        _ = self.base_per_lot, self.quote_per_tick_lot, self.min_notional_minor
        return self

    def price_ticks(self, price: Decimal, field: str = "price") -> int:
        if price <= 0:
            raise ValidationError(f"{field} must be greater than zero", field=field)
        try:
            return to_units(price, self.market.tick_size, field=field)
        except ValidationError as exc:
            raise InvalidTickError(
                str(exc), field=field, tickSize=str(self.market.tick_size)
            ) from exc

    def qty_lots(self, quantity: Decimal, field: str = "quantity") -> int:
        if quantity <= 0:
            raise ValidationError(f"{field} must be greater than zero", field=field)
        try:
            return to_units(quantity, self.market.lot_size, field=field)
        except ValidationError as exc:
            raise InvalidLotError(str(exc), field=field, lotSize=str(self.market.lot_size)) from exc

    def price(self, ticks: int) -> Decimal:
        return Decimal(from_units(ticks, self.market.tick_size))

    def quantity(self, lots: int) -> Decimal:
        return Decimal(from_units(lots, self.market.lot_size))

    def quote_amount(self, minor: int) -> Decimal:
        return Decimal(minor).scaleb(-self.quote.decimals)
