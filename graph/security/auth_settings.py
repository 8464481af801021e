"""Authentication settings and server key rings, from the environment (README "Authentication").

``CAAS_SECRET_KEYS`` seals signing secrets at rest (AES-256-GCM), ``CAAS_TOKEN_KEYS`` signs
customer tokens (HS256). Each is ``<kid>:<base64url key>[,<kid>:<key>...]``: the first seals
or signs, every one opens or verifies, so a ring rotates by putting a new key first. When
one is not set, a development ring is generated once into ``<data dir>/auth-keys.json``
(mode 0600) with a warning; without a file (tests) it lives only in the process.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("caas.auth")

SIGNATURE_POLICIES = ("privileged", "all")


def parse_ring(raw: str, name: str, min_bytes: int) -> dict[str, bytes]:
    """``kid:base64url,kid:base64url`` -> ``{kid: key}``, first entry first."""
    ring: dict[str, bytes] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        kid, sep, encoded = item.partition(":")
        try:
            key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except (binascii.Error, ValueError) as exc:
            raise ValueError(f"{name}: key {kid!r} is not base64url") from exc
        if not sep or not kid or len(key) < min_bytes:
            raise ValueError(f"{name}: each entry is <kid>:<base64url of {min_bytes}+ bytes>")
        ring[kid] = key
    if not ring:
        raise ValueError(f"{name} names no key")
    return ring


def _new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def _dev_rings(path: Path | None) -> dict[str, str]:
    """Development rings: read from ``path``, created there (0600) on first use."""
    if path is not None and path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    rings = {"secret_keys": f"dev:{_new_key()}", "token_keys": f"dev:{_new_key()}"}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process created it meanwhile
            return _dev_rings(path)
        with os.fdopen(fd, "w") as out:
            json.dump(rings, out)
    return rings


@dataclass(frozen=True)
class AuthSettings:
    """How credentials are checked; see README "Authentication" for each variable."""

    secret_keys: str | None = None  # CAAS_SECRET_KEYS
    token_keys: str | None = None  # CAAS_TOKEN_KEYS
    dev_keys_file: Path | None = None  # where development rings live when those are unset
    signature_policy: str = "privileged"  # CAAS_SIGNATURE_POLICY: privileged | all
    signature_window_ms: int = 5_000  # CAAS_SIGNATURE_WINDOW_MS
    trusted_proxies: tuple[str, ...] = ()  # CAAS_TRUSTED_PROXIES: CIDRs allowed to set XFF
    cache_seconds: float = 5.0  # CAAS_AUTH_CACHE_SECONDS: bound on a revocation elsewhere

    def __post_init__(self) -> None:
        if self.signature_policy not in SIGNATURE_POLICIES:
            raise ValueError(
                f"CAAS_SIGNATURE_POLICY must be one of {', '.join(SIGNATURE_POLICIES)}"
            )
        if not 100 <= self.signature_window_ms <= 300_000:
            raise ValueError("CAAS_SIGNATURE_WINDOW_MS must be 100 to 300000")
        if not 0 <= self.cache_seconds <= 60:
            raise ValueError("CAAS_AUTH_CACHE_SECONDS must be 0 to 60")
        for cidr in self.trusted_proxies:
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad entry

    @classmethod
    def from_env(cls, data_dir: Path) -> AuthSettings:
        proxies = os.environ.get("CAAS_TRUSTED_PROXIES", "")
        return cls(
            secret_keys=os.environ.get("CAAS_SECRET_KEYS") or None,
            token_keys=os.environ.get("CAAS_TOKEN_KEYS") or None,
            dev_keys_file=data_dir / "auth-keys.json",
            signature_policy=os.environ.get("CAAS_SIGNATURE_POLICY", "privileged").strip().lower(),
            signature_window_ms=int(os.environ.get("CAAS_SIGNATURE_WINDOW_MS", "5000")),
            trusted_proxies=tuple(p.strip() for p in proxies.split(",") if p.strip()),
            cache_seconds=float(os.environ.get("CAAS_AUTH_CACHE_SECONDS", "5")),
        )

    def rings(self) -> tuple[dict[str, bytes], dict[str, bytes]]:
        """(sealing ring, token ring); development rings fill in what is not configured."""
        secret_keys, token_keys = self.secret_keys, self.token_keys
        if secret_keys is None or token_keys is None:
            dev = _dev_rings(self.dev_keys_file)
            log.warning(
                "CAAS_SECRET_KEYS / CAAS_TOKEN_KEYS not set: using development keys "
                "(set both in any deployment)",
                extra={"dev_keys_file": str(self.dev_keys_file or "in memory")},
            )
            secret_keys = secret_keys or dev["secret_keys"]
            token_keys = token_keys or dev["token_keys"]
        sealing = parse_ring(secret_keys, "CAAS_SECRET_KEYS", 32)
        if any(len(key) != 32 for key in sealing.values()):
            raise ValueError("CAAS_SECRET_KEYS: each key is exactly 32 bytes (AES-256)")
        return sealing, parse_ring(token_keys, "CAAS_TOKEN_KEYS", 32)
