"""API key secrets, scopes, IP allow-lists and request signatures: how credentials are checked.

Bearer secrets are stored as argon2id hashes only. Request signatures are HMAC-SHA256 with a
separate signing secret (the server must recompute them, so it is stored sealed, see
sealing.py). No I/O here: the service and the transport call these pure functions.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from domains.shared.context import Role, Scope
from domains.shared.errors import ValidationError
from domains.shared.ids import new_id

# OWASP's argon2id minimum (m=19 MiB, t=2, p=1): the secrets are 256 random bits, so the hash
# guards a stolen table, not weak passwords; a small memory cost bounds a verification flood.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)
LEGACY_PREFIX = "sha256$"  # keys stored before argon2: still verified, rehashed on first use
MAX_TOKEN_LENGTH = 256
MAX_NETWORKS = 32

# What a role's keys get when the issuer names no scopes, and what they may ever hold.
DEFAULT_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.OPERATOR: frozenset(Scope),
    Role.TENANT_ADMIN: frozenset(Scope),
    Role.COMPLIANCE: frozenset({Scope.READ, Scope.ADMIN}),
    Role.RISK: frozenset({Scope.READ, Scope.TRADE}),
    Role.TRADER: frozenset({Scope.READ, Scope.TRADE}),
}
ALLOWED_SCOPES: dict[Role, frozenset[Scope]] = {
    **DEFAULT_SCOPES,
    Role.TRADER: frozenset({Scope.READ, Scope.TRADE, Scope.WITHDRAW}),
}
PRIVILEGED_SCOPES = frozenset({Scope.WITHDRAW, Scope.ADMIN})


@dataclass(frozen=True)
class MintedKey:
    """A freshly minted key: the token and signing secret are shown once and never stored."""

    key_id: str
    secret: str
    secret_hash: str
    signing_secret: str

    @property
    def token(self) -> str:
        """What a client sends: ``Authorization: Bearer <key_id>.<secret>``."""
        return f"{self.key_id}.{self.secret}"


def hash_secret(secret: str) -> str:
    """The argon2id hash of a bearer secret (salted; encodes its own parameters)."""
    return _HASHER.hash(secret)


def verify_secret(secret: str, secret_hash: str) -> bool:
    """True when ``secret`` matches ``secret_hash`` (argon2id, or a legacy SHA-256 digest)."""
    if secret_hash.startswith(LEGACY_PREFIX):
        digest = LEGACY_PREFIX + hashlib.sha256(secret.encode()).hexdigest()
        return hmac.compare_digest(digest, secret_hash)
    try:
        return _HASHER.verify(secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(secret_hash: str) -> bool:
    """True for a legacy digest or an argon2 hash made with other parameters."""
    if secret_hash.startswith(LEGACY_PREFIX):
        return True
    try:
        return _HASHER.check_needs_rehash(secret_hash)
    except InvalidHashError:
        return True


def new_signing_secret() -> str:
    """A random HMAC key for signed requests (its UTF-8 bytes are the key)."""
    return "sig_" + secrets.token_urlsafe(32)


def mint_key(key_id: str | None = None) -> MintedKey:
    secret = secrets.token_urlsafe(32)
    return MintedKey(
        key_id=key_id or new_id("key"),
        secret=secret,
        secret_hash=hash_secret(secret),
        signing_secret=new_signing_secret(),
    )


def split_token(token: str) -> tuple[str, str] | None:
    """Split ``<key_id>.<secret>``; None when the token does not have that shape."""
    key_id, sep, secret = token.partition(".")
    if not sep or not key_id or not secret or "." in secret or len(token) > MAX_TOKEN_LENGTH:
        return None
    return key_id, secret


def scopes_for(role: Role, requested: Iterable[Scope] | None) -> frozenset[Scope]:
    """The scopes a new key of ``role`` gets: its role's defaults, or a valid explicit set."""
    if requested is None:
        return DEFAULT_SCOPES[role]
    chosen = frozenset(requested)
    if not chosen:
        raise ValidationError("a key needs at least one scope", field="scopes")
    extra = chosen - ALLOWED_SCOPES[role]
    if extra:
        names = ", ".join(sorted(s.value for s in extra))
        raise ValidationError(f"{role.value} keys cannot hold {names}", field="scopes")
    return chosen


def parse_networks(cidrs: Iterable[str]) -> tuple[str, ...]:
    """Validate an IP allow-list (CIDRs or single addresses) into normalised CIDR strings."""
    networks: list[str] = []
    for raw in cidrs:
        try:
            network = ipaddress.ip_network(raw.strip(), strict=False)
        except ValueError as exc:
            raise ValidationError(f"{raw!r} is not an IP network", field="allowedIps") from exc
        networks.append(str(network))
    if len(networks) > MAX_NETWORKS:
        raise ValidationError(f"at most {MAX_NETWORKS} networks", field="allowedIps")
    return tuple(dict.fromkeys(networks))


def ip_allowed(ip: str | None, networks: tuple[str, ...]) -> bool:
    """True when no allow-list is set, or ``ip`` falls in one of ``networks``."""
    if not networks:
        return True
    if ip is None:
        return False
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(n) for n in networks)


def canonical_request(timestamp_ms: int | str, method: str, path: str, body: bytes) -> str:
    """What a request signature covers (README "Signed requests")::

    timestamp + "\\n" + METHOD + "\\n" + path + "\\n" + sha256hex(body)
    """
    digest = hashlib.sha256(body).hexdigest()
    return f"{timestamp_ms}\n{method.upper()}\n{path}\n{digest}"


def sign(signing_secret: str, canonical: str) -> str:
    """Lower-case hex HMAC-SHA256 of ``canonical`` under ``signing_secret``."""
    return hmac.new(signing_secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def signature_matches(signing_secret: str, canonical: str, signature: str) -> bool:
    """Constant-time comparison of ``signature`` with the expected one."""
    given = signature.strip().lower().encode("utf-8", errors="replace")
    return hmac.compare_digest(sign(signing_secret, canonical).encode(), given)
