"""Accounts persistence: tenants, customers, accounts, api_keys collections (owned here only).

Tenant configuration (tenant_configs, product_permissions) is in config_repository.py.

Every read of tenant data takes a TenantScope, so no caller can forget the tenant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel

from domains.accounts.config_repository import MongoTenantConfigRepository
from domains.accounts.model import (
    Account,
    AccountKind,
    ApiKey,
    Brand,
    Customer,
    Tenant,
    TenantStatus,
    TradingMode,
    TradingModeState,
)
from domains.accounts.residency import DataRegion
from domains.shared.context import Role, TenantScope
from domains.shared.mongo import (
    CollectionIndexes,
    Database,
    Document,
    page_filter,
    transaction,
)

INDEXES = (
    CollectionIndexes("tenants", (IndexModel([("name", ASCENDING)], unique=True),)),
    CollectionIndexes(
        "customers",
        (
            IndexModel([("tenant_id", ASCENDING), ("_id", DESCENDING)]),
            IndexModel([("tenant_id", ASCENDING), ("email", ASCENDING)], unique=True),
        ),
    ),
    CollectionIndexes(
        "accounts",
        (
            IndexModel([("tenant_id", ASCENDING), ("_id", DESCENDING)]),
            IndexModel([("tenant_id", ASCENDING), ("customer_id", ASCENDING), ("_id", DESCENDING)]),
        ),
    ),
    CollectionIndexes(
        "api_keys",
        (
            IndexModel([("tenant_id", ASCENDING)]),
            IndexModel([("tenant_id", ASCENDING), ("_id", DESCENDING)]),
        ),
    ),
)


def _tenant(doc: Document) -> Tenant:
    return Tenant(
        id=doc["_id"],
        name=doc["name"],
        jurisdiction=doc["jurisdiction"],
        brand=Brand(**doc["brand"]),
        status=TenantStatus(doc["status"]),
        created_at=doc.get("created_at"),
        trading=_trading(doc.get("trading_mode")),
        sandbox=bool(doc.get("sandbox", False)),
        sandbox_code=doc.get("sandbox_code"),
        promoted_to=doc.get("promoted_to"),
        promoted_from=doc.get("promoted_from"),
        data_region=DataRegion(doc["data_region"]) if doc.get("data_region") else None,
    )


def _trading(doc: Document | None) -> TradingModeState:
    if not doc:
        return TradingModeState()
    return TradingModeState(
        TradingMode(doc["mode"]), doc.get("reason"), doc.get("since"), doc.get("changed_by")
    )


def _customer(doc: Document) -> Customer:
    return Customer(
        id=doc["_id"],
        tenant_id=doc["tenant_id"],
        display_name=doc["display_name"],
        email=doc["email"],
        external_ref=doc.get("external_ref"),
        created_at=doc.get("created_at"),
    )


def _account(doc: Document) -> Account:
    return Account(
        id=doc["_id"],
        tenant_id=doc["tenant_id"],
        customer_id=doc["customer_id"],
        kind=AccountKind(doc["kind"]),
        label=doc["label"],
        created_at=doc.get("created_at"),
    )


def _account_document(account: Account) -> Document:
    return {
        "_id": account.id,
        "tenant_id": account.tenant_id,
        "customer_id": account.customer_id,
        "kind": account.kind.value,
        "label": account.label,
        "created_at": account.created_at,
    }


def _api_key(doc: Document) -> ApiKey:
    return ApiKey(
        key_id=doc["_id"],
        secret_hash=doc["secret_hash"],
        role=Role(doc["role"]),
        tenant_id=doc.get("tenant_id"),
        customer_id=doc.get("customer_id"),
        label=doc.get("label", ""),
        scopes=frozenset(doc.get("scopes", ())),
        revoked=bool(doc.get("revoked", False)),
        created_at=doc.get("created_at"),
        signing_secret_sealed=doc.get("signing_secret_sealed"),
        allowed_networks=tuple(doc.get("allowed_networks", ())),
        expires_at=doc.get("expires_at"),
        require_signature=bool(doc.get("require_signature", False)),
        generation=int(doc.get("generation", 1)),
        previous_secret_hash=doc.get("previous_secret_hash"),
        previous_signing_sealed=doc.get("previous_signing_sealed"),
        previous_valid_until=doc.get("previous_valid_until"),
        revoked_at=doc.get("revoked_at"),
        rotated_at=doc.get("rotated_at"),
    )


def _api_key_document(key: ApiKey) -> Document:
    return {
        "_id": key.key_id,
        "secret_hash": key.secret_hash,
        "role": key.role.value,
        "tenant_id": key.tenant_id,
        "customer_id": key.customer_id,
        "label": key.label,
        "scopes": sorted(key.scopes),
        "revoked": key.revoked,
        "created_at": key.created_at,
        "signing_secret_sealed": key.signing_secret_sealed,
        "allowed_networks": list(key.allowed_networks),
        "expires_at": key.expires_at,
        "require_signature": key.require_signature,
        "generation": key.generation,
        "previous_secret_hash": key.previous_secret_hash,
        "previous_signing_sealed": key.previous_signing_sealed,
        "previous_valid_until": key.previous_valid_until,
        "revoked_at": key.revoked_at,
        "rotated_at": key.rotated_at,
    }


class MongoAccountsRepository(MongoTenantConfigRepository):
    """Tenants, customers, accounts and API keys in MongoDB (and tenant configuration)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)

    async def insert_tenant(self, tenant: Tenant) -> None:
        brand = tenant.brand.__dict__.copy()
        await self._db.tenants.insert_one(
            {
                "_id": tenant.id,
                "name": tenant.name,
                "jurisdiction": tenant.jurisdiction,
                "brand": brand,
                "status": tenant.status.value,
                "created_at": tenant.created_at,
                "sandbox": tenant.sandbox,
                "sandbox_code": tenant.sandbox_code,
                "promoted_from": tenant.promoted_from,
                "data_region": tenant.data_region.value if tenant.data_region else None,
            }
        )

    async def tenants_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Tenant]:
        query: dict[str, Any] = {"_id": {"$in": list(ids)}}
        if scope.tenant_id is not None:
            query = {"_id": {"$in": [i for i in ids if i == scope.tenant_id]}}
        return [_tenant(doc) async for doc in self._db.tenants.find(query)]

    async def set_trading_mode(self, tenant_id: str, state: TradingModeState) -> None:
        """Store a tenant's trading mode (domains/accounts/trading_mode.py)."""
        document = {"mode": state.mode.value, "reason": state.reason, "since": state.since,
                    "changed_by": state.changed_by}  # fmt: skip
        await self._db.tenants.update_one({"_id": tenant_id}, {"$set": {"trading_mode": document}})

    async def set_data_region(self, tenant_id: str, region: DataRegion) -> None:
        """Record a tenant's data region (domains/accounts/residency.py)."""
        await self._db.tenants.update_one(
            {"_id": tenant_id}, {"$set": {"data_region": region.value}}
        )

    async def assign_missing_regions(self, region: DataRegion) -> int:
        """Give ``region`` to every tenant stored before regions were recorded."""
        missing = {"$or": [{"data_region": {"$exists": False}}, {"data_region": None}]}
        result = await self._db.tenants.update_many(
            missing, {"$set": {"data_region": region.value}}
        )
        return int(result.modified_count)

    async def mark_promoted(self, sandbox_id: str, live_id: str) -> bool:
        """Record that a sandbox was promoted to ``live_id``; False if it already was (or is
        not a sandbox): one promotion per sandbox, however many requests race."""
        result = await self._db.tenants.update_one(
            {"_id": sandbox_id, "sandbox": True, "promoted_to": None},
            {"$set": {"promoted_to": live_id}},
        )
        return result.modified_count == 1

    async def unmark_promoted(self, sandbox_id: str, live_id: str) -> None:
        """Undo ``mark_promoted`` when the live tenant could not be stored."""
        await self._db.tenants.update_one(
            {"_id": sandbox_id, "promoted_to": live_id}, {"$set": {"promoted_to": None}}
        )

    async def set_promoted(self, sandbox_id: str, live_id: str) -> None:
        """The sandbox names its live tenant and the live tenant its sandbox."""
        await self._db.tenants.update_one({"_id": sandbox_id}, {"$set": {"promoted_to": live_id}})
        await self._db.tenants.update_one({"_id": live_id}, {"$set": {"promoted_from": sandbox_id}})

    async def set_sandbox(self, tenant_id: str, code: str) -> None:
        """Flag a just-created tenant (no keys yet) as a sandbox whose markets end in ``code``."""
        await self._db.tenants.update_one(
            {"_id": tenant_id}, {"$set": {"sandbox": True, "sandbox_code": code}}
        )

    async def rename_tenant(self, tenant_id: str, name: str) -> None:
        """A tenant's registered name (unique: DuplicateKeyError if another has it)."""
        await self._db.tenants.update_one({"_id": tenant_id}, {"$set": {"name": name}})

    async def tenant_by_name(self, name: str) -> Tenant | None:
        doc = await self._db.tenants.find_one({"name": name})
        return _tenant(doc) if doc else None

    async def list_tenants(self, scope: TenantScope, first: int, after: str | None) -> list[Tenant]:
        base = {} if scope.tenant_id is None else {"_id": scope.tenant_id}
        cursor = self._db.tenants.find(page_filter(base, after)).sort("_id", DESCENDING)
        return [_tenant(doc) async for doc in cursor.limit(first + 1)]

    async def insert_customer(self, customer: Customer, main_account: Account) -> None:
        """Store a customer and its main account atomically (one transaction)."""
        async with transaction(self._db.client) as session:
            await self._db.customers.insert_one(
                {
                    "_id": customer.id,
                    "tenant_id": customer.tenant_id,
                    "display_name": customer.display_name,
                    "email": customer.email,
                    "external_ref": customer.external_ref,
                    "created_at": customer.created_at,
                },
                session=session,
            )
            await self._db.accounts.insert_one(_account_document(main_account), session=session)

    async def customer_by_email(self, scope: TenantScope, email: str) -> Customer | None:
        doc = await self._db.customers.find_one({**scope.filter(), "email": email})
        return _customer(doc) if doc else None

    async def customers_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Customer]:
        wanted = [i for i in ids if scope.customer_id in (None, i)]
        query = {**scope.filter(), "_id": {"$in": wanted}}
        return [_customer(doc) async for doc in self._db.customers.find(query)]

    async def list_customers(
        self, scope: TenantScope, first: int, after: str | None
    ) -> list[Customer]:
        cursor = self._db.customers.find(page_filter(scope.owner_filter("_id"), after))
        return [_customer(doc) async for doc in cursor.sort("_id", DESCENDING).limit(first + 1)]

    async def insert_account(self, account: Account) -> None:
        await self._db.accounts.insert_one(_account_document(account))

    async def ensure_account(self, account: Account) -> None:
        """Insert unless an account with this id exists (idempotent, race-free)."""
        doc = _account_document(account)
        await self._db.accounts.update_one(
            {"_id": doc.pop("_id")}, {"$setOnInsert": doc}, upsert=True
        )

    async def accounts_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Account]:
        query = {**scope.owner_filter(), "_id": {"$in": list(ids)}}
        return [_account(doc) async for doc in self._db.accounts.find(query)]

    async def list_accounts(
        self, scope: TenantScope, customer_id: str | None, first: int, after: str | None
    ) -> list[Account]:
        base = scope.owner_filter()
        if customer_id is not None:
            base = {"$and": [base, {"customer_id": customer_id}]}
        cursor = self._db.accounts.find(page_filter(base, after)).sort("_id", DESCENDING)
        return [_account(doc) async for doc in cursor.limit(first + 1)]

    async def count_accounts(self, scope: TenantScope, customer_id: str) -> int:
        query = {"$and": [scope.owner_filter(), {"customer_id": customer_id}]}
        return await self._db.accounts.count_documents(query)

    async def insert_api_key(self, key: ApiKey) -> None:
        await self._db.api_keys.insert_one(_api_key_document(key))

    async def api_key(self, key_id: str) -> ApiKey | None:
        """Look a key up by id: the one unscoped read, used to find out who is calling."""
        doc = await self._db.api_keys.find_one({"_id": key_id})
        return _api_key(doc) if doc else None

    async def replace_api_key(self, key: ApiKey, expected_generation: int) -> bool:
        """Store ``key`` over the stored one if that is still at ``expected_generation``."""
        doc = _api_key_document(key)
        result = await self._db.api_keys.replace_one(
            {"_id": doc["_id"], "generation": {"$in": _generation_match(expected_generation)}},
            doc,
        )
        return result.matched_count == 1

    async def list_api_keys(
        self, scope: TenantScope, first: int, after: str | None
    ) -> list[ApiKey]:
        """Keys of the scope's tenant (all for operators), newest first."""
        cursor = self._db.api_keys.find(page_filter(scope.filter(), after))
        return [_api_key(doc) async for doc in cursor.sort("_id", DESCENDING).limit(first + 1)]


def _generation_match(generation: int) -> list[int | None]:
    """Keys stored before rotation existed have no ``generation`` field: they are 1."""
    return [generation, None] if generation == 1 else [generation]
