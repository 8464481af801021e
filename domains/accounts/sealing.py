"""Signing secrets sealed at rest: AES-256-GCM under a key ring from the environment.

The server has to recompute request signatures, so unlike bearer secrets (argon2, one-way)
signing secrets are stored encrypted. A sealed value names the key that sealed it, so the
ring can be rotated (new key first, old keys kept for opening) without touching clients.
The key id and generation are authenticated data: a sealed secret copied onto another key
document does not open.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = "v1"


class SealError(Exception):
    """A sealed secret that cannot be opened (unknown ring key, tampered, or malformed)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SecretSealer:
    """Seals with the first key of ``ring`` and opens with any of them (``{kid: 32 bytes}``)."""

    def __init__(self, ring: Mapping[str, bytes]) -> None:
        if not ring:
            raise ValueError("the sealing key ring is empty")
        for kid, key in ring.items():
            if len(key) != 32 or not kid or ":" in kid:
                raise ValueError(f"sealing key {kid!r} must be 32 bytes with an id without ':'")
        self._ring = {kid: AESGCM(key) for kid, key in ring.items()}
        self._current = next(iter(ring))

    def seal(self, plaintext: str, context: str) -> str:
        """``v1:<kid>:<nonce>:<ciphertext>``; ``context`` binds it to its owner."""
        nonce = os.urandom(12)
        sealed = self._ring[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        return f"{VERSION}:{self._current}:{_b64(nonce)}:{_b64(sealed)}"

    def open(self, sealed: str, context: str) -> str:
        """The plaintext of ``sealed``; SealError when it cannot be opened."""
        parts = sealed.split(":")
        if len(parts) != 4 or parts[0] != VERSION or parts[1] not in self._ring:
            raise SealError("sealed secret has an unknown format or ring key")
        try:
            nonce, data = _unb64(parts[2]), _unb64(parts[3])
            plain = self._ring[parts[1]].decrypt(nonce, data, context.encode())
            return plain.decode()
        except (InvalidTag, ValueError, binascii.Error, UnicodeDecodeError) as exc:
            raise SealError("sealed secret does not open") from exc

    def is_current(self, sealed: str) -> bool:
        """True when ``sealed`` was made with the ring's current key."""
        return sealed.startswith(f"{VERSION}:{self._current}:")
