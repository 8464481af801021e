"""GraphQL surface of KYC: profiles, levels, suitability and Customer.kyc."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import strawberry
from strawberry.dataloader import DataLoader

from domains.compliance.model import KycDocument as KycDocumentModel
from domains.compliance.model import KycLevel as KycLevelModel
from domains.compliance.model import KycProfile as KycProfileModel
from domains.compliance.model import KycStatus, TradeGate, trade_gate
from domains.compliance.model import Suitability as SuitabilityModel
from domains.compliance.service import ComplianceService
from domains.shared.context import RequestContext, SharedDataLoader
from domains.shared.graphql import described_enum

Info = strawberry.Info[RequestContext, None]

described_enum(
    KycStatus,
    "KYC workflow state of a customer.",
    NOT_STARTED="The customer has not submitted anything yet.",
    PENDING="Submitted and waiting for review.",
    VERIFIED="Verified: the customer may trade and withdraw within its level's limits.",
    REJECTED="Rejected by review; the customer may resubmit.",
    EXPIRED="Verification lapsed and must be renewed.",
)
described_enum(
    TradeGate,
    "What a customer's KYC allows on spot markets.",
    FULL="VERIFIED: trading and withdrawals within the level's products and limits.",
    REDUCE_ONLY=(
        "Downgraded (verified once, now expired or under re-review): cancels, SELL orders and "
        "withdrawals within the last level's limits; new BUY orders are refused (KYC_REQUIRED)."
    ),
    NONE="Never verified: no orders and no withdrawals (KYC_REQUIRED).",
)


def kyc_loader(ctx: RequestContext) -> DataLoader[str, KycProfileModel]:
    """KYC profiles by customer id, one query per batch."""
    service, scope = ctx.get(ComplianceService), ctx.scope()

    async def load(keys: list[str]) -> list[KycProfileModel]:
        return await service.kyc_of(scope, keys)

    return ctx.loader("compliance.kyc", lambda: SharedDataLoader(load_fn=load))


@strawberry.type(description="Metadata of one identity document or check (never the file).")
class KycDocument:
    kind: str = strawberry.field(description="PASSPORT, ID_CARD, PROOF_OF_ADDRESS, LIVENESS ...")
    reference: str = strawberry.field(description="The institution's or provider's reference.")
    issuing_country: str | None = strawberry.field(description="ISO 3166 alpha-2, if any.")
    expires_on: dt.date | None = strawberry.field(description="Expiry date, if any.")

    @classmethod
    def from_model(cls, doc: KycDocumentModel) -> KycDocument:
        return cls(
            kind=doc.kind,
            reference=doc.reference,
            issuing_country=doc.issuing_country,
            expires_on=doc.expires_on,
        )


@strawberry.input(description="Metadata of one identity document or check.")
class KycDocumentInput:
    kind: str = strawberry.field(description="PASSPORT, ID_CARD, PROOF_OF_ADDRESS, LIVENESS ...")
    reference: str = strawberry.field(description="Your reference for the file or check.")
    issuing_country: str | None = strawberry.field(
        default=None, description="ISO 3166 alpha-2 of the issuer."
    )
    expires_on: dt.date | None = strawberry.field(default=None, description="Expiry date.")

    def to_model(self) -> KycDocumentModel:
        return KycDocumentModel(
            self.kind.strip().upper()[:40], self.reference.strip()[:200],
            self.issuing_country, self.expires_on,
        )  # fmt: skip


@strawberry.input(description="A KYC application: who the customer is and what was checked.")
class SubmitKycInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer applying.")
    legal_name: str = strawberry.field(description="Full legal name as on the identity document.")
    date_of_birth: dt.date | None = strawberry.field(default=None, description="Date of birth.")
    nationality: str | None = strawberry.field(default=None, description="ISO 3166 alpha-2.")
    documents: list[KycDocumentInput] = strawberry.field(
        default_factory=list, description="Documents and checks supporting the application."
    )


@strawberry.type(description="A customer's KYC state.")
class KycProfile:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    status: KycStatus = strawberry.field(description="Workflow state.")
    level: int = strawberry.field(description="Verification level, 0 (none) to 3.")
    trading: TradeGate = strawberry.field(description="What this state allows on spot markets.")
    updated_at: dt.datetime | None = strawberry.field(description="Last decision, if any.")
    submitted_at: dt.datetime | None = strawberry.field(description="Last application, if any.")
    provider: str = strawberry.field(description="Who checks applications (`manual`: a person).")
    legal_name: str | None = strawberry.field(description="Legal name from the application.")
    date_of_birth: dt.date | None = strawberry.field(description="Date of birth, if given.")
    nationality: str | None = strawberry.field(description="ISO 3166 alpha-2, if given.")
    documents: list[KycDocument] = strawberry.field(description="Document and check metadata.")
    reviewed_by: str | None = strawberry.field(description="Key id of the last reviewer.")
    note: str | None = strawberry.field(description="The reviewer's note on the last decision.")

    @classmethod
    def from_model(cls, p: KycProfileModel) -> KycProfile:
        return cls(
            customer_id=strawberry.ID(p.customer_id), status=p.status, level=p.level,
            trading=trade_gate(p), updated_at=p.updated_at, submitted_at=p.submitted_at,
            provider=p.provider, legal_name=p.legal_name, date_of_birth=p.date_of_birth,
            nationality=p.nationality, documents=[KycDocument.from_model(d) for d in p.documents],
            reviewed_by=p.reviewed_by, note=p.note,
        )  # fmt: skip


@strawberry.type(description="A per-asset amount.")
class AssetAmount:
    asset: str = strawberry.field(description="Asset code, e.g. BTC.")
    amount: Decimal = strawberry.field(description="Amount in the asset's units.")


@strawberry.input(description="A per-asset amount.")
class AssetAmountInput:
    asset: str = strawberry.field(description="Asset code, e.g. BTC.")
    amount: Decimal = strawberry.field(description="Amount in the asset's units (>= 0).")


@strawberry.type(description="What a KYC level allows in the caller's institution.")
class KycLevel:
    level: int = strawberry.field(description="Level number, 0 to 3.")
    name: str = strawberry.field(description="Display name.")
    products: list[str] = strawberry.field(description="Products it may trade (SPOT, PERPETUAL).")
    daily_withdrawal: list[AssetAmount] = strawberry.field(
        description="Most a customer may withdraw per UTC day, per asset (missing: none)."
    )
    updated_at: dt.datetime | None = strawberry.field(description="Null: the platform default.")

    @classmethod
    def from_model(cls, lv: KycLevelModel) -> KycLevel:
        limits = [AssetAmount(asset=a, amount=v) for a, v in sorted(lv.daily_withdrawal.items())]
        return cls(
            level=lv.level,
            name=lv.name,
            products=sorted(lv.products),
            daily_withdrawal=limits,
            updated_at=lv.updated_at,
        )


@strawberry.input(description="Configuration of one KYC level (1 to 3) of the institution.")
class KycLevelInput:
    level: int = strawberry.field(description="Level number, 1 to 3.")
    name: str = strawberry.field(description="Display name.")
    products: list[str] = strawberry.field(description="Products it may trade (SPOT, PERPETUAL).")
    daily_withdrawal: list[AssetAmountInput] = strawberry.field(
        description="Daily withdrawal limit per asset; an asset left out cannot be withdrawn."
    )


@strawberry.type(description="Derivatives suitability: questionnaire and risk disclosure.")
class Suitability:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    questionnaire_version: str = strawberry.field(description="Questionnaire version answered.")
    score: int = strawberry.field(description="Questionnaire score.")
    passed: bool = strawberry.field(description="Whether the customer is suitable.")
    disclosure_version: str = strawberry.field(description="Risk disclosure acknowledged.")
    acknowledged_at: dt.datetime = strawberry.field(description="When it was acknowledged.")
    recorded_at: dt.datetime = strawberry.field(description="When it was recorded.")

    @classmethod
    def from_model(cls, s: SuitabilityModel) -> Suitability:
        return cls(
            customer_id=strawberry.ID(s.customer_id), questionnaire_version=s.questionnaire_version,
            score=s.score, passed=s.passed, disclosure_version=s.disclosure_version,
            acknowledged_at=s.acknowledged_at, recorded_at=s.recorded_at,
        )  # fmt: skip


@strawberry.input(description="A derivatives suitability assessment to record.")
class SuitabilityInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer assessed.")
    questionnaire_version: str = strawberry.field(description="Questionnaire version answered.")
    score: int = strawberry.field(description="Questionnaire score.")
    passed: bool = strawberry.field(description="Outcome of the questionnaire.")
    disclosure_version: str = strawberry.field(description="Risk disclosure version signed off.")
    acknowledged_at: dt.datetime = strawberry.field(description="When the customer signed it off.")


@strawberry.type(description="Fields the compliance subgraph contributes to Customer.")
class CustomerKyc:
    id: strawberry.ID = strawberry.field(description="Customer id.")

    @strawberry.field(description="The customer's KYC state.")
    async def kyc(self, info: Info) -> KycProfile:
        return KycProfile.from_model(await kyc_loader(info.context).load(str(self.id)))
