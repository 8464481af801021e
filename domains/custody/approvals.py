"""Approvals are Ed25519 signatures over a canonical payload (cryptography's Ed25519).

The payload binds everything an approver agrees to: the tenant, the object id, its
nonce, the asset, the amount in minor units and the destination. A signature for one
object therefore never verifies for another (a replay), and one approver counts once.
"""

from __future__ import annotations

import base64
import binascii
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domains.custody.model import AddressBookEntry, Withdrawal
from domains.shared.errors import ValidationError

PAYLOAD_VERSION = "caas-approval-v1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unb64(text: str, field: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise ValidationError(f"{field} is not base64url", field=field) from exc


def _canonical(fields: dict[str, str]) -> bytes:
    return json.dumps(
        {"v": PAYLOAD_VERSION, **fields}, sort_keys=True, separators=(",", ":")
    ).encode()


def withdrawal_payload(w: Withdrawal) -> bytes:
    """The bytes an approver signs to approve ``w``."""
    return _canonical(
        {
            "type": "withdrawal",
            "tenant": w.tenant_id,
            "id": w.id,
            "nonce": w.nonce,
            "kind": w.kind.value,
            "asset": w.asset,
            "amount_minor": str(w.amount_minor),
            "destination": w.destination,
            "account": w.account_id or "",
        }
    )


def address_book_payload(entry: AddressBookEntry) -> bytes:
    """The bytes an approver signs to whitelist ``entry``."""
    return _canonical(
        {
            "type": "address_book",
            "tenant": entry.tenant_id,
            "id": entry.id,
            "asset": entry.asset,
            "address": entry.address,
        }
    )


def parse_public_key(text: str) -> Ed25519PublicKey:
    """An Ed25519 public key from base64url of its 32 raw bytes."""
    raw = unb64(text.strip(), "publicKey")
    if len(raw) != 32:
        raise ValidationError("publicKey must be 32 raw bytes, base64url", field="publicKey")
    return Ed25519PublicKey.from_public_bytes(raw)


def verifies(public_key: str, signature: str, payload: bytes) -> bool:
    """Whether ``signature`` (base64url, 64 bytes) is the key's signature of ``payload``."""
    try:
        raw = unb64(signature.strip(), "signature")
        parse_public_key(public_key).verify(raw, payload)
        return True
    except (InvalidSignature, ValidationError, ValueError):
        return False


def sign(private_key: Ed25519PrivateKey, payload: bytes) -> str:
    """What an approver's device does: base64url of the Ed25519 signature."""
    return b64(private_key.sign(payload))


def public_key_text(private_key: Ed25519PrivateKey) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return b64(raw)
