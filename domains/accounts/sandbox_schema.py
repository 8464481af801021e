"""Sandbox tenants' mutations: sandboxFaucet, resetSandbox, promoteTenant (parse -> service -> map).

``createTenant(input: {sandbox: true})`` makes one (domains/accounts/schema.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

import strawberry

from domains.accounts.sandbox import FAUCET_LIMITS, SandboxService
from domains.accounts.types import Info, Tenant

LIMITS_TEXT = ", ".join(
    f"{asset} {limit.per_call} per call and {limit.per_day} a day"
    for asset, limit in sorted(FAUCET_LIMITS.items())
)


@strawberry.type(description="What one faucet call credited to a sandbox account.")
class SandboxFaucetPayload:
    account_id: strawberry.ID = strawberry.field(description="The account credited.")
    asset: str = strawberry.field(description="The asset credited, e.g. `USDT`.")
    amount: Decimal = strawberry.field(description="The amount credited.")
    sequence: int = strawberry.field(
        description="Journal sequence of the engine's deposit credit (read your writes with it)."
    )
    remaining_today: Decimal = strawberry.field(
        description="What the faucet still gives the tenant in this asset today (UTC)."
    )
    day: str = strawberry.field(description="The UTC day the daily limit counts, `YYYY-MM-DD`.")


@strawberry.type(description="What resetSandbox did, every step a journaled engine command.")
class SandboxResetPayload:
    tenant_id: strawberry.ID = strawberry.field(description="The sandbox tenant reset.")
    accounts: int = strawberry.field(description="Engine accounts of the tenant.")
    canceled_orders: int = strawberry.field(description="Open orders cancelled.")
    debited_balances: int = strawberry.field(
        description="Balances (account x asset) debited to zero."
    )
    locked_left: int = strawberry.field(
        description=(
            "Balances still locked after the reset (a pending withdrawal's hold); 0 when the "
            "sandbox is empty."
        )
    )
    first_sequence: int | None = strawberry.field(
        description="Journal sequence of the first command; null when there was nothing to do."
    )
    last_sequence: int | None = strawberry.field(
        description="Journal sequence of the last command; null when there was nothing to do."
    )


@strawberry.type(description="A promoted sandbox and the live tenant made of it.")
class PromoteTenantPayload:
    sandbox: Tenant = strawberry.field(description="The sandbox, now naming its live tenant.")
    live: Tenant = strawberry.field(
        description=(
            "The new live tenant: the sandbox's brand, jurisdiction, fee schedule, routing "
            "policy and risk warnings, listing the live markets its sandbox markets copied; no "
            "customers, balances, positions, orders or API keys (issue its keys with "
            "`issueApiKey`)."
        )
    )
    listed_markets: list[strawberry.ID] = strawberry.field(
        description="The live markets the new tenant lists."
    )


@strawberry.type(description="Sandbox tenants' mutations.")
class SandboxMutation:
    @strawberry.mutation(
        description=(
            "Credit test funds to an account of a sandbox tenant through the engine (a "
            "journaled deposit credit, in the ledger like any other): a trader its own account, "
            "a tenant admin any account of its tenant, an operator any sandbox account. "
            f"Limits per sandbox tenant: {LIMITS_TEXT} (UTC days), at most 8 decimals; over "
            "them FAUCET_LIMIT_EXCEEDED (`limit`: PER_CALL or PER_DAY, `remaining`). A live "
            "tenant's account is TENANT_NOT_SANDBOX."
        )
    )
    async def sandbox_faucet(
        self,
        info: Info,
        account: Annotated[strawberry.ID, strawberry.argument(description="Account to credit.")],
        asset: Annotated[str, strawberry.argument(description="`USDT`, `BTC` or `ETH`.")],
        amount: Annotated[
            Decimal, strawberry.argument(description="How much, e.g. `10000`; positive.")
        ],
    ) -> SandboxFaucetPayload:
        grant = await info.context.get(SandboxService).faucet(
            info.context.require(), str(account), asset, amount
        )
        return SandboxFaucetPayload(
            account_id=strawberry.ID(grant.account_id), asset=grant.asset, amount=grant.amount,
            sequence=grant.sequence, remaining_today=grant.remaining_today, day=grant.day,
        )  # fmt: skip

    @strawberry.mutation(
        description=(
            "Empty a sandbox tenant with journaled engine commands (history is never "
            "rewritten): its accounts are set CANCEL_ONLY, every open order is cancelled, every "
            "available balance is debited to zero, then its trading mode is restored. Customers, "
            "accounts, keys and configuration stay. Tenant admins reset their own sandbox, "
            "operators name one; a live tenant is TENANT_NOT_SANDBOX."
        )
    )
    async def reset_sandbox(
        self,
        info: Info,
        tenant: Annotated[
            strawberry.ID | None,
            strawberry.argument(description="The sandbox tenant (operators); default your own."),
        ] = None,
    ) -> SandboxResetPayload:
        principal = info.context.require()
        report = await info.context.get(SandboxService).reset(
            principal, str(tenant) if tenant is not None else None
        )
        target = str(tenant) if tenant is not None else principal.tenant_id or ""
        return SandboxResetPayload(
            tenant_id=strawberry.ID(target), accounts=report.accounts,
            canceled_orders=report.canceled_orders, debited_balances=report.debited_balances,
            locked_left=report.locked_left, first_sequence=report.first_sequence,
            last_sequence=report.last_sequence,
        )  # fmt: skip

    @strawberry.mutation(
        description=(
            "Make a pilot live (operators only): a NEW live tenant with the sandbox's "
            "configuration and none of its balances, positions, orders, customers or keys; the "
            "sandbox stays, with its history, and names it in `promotedTo`. Without `name` the "
            "live tenant takes the sandbox's name and the sandbox becomes `<name> [sandbox "
            "<code>]`. A live tenant is TENANT_NOT_SANDBOX, a second promotion "
            "SANDBOX_ALREADY_PROMOTED."
        )
    )
    async def promote_tenant(
        self,
        info: Info,
        tenant: Annotated[strawberry.ID, strawberry.argument(description="The sandbox tenant.")],
        name: Annotated[
            str | None,
            strawberry.argument(description="The live tenant's name; default the sandbox's."),
        ] = None,
    ) -> PromoteTenantPayload:
        promotion = await info.context.get(SandboxService).promote(
            info.context.require(), str(tenant), name
        )
        return PromoteTenantPayload(
            sandbox=Tenant.from_model(promotion.sandbox),
            live=Tenant.from_model(promotion.live),
            listed_markets=[strawberry.ID(m) for m in promotion.listed_markets],
        )
