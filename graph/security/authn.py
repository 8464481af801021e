"""Who is calling: bearer API keys, signed requests and customer tokens, checked per request.

The transport side of authentication (README "Authentication"): reads the credential from
headers (or a WebSocket's ``connection_init`` payload), finds the client IP, checks request
signatures with replay protection, and records every refusal in the auth audit. The rules
for keys themselves live in domains/accounts (keys.py, credentials.py, customer_tokens.py).

Hot path: a key's record is cached ``cache_seconds`` (and dropped at once in this process
when the key is rotated or revoked), and a bearer token already verified against its argon2
hash is remembered under a keyed hash of the token, so argon2 runs once per token per
``VERIFIED_TOKEN_SECONDS``, not per request (a rotated or revoked key is still seen within
``cache_seconds``: the remembered match counts only while it is one of the hashes in the
key's current record). Concurrent requests with the same token (a backend opening a
thousand websockets at once) share one verification, and at most
``ARGON2_CONCURRENCY`` verifications run at a time: each costs ~19 MiB in the worker thread
that runs it, and glibc keeps what a thread's arena grew to, so unbounded concurrency makes a
connection storm a permanent jump in the process's memory.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from domains.accounts import credentials
from domains.accounts.auth_audit import AuthAuditRecorder, AuthFailure
from domains.accounts.customer_tokens import CustomerTokens, TokenRejectedError, looks_like_jwt
from domains.accounts.keys import ApiKeyService, KeyCredential
from domains.accounts.model import KeyStatus
from domains.shared.context import Principal
from domains.shared.scalars import utcnow
from graph.security.auth_settings import AuthSettings
from graph.security.replay import ReplayGuard

KEY_HEADER = "x-caas-key"
TIMESTAMP_HEADER = "x-caas-timestamp"
SIGNATURE_HEADER = "x-caas-signature"
ARGON2_CONCURRENCY = 2  # argon2 verifications at a time (~19 MiB each, see the docstring)
VERIFIED_TOKEN_SECONDS = 300.0  # how long an argon2 match is remembered
SIGNATURE_HEADERS = (KEY_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
_TIMESTAMP = re.compile(r"[0-9]{1,16}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")
BAD_KEY_MESSAGE = "the API key is unknown, revoked or malformed"

K = TypeVar("K")
V = TypeVar("V")


class AuthRejectedError(Exception):
    """A credential that does not authenticate. Messages never quote the credential."""

    def __init__(
        self, reason: str, message: str, key_id: str | None = None, tenant_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.key_id = key_id
        self.tenant_id = tenant_id


@dataclass(frozen=True)
class CredentialRequest:
    """What authentication looks at: headers, the signed parts of the request, the peer."""

    headers: Mapping[str, str]
    method: str
    path: str  # path and query exactly as sent (what a signature covers)
    body: bytes
    peer: str | None
    transport: str = "http"

    def signed(self) -> bool:
        """Whether the request carries a signature header (asked a few times a request;
        a starlette ``Headers.get`` scans every header, so the answer is kept)."""
        found = self.__dict__.get("_signed")
        if found is None:
            found = self.__dict__["_signed"] = any(self.headers.get(n) for n in SIGNATURE_HEADERS)
        return bool(found)


class TtlCache(Generic[K, V]):
    """A small bounded cache whose entries live ``ttl_s`` (or less, when ``put`` says so)."""

    def __init__(self, ttl_s: float, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, key: K, value: V) -> None:
        if self.ttl_s <= 0:
            return
        self._entries[key] = (time.monotonic() + self.ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def pop(self, key: K) -> None:
        self._entries.pop(key, None)


def bearer(headers: Mapping[str, str]) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None without that header."""
    raw = headers.get("authorization")
    if not raw:
        return None
    scheme, _, token = raw.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthRejectedError("MALFORMED", "Authorization must be `Bearer <token>`")
    return token.strip()


class Authenticator:
    """Turns a request's credential into a Principal, or refuses it with a stable reason."""

    def __init__(
        self,
        keys: ApiKeyService,
        tokens: CustomerTokens,
        replay: ReplayGuard,
        audit: AuthAuditRecorder,
        settings: AuthSettings,
    ) -> None:
        self.keys = keys
        self.tokens = tokens
        self.replay = replay
        self.audit = audit
        self.settings = settings
        self.clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000
        self._trusted = tuple(
            ipaddress.ip_network(p, strict=False) for p in settings.trusted_proxies
        )
        self._credentials: TtlCache[str, KeyCredential] = TtlCache(settings.cache_seconds)
        # a verified token is re-checked against the key's current hashes (the record above)
        # on every request, so remembering the argon2 result longer revokes nothing later
        verified_s = VERIFIED_TOKEN_SECONDS if settings.cache_seconds > 0 else 0
        self._verified: TtlCache[bytes, str] = TtlCache(verified_s)
        self._loading: dict[str, asyncio.Task[KeyCredential | None]] = {}  # one read per key
        self._verifying: dict[bytes, asyncio.Task[str | None]] = {}  # one argon2 run per token
        self._argon2 = asyncio.Semaphore(ARGON2_CONCURRENCY)
        self._salt = secrets.token_bytes(32)  # cache keys: a keyed hash, never the token
        keys.listeners.append(self.invalidate)

    async def close(self) -> None:
        """Store the audit entries still pending and let go of the replay memory."""
        await self.audit.close()
        await self.replay.close()

    def invalidate(self, key_id: str) -> None:
        """Forget a key's cached record (it was rotated or revoked in this process)."""
        self._credentials.pop(key_id)
        self._loading.pop(key_id, None)  # a read in flight may predate the change

    async def authenticate(self, request: CredentialRequest) -> Principal | None:
        """The caller, None when anonymous; AuthRejectedError (audited) when refused."""
        ip = self.client_ip(request.peer, request.headers)
        try:
            if request.signed():
                return await self._signed(request, ip)
            token = bearer(request.headers)
            if token is None:
                return None
            if looks_like_jwt(token):
                return await self._customer_token(token)
            return await self._api_key(token, ip)
        except AuthRejectedError as rejected:
            self.audit.record(
                AuthFailure.new(
                    rejected.reason, request.transport, request.method, request.path, ip,
                    rejected.key_id, rejected.tenant_id,
                )
            )  # fmt: skip
            raise

    async def revalidate(self, principal: Principal) -> AuthRejectedError | None:
        """Why an authenticated principal no longer is (expired, revoked), or None."""
        now = utcnow()
        if principal.expires_at is not None and now >= principal.expires_at:
            if principal.issued_by is not None:
                return AuthRejectedError("TOKEN_EXPIRED", "token expired", principal.key_id)
            return AuthRejectedError("KEY_EXPIRED", "key expired", principal.key_id)
        key_id = principal.issued_by or principal.key_id
        credential = await self._credential(key_id)
        if credential is None or credential.key.revoked:
            return AuthRejectedError("KEY_REVOKED", "key revoked", key_id)
        if credential.key.status(now) is KeyStatus.EXPIRED:
            return AuthRejectedError("KEY_EXPIRED", "key expired", key_id)
        return None

    def client_ip(self, peer: str | None, headers: Mapping[str, str]) -> str | None:
        """The peer, or behind a trusted proxy the last X-Forwarded-For hop it did not add."""
        if peer is None or not self._trusted or not self._is_trusted(peer):
            return peer
        hops = [hop.strip() for hop in headers.get("x-forwarded-for", "").split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._is_trusted(hop):
                return hop if _is_ip(hop) else peer
        return hops[0] if hops and _is_ip(hops[0]) else peer

    def _is_trusted(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(address in network for network in self._trusted)

    async def _credential(self, key_id: str) -> KeyCredential | None:
        """The key's record, cached; concurrent misses share one store read (open websockets
        re-check their credential together when the cache entry expires)."""
        cached = self._credentials.get(key_id)
        if cached is not None:
            return cached
        loading = self._loading.get(key_id)
        if loading is None:
            loading = self._loading[key_id] = asyncio.create_task(self._load(key_id))
        return await asyncio.shield(loading)

    async def _load(self, key_id: str) -> KeyCredential | None:
        try:
            credential = await self.keys.credential(key_id)
        finally:
            current = self._loading.get(key_id) is asyncio.current_task()
            if current:
                del self._loading[key_id]
        if credential is not None and current:
            self._credentials.put(key_id, credential)
        return credential

    async def _api_key(self, token: str, ip: str | None) -> Principal:
        parts = credentials.split_token(token)
        credential = await self._credential(parts[0]) if parts else None
        if parts is None or credential is None:
            raise AuthRejectedError("BAD_CREDENTIALS", BAD_KEY_MESSAGE)
        fingerprint = hmac.new(self._salt, token.encode(), hashlib.sha256).digest()
        matched = self._verified.get(fingerprint)
        if matched is None or matched not in credential.secret_hashes(utcnow()):
            matched = await self._verify(fingerprint, credential, parts[1])
            if matched is None:
                raise AuthRejectedError("BAD_CREDENTIALS", BAD_KEY_MESSAGE, *_owner(credential))
        self._check_usable(credential, ip, signed=False)
        return credential.principal(signed=False)

    async def _verify(
        self, fingerprint: bytes, credential: KeyCredential, secret: str
    ) -> str | None:
        """The stored hash the secret matches, or None: one argon2 run shared by concurrent
        requests with the same token, at most ARGON2_CONCURRENCY runs at a time."""
        verifying = self._verifying.get(fingerprint)
        if verifying is None:
            verifying = asyncio.create_task(self._verify_once(fingerprint, credential, secret))
            self._verifying[fingerprint] = verifying
        return await asyncio.shield(verifying)

    async def _verify_once(
        self, fingerprint: bytes, credential: KeyCredential, secret: str
    ) -> str | None:
        try:
            async with self._argon2:
                matched = await self.keys.verify_secret(credential, secret)
            if matched is not None:
                self._verified.put(fingerprint, matched)
            return matched
        finally:
            del self._verifying[fingerprint]

    async def _signed(self, request: CredentialRequest, ip: str | None) -> Principal:
        key_id, timestamp, signature = (request.headers.get(h, "") for h in SIGNATURE_HEADERS)
        if request.headers.get("authorization"):
            raise AuthRejectedError(
                "MALFORMED", "send either Authorization or the X-CAAS signature headers"
            )
        if not (key_id and _TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)):
            raise AuthRejectedError(
                "MALFORMED",
                "a signed request carries X-CAAS-Key, X-CAAS-Timestamp (Unix milliseconds) "
                "and X-CAAS-Signature (64 hex digits)",
            )
        credential = await self._credential(key_id)
        owner = _owner(credential) if credential else (None, None)
        skew_ms = self.clock_ms() - int(timestamp)
        if abs(skew_ms) > self.settings.signature_window_ms:
            raise AuthRejectedError(
                "STALE_TIMESTAMP",
                f"X-CAAS-Timestamp is {skew_ms} ms off the server clock "
                f"(window {self.settings.signature_window_ms} ms)",
                *owner,
            )
        canonical = credentials.canonical_request(
            timestamp, request.method, request.path, request.body
        )
        secrets_now = credential.signing_secrets(utcnow()) if credential else []
        if not any(credentials.signature_matches(s, canonical, signature) for s in secrets_now):
            raise AuthRejectedError(
                "BAD_SIGNATURE", "the request signature does not verify", *owner
            )
        assert credential is not None
        if not await self.replay.first_use(key_id, signature):
            raise AuthRejectedError("REPLAYED", "this signature was used already", *owner)
        self._check_usable(credential, ip, signed=True)
        return credential.principal(signed=True)

    async def _customer_token(self, token: str) -> Principal:
        try:
            claims = self.tokens.verify(token)
        except TokenRejectedError as rejected:
            raise AuthRejectedError(rejected.reason, rejected.message) from None
        issuer = await self._credential(claims.issued_by)
        if issuer is None or issuer.key.tenant_id != claims.tenant_id:
            raise AuthRejectedError("BAD_TOKEN", "the customer token is not valid")
        status = issuer.key.status(utcnow())
        if status is not KeyStatus.ACTIVE:
            raise AuthRejectedError(
                f"KEY_{status.value}",
                f"the key that minted this token is {status.value.lower()}",
                *_owner(issuer),
            )
        return dataclasses.replace(claims.principal(), sandbox=issuer.sandbox)

    def _check_usable(self, credential: KeyCredential, ip: str | None, signed: bool) -> None:
        key, owner = credential.key, _owner(credential)
        status = key.status(utcnow())
        if status is KeyStatus.REVOKED:
            raise AuthRejectedError("KEY_REVOKED", "the API key was revoked", *owner)
        if status is KeyStatus.EXPIRED:
            raise AuthRejectedError("KEY_EXPIRED", "the API key has expired", *owner)
        if not credentials.ip_allowed(ip, key.allowed_networks):
            raise AuthRejectedError(
                "IP_NOT_ALLOWED", "the API key is not allowed from this address", *owner
            )
        if not signed and self.keys.requires_signature(key):
            raise AuthRejectedError(
                "SIGNATURE_REQUIRED",
                "this API key must sign its requests (X-CAAS-Key, X-CAAS-Timestamp, "
                "X-CAAS-Signature)",
                *owner,
            )


def _owner(credential: KeyCredential) -> tuple[str, str | None]:
    """The key id and tenant to audit (only for keys that exist: never a guessed string)."""
    return credential.key.key_id, credential.key.tenant_id


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
