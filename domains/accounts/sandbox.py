"""Sandbox tenants: creation on the simulated venue and chain, the faucet, reset and promotion.

A sandbox tenant is a pilot: its markets are its own sandbox copies of live spot markets
(``BTC-USDT-<code>``, their own books), its orders never leave the platform (INTERNAL_ONLY
routing), its custody runs on a simulated chain only, and every response to its credentials
says ``extensions.sandbox``. The faucet credits test funds through the ordinary engine
deposit command (journaled, in the ledger, so reconciliation stays clean), within the limits
below. A reset cancels its orders and debits every balance back to zero with journaled
commands; history is never rewritten. ``promote`` makes a NEW live tenant with the sandbox's
configuration and none of its customers, balances, orders or keys: the sandbox keeps its id
and its journal history (the engine is a function of the journal), and a tenant's sandbox
flag never changes, which is what lets authentication cache it with the key.

Knows nothing of GraphQL; the engine side is the SandboxEngine port (domains/orders adapts it).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from domains.accounts.config_repository import ConfigAudit, TenantConfigRepository
from domains.accounts.errors import TenantNotFoundError
from domains.accounts.model import (
    DEFAULT_RISK_WARNINGS,
    Account,
    Brand,
    RoutingMode,
    RoutingPolicy,
    Tenant,
)
from domains.accounts.residency import DataRegion
from domains.accounts.service import AccountsService
from domains.shared.context import Principal, Role, TenantScope
from domains.shared.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    NotFoundError,
    UnavailableError,
    ValidationError,
)
from domains.shared.scalars import utcnow

FAUCET_UNIT = Decimal("0.00000001")  # faucet amounts have at most 8 decimals
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SANDBOX_ROUTING = RoutingPolicy(RoutingMode.INTERNAL_ONLY, 0)
PROMOTING = "promoting"  # promoted_to while the live tenant is being made


class TenantNotSandboxError(DomainError):
    """The operation is for sandbox tenants only (faucet, reset, promote)."""

    code = "TENANT_NOT_SANDBOX"


class SandboxAlreadyPromotedError(ConflictError):
    """The sandbox was promoted already; ``promotedTo`` names the live tenant."""

    code = "SANDBOX_ALREADY_PROMOTED"


class FaucetLimitError(DomainError):
    """The faucet's per-call or per-day limit for the asset would be passed."""

    code = "FAUCET_LIMIT_EXCEEDED"


@dataclass(frozen=True)
class FaucetLimit:
    """Most the faucet gives one sandbox tenant in one asset: per call, per UTC day."""

    per_call: Decimal
    per_day: Decimal


FAUCET_LIMITS: Mapping[str, FaucetLimit] = {
    "USDT": FaucetLimit(Decimal(100_000), Decimal(1_000_000)),
    "BTC": FaucetLimit(Decimal(2), Decimal(20)),
    "ETH": FaucetLimit(Decimal(20), Decimal(200)),
}


def faucet_units(amount: Decimal) -> int:
    """An amount in faucet units (1e-8); VALIDATION if not positive or finer than that."""
    if not amount.is_finite() or amount <= 0:
        raise ValidationError("amount must be positive", field="amount")
    units = amount / FAUCET_UNIT
    if units != units.to_integral_value():
        raise ValidationError("faucet amounts have at most 8 decimals", field="amount")
    return int(units)


def faucet_limit(asset: str, amount: Decimal) -> FaucetLimit:
    """The asset's limits, after checking ``amount`` against the per-call one."""
    limit = FAUCET_LIMITS.get(asset)
    if limit is None:
        raise ValidationError(f"the faucet gives {', '.join(sorted(FAUCET_LIMITS))}", field="asset")
    if amount > limit.per_call:
        raise FaucetLimitError(
            f"the faucet gives at most {limit.per_call} {asset} per call",
            limit="PER_CALL", asset=asset, max=str(limit.per_call),
        )  # fmt: skip
    return limit


def new_sandbox_code() -> str:
    """``SBX`` + 9 random characters: the last segment of the tenant's market ids."""
    return "SBX" + "".join(CODE_ALPHABET[b % 32] for b in os.urandom(9))


def day_of(now: dt.datetime) -> str:
    """The faucet's window: the UTC calendar day, ``YYYY-MM-DD``."""
    return now.astimezone(dt.UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True)
class FaucetGrant:
    """What one faucet call credited, and what is left of the day's limit."""

    account_id: str
    asset: str
    amount: Decimal
    sequence: int
    remaining_today: Decimal
    day: str


@dataclass(frozen=True)
class SandboxResetReport:
    """What a reset did: orders cancelled, balances debited to zero, journal sequences."""

    accounts: int = 0
    canceled_orders: int = 0
    debited_balances: int = 0
    locked_left: int = 0  # balances still locked (e.g. a pending withdrawal's hold)
    first_sequence: int | None = None
    last_sequence: int | None = None


@dataclass(frozen=True)
class Promotion:
    """A promoted sandbox and the live tenant made of its configuration."""

    sandbox: Tenant
    live: Tenant
    listed_markets: tuple[str, ...]


class SandboxEngine(Protocol):
    """The engine side of sandboxes (domains/orders/sandbox_desk.py adapts it)."""

    async def check_markets(self, live_market_ids: Sequence[str] | None) -> list[str]:
        """Live spot market ids to copy (all of them for None); VALIDATION for others."""
        ...

    async def create_markets(self, tenant_id: str, code: str, live: Sequence[str]) -> list[str]:
        """Sandbox copies of these live markets for the tenant; their ids."""
        ...

    async def live_markets(self, market_ids: Sequence[str]) -> dict[str, str]:
        """For each sandbox copy among ``market_ids``, the live market it copies."""
        ...

    async def credit(
        self, account: Account, asset: str, amount: Decimal, note: Mapping[str, str]
    ) -> int:
        """Credit the account through the engine (journaled); its sequence."""
        ...

    async def reset(self, tenant_id: str, note: Mapping[str, str]) -> SandboxResetReport:
        """Cancel every order of the tenant and debit every balance to zero (journaled)."""
        ...


class FaucetUsage(Protocol):
    """How much the faucet gave per tenant, asset and day (MongoFaucetUsage)."""

    async def reserve(self, tenant_id: str, asset: str, day: str, units: int, limit: int) -> bool:
        """Add ``units`` unless the day's total would pass ``limit``; True if added."""
        ...

    async def release(self, tenant_id: str, asset: str, day: str, units: int) -> None: ...
    async def used(self, tenant_id: str, asset: str, day: str) -> int: ...


class SandboxTenants(Protocol):
    """Tenant storage the sandbox needs (MongoAccountsRepository satisfies it)."""

    async def tenants_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Tenant]: ...
    async def set_sandbox(self, tenant_id: str, code: str) -> None: ...
    async def rename_tenant(self, tenant_id: str, name: str) -> None: ...
    async def mark_promoted(self, sandbox_id: str, live_id: str) -> bool: ...
    async def unmark_promoted(self, sandbox_id: str, live_id: str) -> None: ...
    async def set_promoted(self, sandbox_id: str, live_id: str) -> None: ...


class SandboxService:
    """Sandbox tenants' use cases; ``engine`` is wired by the composition root."""

    def __init__(
        self,
        accounts: AccountsService,
        tenants: SandboxTenants,
        configs: TenantConfigRepository,
        usage: FaucetUsage,
        engine: SandboxEngine | None = None,
    ) -> None:
        self._accounts = accounts
        self._tenants = tenants
        self._configs = configs
        self._usage = usage
        self.engine = engine

    def _engine(self) -> SandboxEngine:
        if self.engine is None:
            raise UnavailableError("sandboxes need the engine, which is not wired here")
        return self.engine

    async def tenant(self, tenant_id: str) -> Tenant:
        found = await self._tenants.tenants_by_ids(TenantScope(None), [tenant_id])
        if not found:
            raise TenantNotFoundError("no such tenant", id=tenant_id)
        return found[0]

    async def _sandbox(self, tenant_id: str) -> Tenant:
        tenant = await self.tenant(tenant_id)
        if not tenant.sandbox:
            raise TenantNotSandboxError("this is a live tenant, not a sandbox", id=tenant_id)
        return tenant

    async def create(
        self, actor: Principal, name: str, jurisdiction: str, brand: Brand,
        markets: Sequence[str] | None, data_region: DataRegion | None = None,
    ) -> Tenant:  # fmt: skip
        """A sandbox tenant with sandbox copies of ``markets`` (every live spot market when
        None), listed, INTERNAL_ONLY routing. The tenant is flagged before it has any key."""
        engine = self._engine()
        live = await engine.check_markets(markets)
        tenant = await self._accounts.create_tenant(name, jurisdiction, brand, data_region)
        code = new_sandbox_code()
        await self._tenants.set_sandbox(tenant.id, code)
        copies = await engine.create_markets(tenant.id, code, live)
        audit = ConfigAudit(updated_by=actor.key_id, updated_at=utcnow())
        await self._configs.set_listed_markets(tenant.id, frozenset(copies), audit)
        await self._configs.set_routing(tenant.id, SANDBOX_ROUTING, audit)
        return await self.tenant(tenant.id)

    async def faucet(
        self, actor: Principal, account_id: str, asset: str, amount: Decimal
    ) -> FaucetGrant:
        """Credit test funds to a sandbox account: a TRADER its own, a TENANT_ADMIN any of its
        tenant's, an OPERATOR any sandbox account; limited per call and per UTC day."""
        if actor.role not in (Role.TRADER, Role.TENANT_ADMIN, Role.OPERATOR):
            raise ForbiddenError("the faucet is for traders, tenant admins and operators")
        found = await self._accounts.accounts(TenantScope.of(actor), [account_id])
        if not found:
            raise NotFoundError("no such account", id=account_id)
        account = found[0]
        await self._sandbox(account.tenant_id)
        code = asset.strip().upper()
        limit = faucet_limit(code, amount)
        units, day = faucet_units(amount), day_of(utcnow())
        cap = faucet_units(limit.per_day)
        if not await self._usage.reserve(account.tenant_id, code, day, units, cap):
            left = cap - await self._usage.used(account.tenant_id, code, day)
            raise FaucetLimitError(
                f"the faucet gives at most {limit.per_day} {code} a day per sandbox tenant",
                limit="PER_DAY", asset=code, max=str(limit.per_day),
                remaining=str(_plain(max(left, 0) * FAUCET_UNIT)),
            )  # fmt: skip
        note = {"reason": "sandbox faucet", "by": actor.key_id, "sandbox": "faucet"}
        try:
            seq = await self._engine().credit(account, code, amount, note)
        except BaseException:
            await self._usage.release(account.tenant_id, code, day, units)
            raise
        left = cap - await self._usage.used(account.tenant_id, code, day)
        return FaucetGrant(account.id, code, amount, seq, _plain(left * FAUCET_UNIT), day)

    async def reset(self, actor: Principal, tenant_id: str | None) -> SandboxResetReport:
        """Empty a sandbox (TENANT_ADMIN its own, OPERATOR any): journaled, never rewritten."""
        target = _target(actor, tenant_id)
        await self._sandbox(target)
        note = {"reason": "sandbox reset", "by": actor.key_id, "sandbox": "reset",
                "tenant": target}  # fmt: skip
        return await self._engine().reset(target, note)

    async def promote(self, actor: Principal, tenant_id: str, name: str | None) -> Promotion:
        """A new live tenant with the sandbox's brand, fees, routing, risk warnings and the
        live markets its sandbox markets copy; none of its customers, funds, orders or keys.
        Without ``name`` the live tenant takes the sandbox's name and the sandbox is renamed
        ``<name> [sandbox <code>]``. Operators only; one promotion per sandbox."""
        if actor.role is not Role.OPERATOR:
            raise ForbiddenError("promoting a sandbox is for platform operators")
        sandbox = await self._sandbox(tenant_id)
        if sandbox.promoted_to is not None or not await self._tenants.mark_promoted(
            sandbox.id, PROMOTING
        ):
            current = await self.tenant(tenant_id)
            raise SandboxAlreadyPromotedError(
                "this sandbox was promoted already", promotedTo=current.promoted_to
            )
        renamed = name is None or name.strip() == sandbox.name
        try:
            if renamed:
                await self._tenants.rename_tenant(
                    sandbox.id, f"{sandbox.name} [sandbox {sandbox.sandbox_code}]"
                )
            live = await self._accounts.create_tenant(  # the pilot's region, if still served
                sandbox.name if name is None else name,
                sandbox.jurisdiction,
                sandbox.brand,
                sandbox.data_region,
            )
        except BaseException:
            if renamed:
                await self._tenants.rename_tenant(sandbox.id, sandbox.name)
            await self._tenants.unmark_promoted(sandbox.id, PROMOTING)
            raise
        await self._tenants.set_promoted(sandbox.id, live.id)
        listed = await self._copy_config(actor, sandbox, live)
        return Promotion(await self.tenant(sandbox.id), await self.tenant(live.id), listed)

    async def _copy_config(
        self, actor: Principal, sandbox: Tenant, live: Tenant
    ) -> tuple[str, ...]:
        config = await self._accounts.tenant_config(sandbox.id)
        audit = ConfigAudit(updated_by=actor.key_id, updated_at=utcnow())
        mapped = await self._engine().live_markets(sorted(config.listed_markets))
        listed = frozenset(mapped.values())
        await self._configs.set_fee_schedule(live.id, config.fee_schedule, audit)
        await self._configs.set_listed_markets(live.id, listed, audit)
        await self._configs.set_routing(live.id, config.routing, audit)
        for product, text in config.risk_warnings.items():
            if DEFAULT_RISK_WARNINGS.get(product) != text:
                await self._configs.set_risk_warning(live.id, product, text, audit)
        return tuple(sorted(listed))


def _plain(value: Decimal) -> Decimal:
    """``0.50000000`` -> ``0.5``, ``1E+6`` -> ``1000000``: how the API writes amounts."""
    normal = value.normalize()
    return normal.quantize(Decimal(1)) if normal == normal.to_integral_value() else normal


def _target(actor: Principal, tenant_id: str | None) -> str:
    """The sandbox ``actor`` may reset: a TENANT_ADMIN its own, an OPERATOR the one it names."""
    if actor.role is Role.OPERATOR:
        if tenant_id is None:
            raise ValidationError("operators name the tenant", field="tenant")
        return tenant_id
    if actor.role is Role.TENANT_ADMIN and actor.tenant_id is not None:
        if tenant_id not in (None, actor.tenant_id):
            raise ForbiddenError("tenant admins reset only their own tenant")
        return actor.tenant_id
    raise ForbiddenError("resetting a sandbox needs the role TENANT_ADMIN or OPERATOR")
