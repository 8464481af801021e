"""GraphQL surface of the compliance domain: KYC and Customer.kyc."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.dataloader import DataLoader

from domains.compliance.model import KycProfile as KycProfileModel
from domains.compliance.model import KycStatus
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


def kyc_loader(ctx: RequestContext) -> DataLoader[str, KycProfileModel]:
    """KYC profiles by customer id, one query per batch."""
    service, scope = ctx.get(ComplianceService), ctx.scope()

    async def load(keys: list[str]) -> list[KycProfileModel]:
        return await service.kyc_of(scope, keys)

    return ctx.loader("compliance.kyc", lambda: SharedDataLoader(load_fn=load))


@strawberry.type(description="A customer's KYC state.")
class KycProfile:
    status: KycStatus = strawberry.field(description="Workflow state.")
    level: int = strawberry.field(description="Verification level, 0 (none) to 3.")
    updated_at: dt.datetime | None = strawberry.field(description="Last decision, if any.")

    @classmethod
    def from_model(cls, profile: KycProfileModel) -> KycProfile:
        return cls(status=profile.status, level=profile.level, updated_at=profile.updated_at)


@strawberry.type(description="Fields the compliance subgraph contributes to Customer.")
class CustomerKyc:
    id: strawberry.ID = strawberry.field(description="Customer id.")

    @strawberry.field(description="The customer's KYC state.")
    async def kyc(self, info: Info) -> KycProfile:
        return KycProfile.from_model(await kyc_loader(info.context).load(str(self.id)))
