"""The authenticator: signatures and their edge cases, replay, IPs, expiry, revocation, caching."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime as dt
import os
import time
from pathlib import Path

import jwt
import pytest
from graphql import parse

from domains.accounts import credentials
from domains.accounts.auth_audit import AuthAuditRecorder, AuthFailure
from domains.accounts.customer_tokens import CustomerTokens
from domains.accounts.keys import ApiKeyService, IssuedKey, KeySpec
from domains.accounts.model import Customer
from domains.accounts.sealing import SecretSealer
from domains.shared.context import Principal, Role, Scope
from domains.shared.scalars import utcnow
from graph.schema import PublicSchema
from graph.security.access import MUTATION_SCOPES, required_scopes
from graph.security.auth_settings import AuthSettings
from graph.security.authn import (
    ARGON2_CONCURRENCY,
    Authenticator,
    AuthRejectedError,
    CredentialRequest,
)
from graph.security.replay import MemoryReplayGuard
from tests.unit.domains.test_accounts_service import FakeAccountsRepository

ADMIN = Principal("key_adm", Role.TENANT_ADMIN, "ten_a", scopes=frozenset(s.value for s in Scope))
NOW_MS = 1_800_000_000_000
WINDOW_MS = 5_000
BODY = b'{"query":"{ viewer { role } }"}'


class FakeAuditStore:
    def __init__(self) -> None:
        self.events: list[AuthFailure] = []

    async def insert_many(self, events: list[AuthFailure]) -> None:
        self.events.extend(events)


class World:
    """One 'process': a key service, a token service and an authenticator over a shared repo."""

    def __init__(self, repo: FakeAccountsRepository, ring: bytes, **settings: object) -> None:
        auth = AuthSettings(signature_window_ms=WINDOW_MS, **settings)  # type: ignore[arg-type]
        self.keys = ApiKeyService(repo, SecretSealer({"k": ring}), auth.signature_policy)
        self.tokens = CustomerTokens(repo, {"t": ring})
        self.store = FakeAuditStore()
        self.auth = Authenticator(
            self.keys,
            self.tokens,
            MemoryReplayGuard(2 * WINDOW_MS),
            AuthAuditRecorder(self.store),  # type: ignore[arg-type]
            auth,
        )
        self.auth.clock_ms = lambda: NOW_MS

    async def reasons(self) -> list[str]:
        await self.auth.audit.flush()
        return [e.reason for e in self.store.events]


@pytest.fixture
def repo() -> FakeAccountsRepository:
    repository = FakeAccountsRepository()
    repository.customers["cus_a"] = Customer("cus_a", "ten_a", "Ann", "ann@a.example")
    return repository


@pytest.fixture
def ring() -> bytes:
    return os.urandom(32)


@pytest.fixture
def world(repo: FakeAccountsRepository, ring: bytes) -> World:
    return World(repo, ring)


def signed(
    issued: IssuedKey,
    timestamp_ms: int = NOW_MS,
    path: str = "/graphql",
    body: bytes = BODY,
    method: str = "POST",
    secret: str | None = None,
    peer: str = "203.0.113.7",
    **sent: str,
) -> CredentialRequest:
    canonical = credentials.canonical_request(timestamp_ms, method, path, body)
    signature = credentials.sign(secret or issued.signing_secret, canonical)
    headers = {
        "x-caas-key": issued.key.key_id,
        "x-caas-timestamp": str(timestamp_ms),
        "x-caas-signature": signature,
        **sent,
    }
    return CredentialRequest(headers, method, path, body, peer)


def bearer(token: str, peer: str = "203.0.113.7", **headers: str) -> CredentialRequest:
    sent = {"authorization": f"Bearer {token}", **headers}
    return CredentialRequest(sent, "POST", "/g", b"", peer)


async def refused(world: World, request: CredentialRequest) -> str:
    with pytest.raises(AuthRejectedError) as rejected:
        await world.auth.authenticate(request)
    return rejected.value.reason


async def trader_key(world: World, **spec: object) -> IssuedKey:
    return await world.keys.issue(ADMIN, KeySpec(Role.TRADER, None, "cus_a", **spec))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("offset_ms", "accepted"),
    [(-WINDOW_MS, True), (-WINDOW_MS - 1, False), (WINDOW_MS, True), (WINDOW_MS + 1, False)],
)
async def test_a_signature_is_accepted_exactly_up_to_the_window_edge(
    world: World, offset_ms: int, accepted: bool
) -> None:
    issued = await trader_key(world)
    request = signed(issued, timestamp_ms=NOW_MS + offset_ms)
    if accepted:
        principal = await world.auth.authenticate(request)
        assert principal is not None and principal.signed and principal.customer_id == "cus_a"
    else:
        assert await refused(world, request) == "STALE_TIMESTAMP"


async def test_tampered_body_path_or_method_and_a_wrong_key_fail_the_signature(
    world: World,
) -> None:
    issued, other = await trader_key(world), await trader_key(world)
    good = signed(issued)
    assert await refused(world, dataclasses.replace(good, body=BODY + b" ")) == "BAD_SIGNATURE"
    assert await refused(world, dataclasses.replace(good, path="/graphql?x=1")) == "BAD_SIGNATURE"
    assert await refused(world, dataclasses.replace(good, method="GET")) == "BAD_SIGNATURE"
    assert await refused(world, signed(issued, secret=other.signing_secret)) == "BAD_SIGNATURE"
    unknown = signed(issued)
    unknown = dataclasses.replace(unknown, headers={**unknown.headers, "x-caas-key": "key_nope"})
    assert await refused(world, unknown) == "BAD_SIGNATURE"
    await world.auth.audit.flush()
    assert world.store.events[-1].key_id is None  # an unknown id is never recorded
    assert world.store.events[0].key_id == issued.key.key_id


async def test_a_replayed_signature_is_refused_even_after_success(world: World) -> None:
    issued = await trader_key(world)
    request = signed(issued)
    assert await world.auth.authenticate(request) is not None
    assert await refused(world, request) == "REPLAYED"


async def test_malformed_signature_headers_are_refused_with_a_reason(world: World) -> None:
    issued = await trader_key(world)
    good = signed(issued)
    for broken in (
        {**good.headers, "x-caas-timestamp": "12.5"},
        {**good.headers, "x-caas-signature": "zz"},
        {"x-caas-key": issued.key.key_id},
        {**good.headers, "authorization": f"Bearer {issued.token}"},
    ):
        assert await refused(world, dataclasses.replace(good, headers=broken)) == "MALFORMED"
    assert await refused(world, bearer("x", authorization="Basic abc")) == "MALFORMED"


async def test_privileged_keys_must_sign_and_policy_all_makes_every_key_sign(
    repo: FakeAccountsRepository, ring: bytes
) -> None:
    world = World(repo, ring)
    admin = await world.keys.issue(ADMIN, KeySpec(Role.TENANT_ADMIN, None))
    assert await refused(world, bearer(admin.token)) == "SIGNATURE_REQUIRED"
    assert await world.auth.authenticate(signed(admin)) is not None
    trader = await trader_key(world)
    assert await world.auth.authenticate(bearer(trader.token)) is not None
    strict = World(repo, ring, signature_policy="all")
    assert await refused(strict, bearer(trader.token)) == "SIGNATURE_REQUIRED"


async def test_the_ip_allow_list_and_forwarded_for_behind_a_trusted_proxy(
    repo: FakeAccountsRepository, ring: bytes
) -> None:
    world = World(repo, ring, trusted_proxies=("10.0.0.0/8",))
    issued = await trader_key(world, allowed_ips=("198.51.100.0/24",))
    assert await world.auth.authenticate(bearer(issued.token, peer="198.51.100.9")) is not None
    assert await refused(world, bearer(issued.token, peer="203.0.113.7")) == "IP_NOT_ALLOWED"
    via_proxy = bearer(issued.token, peer="10.1.1.1", **{"x-forwarded-for": "198.51.100.9"})
    assert await world.auth.authenticate(via_proxy) is not None
    # a client cannot choose its address: only hops added by trusted proxies count
    spoofed = bearer(issued.token, peer="203.0.113.7", **{"x-forwarded-for": "198.51.100.9"})
    assert await refused(world, spoofed) == "IP_NOT_ALLOWED"
    chained = bearer(
        issued.token, peer="10.1.1.1", **{"x-forwarded-for": "198.51.100.9, 203.0.113.7"}
    )
    assert await refused(world, chained) == "IP_NOT_ALLOWED"
    assert world.auth.client_ip("10.1.1.1", {"x-forwarded-for": "not-an-ip"}) == "10.1.1.1"


async def test_an_expired_key_is_refused_after_its_secret_is_proven(
    world: World, repo: FakeAccountsRepository
) -> None:
    issued = await trader_key(world, expires_at=utcnow() + dt.timedelta(hours=1))
    assert await world.auth.authenticate(bearer(issued.token)) is not None
    stored = repo.keys[issued.key.key_id]
    repo.keys[stored.key_id] = dataclasses.replace(stored, expires_at=utcnow())
    world.auth.invalidate(stored.key_id)
    assert await refused(world, bearer(issued.token)) == "KEY_EXPIRED"
    assert await refused(world, bearer(issued.token[:-2] + "xx")) == "BAD_CREDENTIALS"


async def test_revocation_is_immediate_here_and_within_the_cache_period_elsewhere(
    repo: FakeAccountsRepository, ring: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    here, elsewhere = World(repo, ring), World(repo, ring)
    issued = await trader_key(here)
    assert await here.auth.authenticate(bearer(issued.token)) is not None
    assert await elsewhere.auth.authenticate(bearer(issued.token)) is not None
    await here.keys.revoke(ADMIN, issued.key.key_id)
    assert await refused(here, bearer(issued.token)) == "KEY_REVOKED"
    assert await elsewhere.auth.authenticate(bearer(issued.token)) is not None  # cached
    later = time.monotonic() + here.auth.settings.cache_seconds + 0.01
    monkeypatch.setattr("graph.security.authn.time.monotonic", lambda: later)
    assert await refused(elsewhere, bearer(issued.token)) == "KEY_REVOKED"


async def test_argon2_runs_once_per_token_and_cache_period(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = await trader_key(world)
    calls: list[str] = []
    original = credentials.verify_secret

    def counting(secret: str, stored: str) -> bool:
        calls.append(stored)
        return original(secret, stored)

    monkeypatch.setattr(credentials, "verify_secret", counting)
    for _ in range(3):
        assert await world.auth.authenticate(bearer(issued.token)) is not None
    assert len(calls) == 1
    tampered = issued.token[:-1] + ("B" if issued.token.endswith("A") else "A")  # always differs
    assert await refused(world, bearer(tampered)) == "BAD_CREDENTIALS"


async def test_concurrent_logins_with_one_token_share_one_argon2_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = await trader_key(world)
    calls: list[str] = []
    original = credentials.verify_secret

    def counting(secret: str, stored: str) -> bool:
        calls.append(stored)
        return original(secret, stored)

    monkeypatch.setattr(credentials, "verify_secret", counting)
    principals = await asyncio.gather(
        *(world.auth.authenticate(bearer(issued.token)) for _ in range(50))
    )
    assert all(p is not None and p.key_id == issued.key.key_id for p in principals)
    assert len(calls) == 1
    tampered = issued.token[:-1] + ("B" if issued.token.endswith("A") else "A")
    refusals = await asyncio.gather(*(refused(world, bearer(tampered)) for _ in range(10)))
    assert refusals == ["BAD_CREDENTIALS"] * 10
    assert len(calls) == 2


async def test_argon2_verifications_of_different_tokens_run_two_at_a_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = [await trader_key(world) for _ in range(6)]
    running, most = 0, 0
    original = credentials.verify_secret

    def tracking(secret: str, stored: str) -> bool:
        nonlocal running, most
        running += 1  # (worker threads: the GIL makes += on an int in CPython atomic enough
        most = max(most, running)  # for a maximum; the sleep makes the overlap certain)
        time.sleep(0.05)
        running -= 1
        return original(secret, stored)

    monkeypatch.setattr(credentials, "verify_secret", tracking)
    principals = await asyncio.gather(*(world.auth.authenticate(bearer(k.token)) for k in keys))
    assert all(p is not None for p in principals)
    assert most == ARGON2_CONCURRENCY == 2


async def test_rotation_ends_a_cached_old_secret_when_the_overlap_is_zero(world: World) -> None:
    issued = await trader_key(world)
    assert await world.auth.authenticate(bearer(issued.token)) is not None
    rotated = await world.keys.rotate(ADMIN, issued.key.key_id, 0)
    assert await refused(world, bearer(issued.token)) == "BAD_CREDENTIALS"
    assert await world.auth.authenticate(bearer(rotated.token)) is not None
    assert await refused(world, signed(issued)) == "BAD_SIGNATURE"
    assert await world.auth.authenticate(signed(rotated)) is not None


async def test_customer_tokens_expire_are_forged_or_die_with_their_key(
    world: World, ring: bytes
) -> None:
    minter = await world.keys.issue(ADMIN, KeySpec(Role.TENANT_ADMIN, None))
    minter_principal = dataclasses.replace(ADMIN, key_id=minter.key.key_id)
    minted = await world.tokens.mint(minter_principal, "cus_a", None, 60)
    principal = await world.auth.authenticate(bearer(minted.token))
    assert principal is not None and principal.role is Role.TRADER
    assert principal.customer_id == "cus_a" and principal.issued_by == minter.key.key_id
    claims = jwt.decode(minted.token, ring, algorithms=["HS256"], audience="caas-api")
    expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 1}, ring, algorithm="HS256", headers={"kid": "t"}
    )
    assert await refused(world, bearer(expired)) == "TOKEN_EXPIRED"
    other_tenant = jwt.encode(
        {**claims, "tenant": "ten_b"}, ring, algorithm="HS256", headers={"kid": "t"}
    )
    assert await refused(world, bearer(other_tenant)) == "BAD_TOKEN"
    forged = jwt.encode(claims, os.urandom(32), algorithm="HS256", headers={"kid": "t"})
    assert await refused(world, bearer(forged)) == "BAD_TOKEN"
    unsigned = jwt.encode(claims, "", algorithm="none", headers={"kid": "t"})
    assert await refused(world, bearer(unsigned)) == "BAD_TOKEN"
    await world.keys.revoke(ADMIN, minter.key.key_id)
    assert await refused(world, bearer(minted.token)) == "KEY_REVOKED"
    assert await world.auth.revalidate(principal) is not None


async def test_audit_entries_never_hold_a_secret(world: World) -> None:
    issued = await trader_key(world)
    secret = issued.token.split(".")[1]
    await refused(world, bearer(f"{issued.key.key_id}.{secret[:-1]}x"))
    await refused(world, bearer(f"{secret}.{secret}"))
    await refused(world, dataclasses.replace(signed(issued), body=b"other"))
    await world.auth.audit.flush()
    for event in world.store.events:
        assert secret not in repr(event) and issued.signing_secret not in repr(event)
    assert await world.reasons() == ["BAD_CREDENTIALS", "BAD_CREDENTIALS", "BAD_SIGNATURE"]


def test_every_mutation_has_a_scope_and_queries_need_read() -> None:
    schema = PublicSchema()
    mutation = schema._schema.mutation_type
    assert mutation is not None
    unmapped = set(mutation.fields) - set(MUTATION_SCOPES)
    assert not unmapped, f"map these mutations to a scope in graph/security/access.py: {unmapped}"
    document = parse(
        "query Q { a: viewer { role } ...F __typename } fragment F on Query { markets { id } }"
        " mutation M { placeOrder(input: {}) { order { id } } x: createTenant(input: {}) { id } }"
    )
    assert required_scopes(document, "Q") == [("a", Scope.READ), ("markets", Scope.READ)]
    assert required_scopes(document, "M") == [("placeOrder", Scope.TRADE), ("x", Scope.ADMIN)]


def test_server_key_rings_come_from_the_environment_or_a_private_dev_file(
    tmp_path: Path,
) -> None:
    key = "k1:" + base64.urlsafe_b64encode(bytes(32)).decode().rstrip("=")
    sealing, tokens = AuthSettings(secret_keys=key, token_keys=key).rings()
    assert sealing == {"k1": bytes(32)} and tokens == {"k1": bytes(32)}
    for bad in ("k1", "k1:short", ":" + key.split(":")[1], "k1:***"):
        with pytest.raises(ValueError, match="CAAS_SECRET_KEYS"):
            AuthSettings(secret_keys=bad, token_keys=key).rings()
    dev = AuthSettings(dev_keys_file=tmp_path / "var" / "auth-keys.json")
    first = dev.rings()
    assert (tmp_path / "var" / "auth-keys.json").stat().st_mode & 0o777 == 0o600
    assert dev.rings() == first
    with pytest.raises(ValueError, match="CAAS_SIGNATURE_POLICY"):
        AuthSettings(signature_policy="sometimes")
