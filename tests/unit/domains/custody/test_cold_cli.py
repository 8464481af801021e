"""`caas cold-keygen` and `caas cold-sign`: offline key files and signing."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from domains.custody import keys
from domains.custody.chain import SignedTx, UnsignedTx
from graph.ops.cli import app


def test_keygen_writes_a_private_key_file_and_sign_prints_a_verifiable_transaction(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    key_path = tmp_path / "cold.json"
    made = runner.invoke(app, ["cold-keygen", "--asset", "BTC", "--out", str(key_path)])
    assert made.exit_code == 0, made.output
    key_file = json.loads(key_path.read_text())
    assert made.stdout.strip() == key_file["xpub"] and key_path.stat().st_mode & 0o077 == 0
    tx = UnsignedTx(
        "simulated",
        "BTC",
        key_file["address"],
        keys.derive_address("BTC", key_file["xpub"], keys.EXTERNAL_CHAIN, 0),
        1234,
        "wdr_cli",
    )
    payload = tmp_path / "tx.json"
    payload.write_text(tx.canonical().decode())
    signed = runner.invoke(app, ["cold-sign", "--key", str(key_path), "--payload", str(payload)])
    assert signed.exit_code == 0, signed.output
    result = SignedTx.from_json(json.loads(signed.stdout))
    assert result.tx == tx and keys.verify_signature(
        result.public_key, result.signature, tx.canonical()
    )
    payload.write_text(json.dumps({**json.loads(tx.canonical()), "from_address": "bcrt1qother"}))
    refused = runner.invoke(app, ["cold-sign", "--key", str(key_path), "--payload", str(payload)])
    assert refused.exit_code == 2
