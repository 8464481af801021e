"""Custody subgraph root fields: parse -> service -> map."""

from __future__ import annotations

from typing import Annotated

import strawberry

from domains.custody.fields import ANYONE, STAFF, _dec, _desc
from domains.custody.governance import Governance
from domains.custody.model import PLATFORM_TENANT
from domains.custody.mutations import CustodyMutation
from domains.custody.proofs import ReservesService
from domains.custody.service import CustodyService
from domains.custody.types import Deposit, Info, Wallet, wallets_loader
from domains.custody.types_ops import (
    AddressBookEntry,
    Approver,
    CustodyPolicy,
    CustodySettings,
    InclusionProof,
    ProofOfReserves,
    Withdrawal,
)
from domains.custody.withdrawals import WithdrawalService
from domains.shared.context import Role
from domains.shared.relay import Connection, build_connection, page_request


@strawberry.type(description="Custody queries.")
class CustodyQuery:
    @strawberry.field(
        description="Wallets of the caller's tenant; for operators, the platform's shared "
        "(omnibus) wallets."
    )
    async def wallets(self, info: Info) -> list[Wallet]:
        principal = info.context.require(*STAFF, Role.OPERATOR)
        rows = await wallets_loader(info.context).load(principal.tenant_id or PLATFORM_TENANT)
        return [Wallet.from_model(w) for w in rows]

    @strawberry.field(
        description="The tenant's custody configuration (mode, limits, treasury settings); "
        "for operators, the platform's shared wallets' limits."
    )
    async def custody_settings(self, info: Info) -> CustodySettings:
        principal = info.context.require(*STAFF, Role.OPERATOR)
        custody = info.context.get(CustodyService)
        setup = await custody.setup(principal.tenant_id or PLATFORM_TENANT)
        return CustodySettings.from_model(setup, custody.decimals)

    @strawberry.field(description="Deposits, newest first: a trader's own; staff their tenant's.")
    async def deposits(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID | None, _desc("Only this account's.")] = None,
        first: Annotated[int | None, _desc("Page size.")] = None,
        after: Annotated[str | None, _desc("Cursor of the previous page's end.")] = None,
    ) -> Connection[Deposit]:
        info.context.require(*ANYONE)
        request = page_request(first, after)
        rows = await info.context.get(CustodyService).deposits(
            info.context.scope(), account_id, request.first, request.after_key
        )
        return build_connection(
            rows,
            request,
            key=lambda d: d.id,
            node=lambda d: Deposit.from_model(d, _dec(info, d.asset)),
        )

    @strawberry.field(
        description="Withdrawals, newest first: a trader's own; staff their tenant's."
    )
    async def withdrawals(
        self,
        info: Info,
        account_id: Annotated[strawberry.ID | None, _desc("Only this account's.")] = None,
        first: Annotated[int | None, _desc("Page size.")] = None,
        after: Annotated[str | None, _desc("Cursor of the previous page's end.")] = None,
    ) -> Connection[Withdrawal]:
        info.context.require(*ANYONE)
        request = page_request(first, after)
        rows = await info.context.get(WithdrawalService).list(
            info.context.scope(), account_id, request.first, request.after_key
        )
        return build_connection(
            rows,
            request,
            key=lambda w: w.id,
            node=lambda w: Withdrawal.from_model(w, _dec(info, w.asset)),
        )

    @strawberry.field(description="One withdrawal (a trader's own; staff their tenant's).")
    async def withdrawal(
        self, info: Info, id: Annotated[strawberry.ID, _desc("Withdrawal id.")]
    ) -> Withdrawal:
        info.context.require(*ANYONE)
        w = await info.context.get(WithdrawalService).get(info.context.scope(), id)
        return Withdrawal.from_model(w, _dec(info, w.asset))

    @strawberry.field(description="The tenant's approvers.")
    async def approvers(self, info: Info) -> list[Approver]:
        principal = info.context.require(*STAFF)
        rows = await info.context.get(Governance).approvers(str(principal.tenant_id))
        return [Approver.from_model(a) for a in rows]

    @strawberry.field(description="The tenant's address book (whitelisted destinations).")
    async def address_book(self, info: Info) -> list[AddressBookEntry]:
        principal = info.context.require(*STAFF)
        rows = await info.context.get(Governance).entries(str(principal.tenant_id))
        return [AddressBookEntry.from_model(e) for e in rows]

    @strawberry.field(description="Every version of the tenant's withdrawal policy, newest first.")
    async def custody_policies(self, info: Info) -> list[CustodyPolicy]:
        principal = info.context.require(*STAFF)
        rows = await info.context.get(Governance).policies(str(principal.tenant_id))
        return [CustodyPolicy.from_model(p) for p in rows]

    @strawberry.field(description="A published proof of reserves (the latest unless named).")
    async def proof_of_reserves(
        self,
        info: Info,
        asset: Annotated[str, _desc("Asset, e.g. `BTC`.")],
        snapshot_id: Annotated[strawberry.ID | None, _desc("A past snapshot.")] = None,
    ) -> ProofOfReserves | None:
        principal = info.context.require(*ANYONE)
        snap = await info.context.get(ReservesService).snapshot(principal, asset, snapshot_id)
        return None if snap is None else ProofOfReserves.from_model(snap, _dec(info, snap.asset))

    @strawberry.field(description="The caller's leaves (one per account) in a published proof.")
    async def my_inclusion_proof(
        self,
        info: Info,
        asset: Annotated[str, _desc("Asset, e.g. `BTC`.")],
        snapshot_id: Annotated[strawberry.ID | None, _desc("A past snapshot.")] = None,
    ) -> list[InclusionProof]:
        principal = info.context.require(Role.TRADER)
        proofs = await info.context.get(ReservesService).inclusion_proofs(
            principal, asset, snapshot_id
        )
        return [InclusionProof.from_model(p, _dec(info, p.snapshot.asset)) for p in proofs]


__all__ = ["CustodyMutation", "CustodyQuery"]
