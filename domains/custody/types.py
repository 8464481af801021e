"""GraphQL surface of the custody domain: types, inputs and Tenant.wallets."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry
from strawberry.dataloader import DataLoader

from domains.custody.model import (
    AddressBookStatus,
    CustodyMode,
    DepositStatus,
    WalletTemperature,
    WithdrawalKind,
    WithdrawalStatus,
)
from domains.custody.model import Deposit as DepositModel
from domains.custody.model import DepositAddress as AddressModel
from domains.custody.model import Wallet as WalletModel
from domains.custody.policy import DestinationKind, GroupJoin, PolicyAction, PolicyStatus
from domains.custody.service import CustodyService
from domains.shared.context import RequestContext, SharedDataLoader
from domains.shared.graphql import described_enum

Info = strawberry.Info[RequestContext, None]

described_enum(
    WalletTemperature,
    "Where a wallet's keys live.",
    HOT="Keys on the platform's servers, encrypted at rest; signs within limits.",
    COLD="Keys offline; funds move only through offline signing (`caas cold-sign`).",
)
described_enum(
    CustodyMode,
    "Whose wallets hold a tenant's customers' coins.",
    SEGREGATED="The tenant's own hot and cold wallets.",
    OMNIBUS="The platform's shared wallets; a per-tenant sub-ledger says how much of "
    "them is the tenant's.",
)
described_enum(
    DepositStatus,
    "Where a deposit is between the chain and the balance.",
    PENDING="Seen on the chain; waiting for the asset's confirmations.",
    CREDITED="Credited to the account's balance (once per chain transaction).",
)
described_enum(
    WithdrawalKind,
    "Whose funds move.",
    CUSTOMER="A customer's withdrawal from an account.",
    SWEEP="Treasury: hot wallet balance above the threshold moved to cold.",
    REFILL="Treasury: cold wallet funds moved to hot (needs the treasury quorum).",
)
described_enum(
    WithdrawalStatus,
    "A withdrawal's state; every state has an exit.",
    REJECTED="Refused (screening, policy, approver, chain); any hold was released.",
    PENDING_APPROVAL="Funds held; waiting for approver signatures.",
    AWAITING_COLD_SIGNATURE="Funds held; the unsigned transaction waits for the "
    "cold key (`caas cold-sign`).",
    BROADCAST="Signed and broadcast; the account was debited.",
    CONFIRMED="Buried under the asset's confirmations.",
    EXPIRED="Not approved or signed in time; the hold was released.",
    FROZEN="Stopped by compliance; funds stay held until unfrozen or rejected.",
)
described_enum(
    AddressBookStatus,
    "A whitelisted destination's state.",
    PENDING_APPROVAL="Waiting for the treasury quorum of approver signatures.",
    COOLING_OFF="Approved; usable as whitelisted once the cooling-off period ends.",
    ACTIVE="Whitelisted: policy rules on ADDRESS_BOOK destinations apply.",
)
described_enum(
    PolicyAction,
    "What a matching policy rule decides.",
    ALLOW="The withdrawal proceeds to signing without approvals.",
    BLOCK="The withdrawal is rejected.",
    REQUIRE_APPROVALS="Approver signatures are needed (quorums of named groups).",
)
described_enum(
    DestinationKind,
    "Which destinations a rule covers.",
    ANY="Every destination.",
    ADDRESS_BOOK="Only active address-book entries.",
    ONE_TIME="Only destinations not in the address book.",
)
described_enum(
    GroupJoin,
    "How several approver groups' quorums combine.",
    ALL="Every group's quorum is needed (AND).",
    ANY="One group's quorum suffices (OR).",
)
described_enum(
    PolicyStatus,
    "A policy version's state.",
    DRAFT="Being edited; not applied.",
    PUBLISHED="Applied to new withdrawals.",
    RETIRED="Replaced by a later published version; kept for the record.",
)


def amount(minor: int, decimals: int) -> Decimal:
    """Integer minor units -> a Decimal in asset units (exact)."""
    return Decimal(minor).scaleb(-decimals)


def wallets_loader(ctx: RequestContext) -> DataLoader[str, list[WalletModel]]:
    """Wallets by tenant id, one query per batch."""
    service, scope = ctx.get(CustodyService), ctx.scope()

    async def load(keys: list[str]) -> list[list[WalletModel]]:
        grouped = await service.wallets_by_tenant(scope, keys)
        return [grouped[key] for key in keys]

    return ctx.loader("custody.wallets", lambda: SharedDataLoader(load_fn=load))


@strawberry.type(description="A tenant's wallet for one asset: a BIP-32 account node.")
class Wallet:
    id: strawberry.ID = strawberry.field(description="Wallet id, e.g. `wal_01J...`.")
    asset: str = strawberry.field(description="Asset held, e.g. `BTC`.")
    temperature: WalletTemperature = strawberry.field(description="Hot or cold.")
    label: str = strawberry.field(description="Name of the wallet.")
    created_at: dt.datetime | None = strawberry.field(description="When it was opened.")
    xpub: str = strawberry.field(description="The account node's extended public key.")
    address: str = strawberry.field(description="The wallet's own address (`xpub/1/0`).")
    frozen: bool = strawberry.field(description="True while compliance froze the wallet.")

    @classmethod
    def from_model(cls, wallet: WalletModel) -> Wallet:
        return cls(
            id=strawberry.ID(wallet.id),
            asset=wallet.asset,
            temperature=wallet.temperature,
            label=wallet.label,
            created_at=wallet.created_at,
            xpub=wallet.xpub,
            address=wallet.address,
            frozen=wallet.frozen,
        )


@strawberry.type(description="Fields the custody subgraph contributes to Tenant.")
class TenantWallets:
    id: strawberry.ID = strawberry.field(description="Tenant id.")

    @strawberry.field(description="The tenant's wallets, by asset then temperature.")
    async def wallets(self, info: Info) -> list[Wallet]:
        rows = await wallets_loader(info.context).load(str(self.id))
        return [Wallet.from_model(w) for w in rows]


@strawberry.type(
    description="An account's deposit address for one asset, derived from a hot "
    "wallet's xpub (non-hardened) so no private key was needed: the tenant's own wallet "
    "(SEGREGATED) or the platform's shared one (OMNIBUS)."
)
class DepositAddress:
    address: str = strawberry.field(description="The address to send funds to.")
    asset: str = strawberry.field(description="The asset this address receives.")
    account_id: strawberry.ID = strawberry.field(description="The account credited.")
    derivation_path: str = strawberry.field(
        description="Path from the hot xpub: `0/<index>` (SEGREGATED), or "
        "`0/<tenant slot>/<index>` from the platform's xpub (OMNIBUS)."
    )
    omnibus: bool = strawberry.field(
        description="True when derived from the platform's shared wallet (OMNIBUS)."
    )

    @classmethod
    def from_model(cls, a: AddressModel) -> DepositAddress:
        return cls(
            address=a.address,
            asset=a.asset,
            account_id=strawberry.ID(a.account_id),
            derivation_path="/".join(str(i) for i in a.path),
            omnibus=a.omnibus,
        )


@strawberry.type(description="A chain transaction paying a deposit address.")
class Deposit:
    id: strawberry.ID = strawberry.field(description="`<chain>:<txid>`: one per transaction.")
    tx_id: str = strawberry.field(description="The chain transaction id.")
    account_id: strawberry.ID = strawberry.field(description="The account credited.")
    asset: str = strawberry.field(description="Asset deposited.")
    amount: Decimal = strawberry.field(description="Amount, as a decimal string.")
    confirmations: int = strawberry.field(description="Confirmations seen so far.")
    required_confirmations: int = strawberry.field(description="Confirmations before credit.")
    status: DepositStatus = strawberry.field(description="PENDING, then CREDITED once.")
    seen_at: dt.datetime | None = strawberry.field(description="First seen on the chain.")
    credited_at: dt.datetime | None = strawberry.field(description="When it was credited.")

    @classmethod
    def from_model(cls, d: DepositModel, decimals: int) -> Deposit:
        return cls(
            id=strawberry.ID(d.id),
            tx_id=d.tx_id,
            account_id=strawberry.ID(d.account_id),
            asset=d.asset,
            amount=amount(d.amount_minor, decimals),
            confirmations=d.confirmations,
            required_confirmations=d.required_confirmations,
            status=d.status,
            seen_at=d.seen_at,
            credited_at=d.credited_at,
        )


@strawberry.type(description="One verified approver signature.")
class WithdrawalApproval:
    approver_id: strawberry.ID = strawberry.field(description="The approver who signed.")
    approved_at: dt.datetime = strawberry.field(description="When the signature was accepted.")


@strawberry.type(description="M approvals from one named approver group.")
class GroupQuorum:
    group: str = strawberry.field(description="Group name; `*` means any approver.")
    required: int = strawberry.field(description="Approvals needed from the group.")


@strawberry.type(description="Which approvals a withdrawal needs.")
class ApprovalRequirement:
    join: GroupJoin = strawberry.field(description="ALL groups (AND) or ANY group (OR).")
    quorums: list[GroupQuorum] = strawberry.field(description="The groups and their M.")

    @classmethod
    def from_doc(cls, doc: dict[str, object]) -> ApprovalRequirement:
        quorums = doc["quorums"]
        assert isinstance(quorums, list)
        return cls(
            join=GroupJoin(doc["join"]),
            quorums=[GroupQuorum(group=q["group"], required=q["required"]) for q in quorums],
        )
