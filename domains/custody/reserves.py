"""Proof of reserves: a Merkle sum tree over customer liabilities. Pure; no I/O.

Leaf: ``H("leaf" | H(account_id | salt) | balance)``; node:
``H("node" | left.hash | left.sum | right.hash | right.sum)`` with sum = left + right;
H = SHA-256, sums as 16-byte big-endian unsigned integers (a negative sum cannot be
encoded, so no leaf can hide a liability). An odd node is paired with an empty leaf
(hash of zero bytes, sum 0). A customer verifies with its account id, salt and balance
and the sibling path, against a published root and total.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

SUM_BYTES = 16
EMPTY = (hashlib.sha256(b"empty").hexdigest(), 0)


def _h(*parts: bytes) -> str:
    return hashlib.sha256(b"".join(parts)).hexdigest()


def _sum(value: int) -> bytes:
    if value < 0:
        raise ValueError("liabilities are never negative")
    return value.to_bytes(SUM_BYTES, "big")


def account_hash(account_id: str, salt: str) -> str:
    """The leaf's identity: the account id hidden behind a per-snapshot salt."""
    return _h(account_id.encode(), b"|", bytes.fromhex(salt))


def leaf_salt(secret: bytes, snapshot_id: str, account_id: str) -> str:
    """A salt per snapshot and account (HMAC of a server secret; hex)."""
    return hmac.new(secret, f"{snapshot_id}|{account_id}".encode(), hashlib.sha256).hexdigest()


def leaf_hash(account_hash_hex: str, balance: int) -> str:
    return _h(b"leaf", bytes.fromhex(account_hash_hex), _sum(balance))


def node_hash(left: tuple[str, int], right: tuple[str, int]) -> tuple[str, int]:
    h = _h(b"node", bytes.fromhex(left[0]), _sum(left[1]), bytes.fromhex(right[0]), _sum(right[1]))
    return h, left[1] + right[1]


@dataclass(frozen=True)
class ProofStep:
    """A sibling on the path to the root, and whether it sits on the left."""

    hash: str
    sum: int
    left: bool


def levels(leaves: Sequence[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    """Every level of the tree from the leaves (hash, sum) up to the root."""
    level = list(leaves) or [EMPTY]
    out = [level]
    while len(level) > 1:
        if len(level) % 2:
            level = [*level, EMPTY]
            out[-1] = level
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        out.append(level)
    return out


def root(leaves: Sequence[tuple[str, int]]) -> tuple[str, int]:
    """The root hash and total liabilities."""
    return levels(leaves)[-1][0]


def inclusion_path(leaves: Sequence[tuple[str, int]], index: int) -> list[ProofStep]:
    """The siblings from leaf ``index`` up to the root."""
    path = []
    for level in levels(leaves)[:-1]:
        sibling = index ^ 1
        path.append(ProofStep(level[sibling][0], level[sibling][1], left=sibling < index))
        index //= 2
    return path


def verify_inclusion(
    account_id: str,
    salt: str,
    balance: int,
    path: Sequence[ProofStep],
    root_hash: str,
    total: int,
) -> bool:
    """Whether the leaf of ``account_id`` with ``balance`` is in the tree of ``root_hash``."""
    try:
        node = (leaf_hash(account_hash(account_id, salt), balance), balance)
        for step in path:
            sibling = (step.hash, step.sum)
            node = node_hash(sibling, node) if step.left else node_hash(node, sibling)
    except ValueError:
        return False
    return hmac.compare_digest(node[0], root_hash) and node[1] == total
