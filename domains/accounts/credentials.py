"""API key minting and verification: the one place that knows how secrets are stored.

Secrets are 256 random bits, so a SHA-256 digest compared in constant time is not
brute-forceable; the security issue swaps this for argon2 without touching any caller.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from domains.shared.ids import new_id


@dataclass(frozen=True)
class MintedKey:
    """A freshly minted key: the token is shown once and never stored."""

    key_id: str
    secret: str
    secret_hash: str

    @property
    def token(self) -> str:
        """What a client sends: ``Authorization: Bearer <key_id>.<secret>``."""
        return f"{self.key_id}.{self.secret}"


def hash_secret(secret: str) -> str:
    return "sha256$" + hashlib.sha256(secret.encode()).hexdigest()


def mint_key(key_id: str | None = None) -> MintedKey:
    secret = secrets.token_urlsafe(32)
    return MintedKey(key_id=key_id or new_id("key"), secret=secret, secret_hash=hash_secret(secret))


def verify_secret(secret: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), secret_hash)


def split_token(token: str) -> tuple[str, str] | None:
    """Split ``<key_id>.<secret>``; None when the token does not have that shape."""
    key_id, sep, secret = token.partition(".")
    if not sep or not key_id or not secret or len(token) > 256:
        return None
    return key_id, secret
