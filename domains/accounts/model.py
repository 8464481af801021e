"""Accounts domain model: plain dataclasses and rules; no strawberry, no pymongo."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType

from domains.accounts.residency import DataRegion
from domains.shared.context import Role
from domains.shared.errors import ValidationError


class TenantStatus(enum.Enum):
    """Lifecycle of an institution on the platform."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


class TradingMode(enum.Enum):
    """How far a tenant may trade (its wind-down state); enforced per account in the engine."""

    NORMAL = "NORMAL"
    REDUCE_ONLY = "REDUCE_ONLY"
    CANCEL_ONLY = "CANCEL_ONLY"
    HALTED = "HALTED"
    WITHDRAW_ONLY = "WITHDRAW_ONLY"
    WOUND_DOWN = "WOUND_DOWN"


@dataclass(frozen=True)
class TradingModeState:
    """A tenant's trading mode, why it was set, since when and by whom (an API key id)."""

    mode: TradingMode = TradingMode.NORMAL
    reason: str | None = None
    since: dt.datetime | None = None
    changed_by: str | None = None


NORMAL_TRADING = TradingModeState()


class AccountKind(enum.Enum):
    """A customer's main account, one of its sub-accounts, or the tenant's treasury."""

    MAIN = "MAIN"
    SUB = "SUB"
    TREASURY = "TREASURY"


TREASURY_OWNER = "treasury"  # the customer_id of every treasury account: no customer has it


def treasury_account_id(tenant_id: str) -> str:
    """The one treasury account of a tenant (deterministic, so it is created only once)."""
    return f"acc_treasury_{tenant_id}"


@dataclass(frozen=True)
class Brand:
    """What a white-label front end needs to look like the institution."""

    display_name: str
    logo_url: str | None = None
    primary_color: str = "#0B5FFF"
    secondary_color: str = "#0A1F44"
    support_email: str | None = None
    support_url: str | None = None


@dataclass(frozen=True)
class Tenant:
    """An institution (bank or broker) offering crypto to its own customers."""

    id: str
    name: str
    jurisdiction: str
    brand: Brand
    status: TenantStatus = TenantStatus.ACTIVE
    created_at: dt.datetime | None = None
    trading: TradingModeState = NORMAL_TRADING
    sandbox: bool = False  # on the simulated venue and chain, its own markets (never changes)
    sandbox_code: str | None = None  # names its sandbox markets: BTC-USDT-<code>
    promoted_to: str | None = None  # a sandbox: the live tenant promoteTenant made of it
    promoted_from: str | None = None  # a live tenant: the sandbox it was promoted from
    data_region: DataRegion | None = None  # None: stored before residency was recorded


@dataclass(frozen=True)
class Customer:
    """An end customer of an institution."""

    id: str
    tenant_id: str
    display_name: str
    email: str
    external_ref: str | None = None
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class Account:
    """A trading account: each customer has one MAIN account and any number of SUB accounts."""

    id: str
    tenant_id: str
    customer_id: str
    kind: AccountKind
    label: str
    created_at: dt.datetime | None = None


class KeyStatus(enum.Enum):
    """Whether a key still authenticates."""

    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    REVOKED = "REVOKED"


@dataclass(frozen=True)
class ApiKey:
    """A machine credential: the bearer secret only as an argon2 hash, the signing secret sealed.

    ``generation`` counts rotations; after one, the previous secrets keep working until
    ``previous_valid_until`` (the overlap window). Empty ``scopes`` (keys stored before scopes
    existed) means the role's default scopes.
    """

    key_id: str
    secret_hash: str
    role: Role
    tenant_id: str | None
    customer_id: str | None = None
    label: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)
    revoked: bool = False
    created_at: dt.datetime | None = None
    signing_secret_sealed: str | None = None
    allowed_networks: tuple[str, ...] = ()
    expires_at: dt.datetime | None = None
    require_signature: bool = False
    generation: int = 1
    previous_secret_hash: str | None = None
    previous_signing_sealed: str | None = None
    previous_valid_until: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    rotated_at: dt.datetime | None = None

    def status(self, now: dt.datetime) -> KeyStatus:
        if self.revoked:
            return KeyStatus.REVOKED
        if self.expires_at is not None and now >= self.expires_at:
            return KeyStatus.EXPIRED
        return KeyStatus.ACTIVE

    def previous_valid(self, now: dt.datetime) -> bool:
        """True while the secrets replaced by the last rotation still authenticate."""
        return self.previous_valid_until is not None and now < self.previous_valid_until


MAX_SUB_ACCOUNTS = 100


# --- White-label configuration of a tenant ---------------------------------------------------


class Product(enum.Enum):
    """What a market trades, as far as permissions, listings and risk warnings go."""

    SPOT = "SPOT"
    PERPETUAL = "PERPETUAL"


class RoutingMode(enum.Enum):
    """Where a tenant's orders may be filled."""

    INTERNAL_ONLY = "INTERNAL_ONLY"
    INTERNAL_THEN_EXTERNAL = "INTERNAL_THEN_EXTERNAL"
    EXTERNAL_ONLY = "EXTERNAL_ONLY"


MAX_FEE_BPS = 1000
MAX_MARKUP_BPS = 500
MAX_FEE_TIERS = 20
MAX_SLIPPAGE_BPS = 1000
MAX_LISTED_MARKETS = 500
MAX_RISK_WARNING_CHARS = 4000
MIN_VOLUME_DECIMALS = 8
MAX_MIN_VOLUME_30D = Decimal(10) ** 15


def _bps(value: int, field: str, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        raise ValidationError(f"{field} must be an integer from 0 to {high} bps", field=field)
    return value


@dataclass(frozen=True)
class FeeTier:
    """Platform fee rates for customers whose 30-day volume (quote asset) reaches a threshold."""

    min_volume_30d: Decimal
    maker_bps: int
    taker_bps: int


@dataclass(frozen=True)
class FeeSchedule:
    """Volume tiers of the platform fee, plus the institution's own markup, disclosed apart.

    Build it with ``FeeSchedule.of`` (validates); ``tiers`` ascend strictly from volume 0.
    """

    tiers: tuple[FeeTier, ...]
    markup_bps: int = 0

    @classmethod
    def of(cls, tiers: Sequence[FeeTier], markup_bps: int = 0) -> FeeSchedule:
        """A validated schedule, or ValidationError naming the offending field."""
        if not 1 <= len(tiers) <= MAX_FEE_TIERS:
            raise ValidationError(f"a fee schedule has 1 to {MAX_FEE_TIERS} tiers", field="tiers")
        previous: Decimal | None = None
        for index, tier in enumerate(tiers):
            where = f"tiers[{index}]"
            volume = tier.min_volume_30d
            if not volume.is_finite() or not 0 <= volume <= MAX_MIN_VOLUME_30D:
                raise ValidationError(
                    f"{where}.minVolume30d must be from 0 to {MAX_MIN_VOLUME_30D}", field=where
                )
            exponent = volume.normalize().as_tuple().exponent
            if isinstance(exponent, int) and -exponent > MIN_VOLUME_DECIMALS:
                raise ValidationError(
                    f"{where}.minVolume30d has more than {MIN_VOLUME_DECIMALS} decimals",
                    field=where,
                )
            if previous is None and volume != 0:
                raise ValidationError("the first tier must start at minVolume30d 0", field=where)
            if previous is not None and volume <= previous:
                raise ValidationError(
                    "tier thresholds must increase strictly, lowest first", field=where
                )
            _bps(tier.maker_bps, f"{where}.makerBps", MAX_FEE_BPS)
            _bps(tier.taker_bps, f"{where}.takerBps", MAX_FEE_BPS)
            previous = volume
        _bps(markup_bps, "markupBps", MAX_MARKUP_BPS)
        return cls(tiers=tuple(tiers), markup_bps=markup_bps)

    def tier_for(self, volume_30d: Decimal) -> FeeTier:
        """The highest tier whose threshold ``volume_30d`` reaches (the first one below 0)."""
        chosen = self.tiers[0]
        for tier in self.tiers:
            if volume_30d >= tier.min_volume_30d:
                chosen = tier
        return chosen

    def rates_for(self, volume_30d: Decimal) -> tuple[int, int]:
        """Platform fee ``(maker_bps, taker_bps)`` at this 30-day volume, markup excluded."""
        tier = self.tier_for(volume_30d)
        return tier.maker_bps, tier.taker_bps

    def all_in_rates_for(self, volume_30d: Decimal) -> tuple[int, int]:
        """What the customer pays ``(maker_bps, taker_bps)``: platform fee plus markup."""
        maker, taker = self.rates_for(volume_30d)
        return maker + self.markup_bps, taker + self.markup_bps


@dataclass(frozen=True)
class RoutingPolicy:
    """Where orders may be filled and how far from the reference price an external fill may be."""

    mode: RoutingMode
    max_slippage_bps: int

    @classmethod
    def of(cls, mode: RoutingMode, max_slippage_bps: int) -> RoutingPolicy:
        """A validated policy, or ValidationError."""
        return cls(mode, _bps(max_slippage_bps, "maxSlippageBps", MAX_SLIPPAGE_BPS))


DEFAULT_FEE_SCHEDULE = FeeSchedule(tiers=(FeeTier(Decimal(0), 10, 20),), markup_bps=0)
DEFAULT_ROUTING = RoutingPolicy(RoutingMode.INTERNAL_THEN_EXTERNAL, 50)
DEFAULT_PRODUCTS: frozenset[Product] = frozenset({Product.SPOT})
DEFAULT_RISK_WARNINGS: Mapping[Product, str] = MappingProxyType(
    {
        Product.SPOT: (
            "Crypto-assets are highly volatile and you may lose some or all of the money you "
            "invest. They are not covered by deposit guarantee or investor compensation "
            "schemes. Fees are shown before you confirm an order."
        ),
        Product.PERPETUAL: (
            "Perpetual futures are leveraged derivatives: a small price move can cause losses "
            "larger than your margin and your position may be liquidated without notice. "
            "Funding payments apply every funding interval. Only trade with money you can "
            "afford to lose."
        ),
    }
)


def risk_warning_text(text: str) -> str:
    """A validated risk warning text: 1 to MAX_RISK_WARNING_CHARS characters after trimming."""
    text = text.strip()
    if not text or len(text) > MAX_RISK_WARNING_CHARS:
        raise ValidationError(
            f"a risk warning has 1 to {MAX_RISK_WARNING_CHARS} characters", field="text"
        )
    return text


@dataclass(frozen=True)
class TenantConfig:
    """Everything a tenant configured (defaults where it did not), for other services to read.

    ``listed_markets`` are market ids such as ``BTC-USDT``; ``risk_warnings`` has every product;
    ``permitted_products`` are the products the tenant's jurisdiction allows right now.
    """

    tenant_id: str
    jurisdiction: str
    fee_schedule: FeeSchedule = DEFAULT_FEE_SCHEDULE
    listed_markets: frozenset[str] = frozenset()
    routing: RoutingPolicy = DEFAULT_ROUTING
    risk_warnings: Mapping[Product, str] = field(default_factory=lambda: DEFAULT_RISK_WARNINGS)
    custody_policy_id: str | None = None
    permitted_products: frozenset[Product] = DEFAULT_PRODUCTS
    updated_by: str | None = None
    updated_at: dt.datetime | None = None
    trading_mode: TradingMode = TradingMode.NORMAL
    sandbox: bool = False  # the tenant is a sandbox (its markets are its own sandbox copies)

    @property
    def markup_bps(self) -> int:
        """The institution's markup on top of the platform fee, in bps."""
        return self.fee_schedule.markup_bps

    def lists(self, market_id: str) -> bool:
        """Whether the tenant lists this market."""
        return market_id in self.listed_markets

    def permits(self, product: Product | str) -> bool:
        """Whether the tenant's jurisdiction allows this product (``"PERPETUAL"`` works too)."""
        try:
            return Product(product) in self.permitted_products
        except ValueError:
            return False


@dataclass(frozen=True)
class ProductPermission:
    """Products the platform allows institutions of one jurisdiction to offer."""

    jurisdiction: str
    products: frozenset[Product]
    is_default: bool = False
    updated_by: str | None = None
    updated_at: dt.datetime | None = None
