"""API key use cases: issue, list, rotate, revoke, and the credential view authentication uses.

Knows nothing of GraphQL or HTTP: the transport (graph/security/authn.py) parses headers and asks
``credential()`` for what it needs to check a bearer secret or a request signature.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from domains.accounts import credentials
from domains.accounts.errors import ApiKeyNotFoundError, CustomerNotFoundError
from domains.accounts.model import ApiKey, Customer, KeyStatus, Tenant
from domains.accounts.sealing import SealError, SecretSealer
from domains.shared.context import Principal, Role, Scope, TenantScope
from domains.shared.errors import ConflictError, ForbiddenError, ValidationError
from domains.shared.scalars import utcnow

log = logging.getLogger("caas.keys")

MAX_OVERLAP_SECONDS = 86_400
DEFAULT_OVERLAP_SECONDS = 300
MAX_LABEL = 64
SIGNATURE_POLICIES = ("privileged", "all")


class ApiKeyRepository(Protocol):
    """Key storage (MongoAccountsRepository, or a fake in tests)."""

    async def insert_api_key(self, key: ApiKey) -> None: ...
    async def api_key(self, key_id: str) -> ApiKey | None: ...
    async def replace_api_key(self, key: ApiKey, expected_generation: int) -> bool: ...
    async def list_api_keys(
        self, scope: TenantScope, first: int, after: str | None
    ) -> list[ApiKey]: ...
    async def customers_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Customer]: ...
    async def tenants_by_ids(self, scope: TenantScope, ids: Sequence[str]) -> list[Tenant]: ...


@dataclass(frozen=True)
class KeySpec:
    """What an issuer asks for; None fields take the documented defaults."""

    role: Role
    tenant_id: str | None
    customer_id: str | None = None
    label: str = ""
    scopes: frozenset[Scope] | None = None
    allowed_ips: tuple[str, ...] = ()
    expires_at: dt.datetime | None = None
    require_signature: bool | None = None


@dataclass(frozen=True)
class IssuedKey:
    """A stored key with its secrets in clear: returned once, at issue or rotation."""

    key: ApiKey
    token: str
    signing_secret: str


@dataclass(frozen=True)
class KeyCredential:
    """What authentication needs of one key, signing secrets opened (current first)."""

    key: ApiKey
    scopes: frozenset[str]
    signing_secret: str | None
    previous_signing_secret: str | None
    sandbox: bool = False  # the key's tenant is a sandbox (cached with the record)

    def secret_hashes(self, now: dt.datetime) -> list[str]:
        """Bearer secret hashes accepted now: the current one, the previous during overlap."""
        hashes = [self.key.secret_hash]
        if self.key.previous_secret_hash and self.key.previous_valid(now):
            hashes.append(self.key.previous_secret_hash)
        return hashes

    def signing_secrets(self, now: dt.datetime) -> list[str]:
        secrets = [self.signing_secret] if self.signing_secret else []
        if self.previous_signing_secret and self.key.previous_valid(now):
            secrets.append(self.previous_signing_secret)
        return secrets

    def principal(self, signed: bool) -> Principal:
        return Principal(
            key_id=self.key.key_id,
            role=self.key.role,
            tenant_id=self.key.tenant_id,
            customer_id=self.key.customer_id,
            scopes=self.scopes,
            expires_at=self.key.expires_at,
            signed=signed,
            sandbox=self.sandbox,
        )


def effective_scopes(key: ApiKey) -> frozenset[str]:
    """The key's scopes; its role's defaults for keys stored before scopes existed."""
    if key.scopes:
        return key.scopes
    return frozenset(s.value for s in credentials.DEFAULT_SCOPES[key.role])


def _seal_context(key_id: str, generation: int) -> str:
    return f"api_key:{key_id}:{generation}"


class ApiKeyService:
    """Issues and manages API keys; ``listeners`` hear the id of every changed key."""

    def __init__(
        self, repository: ApiKeyRepository, sealer: SecretSealer, signature_policy: str
    ) -> None:
        if signature_policy not in SIGNATURE_POLICIES:
            raise ValueError(f"signature policy must be one of {SIGNATURE_POLICIES}")
        self._repo = repository
        self._sealer = sealer
        self.signature_policy = signature_policy
        self.listeners: list[Callable[[str], None]] = []

    # --- authentication side ---------------------------------------------------------------

    async def credential(self, key_id: str) -> KeyCredential | None:
        """The key ``key_id`` with its signing secrets opened; None when there is none."""
        if not key_id or len(key_id) > credentials.MAX_TOKEN_LENGTH:
            return None
        key = await self._repo.api_key(key_id)
        if key is None:
            return None
        owner = [key.tenant_id] if key.tenant_id else []  # its sandbox flag: one read a miss
        tenants = await self._repo.tenants_by_ids(TenantScope(None), owner) if owner else []
        return KeyCredential(
            key=key,
            scopes=effective_scopes(key),
            signing_secret=self._open(key.key_id, key.generation, key.signing_secret_sealed),
            previous_signing_secret=self._open(
                key.key_id, key.generation - 1, key.previous_signing_sealed
            ),
            sandbox=any(t.sandbox for t in tenants),  # a tenant's sandbox flag never changes
        )

    def _open(self, key_id: str, generation: int, sealed: str | None) -> str | None:
        if sealed is None:
            return None
        try:
            return self._sealer.open(sealed, _seal_context(key_id, generation))
        except SealError:
            log.warning("the signing secret of a key does not open", extra={"key_id": key_id})
            return None

    async def verify_secret(self, credential: KeyCredential, secret: str) -> str | None:
        """The stored hash ``secret`` matches (argon2 off the event loop), or None."""
        for stored in credential.secret_hashes(utcnow()):
            if await asyncio.to_thread(credentials.verify_secret, secret, stored):
                if stored == credential.key.secret_hash and credentials.needs_rehash(stored):
                    await self._rehash(credential.key, secret)
                return stored
        return None

    async def _rehash(self, key: ApiKey, secret: str) -> None:
        """Upgrade a legacy SHA-256 digest to argon2id once the secret is known to match."""
        upgraded = dataclasses.replace(
            key, secret_hash=await asyncio.to_thread(credentials.hash_secret, secret)
        )
        await self._repo.replace_api_key(upgraded, key.generation)

    def requires_signature(self, key: ApiKey) -> bool:
        """Whether requests with ``key`` must be signed under the deployment's policy."""
        return self.signature_policy == "all" or key.require_signature

    # --- management side -------------------------------------------------------------------

    async def issue(self, actor: Principal, spec: KeySpec) -> IssuedKey:
        """Mint and store a key the actor may grant; the secrets are returned once."""
        spec = await self._check_grant(actor, spec)
        minted = credentials.mint_key()
        key = self._new_key(
            minted.key_id, minted.secret_hash, minted.signing_secret, spec, trusted=False
        )
        await self._repo.insert_api_key(key)
        log.info("api key issued", extra={"key_id": key.key_id, "by": actor.key_id})
        return IssuedKey(key=key, token=minted.token, signing_secret=minted.signing_secret)

    async def register(self, key_id: str, secret: str, signing_secret: str, spec: KeySpec) -> bool:
        """Store a key with known secrets unless it exists (demo seeding, key import).

        An existing key whose signing secret no longer opens (the sealing ring changed) gets
        ``signing_secret`` sealed again. Returns True when the key was created.
        """
        spec = _checked_shape(spec)
        existing = await self.credential(key_id)
        if existing is not None:
            if existing.signing_secret is None:
                sealed = self._sealer.seal(
                    signing_secret, _seal_context(key_id, existing.key.generation)
                )
                repaired = dataclasses.replace(existing.key, signing_secret_sealed=sealed)
                await self._repo.replace_api_key(repaired, existing.key.generation)
            return False
        hashed = await asyncio.to_thread(credentials.hash_secret, secret)
        key = self._new_key(key_id, hashed, signing_secret, spec, trusted=True)
        await self._repo.insert_api_key(key)
        return True

    def _new_key(
        self, key_id: str, secret_hash: str, signing_secret: str, spec: KeySpec, trusted: bool
    ) -> ApiKey:
        """A new key document; ``trusted`` (seeding, import) may waive the signature rule."""
        scopes = credentials.scopes_for(spec.role, spec.scopes)
        require_signature = (
            bool(spec.require_signature)
            if trusted and spec.require_signature is not None
            else _signature_flag(scopes, spec.require_signature)
        )
        return ApiKey(
            key_id=key_id,
            secret_hash=secret_hash,
            role=spec.role,
            tenant_id=spec.tenant_id,
            customer_id=spec.customer_id,
            label=spec.label,
            scopes=frozenset(s.value for s in scopes),
            created_at=utcnow(),
            signing_secret_sealed=self._sealer.seal(signing_secret, _seal_context(key_id, 1)),
            allowed_networks=credentials.parse_networks(spec.allowed_ips),
            expires_at=spec.expires_at,
            require_signature=require_signature,
        )

    async def _check_grant(self, actor: Principal, spec: KeySpec) -> KeySpec:
        """The spec, if ``actor`` may issue it: its own tenant, no more scopes than it holds."""
        if not actor.is_operator:
            if actor.role is not Role.TENANT_ADMIN:
                raise ForbiddenError("only tenant admins and operators manage API keys")
            if spec.role is Role.OPERATOR:
                raise ForbiddenError("tenant admins cannot issue operator keys")
            spec = dataclasses.replace(spec, tenant_id=actor.tenant_id)
        spec = _checked_shape(spec)
        granted = credentials.scopes_for(spec.role, spec.scopes)
        beyond = {s.value for s in granted} - actor.scopes
        if beyond and not actor.is_operator:
            names = ", ".join(sorted(beyond))
            raise ForbiddenError(f"a key cannot grant scopes its issuer lacks: {names}")
        if spec.expires_at is not None and spec.expires_at <= utcnow():
            raise ValidationError("expiresAt must be in the future", field="expiresAt")
        if spec.customer_id is not None:
            scope = TenantScope(spec.tenant_id)
            if not await self._repo.customers_by_ids(scope, [spec.customer_id]):
                raise CustomerNotFoundError("no such customer", id=spec.customer_id)
        return spec

    async def list(self, actor: Principal, first: int, after: str | None) -> list[ApiKey]:
        """Keys the actor manages: its tenant's (all for operators), newest first."""
        _require_manager(actor)
        return await self._repo.list_api_keys(TenantScope(actor.tenant_id), first, after)

    async def rotate(self, actor: Principal, key_id: str, overlap_seconds: int) -> IssuedKey:
        """New secrets for the same key id; the old ones keep working ``overlap_seconds``."""
        if not 0 <= overlap_seconds <= MAX_OVERLAP_SECONDS:
            raise ValidationError(
                f"overlapSeconds must be 0 to {MAX_OVERLAP_SECONDS}", field="overlapSeconds"
            )
        key = await self._managed(actor, key_id)
        now = utcnow()
        if key.status(now) is not KeyStatus.ACTIVE:
            raise ConflictError("only an active key can be rotated", status=key.status(now).value)
        minted = credentials.mint_key(key.key_id)
        rotated = dataclasses.replace(
            key,
            secret_hash=minted.secret_hash,
            signing_secret_sealed=self._sealer.seal(
                minted.signing_secret, _seal_context(key.key_id, key.generation + 1)
            ),
            generation=key.generation + 1,
            previous_secret_hash=key.secret_hash if overlap_seconds else None,
            previous_signing_sealed=key.signing_secret_sealed if overlap_seconds else None,
            previous_valid_until=now + dt.timedelta(seconds=overlap_seconds)
            if overlap_seconds
            else None,
            rotated_at=now,
        )
        await self._store(rotated, key.generation)
        log.info("api key rotated", extra={"key_id": key.key_id, "by": actor.key_id})
        return IssuedKey(key=rotated, token=minted.token, signing_secret=minted.signing_secret)

    async def revoke(self, actor: Principal, key_id: str) -> ApiKey:
        """Revoke a key at once (idempotent); tokens it minted stop working with it."""
        key = await self._managed(actor, key_id)
        if key.revoked:
            return key
        revoked = dataclasses.replace(key, revoked=True, revoked_at=utcnow())
        await self._store(revoked, key.generation)
        log.info("api key revoked", extra={"key_id": key.key_id, "by": actor.key_id})
        return revoked

    async def _managed(self, actor: Principal, key_id: str) -> ApiKey:
        _require_manager(actor)
        key = await self._repo.api_key(key_id)
        if key is None or (not actor.is_operator and key.tenant_id != actor.tenant_id):
            raise ApiKeyNotFoundError("no such API key", id=key_id)
        return key

    async def _store(self, key: ApiKey, expected_generation: int) -> None:
        if not await self._repo.replace_api_key(key, expected_generation):
            raise ConflictError("the key changed meanwhile; read it again and retry")
        for listener in self.listeners:
            listener(key.key_id)


def _require_manager(actor: Principal) -> None:
    if actor.role not in (Role.OPERATOR, Role.TENANT_ADMIN):
        raise ForbiddenError("only tenant admins and operators manage API keys")


def _checked_shape(spec: KeySpec) -> KeySpec:
    """Operator keys have no tenant; trader keys, and only they, have a customer."""
    if (spec.role is Role.OPERATOR) != (spec.tenant_id is None):
        raise ValidationError("operator keys have no tenant; every other key has one")
    if (spec.role is Role.TRADER) != (spec.customer_id is not None):
        raise ValidationError("trader keys, and only trader keys, belong to a customer")
    label = spec.label.strip()
    if len(label) > MAX_LABEL:
        raise ValidationError(f"label is at most {MAX_LABEL} characters", field="label")
    return dataclasses.replace(spec, label=label)


def _signature_flag(scopes: Iterable[Scope], requested: bool | None) -> bool:
    """Keys holding WITHDRAW or ADMIN always sign; others sign when asked to."""
    privileged = bool(credentials.PRIVILEGED_SCOPES & frozenset(scopes))
    if requested is False and privileged:
        raise ValidationError(
            "keys with the WITHDRAW or ADMIN scope must sign their requests",
            field="requireSignature",
        )
    return privileged or bool(requested)
