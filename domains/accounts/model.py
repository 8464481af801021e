"""Accounts domain model: plain dataclasses and rules; no strawberry, no pymongo."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from domains.shared.context import Role


class TenantStatus(enum.Enum):
    """Lifecycle of an institution on the platform."""

    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"


class AccountKind(enum.Enum):
    """A customer's main account or one of its sub-accounts."""

    MAIN = "MAIN"
    SUB = "SUB"


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


@dataclass(frozen=True)
class ApiKey:
    """A machine credential; the secret is only ever stored as a hash."""

    key_id: str
    secret_hash: str
    role: Role
    tenant_id: str | None
    customer_id: str | None = None
    label: str = ""
    scopes: frozenset[str] = field(default_factory=frozenset)
    revoked: bool = False
    created_at: dt.datetime | None = None


MAX_SUB_ACCOUNTS = 100
