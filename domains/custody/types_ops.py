"""GraphQL types of withdrawals, governance and proofs of reserves (custody)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import strawberry

from domains.custody import approvals
from domains.custody.model import AddressBookEntry as EntryModel
from domains.custody.model import AddressBookStatus, CustodyMode, WithdrawalKind, WithdrawalStatus
from domains.custody.model import Approver as ApproverModel
from domains.custody.model import CustodySetup as SetupModel
from domains.custody.model import Withdrawal as WithdrawalModel
from domains.custody.policy import DestinationKind, GroupJoin, PolicyAction, PolicyStatus
from domains.custody.policy import Policy as PolicyModel
from domains.custody.policy import PolicyRule as RuleModel
from domains.custody.proofs import InclusionProof as ProofModel
from domains.custody.proofs import ReserveSnapshot
from domains.custody.types import ApprovalRequirement, WithdrawalApproval, amount
from domains.shared.scalars import utcnow


@strawberry.type(
    description="Funds leaving a wallet: a customer's withdrawal, a sweep or a refill."
)
class Withdrawal:
    id: strawberry.ID = strawberry.field(description="Withdrawal id, e.g. `wdr_01J...`.")
    kind: WithdrawalKind = strawberry.field(description="Customer withdrawal, sweep or refill.")
    account_id: strawberry.ID | None = strawberry.field(
        description="The account debited (null for treasury moves)."
    )
    asset: str = strawberry.field(description="Asset moved.")
    amount: Decimal = strawberry.field(description="Amount, as a decimal string.")
    destination: str = strawberry.field(description="Destination address.")
    status: WithdrawalStatus = strawberry.field(description="Where it is; see the enum.")
    reason: str | None = strawberry.field(description="Why it was rejected or expired.")
    policy_version: int | None = strawberry.field(description="Policy version that decided.")
    rule_name: str | None = strawberry.field(description="The rule that matched; null: none.")
    address_book_entry_id: strawberry.ID | None = strawberry.field(
        description="The active address-book entry of the destination, if any."
    )
    requirement: ApprovalRequirement | None = strawberry.field(
        description="Approvals needed; null when none are."
    )
    approvals: list[WithdrawalApproval] = strawberry.field(description="Approvals so far.")
    approval_payload: str = strawberry.field(
        description="base64url of the canonical bytes an approver signs with Ed25519."
    )
    unsigned_transaction: str | None = strawberry.field(
        description="The canonical unsigned transaction for `caas cold-sign` while "
        "AWAITING_COLD_SIGNATURE."
    )
    tx_id: str | None = strawberry.field(description="Chain transaction id once broadcast.")
    confirmations: int = strawberry.field(description="Confirmations of the broadcast tx.")
    omnibus: bool = strawberry.field(
        description="True when the platform's shared (omnibus) wallets sign it; it then "
        "takes from the tenant's sub-ledger share."
    )
    created_at: dt.datetime = strawberry.field(description="When it was requested.")
    expires_at: dt.datetime = strawberry.field(description="When it expires unless completed.")

    @classmethod
    def from_model(cls, w: WithdrawalModel, decimals: int) -> Withdrawal:
        requirement = ApprovalRequirement.from_doc(w.requirement) if w.requirement else None
        return cls(
            id=strawberry.ID(w.id),
            kind=w.kind,
            account_id=strawberry.ID(w.account_id) if w.account_id else None,
            asset=w.asset,
            amount=amount(w.amount_minor, decimals),
            destination=w.destination,
            status=w.status,
            reason=w.reason,
            policy_version=w.policy_version,
            rule_name=w.rule_name,
            address_book_entry_id=strawberry.ID(w.address_book_entry_id)
            if w.address_book_entry_id
            else None,
            requirement=requirement,
            approvals=[
                WithdrawalApproval(
                    approver_id=strawberry.ID(a.approver_id), approved_at=a.approved_at
                )
                for a in w.approvals
            ],
            approval_payload=approvals.b64(approvals.withdrawal_payload(w)),
            unsigned_transaction=w.unsigned_tx,
            tx_id=w.tx_id,
            confirmations=w.confirmations,
            omnibus=w.omnibus,
            created_at=w.created_at,
            expires_at=w.expires_at,
        )


@strawberry.type(description="The result of a withdrawal mutation.")
class WithdrawalPayload:
    withdrawal: Withdrawal = strawberry.field(description="The withdrawal as it is now.")


@strawberry.type(description="A person who approves with an Ed25519 key, in named groups.")
class Approver:
    id: strawberry.ID = strawberry.field(description="Approver id, e.g. `apv_01J...`.")
    name: str = strawberry.field(description="Display name.")
    public_key: str = strawberry.field(description="base64url of the raw Ed25519 public key.")
    groups: list[str] = strawberry.field(description="Approver groups the person belongs to.")
    key_id: str | None = strawberry.field(
        description="The API key the person uses, if bound "
        "(an initiator never approves its own request)."
    )

    @classmethod
    def from_model(cls, a: ApproverModel) -> Approver:
        return cls(
            id=strawberry.ID(a.id),
            name=a.name,
            public_key=a.public_key,
            groups=list(a.groups),
            key_id=a.key_id,
        )


@strawberry.type(description="A whitelisted destination: own quorum, then a cooling-off period.")
class AddressBookEntry:
    id: strawberry.ID = strawberry.field(description="Entry id, e.g. `adr_01J...`.")
    asset: str = strawberry.field(description="Asset the address receives.")
    address: str = strawberry.field(description="The destination address.")
    label: str = strawberry.field(description="Name of the destination.")
    status: AddressBookStatus = strawberry.field(description="Quorum, cooling-off or active.")
    approvals: list[WithdrawalApproval] = strawberry.field(description="Approvals so far.")
    quorum: int = strawberry.field(description="Distinct approvers needed.")
    active_from: dt.datetime | None = strawberry.field(description="When it becomes active.")
    approval_payload: str = strawberry.field(
        description="base64url of the canonical bytes an approver signs with Ed25519."
    )

    @classmethod
    def from_model(cls, e: EntryModel) -> AddressBookEntry:
        return cls(
            id=strawberry.ID(e.id),
            asset=e.asset,
            address=e.address,
            label=e.label,
            status=e.status(utcnow()),
            approvals=[
                WithdrawalApproval(
                    approver_id=strawberry.ID(a.approver_id), approved_at=a.approved_at
                )
                for a in e.approvals
            ],
            quorum=e.quorum,
            active_from=e.active_from,
            approval_payload=approvals.b64(approvals.address_book_payload(e)),
        )


@strawberry.type(description="One rule: every condition that is set must hold.")
class PolicyRule:
    name: str = strawberry.field(description="Rule name (shown on withdrawals it decides).")
    action: PolicyAction = strawberry.field(description="What the rule decides.")
    assets: list[str] = strawberry.field(description="Assets covered; empty: every asset.")
    min_amount: Decimal | None = strawberry.field(description="Inclusive lower amount bound.")
    max_amount: Decimal | None = strawberry.field(description="Inclusive upper amount bound.")
    velocity_window_seconds: int | None = strawberry.field(
        description="Velocity window: matches when the account's withdrawals of the asset in "
        "the last window seconds plus this one exceed velocityMaxAmount."
    )
    velocity_max_amount: Decimal | None = strawberry.field(description="Velocity maximum.")
    destination: DestinationKind = strawberry.field(description="Destinations covered.")
    initiator_roles: list[str] = strawberry.field(description="Initiator roles; empty: all.")
    requirement: ApprovalRequirement | None = strawberry.field(
        description="Approvals needed (REQUIRE_APPROVALS only)."
    )

    @classmethod
    def from_model(cls, r: RuleModel) -> PolicyRule:
        req = ApprovalRequirement.from_doc(r.requirement.as_doc()) if r.requirement else None
        return cls(
            name=r.name,
            action=r.action,
            assets=list(r.assets),
            min_amount=r.min_amount,
            max_amount=r.max_amount,
            velocity_window_seconds=r.velocity_window_seconds,
            velocity_max_amount=r.velocity_max_amount,
            destination=r.destination,
            initiator_roles=list(r.initiator_roles),
            requirement=req,
        )


@strawberry.type(description="One version of the tenant's withdrawal policy (first match wins).")
class CustodyPolicy:
    version: int = strawberry.field(description="Version number, from 1.")
    status: PolicyStatus = strawberry.field(description="Draft, published or retired.")
    rules: list[PolicyRule] = strawberry.field(description="Rules in evaluation order.")
    created_at: dt.datetime = strawberry.field(description="When the draft was saved.")
    published_at: dt.datetime | None = strawberry.field(description="When it was published.")

    @classmethod
    def from_model(cls, p: PolicyModel) -> CustodyPolicy:
        return cls(
            version=p.version,
            status=p.status,
            rules=[PolicyRule.from_model(r) for r in p.rules],
            created_at=p.created_at,
            published_at=p.published_at,
        )


@strawberry.type(
    description="A published Merkle sum tree root of customer liabilities, with "
    "the wallet totals that back them."
)
class ProofOfReserves:
    snapshot_id: strawberry.ID = strawberry.field(description="Snapshot id, `por_...`.")
    asset: str = strawberry.field(description="Asset covered.")
    root_hash: str = strawberry.field(description="SHA-256 Merkle sum root, hex.")
    total_liabilities: Decimal = strawberry.field(description="Sum of all leaves (root sum).")
    custody_mode: CustodyMode = strawberry.field(
        description="The tenant's custody mode when the root was published."
    )
    hot_wallet_total: Decimal = strawberry.field(
        description="The tenant's own hot wallet and its deposit addresses (0 when OMNIBUS "
        "and it has none)."
    )
    cold_wallet_total: Decimal = strawberry.field(description="The tenant's own cold wallet.")
    omnibus_share: Decimal | None = strawberry.field(
        description="OMNIBUS: the tenant's sub-ledger share of the platform's shared "
        "wallets (its deposits credited less its withdrawals broadcast); null when SEGREGATED."
    )
    shared_wallet_total: Decimal | None = strawberry.field(
        description="OMNIBUS: what the platform's shared wallets hold in all, for every "
        "omnibus tenant; null when SEGREGATED."
    )
    wallet_total: Decimal = strawberry.field(
        description="The reserves: hot plus cold, plus the omnibus share."
    )
    leaf_count: int = strawberry.field(description="Accounts in the tree.")
    published_at: dt.datetime = strawberry.field(description="When the root was published.")

    @classmethod
    def from_model(cls, s: ReserveSnapshot, decimals: int) -> ProofOfReserves:
        return cls(
            snapshot_id=strawberry.ID(s.id),
            asset=s.asset,
            root_hash=s.root_hash,
            total_liabilities=amount(s.total_liabilities_minor, decimals),
            custody_mode=s.mode,
            hot_wallet_total=amount(s.hot_minor, decimals),
            cold_wallet_total=amount(s.cold_minor, decimals),
            omnibus_share=_maybe(s.omnibus_share_minor, decimals),
            shared_wallet_total=_maybe(s.shared_total_minor, decimals),
            wallet_total=amount(s.wallet_total_minor, decimals),
            leaf_count=s.leaf_count,
            published_at=s.published_at,
        )


def _maybe(minor: int | None, decimals: int) -> Decimal | None:
    return None if minor is None else amount(minor, decimals)


@strawberry.type(description="A sibling on the path from a leaf to the root.")
class ProofStep:
    hash: str = strawberry.field(description="Sibling hash, hex.")
    sum_minor: str = strawberry.field(description="Sibling sum in minor units (integer string).")
    left: bool = strawberry.field(description="True when the sibling is the left child.")


@strawberry.type(
    description="Everything a customer needs to verify its leaf: leaf = "
    "SHA-256('leaf' | SHA-256(accountId | salt) | balance as 16-byte big-endian); "
    "node = SHA-256('node' | left hash | left sum | right hash | right sum)."
)
class InclusionProof:
    snapshot_id: strawberry.ID = strawberry.field(description="The published snapshot.")
    account_id: strawberry.ID = strawberry.field(description="Your account in the leaf.")
    salt: str = strawberry.field(description="The leaf's salt, hex.")
    balance_minor: str = strawberry.field(description="The leaf's balance in minor units.")
    balance: Decimal = strawberry.field(description="The leaf's balance, decimal.")
    path: list[ProofStep] = strawberry.field(description="Siblings from the leaf upwards.")
    root_hash: str = strawberry.field(description="The root the path must reach.")
    total_liabilities_minor: str = strawberry.field(description="The root's sum, minor units.")

    @classmethod
    def from_model(cls, p: ProofModel, decimals: int) -> InclusionProof:
        return cls(
            snapshot_id=strawberry.ID(p.snapshot.id),
            account_id=strawberry.ID(p.account_id),
            salt=p.salt,
            balance_minor=str(p.balance_minor),
            balance=amount(p.balance_minor, decimals),
            path=[ProofStep(hash=s.hash, sum_minor=str(s.sum), left=s.left) for s in p.path],
            root_hash=p.snapshot.root_hash,
            total_liabilities_minor=str(p.snapshot.total_liabilities_minor),
        )


@strawberry.input(description="M approvals from one named group.")
class GroupQuorumInput:
    group: str = strawberry.field(description="Group name; `*` for any approver.")
    required: int = strawberry.field(description="Approvals needed, 1 or more.")


@strawberry.input(description="Approvals a rule requires.")
class ApprovalRequirementInput:
    join: GroupJoin = strawberry.field(description="ALL (AND) or ANY (OR) of the groups.")
    quorums: list[GroupQuorumInput] = strawberry.field(description="Groups and their M.")


@strawberry.input(description="A policy rule; unset conditions always hold.")
class PolicyRuleInput:
    name: str = strawberry.field(description="Rule name.")
    action: PolicyAction = strawberry.field(description="What the rule decides.")
    assets: list[str] | None = strawberry.field(default=None, description="Assets covered.")
    min_amount: Decimal | None = strawberry.field(default=None, description="Inclusive minimum.")
    max_amount: Decimal | None = strawberry.field(default=None, description="Inclusive maximum.")
    velocity_window_seconds: int | None = strawberry.field(
        default=None, description="Velocity window."
    )
    velocity_max_amount: Decimal | None = strawberry.field(
        default=None, description="Velocity maximum."
    )
    destination: DestinationKind = strawberry.field(
        default=DestinationKind.ANY, description="Destinations covered."
    )
    initiator_roles: list[str] | None = strawberry.field(
        default=None, description="Initiator roles covered."
    )
    approvals: ApprovalRequirementInput | None = strawberry.field(
        default=None, description="Approvals needed, for REQUIRE_APPROVALS."
    )


@strawberry.input(description="A customer withdrawal.")
class WithdrawalInput:
    account_id: strawberry.ID = strawberry.field(description="The account to debit.")
    asset: str = strawberry.field(description="Asset, e.g. `BTC`.")
    amount: Decimal = strawberry.field(description="Amount, a decimal string.")
    destination: str = strawberry.field(description="Destination address.")
    idempotency_key: str | None = strawberry.field(
        default=None, description="Makes retries safe: the same key returns the same withdrawal."
    )


@strawberry.input(
    description="Hot wallet limits and sweep rule for one asset, and the "
    "tenant's treasury settings."
)
class TreasuryInput:
    asset: str = strawberry.field(description="Asset the limits apply to.")
    hot_tx_limit: Decimal = strawberry.field(description="Largest withdrawal hot signs.")
    hot_daily_limit: Decimal = strawberry.field(description="Hot signing per 24 hours.")
    sweep_threshold: Decimal = strawberry.field(description="Hot balance above which to sweep.")
    hot_target: Decimal = strawberry.field(description="Hot balance a sweep leaves.")
    treasury_quorum: int = strawberry.field(
        default=2, description="Approvers for refills and address-book entries."
    )
    cooling_off_seconds: int = strawberry.field(
        default=86_400, description="Address-book cooling-off."
    )
    withdrawal_ttl_seconds: int = strawberry.field(default=86_400, description="Withdrawal expiry.")


@strawberry.type(description="Hot wallet limits and the sweep rule of one asset.")
class TreasuryLimits:
    asset: str = strawberry.field(description="Asset the limits apply to.")
    hot_tx_limit: Decimal = strawberry.field(description="Largest withdrawal hot signs.")
    hot_daily_limit: Decimal = strawberry.field(description="Hot signing per 24 hours.")
    sweep_threshold: Decimal = strawberry.field(description="Hot balance above which to sweep.")
    hot_target: Decimal = strawberry.field(description="Hot balance a sweep leaves.")


@strawberry.type(
    description="A tenant's custody configuration: where its customers' coins are kept, "
    "hot wallet limits and sweep rules, treasury settings."
)
class CustodySettings:
    mode: CustodyMode = strawberry.field(
        description="SEGREGATED (the tenant's own wallets) or OMNIBUS (the platform's "
        "shared wallets with a per-tenant sub-ledger). Changes only while the tenant holds "
        "no custody funds (`setCustodyMode`)."
    )
    limits: list[TreasuryLimits] = strawberry.field(
        description="Per asset; for an OMNIBUS tenant the shared wallets sign under the "
        "platform's limits instead."
    )
    treasury_quorum: int = strawberry.field(
        description="Approvers for refills and address-book entries."
    )
    cooling_off_seconds: int = strawberry.field(description="Address-book cooling-off.")
    withdrawal_ttl_seconds: int = strawberry.field(description="Withdrawal expiry.")

    @classmethod
    def from_model(cls, setup: SetupModel, decimals: Callable[[str], int]) -> CustodySettings:
        return cls(
            mode=setup.mode,
            limits=[
                TreasuryLimits(
                    asset=asset,
                    hot_tx_limit=amount(v.hot_tx_limit_minor, decimals(asset)),
                    hot_daily_limit=amount(v.hot_daily_limit_minor, decimals(asset)),
                    sweep_threshold=amount(v.sweep_threshold_minor, decimals(asset)),
                    hot_target=amount(v.hot_target_minor, decimals(asset)),
                )
                for asset, v in sorted(setup.limits.items())
            ],
            treasury_quorum=setup.treasury_quorum,
            cooling_off_seconds=setup.cooling_off_seconds,
            withdrawal_ttl_seconds=setup.withdrawal_ttl_seconds,
        )
