"""ApiKeyService: issuing, scopes, rotation, revocation and sealing, against a fake repository."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os

import pytest

from domains.accounts import credentials
from domains.accounts.customer_tokens import CustomerTokens, TokenRejectedError
from domains.accounts.errors import ApiKeyNotFoundError, CustomerNotFoundError
from domains.accounts.keys import ApiKeyService, KeySpec
from domains.accounts.model import ApiKey, Customer, KeyStatus
from domains.accounts.sealing import SealError, SecretSealer
from domains.shared.context import Principal, Role, Scope
from domains.shared.errors import ConflictError, ForbiddenError, ValidationError
from domains.shared.scalars import utcnow
from tests.unit.domains.test_accounts_service import FakeAccountsRepository

OPERATOR = Principal("key_op", Role.OPERATOR, None, scopes=frozenset(s.value for s in Scope))
ADMIN = Principal("key_adm", Role.TENANT_ADMIN, "ten_a", scopes=frozenset(s.value for s in Scope))
READ_ONLY_ADMIN = Principal("key_ro", Role.TENANT_ADMIN, "ten_a", scopes=frozenset({"READ"}))


def sealer() -> SecretSealer:
    return SecretSealer({"k1": os.urandom(32)})


@pytest.fixture
def repo() -> FakeAccountsRepository:
    repository = FakeAccountsRepository()
    repository.customers["cus_a"] = Customer("cus_a", "ten_a", "Ann", "ann@a.example")
    repository.customers["cus_b"] = Customer("cus_b", "ten_b", "Ben", "ben@b.example")
    return repository


@pytest.fixture
def keys(repo: FakeAccountsRepository) -> ApiKeyService:
    return ApiKeyService(repo, sealer(), "privileged")


async def test_a_secret_is_stored_as_argon2id_and_only_the_right_secret_verifies(
    keys: ApiKeyService, repo: FakeAccountsRepository
) -> None:
    issued = await keys.issue(ADMIN, KeySpec(Role.TRADER, None, "cus_a"))
    stored = repo.keys[issued.key.key_id]
    key_id, secret = issued.token.split(".")
    assert stored.secret_hash.startswith("$argon2id$") and secret not in stored.secret_hash
    assert issued.signing_secret not in (stored.signing_secret_sealed or "")
    credential = await keys.credential(key_id)
    assert credential is not None and credential.signing_secret == issued.signing_secret
    assert await keys.verify_secret(credential, secret) == stored.secret_hash
    assert await keys.verify_secret(credential, secret[:-1] + "x") is None


async def test_a_tenant_admin_issues_only_in_its_tenant_and_never_beyond_its_scopes(
    keys: ApiKeyService,
) -> None:
    issued = await keys.issue(ADMIN, KeySpec(Role.RISK, "ten_other"))
    assert issued.key.tenant_id == "ten_a"
    with pytest.raises(ForbiddenError):
        await keys.issue(ADMIN, KeySpec(Role.OPERATOR, None))
    with pytest.raises(ForbiddenError):
        await keys.issue(READ_ONLY_ADMIN, KeySpec(Role.TRADER, None, "cus_a"))
    with pytest.raises(CustomerNotFoundError):
        await keys.issue(ADMIN, KeySpec(Role.TRADER, None, "cus_b"))


async def test_scopes_default_by_role_and_are_bounded_by_role(keys: ApiKeyService) -> None:
    trader = await keys.issue(ADMIN, KeySpec(Role.TRADER, None, "cus_a"))
    assert trader.key.scopes == {"READ", "TRADE"} and not trader.key.require_signature
    admin_scope = frozenset({Scope.ADMIN})
    with pytest.raises(ValidationError):
        await keys.issue(ADMIN, KeySpec(Role.TRADER, None, "cus_a", scopes=admin_scope))
    with pytest.raises(ValidationError):
        await keys.issue(ADMIN, KeySpec(Role.RISK, None, scopes=frozenset()))


async def test_keys_with_withdraw_or_admin_must_sign_and_cannot_opt_out(
    keys: ApiKeyService,
) -> None:
    withdraw = frozenset({Scope.READ, Scope.WITHDRAW})
    issued = await keys.issue(ADMIN, KeySpec(Role.TRADER, None, "cus_a", scopes=withdraw))
    assert issued.key.require_signature
    with pytest.raises(ValidationError):
        await keys.issue(ADMIN, KeySpec(Role.TENANT_ADMIN, None, require_signature=False))
    opted_in = await keys.issue(ADMIN, KeySpec(Role.RISK, None, require_signature=True))
    assert opted_in.key.require_signature


async def test_shape_rules_for_operator_and_trader_keys(keys: ApiKeyService) -> None:
    with pytest.raises(ValidationError):
        await keys.issue(OPERATOR, KeySpec(Role.OPERATOR, "ten_x"))
    with pytest.raises(ValidationError):
        await keys.issue(OPERATOR, KeySpec(Role.TRADER, "ten_a"))
    with pytest.raises(ValidationError):
        await keys.issue(OPERATOR, KeySpec(Role.RISK, "ten_a", customer_id="cus_a"))
    with pytest.raises(ValidationError):
        await keys.issue(OPERATOR, KeySpec(Role.RISK, "ten_a", allowed_ips=("10.0.0.300/8",)))
    past = utcnow() - dt.timedelta(seconds=1)
    with pytest.raises(ValidationError):
        await keys.issue(OPERATOR, KeySpec(Role.RISK, "ten_a", expires_at=past))


async def test_rotation_keeps_the_old_secret_for_the_overlap_only(
    keys: ApiKeyService, repo: FakeAccountsRepository
) -> None:
    first = await keys.issue(ADMIN, KeySpec(Role.TRADER, None, "cus_a"))
    old_secret = first.token.split(".")[1]
    second = await keys.rotate(ADMIN, first.key.key_id, overlap_seconds=60)
    assert second.key.key_id == first.key.key_id and second.key.generation == 2
    credential = await keys.credential(first.key.key_id)
    assert credential is not None
    assert await keys.verify_secret(credential, old_secret) is not None
    assert await keys.verify_secret(credential, second.token.split(".")[1]) is not None
    assert credential.signing_secrets(utcnow()) == [second.signing_secret, first.signing_secret]
    # the overlap ends
    stored = repo.keys[first.key.key_id]
    repo.keys[first.key.key_id] = dataclasses.replace(
        stored, previous_valid_until=utcnow() - dt.timedelta(seconds=1)
    )
    ended = await keys.credential(first.key.key_id)
    assert ended is not None and await keys.verify_secret(ended, old_secret) is None
    assert ended.signing_secrets(utcnow()) == [second.signing_secret]


async def test_rotation_without_overlap_ends_the_old_secret_at_once(keys: ApiKeyService) -> None:
    first = await keys.issue(ADMIN, KeySpec(Role.TRADER, None, "cus_a"))
    await keys.rotate(ADMIN, first.key.key_id, overlap_seconds=0)
    credential = await keys.credential(first.key.key_id)
    assert credential is not None
    assert await keys.verify_secret(credential, first.token.split(".")[1]) is None
    with pytest.raises(ValidationError):
        await keys.rotate(ADMIN, first.key.key_id, overlap_seconds=86_401)


async def test_revocation_is_idempotent_tells_listeners_and_hides_other_tenants_keys(
    keys: ApiKeyService,
) -> None:
    heard: list[str] = []
    keys.listeners.append(heard.append)
    issued = await keys.issue(ADMIN, KeySpec(Role.RISK, None))
    other = await keys.issue(OPERATOR, KeySpec(Role.RISK, "ten_b"))
    revoked = await keys.revoke(ADMIN, issued.key.key_id)
    assert revoked.status(utcnow()) is KeyStatus.REVOKED and heard == [issued.key.key_id]
    assert (await keys.revoke(ADMIN, issued.key.key_id)).revoked_at == revoked.revoked_at
    with pytest.raises(ApiKeyNotFoundError):
        await keys.revoke(ADMIN, other.key.key_id)
    with pytest.raises(ConflictError):
        await keys.rotate(ADMIN, issued.key.key_id, 0)
    listed = await keys.list(ADMIN, 50, None)
    assert {k.key_id for k in listed} == {issued.key.key_id}


async def test_a_legacy_sha256_key_still_verifies_and_is_upgraded_to_argon2(
    keys: ApiKeyService, repo: FakeAccountsRepository
) -> None:
    legacy = "sha256$" + hashlib.sha256(b"old-secret").hexdigest()
    repo.keys["key_legacy"] = ApiKey("key_legacy", legacy, Role.RISK, "ten_a")
    credential = await keys.credential("key_legacy")
    assert credential is not None and credential.scopes == {"READ", "TRADE"}
    assert await keys.verify_secret(credential, "old-secret") == legacy
    assert repo.keys["key_legacy"].secret_hash.startswith("$argon2id$")


def test_a_sealed_secret_opens_only_for_its_key_and_with_a_known_ring_key() -> None:
    old_key = os.urandom(32)
    ring = SecretSealer({"k1": old_key})
    sealed = ring.seal("sig_x", "api_key:key_a:1")
    assert ring.open(sealed, "api_key:key_a:1") == "sig_x"
    with pytest.raises(SealError):
        ring.open(sealed, "api_key:key_b:1")
    with pytest.raises(SealError):
        sealer().open(sealed, "api_key:key_a:1")
    rotated = SecretSealer({"k2": os.urandom(32), "k1": old_key})
    assert rotated.open(sealed, "api_key:key_a:1") == "sig_x" and not rotated.is_current(sealed)


def test_signature_comparison_handles_case_and_garbage() -> None:
    canonical = credentials.canonical_request(1, "post", "/graphql", b"{}")
    assert canonical.startswith("1\nPOST\n/graphql\n")
    good = credentials.sign("sig_s", canonical)
    assert credentials.signature_matches("sig_s", canonical, good.upper())
    assert not credentials.signature_matches("sig_s", canonical, "é" * 64)


async def test_customer_tokens_verify_expire_and_cannot_be_forged(
    repo: FakeAccountsRepository,
) -> None:
    tokens = CustomerTokens(repo, {"t1": os.urandom(32)})
    minted = await tokens.mint(ADMIN, "cus_a", None, 60)
    claims = tokens.verify(minted.token)
    assert (claims.tenant_id, claims.customer_id, claims.issued_by) == ("ten_a", "cus_a", "key_adm")
    assert claims.scopes == {"READ", "TRADE"}
    forger = CustomerTokens(repo, {"t1": os.urandom(32)})
    with pytest.raises(TokenRejectedError) as forged:
        forger.verify(minted.token)
    assert forged.value.reason == "BAD_TOKEN"
    with pytest.raises(CustomerNotFoundError):
        await tokens.mint(ADMIN, "cus_b", None, 60)
    with pytest.raises(ValidationError):
        await tokens.mint(ADMIN, "cus_a", [Scope.ADMIN], 60)
    with pytest.raises(ForbiddenError):
        await tokens.mint(READ_ONLY_ADMIN, "cus_a", None, 60)
