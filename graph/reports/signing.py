"""The security report's signing key: Ed25519 derived from the platform's sealing ring.

No new key store: the ring is the one ``Settings.auth.rings()`` loads (``CAAS_SECRET_KEYS``,
or the development ring), and each of its keys gives a report key with HKDF-SHA256, as
``graph.bootstrap.custody_ring`` derives custody's. Signatures are the custody approvals'
scheme (``domains.custody.approvals``: Ed25519, base64url unpadded). Runs no tool.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from domains.custody.approvals import public_key_text, verifies

SIGNING_INFO = b"caas security report signing"


def report_key(sealing_key: bytes) -> Ed25519PrivateKey:
    """The report-signing Ed25519 key derived from one sealing key of the platform ring."""
    seed = HKDF(hashes.SHA256(), 32, None, SIGNING_INFO).derive(sealing_key)
    return Ed25519PrivateKey.from_private_bytes(seed)


def platform_ring() -> tuple[dict[str, bytes], str]:
    """The platform's sealing ring (first key signs) and where it came from."""
    from graph.settings import Settings

    auth = Settings.from_env().auth
    source = "CAAS_SECRET_KEYS" if auth.secret_keys else f"development ring {auth.dev_keys_file}"
    return auth.rings()[0], source


def verify_report(json_path: Path, ring: Mapping[str, bytes]) -> str | None:
    """The ring key id whose derived key signed ``json_path`` (``<file>.sig``), else None."""
    sig_path = json_path.with_name(json_path.name + ".sig")
    if not (json_path.exists() and sig_path.exists()):
        return None
    data, signature = json_path.read_bytes(), sig_path.read_text().strip()
    for kid, sealing_key in ring.items():
        if verifies(public_key_text(report_key(sealing_key)), signature, data):
            return kid
    return None
