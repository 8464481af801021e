"""The engine writer: sequencer, journal, lease, relay, ledger; no transport, security, ops."""
